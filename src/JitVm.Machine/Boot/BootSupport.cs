using System.Buffers.Binary;
using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Machine.Boot;

/// <summary>What the direct-boot loaders (Multiboot, Linux) share: guest RAM writes, the memory map, a flat GDT and the protected-mode entry state.</summary>
internal static class BootSupport
{
    /// <summary>The end of conventional memory; [LowMemoryEnd, 1 MiB) is the legacy video/ROM hole.</summary>
    public const uint LowMemoryEnd = 0xA0000;
    public const uint HighMemoryStart = 0x100000;

    /// <summary>
    /// The BIOS-style map (types: 1 available, 2 reserved, 3 ACPI): conventional memory, the ROM images, and RAM above
    /// 1 MiB. The loaders' own structures and the kernel are inside "available" ranges, as with any boot loader;
    /// <paramref name="acpi"/>, if given, is cut out of the RAM range holding it and listed as ACPI tables.
    /// </summary>
    public static List<(ulong Base, ulong Length, uint Type)> MemoryMap(uint ram, IReadOnlyList<(uint Base, uint Length)> reserved,
        (uint Base, uint Length)? acpi = null)
    {
        var map = new List<(ulong Base, ulong Length, uint Type)> { (0, Math.Min(ram, LowMemoryEnd), 1) };
        foreach (var (b, l) in reserved.OrderBy(r => r.Base)) map.Add((b, l, 2));
        if (ram > HighMemoryStart) map.Add((HighMemoryStart, ram - HighMemoryStart, 1));
        if (acpi is { } a)
        {
            int i = map.FindIndex(e => e.Type == 1 && a.Base >= e.Base && (ulong)a.Base + a.Length <= e.Base + e.Length);
            if (i < 0) throw new ArgumentException($"the ACPI range 0x{a.Base:X8}+0x{a.Length:X} is not inside RAM");
            var e = map[i];
            map.RemoveAt(i);
            if (a.Base > e.Base) map.Add((e.Base, a.Base - e.Base, 1));
            map.Add((a.Base, a.Length, 3));
            ulong end = (ulong)a.Base + a.Length;
            if (end < e.Base + e.Length) map.Add((end, e.Base + e.Length - end, 1));
        }
        return map.OrderBy(e => e.Base).ToList();
    }

    /// <summary>
    /// A GDT at <paramref name="at"/> with flat 4 GiB code (execute/read, 32-bit) at <paramref name="codeSelector"/> and
    /// data (read/write) at <paramref name="dataSelector"/>, accessed bits set as the loads would; every other entry up
    /// to the higher selector is null.
    /// </summary>
    public static void WriteFlatGdt(PhysicalMemory memory, uint at, ushort codeSelector, ushort dataSelector)
    {
        int entries = Math.Max(codeSelector, dataSelector) / 8 + 1;
        for (int i = 0; i < entries; i++) Write64(memory, at + (uint)i * 8, 0);
        Write64(memory, at + codeSelector, 0x00CF9B00_0000FFFFUL);
        Write64(memory, at + dataSelector, 0x00CF9300_0000FFFFUL);
    }

    /// <summary>
    /// The state both direct-boot protocols enter a kernel with: A20 on, CR0.PE = 1 and PG = 0 (caches on, as a BIOS
    /// leaves them), GDTR at the loader's flat GDT, IDTR empty (limit 0: any exception before the kernel loads an IDT
    /// is a triple fault), CS and DS/ES/FS/GS/SS flat with the given selectors, EFLAGS with IF and VM clear, every
    /// general register 0. The caller sets the registers its protocol defines.
    /// </summary>
    public static void EnterFlatProtectedMode(Processor cpu, uint entry, uint gdtBase, int gdtLimit, ushort codeSelector, ushort dataSelector)
    {
        cpu.A20Enabled = true;
        cpu.Gdtr = new DescriptorTableRegister { Base = gdtBase, Limit = (ushort)gdtLimit };
        cpu.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0 };
        cpu.WriteCr0((cpu.Cr0 & ~(Processor.Cr0PG | Processor.Cr0CD | Processor.Cr0NW)) | Processor.Cr0PE);
        const ushort code = Segment.AttrPresent | Segment.AttrS | Segment.AttrCode | Segment.AttrWritable | Segment.AttrAccessed |
                            Segment.AttrDb | Segment.AttrG;
        const ushort data = Segment.AttrPresent | Segment.AttrS | Segment.AttrWritable | Segment.AttrAccessed | Segment.AttrDb | Segment.AttrG;
        for (int s = 0; s < 6; s++)
        {
            bool isCode = s == SegReg.CS;
            cpu.LoadRealModeSegmentFull(s, isCode ? codeSelector : dataSelector, 0, 0xFFFFFFFF, isCode ? code : data);
        }
        cpu.SetEflags(0x2);
        cpu.Gpr = default;
        cpu.Eip = entry;
        cpu.UpdateMemoryPrivilege();
        cpu.ExitBlock = true;
    }

    /// <summary>Zeroes guest RAM (see <see cref="Copy"/>).</summary>
    public static void Zero(PhysicalMemory memory, uint at, uint length) => Copy(memory, at, default, length);

    /// <summary>
    /// Writes <paramref name="src"/> (or zeroes when it is empty and <paramref name="zeroLength"/> is given) into guest
    /// RAM. Pages that hold no decoded code are written straight into the host array, as the TLB's write path would;
    /// others go through <see cref="PhysicalMemory.WriteBytes"/>, which invalidates the code they hold.
    /// </summary>
    public static void Copy(PhysicalMemory memory, uint at, ReadOnlySpan<byte> src, uint zeroLength = 0)
    {
        uint length = src.IsEmpty ? zeroLength : (uint)src.Length;
        uint done = 0;
        while (done < length)
        {
            uint addr = at + done;
            uint n = Math.Min(length - done, PhysicalMemory.PageSize - (addr & PhysicalMemory.PageMask));
            ReadOnlySpan<byte> part = src.IsEmpty ? default : src.Slice((int)done, (int)n);
            if (memory.IsDirectlyWritable(addr))
            {
                var dest = memory.Backing.AsSpan(memory.HostOffset(addr) + (int)(addr & PhysicalMemory.PageMask), (int)n);
                if (src.IsEmpty) dest.Clear();
                else part.CopyTo(dest);
            }
            else if (src.IsEmpty) memory.WriteBytes(addr, new byte[n]);
            else memory.WriteBytes(addr, part);
            done += n;
        }
    }

    public static void Write64(PhysicalMemory memory, uint at, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        memory.WriteBytes(at, b);
    }
}
