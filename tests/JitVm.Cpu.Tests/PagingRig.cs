using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Cpu.Tests;

/// <summary>
/// A CPU in protected mode with flat 4 GiB segments and hand-built page tables, for paging tests: the page
/// directory is at <see cref="PageDirectory"/>, page tables are allocated after it. Nothing reads a GDT: the
/// segment caches are loaded directly, and CPL is the RPL given to <see cref="SetCpl"/>. Exceptions are not
/// delivered (there is no IDT); <see cref="RunToException"/> stops the engine at the fault instead.
/// </summary>
internal sealed class PagingRig
{
    public const uint PageDirectory = 0x10000;
    public const uint P = Processor.PteP, RW = Processor.PteRW, US = Processor.PteUS, PS = Processor.PtePS, G = Processor.PteG;
    public const uint A = Processor.PteA, D = Processor.PteD;

    public const ushort FlatCode32 = Segment.AttrPresent | Segment.AttrS | Segment.AttrCode | Segment.AttrWritable |
        Segment.AttrAccessed | Segment.AttrDb | Segment.AttrG;
    public const ushort FlatData32 = Segment.AttrPresent | Segment.AttrS | Segment.AttrWritable | Segment.AttrAccessed |
        Segment.AttrDb | Segment.AttrG;

    uint nextTable = PageDirectory + 0x1000;

    public PhysicalMemory Memory { get; }
    public Processor Cpu { get; }
    public Interpreter Engine { get; }

    public PagingRig(CpuModel? model = null, uint ramBytes = 16 << 20)
    {
        Memory = new PhysicalMemory(ramBytes);
        Cpu = new Processor(model ?? TestModels.P6, Memory, new IoBus());
        Engine = new Interpreter(Cpu);
        Cpu.A20Enabled = true;
        Cpu.WriteCr0(Cpu.Cr0 | Processor.Cr0PE);
        SetCpl(0);
        Cpu.Cr3 = PageDirectory;
    }

    /// <summary>Loads flat 32-bit CS, SS, DS, ES, FS, GS caches with DPL and RPL = <paramref name="cpl"/>.</summary>
    public void SetCpl(int cpl)
    {
        ushort dpl = (ushort)(cpl << 5);
        for (int s = 0; s < 6; s++)
        {
            if (s == SegReg.CS) Cpu.LoadRealModeSegmentFull(s, (ushort)(0x08 | cpl), 0, 0xFFFFFFFF, (ushort)(FlatCode32 | dpl));
            else Cpu.LoadRealModeSegmentFull(s, (ushort)(0x10 | cpl), 0, 0xFFFFFFFF, (ushort)(FlatData32 | dpl));
        }
    }

    /// <summary>Turns paging on (CR0.PG, optionally WP) with the given CR4 (PSE, PGE).</summary>
    public void EnablePaging(bool wp = false, uint cr4 = 0)
    {
        Cpu.Cr4 = cr4;
        Cpu.WriteCr0(Cpu.Cr0 | Processor.Cr0PG | (wp ? Processor.Cr0WP : 0));
    }

    public uint PdeAddress(uint lin) => PageDirectory + (lin >> 22) * 4;

    public uint PteAddress(uint lin)
    {
        uint pde = Memory.Read32(PdeAddress(lin));
        return (pde & ~0xFFFu) + ((lin >> 12) & 0x3FF) * 4;
    }

    public uint Pde(uint lin) => Memory.Read32(PdeAddress(lin));
    public uint Pte(uint lin) => Memory.Read32(PteAddress(lin));

    /// <summary>
    /// Maps the 4 KiB page at <paramref name="lin"/> to <paramref name="phys"/> with PTE flags <paramref name="pte"/>;
    /// the PDE is created with <paramref name="pde"/> flags if there is none (or gets them if it exists).
    /// </summary>
    public void Map(uint lin, uint phys, uint pte = P | RW | US, uint pde = P | RW | US)
    {
        uint pdeAddr = PdeAddress(lin);
        uint entry = Memory.Read32(pdeAddr);
        if ((entry & P) == 0 || (entry & ~0xFFFu) == 0)
        {
            entry = nextTable;
            nextTable += 0x1000;
            Memory.Poke(entry, new byte[0x1000]);
        }
        Poke32(pdeAddr, (entry & ~0xFFFu) | pde);
        Poke32(PteAddress(lin), (phys & ~0xFFFu) | pte);
    }

    /// <summary>Maps a 4 MiB page (PDE with PS) at <paramref name="lin"/>.</summary>
    public void MapLarge(uint lin, uint phys, uint pde = P | RW | US | PS) => Poke32(PdeAddress(lin), (phys & 0xFFC00000) | pde);

    /// <summary>Sets the flags of the 4 KiB page's existing PTE (the frame stays).</summary>
    public void SetPteFlags(uint lin, uint flags) => Poke32(PteAddress(lin), (Pte(lin) & ~0xFFFu) | flags);

    public void SetPdeFlags(uint lin, uint flags) => Poke32(PdeAddress(lin), (Pde(lin) & ~0xFFFu) | flags);

    public void Poke32(uint phys, uint v) => Memory.Poke(phys, BitConverter.GetBytes(v));

    /// <summary>Runs <paramref name="access"/> expecting a guest fault; returns it (vector, error code).</summary>
    public (int Vector, uint Error) Fault(Action access)
    {
        var f = Assert.Throws<CpuFault>(access);
        return (f.Vector, f.ErrorCode);
    }

    /// <summary>Assembles 32-bit code and stores it at physical <paramref name="phys"/> (for linear <paramref name="lin"/>).</summary>
    public int LoadCode(uint phys, uint lin, Action<Assembler> code)
    {
        var a = new Assembler(32);
        code(a);
        var w = new BytesWriter();
        a.Assemble(w, lin);
        Memory.Poke(phys, w.Bytes.ToArray());
        return w.Bytes.Count;
    }

    /// <summary>Runs from <paramref name="eip"/> until HLT; fails the test otherwise.</summary>
    public void Run(uint eip, long budget = 1_000_000)
    {
        Cpu.Eip = eip;
        Cpu.Halted = false;
        var stop = Engine.Run(budget);
        if (stop != StopReason.Halted)
            throw new Xunit.Sdk.XunitException($"CPU did not halt: {stop} at {Cpu.Eip:X8} ({Engine.StoppedOn})");
    }

    /// <summary>Runs until exception <paramref name="vector"/> is raised; the CPU is left as the exception found it.</summary>
    public (int Vector, uint Error) RunToException(uint eip, int vector, long budget = 1_000_000)
    {
        Engine.StopOnExceptions = 1u << vector;
        Cpu.Eip = eip;
        Cpu.Halted = false;
        var stop = Engine.Run(budget);
        Engine.StopOnExceptions = 0;
        if (stop != StopReason.Exception) throw new Xunit.Sdk.XunitException($"no exception {vector}: {stop} at {Cpu.Eip:X8}");
        return Engine.StoppedOn;
    }

    /// <summary>Continues from the current EIP until HLT (after a <see cref="RunToException"/>).</summary>
    public void Resume(long budget = 1_000_000) => Run(Cpu.Eip, budget);

    sealed class BytesWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
