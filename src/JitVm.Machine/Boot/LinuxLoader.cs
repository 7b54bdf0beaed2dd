using System.Text;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Machine.Firmware;

namespace JitVm.Machine.Boot;

/// <summary>
/// Boots a Linux bzImage through the 32-bit boot protocol (Documentation/arch/x86/boot.rst, "32-bit Boot Protocol"),
/// as a boot loader does after the firmware, with no BIOS code run: the protected-mode kernel at 1 MiB, the initrd
/// at the top of the RAM it may use, the command line and boot_params ("zero page": the setup header copied from
/// the file, the e820 map, the VGA text screen) in low memory, and the CPU in flat 32-bit protected mode at
/// code32_start with ESI pointing at boot_params. The machine's ACPI tables, when given, go at the top of
/// conventional memory (an "ACPI data" range in the e820 map), with boot_params.acpi_rsdp_addr pointing at the RSDP.
/// </summary>
public static class LinuxLoader
{
    /// <summary>Where the loader's structures go: the GDT, boot_params and the command line, all below 640 KiB.</summary>
    public const uint GdtAddress = 0x8000, BootParamsAddress = 0x9000, CommandLineAddress = 0xA000;
    const uint CommandLineLimit = 0x10000;
    /// <summary>The protocol's selectors: __BOOT_CS and __BOOT_DS.</summary>
    public const ushort CodeSelector = 0x10, DataSelector = 0x18;
    public const uint KernelAddress = 0x100000;
    /// <summary>type_of_loader: 0xFF, "undefined" (the protocol's value for loaders without an assigned ID).</summary>
    public const byte LoaderType = 0xFF;
    const int MaxE820 = 128;
    /// <summary>boot_params.acpi_rsdp_addr (64-bit; read by every kernel since 5.0 whatever the header's version, padding before).</summary>
    public const uint AcpiRsdpAddrOffset = 0x070;

