using JitVm.Core;
using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// A request pending when STI or POPF enables interrupts is taken at the same instruction in every engine: after
/// the instruction following STI (its shadow), right after POPF — not wherever the interpreter's block or the
/// translator's region happens to end. Otherwise guest time at the handler (and all that follows) differs by engine.
/// </summary>
public class InterruptWindowTests
{
    sealed class OneRequest : IInterruptController
    {
        public bool InterruptPending => true;
        public int Acks;
        public byte Acknowledge() { Acks++; return 0x20; }
    }

    // Straight-line code in a loop so the region has a loop for the JIT; the handler at 0050:0000 is HLT.
    static byte[] Code(bool popf) => Pair.Assemble(16, 0, a =>
    {
        var top = a.CreateLabel();
        a.Label(ref top);
        if (popf)
        {
            a.push((ushort)0x0202);
            a.popf();
        }
        else a.sti();
        a.inc(ax);
        a.inc(bx);
        a.inc(cx);
        a.cli();
        a.jmp(top);
    });

    [Theory]
    [InlineData("interp", false)]
    [InlineData("jit", false)]
    [InlineData("hot", false)]
    [InlineData("interp", true)]
    [InlineData("jit", true)]
    [InlineData("hot", true)]
    public void APendingRequestIsTakenWhereTheArchitectureOpensTheWindow(string engine, bool popf)
    {
        var mem = new PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.P6, mem, new IoBus());
        IExecutionEngine e = Pair.Engine(engine, cpu, hotThreshold: 1);
        Pair.RealMode(cpu, mem, Code(popf));
        var pic = new OneRequest();
        cpu.InterruptController = pic;
        // Warm the code up with the line low ("hot" then runs it translated), then raise it.
        cpu.Flags &= ~Processor.FlagIF;
        for (int k = 0; k < 20; k++) e.Run(popf ? 7 : 6);
        ushort ax0 = (ushort)cpu.Eax, bx0 = (ushort)cpu.Ebx;
        // Back at the top of the loop (a turn is 6 instructions with STI, 7 with PUSH and POPF).
        Assert.Equal(0u, cpu.Eip);
        cpu.IrqLine = true;
        e.Run(50);
        Assert.Equal(1, pic.Acks);
        // STI: the INC AX in its shadow ran, INC BX did not. POPF: the window opens right after it.
        Assert.Equal((ushort)(ax0 + (popf ? 0 : 1)), (ushort)cpu.Eax);
        Assert.Equal(bx0, (ushort)cpu.Ebx);
        Assert.True(cpu.Halted);
    }
}
