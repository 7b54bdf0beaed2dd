using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Cpu.Tests;

/// <summary>
/// A bare CPU with 1 MiB of RAM for instruction tests: assembles real-mode code with Iced's assembler at
/// 1000:0000, points the IVT entries at a HLT so exceptions are observable, runs until HLT.
/// </summary>
internal sealed class TestMachine
{
    public const ushort CodeSegment = 0x1000;
    public const uint HandlerAddress = 0x500;   // 0050:0000 holds a HLT for every interrupt vector

    public PhysicalMemory Memory { get; }
    public IoBus Io { get; } = new();
    public Processor Cpu { get; }
    public Interpreter Engine { get; }

    public TestMachine(CpuModel? model = null)
    {
        Memory = new PhysicalMemory(1 << 20);
        Cpu = new Processor(model ?? CpuModel.I486, Memory, Io);
        Engine = new Interpreter(Cpu);
        Cpu.A20Enabled = true;
        for (int v = 0; v < 256; v++) Memory.Poke((uint)v * 4, [0x00, 0x00, 0x50, 0x00]);
        Memory.Poke(HandlerAddress, [0xF4]);
        for (int s = 0; s < 6; s++)
            Cpu.LoadRealModeSegmentFull(s, 0, 0, 0xFFFF, s == SegReg.CS ? Segment.RealModeCode : Segment.RealModeData);
        Cpu.LoadRealModeSegmentFull(SegReg.CS, CodeSegment, (uint)CodeSegment << 4, 0xFFFF, Segment.RealModeCode);
        Cpu.LoadRealModeSegmentFull(SegReg.SS, 0x2000, 0x20000, 0xFFFF, Segment.RealModeData);
        Cpu.Esp = 0xFFFE;
        Cpu.Eip = 0;
    }

    /// <summary>Assembles 16-bit code at CS:0 (a HLT is appended) and returns its length.</summary>
    public int Load(Action<Assembler> code)
    {
        var a = new Assembler(16);
        code(a);
        a.hlt();
        var w = new BytesWriter();
        a.Assemble(w, 0);
        Memory.Poke((uint)CodeSegment << 4, w.Bytes.ToArray());
        return w.Bytes.Count;
    }

    /// <summary>Places raw bytes at CS:0 (a HLT is appended).</summary>
    public void LoadBytes(params byte[] bytes) => Memory.Poke((uint)CodeSegment << 4, [.. bytes, 0xF4]);

    /// <summary>Runs until HLT; fails the test if the CPU does not halt.</summary>
    public void Run(long budget = 1_000_000)
    {
        var stop = Engine.Run(budget);
        if (stop != StopReason.Halted) throw new Xunit.Sdk.XunitException($"CPU did not halt: {stop} at {Cpu.Seg[SegReg.CS].Selector:X4}:{Cpu.Eip:X4}");
    }

    /// <summary>True when the CPU halted in the exception handler (an interrupt was delivered).</summary>
    public bool InHandler => Cpu.Seg[SegReg.CS].Selector == 0x0050;

    /// <summary>Number of times each vector was raised as an exception.</summary>
    public long Exceptions(int vector) => Cpu.ExceptionCounts[vector];

    public ushort Read16(uint phys) => Memory.Read16(phys);

    sealed class BytesWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
