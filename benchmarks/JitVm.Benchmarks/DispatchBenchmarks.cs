using BenchmarkDotNet.Attributes;
using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Jit;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Benchmarks;

/// <summary>
/// Dispatch overhead: a guest loop whose every pass leaves translated code (PUSH SI / RET to the loop head, a
/// return no region predicts), so each pass is one trip through the dispatcher: the indirect exit's successor link
/// (or a lookup), interrupt and budget checks, the delegate call, and the method's prologue and epilogue. Four guest
/// instructions per pass; Mean is nanoseconds per pass (per dispatch). The interpreter row runs the same passes for
/// comparison. The linked row leaves by direct JMPs to the next page and back (two dispatches and three
/// instructions per pass).
/// </summary>
public class DispatchBenchmarks
{
    const uint Passes = 2_000_000;
    Processor jitCpu = null!, interpCpu = null!, linkedCpu = null!;
    IExecutionEngine jit = null!, interp = null!, linked = null!;

    [GlobalSetup]
    public void Setup()
    {
        (jitCpu, jit) = Build(c => new JitEngine(c, threshold: 0));
        (interpCpu, interp) = Build(c => new Interpreter(c));
        (linkedCpu, linked) = Build(c => new JitEngine(c, threshold: 0), linkedExits: true);
        Run(jitCpu, jit);                                     // compile outside the measurement
        Run(linkedCpu, linked);
    }

    static (Processor, IExecutionEngine) Build(Func<Processor, IExecutionEngine> factory, bool linkedExits = false)
    {
        var memory = new PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.Pentium, memory, new IoBus());
        var engine = factory(cpu);
        var a = new Assembler(16);
        var top = a.CreateLabel();
        var done = a.CreateLabel();
        a.Label(ref top);
        a.dec(ecx);
        a.jz(done);
        if (linkedExits)
        {
            var far = a.CreateLabel();
            a.jmp(far);
            a.Label(ref done);
            a.hlt();
            for (int k = 0; k < 0x1000; k++) a.nop();
            a.Label(ref far);
            a.jmp(top);
        }
        else
        {
            a.push(si);
            a.ret();
            a.Label(ref done);
            a.hlt();
        }
        var w = new Writer();
        a.Assemble(w, 0);
        memory.Poke(0x10000, w.Bytes.ToArray());
        return (cpu, engine);
    }

    static long Run(Processor cpu, IExecutionEngine engine)
    {
        cpu.LoadRealModeSegmentFull(SegReg.CS, 0x1000, 0x10000, 0xFFFF, Segment.RealModeCode);
        cpu.LoadRealModeSegmentFull(SegReg.SS, 0x2000, 0x20000, 0xFFFF, Segment.RealModeData);
        cpu.Esp = 0xFFFE;
        cpu.Esi = 0;
        cpu.Ecx = Passes + 1;
        cpu.Eip = 0;
        cpu.Halted = false;
        long before = cpu.InstructionCount;
        while (engine.Run(long.MaxValue / 4) != StopReason.Halted) { }
        return cpu.InstructionCount - before;
    }

    [Benchmark(OperationsPerInvoke = (int)Passes)]
    public long TranslatedExitEveryPass() => Run(jitCpu, jit);

    [Benchmark(OperationsPerInvoke = (int)Passes)]
    public long TranslatedLinkedExitsEveryPass() => Run(linkedCpu, linked);

    [Benchmark(OperationsPerInvoke = (int)Passes, Baseline = true)]
    public long InterpretedEveryPass() => Run(interpCpu, interp);

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
