using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// Guest time follows the instruction count exactly at every instruction, in every engine: an RDTSC (or an I/O
/// access a timer answers) in the middle of a block sees the instructions retired before it in that block. A Linux
/// delay loop that polls RDTSC otherwise counts a different number of iterations in the interpreter and the JIT.
/// </summary>
public class GuestTimeTests
{
    // One block: two RDTSCs four instructions apart, then a loop that polls RDTSC until 40 ticks have passed,
    // counting its turns in EDI.
    static readonly byte[] Code = Pair.Assemble(16, 0, a =>
    {
        var poll = a.CreateLabel();
        a.rdtsc();
        a.mov(esi, eax);
        a.nop();
        a.nop();
        a.nop();
        a.rdtsc();
        a.sub(eax, esi);
        a.mov(ebp, eax);
        a.xor(edi, edi);
        a.rdtsc();
        a.mov(esi, eax);
        a.Label(ref poll);
        a.inc(edi);
        a.rdtsc();
        a.sub(eax, esi);
        a.cmp(eax, 40);
        a.jb(poll);
        a.hlt();
    });

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    [InlineData("hot")]
    public void RdtscInsideABlockCountsTheInstructionsBeforeIt(string engine)
    {
        var mem = new PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.P6, mem, new IoBus());
        IExecutionEngine e = Pair.Engine(engine, cpu);
        Pair.RealMode(cpu, mem, Code);
        Assert.Equal(StopReason.Halted, e.Run(10_000));
        // RDTSC, MOV, 3 NOPs: the second RDTSC runs 5 instructions after the first.
        Assert.Equal(5u * Processor.TscTicksPerInstruction, cpu.Ebp);
        // Each poll turn is 5 instructions (10 ticks) and the first read is 3 instructions (MOV, INC, RDTSC) after
        // the start: reads at 6, 16, 26, 36, 46 ticks -> 5 turns.
        Assert.Equal(5u, cpu.Edi);
    }
}
