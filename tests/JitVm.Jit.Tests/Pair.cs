using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Jit.Diagnostics;

namespace JitVm.Jit.Tests;

/// <summary>An interpreter and a forced-translation machine built identically, for lockstep runs.</summary>
internal static class Pair
{
    public static LockstepSide Side(CpuModel model, uint ram, bool jit)
    {
        var mem = new PhysicalMemory(ram);
        var cpu = new Processor(model, mem, new IoBus());
        IExecutionEngine engine = jit ? new JitEngine(cpu, threshold: 0) : new Interpreter(cpu);
        return new LockstepSide(cpu, mem, engine);
    }

    /// <summary>
    /// An engine by test name: "interp", "jit" (translates before the first run) or "hot" (translates once a block
    /// has run <paramref name="hotThreshold"/> times).
    /// </summary>
    public static IExecutionEngine Engine(string name, Processor cpu, int hotThreshold = 2) => name switch
    {
        "interp" => new Interpreter(cpu),
        "jit" => new JitEngine(cpu, threshold: 0),
        _ => new JitEngine(cpu, threshold: hotThreshold),
    };

    public static Lockstep Create(CpuModel model, uint ram = 1 << 20) => new(Side(model, ram, false), Side(model, ram, true));

    /// <summary>Applies the same set-up to both sides.</summary>
    public static void Both(this Lockstep l, Action<Processor, PhysicalMemory> setup)
    {
        setup(l.Reference.Cpu, l.Reference.Memory);
        setup(l.Candidate.Cpu, l.Candidate.Memory);
    }

    /// <summary>Assembles code (16- or 32-bit) and returns its bytes.</summary>
    public static byte[] Assemble(int bitness, ulong ip, Action<Assembler> code)
    {
        var a = new Assembler(bitness);
        code(a);
        var w = new Writer();
        a.Assemble(w, ip);
        return w.Bytes.ToArray();
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    /// <summary>Real mode at 1000:0000 with the stack at 2000:FFFE and every interrupt vector at a HLT (0050:0000).</summary>
    public static void RealMode(Processor cpu, PhysicalMemory mem, byte[] code)
    {
        cpu.Reset();
        for (int v = 0; v < 256; v++) mem.Poke((uint)v * 4, [0x00, 0x00, 0x50, 0x00]);
        mem.Poke(0x500, [0xF4]);
        for (int s = 0; s < 6; s++) cpu.LoadRealModeSegmentFull(s, 0, 0, 0xFFFF, Segment.RealModeData);
        cpu.LoadRealModeSegmentFull(SegReg.CS, 0x1000, 0x10000, 0xFFFF, Segment.RealModeCode);
        cpu.LoadRealModeSegmentFull(SegReg.SS, 0x2000, 0x20000, 0xFFFF, Segment.RealModeData);
        cpu.Esp = 0xFFFE;
        cpu.Eip = 0;
        mem.Poke(0x10000, [.. code, 0xF4]);
    }

    /// <summary>
    /// Flat 32-bit protected mode at <paramref name="eip"/> with the stack at <paramref name="esp"/>: CS (selector 08h)
    /// and DS, ES, SS (10h) with base 0 and a 4 GiB limit, loaded as a GDT would give them; CR0.PE set, paging as it was
    /// (set CR3 and CR0.PG before or after).
    /// </summary>
    public static void FlatProtectedMode(Processor cpu, uint eip, uint esp)
    {
        const ushort code = Segment.AttrPresent | Segment.AttrS | Segment.AttrCode | Segment.AttrWritable | Segment.AttrDb | Segment.AttrG;
        const ushort data = Segment.AttrPresent | Segment.AttrS | Segment.AttrWritable | Segment.AttrDb | Segment.AttrG;
        cpu.WriteCr0(cpu.Cr0 | Processor.Cr0PE);
        cpu.LoadRealModeSegmentFull(SegReg.CS, 0x08, 0, 0xFFFFFFFF, code);
        foreach (int sr in new[] { SegReg.DS, SegReg.ES, SegReg.SS }) cpu.LoadRealModeSegmentFull(sr, 0x10, 0, 0xFFFFFFFF, data);
        cpu.Esp = esp;
        cpu.Eip = eip;
    }
}
