using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Benchmarks;

/// <summary>
/// A CPU-bound real-mode guest: an integer ALU/memory loop (load, add, xor, store, pointer step and wrap,
/// counter, conditional branch) over a 4 KiB buffer, eight instructions per iteration, ending in HLT.
/// </summary>
public sealed class GuestLoop
{
    public const ushort CodeSegment = 0x1000;
    public Processor Cpu { get; }
    public IExecutionEngine Engine { get; }
    readonly uint iterations;

    public GuestLoop(uint iterations, Func<Processor, IExecutionEngine>? engine = null)
    {
        this.iterations = iterations;
        var memory = new PhysicalMemory(1 << 20);
        Cpu = new Processor(CpuModel.I486, memory, new IoBus());
        Engine = (engine ?? (c => new Interpreter(c)))(Cpu);
        var a = new Assembler(16);
        var top = a.CreateLabel();
        a.mov(ecx, iterations);
        a.xor(si, si);
        a.mov(ebx, 0x12345678);
        a.Label(ref top);
        a.mov(eax, __dword_ptr[si]);
        a.add(eax, ebx);
        a.xor(edx, eax);
        a.mov(__dword_ptr[si + 4], edx);
        a.add(si, 8);
        a.and(si, 0x0FF8);
        a.inc(ebx);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
        var w = new Writer();
        a.Assemble(w, 0);
        memory.Poke((uint)CodeSegment << 4, w.Bytes.ToArray());
    }

    /// <summary>Guest instructions one <see cref="Run"/> retires.</summary>
    public long InstructionsPerRun => 3 + 9L * iterations + 1;

    /// <summary>Runs the loop from the start to its HLT; returns the instructions retired.</summary>
    public long Run()
    {
        Cpu.LoadRealModeSegmentFull(SegReg.CS, CodeSegment, (uint)CodeSegment << 4, 0xFFFF, Segment.RealModeCode);
        Cpu.LoadRealModeSegmentFull(SegReg.DS, 0x2000, 0x20000, 0xFFFF, Segment.RealModeData);
        Cpu.Eip = 0;
        Cpu.Halted = false;
        long before = Cpu.InstructionCount;
        while (Engine.Run(long.MaxValue / 4) != StopReason.Halted) { }
        return Cpu.InstructionCount - before;
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
