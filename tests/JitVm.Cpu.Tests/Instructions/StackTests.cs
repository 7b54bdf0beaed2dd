using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class StackTests
{
    [Fact]
    public void PushSpPushesTheValueBeforeTheDecrement()
    {
        var m = new TestMachine();
        m.Load(a => { a.push(sp); a.pop(ax); });
        m.Run();
        Assert.Equal(0xFFFEu, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void PopSpLoadsThePoppedValue()
    {
        var m = new TestMachine();
        m.Load(a => { a.push(0x1234); a.pop(sp); });
        m.Run();
        Assert.Equal(0x1234u, m.Cpu.Esp & 0xFFFF);
    }

    [Fact]
    public void PushaPopaRoundTripAndSkipSp()
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ax, 1); a.mov(cx, 2); a.mov(dx, 3); a.mov(bx, 4); a.mov(bp, 6); a.mov(si, 7); a.mov(di, 8);
            a.pusha();
            a.mov(bp, sp);
            a.mov(ax, __word_ptr[bp + 6]);           // the SP slot holds SP before PUSHA
            a.mov(__word_ptr[bp + 6], 0x5555);       // POPA must ignore it
            a.mov(__word_ptr[bp + 14], 0x9999);      // AX slot
            a.popa();
        });
        m.Run();
        Assert.Equal(0x9999u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xFFFEu, m.Cpu.Esp & 0xFFFF);
        Assert.Equal(8u, m.Cpu.Edi & 0xFFFF);
        Assert.Equal(6u, m.Cpu.Ebp & 0xFFFF);
    }

    [Fact]
    public void EnterAndLeaveBuildAndTearDownNestedFrames()
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(bp, 0xFF00);
            a.enter(8, 1);
            a.mov(ax, bp);
            a.mov(bx, sp);
            a.mov(cx, __word_ptr[bp - 2]);          // copied frame pointer = new BP
            a.leave();
        });
        m.Run();
        // Level 1: push BP (SP=FFFC), push the frame pointer (SP=FFFA); BP = FFFC; SP = FFFA - 8.
        Assert.Equal(0xFFFCu, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xFFF2u, m.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0xFFFCu, m.Cpu.Ecx & 0xFFFF);
        Assert.Equal(0xFF00u, m.Cpu.Ebp & 0xFFFF);
        Assert.Equal(0xFFFEu, m.Cpu.Esp & 0xFFFF);
    }

    [Fact]
    public void PopfCannotSetTheUpperFlagsOnThe286()
    {
        var m = new TestMachine(CpuModel.I286);
        m.Load(a => { a.push(0xFEFF); a.popf(); a.pushf(); a.pop(ax); });      // everything but TF
        m.Run();
        Assert.Equal(0x0ED7u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void PopfCanSetIoplAndNtOnThe386()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(a => { a.push(0xFEFF); a.popf(); a.pushf(); a.pop(ax); });
        m.Run();
        Assert.Equal(0x7ED7u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void StackSegmentOverrunRaisesSsOn386AndInterrupt13On286()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(a => { a.mov(bp, 0xFFFF); a.mov(ax, __word_ptr[bp]); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.SS));
        var m2 = new TestMachine(CpuModel.I286);
        m2.Load(a => { a.mov(bp, 0xFFFF); a.mov(ax, __word_ptr[bp]); });
        m2.Run();
        Assert.Equal(1, m2.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void PushThatOverrunsTheStackDuringDeliveryShutsDown()
    {
        // SP = 1: the push faults, and so does every push of the exception frames: #SS, #DF, then shutdown.
        var m = new TestMachine(CpuModel.I386);
        m.Load(a => { a.mov(sp, 1); a.push(ax); });
        Assert.Equal(StopReason.Shutdown, m.Engine.Run(1000));
        Assert.Equal(1u, m.Cpu.Esp & 0xFFFF);
    }

    [Fact]
    public void PopToMemoryWithSpBaseUsesTheIncrementedSp()
    {
        var m = new TestMachine();
        m.Load(a => { a.push(0x4242); a.push(0x1111); a.mov(bx, sp); a.pop(__word_ptr[bx]); });
        m.Run();
        // POP [BX] with BX = old SP writes the popped 1111 over itself; the 4242 above stays.
        Assert.Equal(0x1111, m.Read16(0x20000 + 0xFFFA));
        Assert.Equal(0x4242, m.Read16(0x20000 + 0xFFFC));
    }
}
