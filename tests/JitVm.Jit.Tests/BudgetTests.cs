using JitVm.Core;
using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// A run retires exactly its budget in every engine: translated regions check, at their entry and on backward
/// edges, that their longest run fits, and the dispatcher interprets the slice's tail (the last block in part).
/// </summary>
public class BudgetTests
{
    // A loop of three blocks (a forward branch inside) followed by straight-line code; never halts within the runs.
    static readonly byte[] Loop = Pair.Assemble(16, 0, a =>
    {
        var top = a.CreateLabel();
        var skip = a.CreateLabel();
        a.Label(ref top);
        a.add(ax, bx);
        a.adc(dx, 0);
        a.inc(bx);
        a.test(al, 4);
        a.jz(skip);
        a.xor(dx, ax);
        a.Label(ref skip);
        a.rol(cx, 1);
        a.add(cx, dx);
        a.jmp(top);
    });

    static (Processor Cpu, IExecutionEngine Engine) Build(string engine)
    {
        var mem = new PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.Pentium, mem, new IoBus());
        IExecutionEngine e = Pair.Engine(engine, cpu);
        Pair.RealMode(cpu, mem, Loop);
        return (cpu, e);
    }

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    [InlineData("hot")]
    public void EverySliceEndsAtExactlyItsBudget(string engine)
    {
        var (cpu, e) = Build(engine);
        long total = 0;
        // Budgets that end inside blocks, at block ends and inside a region's run.
        foreach (long budget in new long[] { 1, 2, 3, 5, 7, 11, 100, 1000, 12345, 3, 250_000, 17 })
        {
            Assert.Equal(StopReason.Budget, e.Run(budget));
            total += budget;
            Assert.Equal(total, cpu.InstructionCount);
        }
        if (engine != "interp")
            Assert.True(((IEngineStatistics)e).GetStatistics().TranslatedInstructions > 200_000, "the loop must have run translated");
    }

    [Fact]
    public void EnginesAgreeOnTheStateAtEverySliceEnd()
    {
        var (ci, ei) = Build("interp");
        var (cj, ej) = Build("jit");
        var rng = new Random(7);
        for (int k = 0; k < 300; k++)
        {
            long budget = rng.Next(1, 400);
            ei.Run(budget);
            ej.Run(budget);
            Assert.Equal(ci.InstructionCount, cj.InstructionCount);
            Assert.Equal(ci.Eip, cj.Eip);
            Assert.Equal((ci.Eax, ci.Ebx, ci.Ecx, ci.Edx), (cj.Eax, cj.Ebx, cj.Ecx, cj.Edx));
        }
    }
}
