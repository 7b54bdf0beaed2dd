using System.Buffers.Binary;
using System.Text;
using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Machine.Boot;

/// <summary>
/// Boots a <see cref="MultibootImage"/> the way a Multiboot v1 boot loader does (spec 3.2 and 3.3), with no BIOS
/// code run: loads the segments and modules into RAM, writes the Multiboot information structure, a GDT and the
/// memory map into the boot area at the bottom of RAM, and puts the CPU straight into 32-bit protected mode at
/// the entry point. See docs/decisions/0009-multiboot-and-workloads.md for the state chosen where the spec leaves
/// it undefined.
/// </summary>
public static class MultibootLoader
{
    /// <summary>Value of EAX at the entry point.</summary>
    public const uint BootMagic = 0x2BADB002;

    /// <summary>The loader's own structures live in [0, BootAreaEnd); no kernel segment or module may go there.</summary>
    public const uint BootAreaEnd = 0x10000;
    /// <summary>Initial ESP: the stack grows down into free low memory (the spec leaves ESP undefined).</summary>
    public const uint InitialStack = 0x8000;
    public const uint GdtAddress = 0x8000;
    public const uint InfoAddress = 0x8040;
    const uint LoaderNameAddress = 0x80C0;
    const uint MemoryMapAddress = 0x8100;
    const uint ModuleListAddress = 0x8200;
    const int MaxModules = 128;
    const uint StringsAddress = ModuleListAddress + MaxModules * 16;
    /// <summary>GDT selectors of the flat code and data segments the kernel starts with.</summary>
    public const ushort CodeSelector = 0x08, DataSelector = 0x10;

    /// <summary>The end of conventional memory; [LowMemoryEnd, 1 MiB) is the legacy video/ROM hole.</summary>
    public const uint LowMemoryEnd = BootSupport.LowMemoryEnd;
    const uint HighMemoryStart = BootSupport.HighMemoryStart;

    /// <summary>Multiboot information flags (spec 3.3).</summary>
    public const uint InfoMemory = 1 << 0, InfoCommandLine = 1 << 2, InfoModules = 1 << 3, InfoMemoryMap = 1 << 6,
        InfoLoaderName = 1 << 9;

    public const string LoaderName = "JitVm";