    /// <summary>
    /// Loads <paramref name="file"/> (a parsed <paramref name="image"/>) with <paramref name="initrd"/> (empty for none)
    /// into <paramref name="memory"/> and sets up <paramref name="cpu"/> to enter it. <paramref name="reserved"/> lists
    /// physical ranges that are not RAM (ROM images) for the e820 map; <paramref name="acpi"/> the tables to place (null: none).
    /// </summary>
    public static void Boot(LinuxImage image, ReadOnlySpan<byte> file, string commandLine, ReadOnlySpan<byte> initrd,
        PhysicalMemory memory, Processor cpu, IReadOnlyList<(uint Base, uint Length)> reserved, AcpiTables? acpi = null)
    {
        if (cpu.Model.Generation < CpuGeneration.I386)
            throw new KernelLoadException($"a Linux kernel runs in 32-bit protected mode and needs a 386 or later (CPU model {cpu.Model.Name})");
        uint ram = memory.RamSize;
        ulong kernelEnd = KernelAddress + (ulong)Math.Max((uint)image.KernelLength, image.InitSize);
        if (kernelEnd > ram)
            throw new KernelLoadException(
                $"the kernel needs [0x{KernelAddress:X8}, 0x{kernelEnd:X8}) (init_size 0x{image.InitSize:X}) but RAM ends at 0x{ram:X8}; use --memory for more");

        byte[] cmdline = Encoding.ASCII.GetBytes(commandLine);
        uint cmdlineMax = Math.Min(image.CommandLineSize, CommandLineLimit - CommandLineAddress - 1);
        if (cmdline.Length > cmdlineMax)
            throw new KernelLoadException($"the command line is {cmdline.Length} bytes; this kernel takes at most {cmdlineMax} (cmdline_size)");

        // The initrd goes as high as it may: below the end of RAM and initrd_addr_max, page-aligned, above the kernel.
        uint initrdAddress = 0;
        if (!initrd.IsEmpty)
        {
            ulong top = Math.Min(ram, (ulong)image.InitrdAddressMax + 1);
            ulong start = top >= (ulong)initrd.Length ? (top - (ulong)initrd.Length) & ~(ulong)PhysicalMemory.PageMask : 0;
            if (start < kernelEnd)
                throw new KernelLoadException(
                    $"the initrd (0x{initrd.Length:X} bytes) does not fit between the kernel's end 0x{kernelEnd:X8} and 0x{top:X8} " +
                    $"(RAM end or initrd_addr_max 0x{image.InitrdAddressMax:X8}); use --memory for more");
            initrdAddress = (uint)start;
            BootSupport.Copy(memory, initrdAddress, initrd);
        }

        BootSupport.Copy(memory, KernelAddress, file.Slice(image.KernelOffset, image.KernelLength));

        // boot_params: zeroed, then the setup header as the file has it, then what the loader fills in.
        BootSupport.Zero(memory, BootParamsAddress, 0x1000);
        BootSupport.Copy(memory, BootParamsAddress + LinuxImage.HeaderOffset, file[LinuxImage.HeaderOffset..image.HeaderEnd]);
        BootSupport.Zero(memory, CommandLineAddress, (uint)cmdline.Length + 1);
        BootSupport.Copy(memory, CommandLineAddress, cmdline);
        uint bp = BootParamsAddress;
        // screen_info: the 80x25 colour text screen a BIOS leaves, cursor at the top left.
        memory.Write8(bp + 0x06, 3);                         // orig_video_mode
        memory.Write8(bp + 0x07, 80);                        // orig_video_cols
        memory.Write8(bp + 0x0E, 25);                        // orig_video_lines
        memory.Write8(bp + 0x0F, 1);                         // orig_video_isVGA
        memory.Write16(bp + 0x10, 16);                       // orig_video_points: character height
        uint extendedKiB = ram > BootSupport.HighMemoryStart ? (ram - BootSupport.HighMemoryStart) / 1024 : 0;
        memory.Write16(bp + 0x02, (ushort)Math.Min(extendedKiB, 0xFFFF)); // ext_mem_k (legacy)
        memory.Write32(bp + 0x1E0, extendedKiB);             // alt_mem_k
        (uint Base, uint Length)? acpiRange = null;
        ulong rsdpAddress = 0;
        if (acpi is not null)
        {
            var (at, length, rsdp) = PlaceAcpi(acpi, memory);
            acpiRange = (at, length);
            rsdpAddress = rsdp;
        }
        var map = BootSupport.MemoryMap(ram, reserved, acpiRange);
        if (map.Count > MaxE820) throw new KernelLoadException($"{map.Count} memory ranges; boot_params holds at most {MaxE820}");
        memory.Write8(bp + 0x1E8, (byte)map.Count);          // e820_entries
        for (int i = 0; i < map.Count; i++)
        {
            uint e = bp + 0x2D0 + (uint)i * 20;
            BootSupport.Write64(memory, e, map[i].Base);
            BootSupport.Write64(memory, e + 8, map[i].Length);
            memory.Write32(e + 16, map[i].Type);
        }
        BootSupport.Write64(memory, bp + AcpiRsdpAddrOffset, rsdpAddress);
        memory.Write8(bp + 0x210, LoaderType);               // type_of_loader
        memory.Write8(bp + 0x211, (byte)(image.LoadFlags & ~0x80));   // loadflags: no real-mode heap (CAN_USE_HEAP clear)
        memory.Write32(bp + 0x214, KernelAddress);           // code32_start
        memory.Write32(bp + 0x218, initrdAddress);           // ramdisk_image
        memory.Write32(bp + 0x21C, (uint)initrd.Length);     // ramdisk_size
        memory.Write32(bp + 0x228, CommandLineAddress);      // cmd_line_ptr
        memory.Write32(bp + 0x23C, 0);                       // hardware_subarch: a PC

        BootSupport.WriteFlatGdt(memory, GdtAddress, CodeSelector, DataSelector);
        BootSupport.EnterFlatProtectedMode(cpu, KernelAddress, GdtAddress, DataSelector + 7, CodeSelector, DataSelector);
        cpu.Esi = BootParamsAddress;                          // EBP, EDI and EBX stay zero, as the protocol requires
        cpu.Esp = GdtAddress;                                 // not used by the protocol: below the loader's structures
    }

    /// <summary>
    /// Writes the ACPI tables, then the RSDP (16-byte aligned), into the last pages of conventional memory, below the
    /// 640 KiB line where a BIOS keeps its EBDA (Linux reserves the first megabyte anyway, so this costs the kernel
    /// nothing and leaves the high RAM for the kernel and initrd). Returns the range and the RSDP's address.
    /// </summary>
    static (uint Base, uint Length, uint Rsdp) PlaceAcpi(AcpiTables acpi, PhysicalMemory memory)
    {
        uint rsdpOffset = ((uint)acpi.Tables.Length + 15) & ~15u;
        uint length = (rsdpOffset + AcpiTables.RsdpLength + PhysicalMemory.PageMask) & ~PhysicalMemory.PageMask;
        uint top = Math.Min(memory.RamSize, BootSupport.LowMemoryEnd);
        if (top < CommandLineLimit + length)             // the loader's own structures end at 64 KiB
            throw new KernelLoadException($"RAM ends at 0x{memory.RamSize:X}: no room below 640 KiB for the ACPI tables");
        uint at = top - length;
        var (tables, rsdp) = acpi.Place(at);
        BootSupport.Zero(memory, at, length);
        BootSupport.Copy(memory, at, tables);
        BootSupport.Copy(memory, at + rsdpOffset, rsdp);
        return (at, length, at + rsdpOffset);
    }
}