    /// <summary>
    /// Loads the kernel into <paramref name="memory"/> and sets up <paramref name="cpu"/> (freshly reset) to enter
    /// it. <paramref name="reserved"/> lists physical ranges that are not RAM (ROM images) for the memory map.
    /// </summary>
    public static void Boot(MultibootImage image, ReadOnlySpan<byte> file, string commandLine, IReadOnlyList<BootModule> modules,
        PhysicalMemory memory, Processor cpu, IReadOnlyList<(uint Base, uint Length)> reserved)
    {
        if (cpu.Model.Generation < CpuGeneration.I386)
            throw new KernelLoadException($"a Multiboot kernel runs in 32-bit protected mode and needs a 386 or later (CPU model {cpu.Model.Name})");
        if (modules.Count > MaxModules) throw new KernelLoadException($"{modules.Count} modules given; at most {MaxModules} are supported");
        uint ram = memory.RamSize;

        foreach (var seg in image.Segments) CheckPlacement(seg.Origin, seg.Address, seg.End, ram);

        // Modules go above the kernel (and above 1 MiB), each on a page boundary: what flags bit 0 asks for,
        // and harmless when it does not.
        ulong next = Math.Max(HighMemoryStart, image.Segments.Max(s => s.End));
        var placed = new List<(uint Start, uint End)>();
        for (int i = 0; i < modules.Count; i++)
        {
            next = (next + PhysicalMemory.PageMask) & ~(ulong)PhysicalMemory.PageMask;
            ulong end = next + (ulong)modules[i].Data.Length;
            if (end > ram)
                throw new KernelLoadException(
                    $"module {i} ({modules[i].CommandLine}): 0x{modules[i].Data.Length:X} bytes at 0x{next:X8} do not fit in RAM (0x{ram:X8} bytes)");
            placed.Add(((uint)next, (uint)end));
            next = end;
        }

        // Strings: the command line, the module strings (NUL-terminated, ASCII as given).
        var strings = new List<byte>();
        uint AddString(string s)
        {
            uint addr = StringsAddress + (uint)strings.Count;
            strings.AddRange(Encoding.UTF8.GetBytes(s));
            strings.Add(0);
            return addr;
        }
        uint cmdline = AddString(commandLine);
        var moduleStrings = modules.Select(m => AddString(m.CommandLine)).ToList();
        if (StringsAddress + strings.Count > BootAreaEnd)
            throw new KernelLoadException(
                $"the command line and module strings take {strings.Count} bytes; at most {BootAreaEnd - StringsAddress} fit in the boot area");

        // Kernel and modules.
        foreach (var seg in image.Segments)
        {
            BootSupport.Copy(memory, seg.Address, file.Slice((int)seg.FileOffset, (int)seg.FileSize));
            BootSupport.Zero(memory, seg.Address + seg.FileSize, seg.MemorySize - seg.FileSize);
        }
        for (int i = 0; i < modules.Count; i++) BootSupport.Copy(memory, placed[i].Start, modules[i].Data);

        // Boot area: GDT, information structure, loader name, memory map, module list, strings.
        BootSupport.Zero(memory, GdtAddress, BootAreaEnd - GdtAddress);
        BootSupport.WriteFlatGdt(memory, GdtAddress, CodeSelector, DataSelector);
        memory.WriteBytes(StringsAddress, strings.ToArray());
        memory.WriteBytes(LoaderNameAddress, Encoding.ASCII.GetBytes(LoaderName + "\0"));
        var map = BootSupport.MemoryMap(ram, reserved);
        for (int i = 0; i < map.Count; i++)
        {
            uint e = MemoryMapAddress + (uint)i * 24;
            memory.Write32(e, 20);                                  // size of the entry, not counting this field
            BootSupport.Write64(memory, e + 4, map[i].Base);
            BootSupport.Write64(memory, e + 12, map[i].Length);
            memory.Write32(e + 20, map[i].Type);
        }
        for (int i = 0; i < modules.Count; i++)
        {
            uint e = ModuleListAddress + (uint)i * 16;
            memory.Write32(e, placed[i].Start);
            memory.Write32(e + 4, placed[i].End);
            memory.Write32(e + 8, moduleStrings[i]);
            memory.Write32(e + 12, 0);
        }
        uint lower = Math.Min(ram, LowMemoryEnd) / 1024;
        uint upper = ram > HighMemoryStart ? (ram - HighMemoryStart) / 1024 : 0;
        uint flags = InfoMemory | InfoCommandLine | InfoMemoryMap | InfoLoaderName | (modules.Count > 0 ? InfoModules : 0);
        memory.Write32(InfoAddress + 0, flags);
        memory.Write32(InfoAddress + 4, lower);                     // mem_lower, KiB from 0
        memory.Write32(InfoAddress + 8, upper);                     // mem_upper, KiB from 1 MiB
        memory.Write32(InfoAddress + 16, cmdline);
        memory.Write32(InfoAddress + 20, (uint)modules.Count);
        memory.Write32(InfoAddress + 24, modules.Count > 0 ? ModuleListAddress : 0);
        memory.Write32(InfoAddress + 44, (uint)map.Count * 24);    // mmap_length
        memory.Write32(InfoAddress + 48, MemoryMapAddress);         // mmap_addr
        memory.Write32(InfoAddress + 64, LoaderNameAddress);        // boot_loader_name

        BootSupport.EnterFlatProtectedMode(cpu, image.Entry, GdtAddress, DataSelector + 7, CodeSelector, DataSelector);
        cpu.Eax = BootMagic;
        cpu.Ebx = InfoAddress;
        cpu.Esp = InitialStack;
    }

    /// <summary>A segment or module must lie in RAM outside the boot area and the legacy hole [640 KiB, 1 MiB).</summary>
    static void CheckPlacement(string what, uint start, ulong end, uint ram)
    {
        string where = $"{what}: [0x{start:X8}, 0x{end:X8})";
        if (end > ram)
            throw new KernelLoadException($"{where} runs beyond the end of RAM (0x{ram:X8} bytes; use --memory for more)");
        if (start < BootAreaEnd)
            throw new KernelLoadException($"{where} overlaps the loader's boot area [0x00000000, 0x{BootAreaEnd:X8})");
        if (start < HighMemoryStart && end > LowMemoryEnd)
            throw new KernelLoadException($"{where} overlaps the legacy video/ROM hole [0x{LowMemoryEnd:X8}, 0x{HighMemoryStart:X8})");
    }

    /// <summary>
    /// The BIOS-style map (types: 1 available, 2 reserved): conventional memory, the ROM images, and RAM above
    /// 1 MiB. The boot area and the kernel are inside "available" ranges, as with any Multiboot loader.
    /// </summary>
    internal static List<(ulong Base, ulong Length, uint Type)> MemoryMap(uint ram, IReadOnlyList<(uint Base, uint Length)> reserved)
    {
        var map = new List<(ulong Base, ulong Length, uint Type)> { (0, Math.Min(ram, LowMemoryEnd), 1) };
        foreach (var (b, l) in reserved.OrderBy(r => r.Base)) map.Add((b, l, 2));
        if (ram > HighMemoryStart) map.Add((HighMemoryStart, ram - HighMemoryStart, 1));
        return map.OrderBy(e => e.Base).ToList();
    }
}
