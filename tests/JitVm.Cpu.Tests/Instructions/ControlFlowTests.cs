using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class ControlFlowTests
{
    [Fact]
    public void CallAndRetUseTheStackAndReturnAfterTheCall()
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            var sub = a.CreateLabel(); var end = a.CreateLabel();
            a.mov(ax, 1);
            a.call(sub);
            a.add(ax, 100);                          // runs after the return
            a.jmp(end);
            a.Label(ref sub);
            a.shl(ax, 3);
            a.ret();
            a.Label(ref end);
            a.nop();
        });
        m.Run();
        Assert.Equal(108u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xFFFEu, m.Cpu.Esp & 0xFFFF);   // balanced
    }

    [Fact]
    public void RetImmediateReleasesArguments()
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            var sub = a.CreateLabel(); var end = a.CreateLabel();
            a.push(7); a.push(5);
            a.call(sub);
            a.jmp(end);
            a.Label(ref sub);
            a.mov(bp, sp);
            a.mov(ax, __word_ptr[bp + 2]);
            a.sub(ax, __word_ptr[bp + 4]);
            a.ret(4);
            a.Label(ref end);
            a.nop();
        });
        m.Run();
        Assert.Equal(unchecked((uint)(5 - 7)) & 0xFFFF, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xFFFEu, m.Cpu.Esp & 0xFFFF);
    }

    [Theory]
    [InlineData(5, 3, true, false, false)]       // unsigned: 5 > 3; signed: 5 > 3
    [InlineData(-1, 1, true, true, false)]       // unsigned FFFF > 1; signed -1 < 1
    [InlineData(3, 3, false, false, false)]
    public void ConditionalJumpsAfterCompare(short x, short y, bool above, bool less, bool below)
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ax, (ushort)x); a.mov(bx, (ushort)y);
            var l1 = a.CreateLabel(); var l2 = a.CreateLabel(); var l3 = a.CreateLabel();
            var e1 = a.CreateLabel(); var e2 = a.CreateLabel(); var e3 = a.CreateLabel();
            a.mov(cl, 0); a.cmp(ax, bx); a.ja(l1); a.jmp(e1); a.Label(ref l1); a.mov(cl, 1); a.Label(ref e1);
            a.mov(ch, 0); a.cmp(ax, bx); a.jl(l2); a.jmp(e2); a.Label(ref l2); a.mov(ch, 1); a.Label(ref e2);
            a.mov(dl, 0); a.cmp(ax, bx); a.jb(l3); a.jmp(e3); a.Label(ref l3); a.mov(dl, 1); a.Label(ref e3);
        });
        m.Run();
        Assert.Equal(above, (m.Cpu.Ecx & 0xFF) == 1);
        Assert.Equal(less, ((m.Cpu.Ecx >> 8) & 0xFF) == 1);
        Assert.Equal(below, (m.Cpu.Edx & 0xFF) == 1);
    }

    [Fact]
    public void LoopCountsCxDownAndLoopneStopsOnZero()
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            var top = a.CreateLabel(); var top2 = a.CreateLabel();
            a.xor(ax, ax); a.mov(cx, 10);
            a.Label(ref top); a.inc(ax); a.loop(top);          // 10 turns
            a.mov(cx, 100); a.mov(bx, 4);
            a.Label(ref top2); a.dec(bx); a.loopne(top2);       // stops when BX hits 0
        });
        m.Run();
        Assert.Equal(10u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0u, m.Cpu.Ebx & 0xFFFF);
        Assert.Equal(96u, m.Cpu.Ecx & 0xFFFF);
    }

    [Fact]
    public void JcxzTakesTheBranchOnlyWhenCxIsZero()
    {
        var m = new TestMachine();
        m.Load(a =>
        {
            var t = a.CreateLabel(); var end = a.CreateLabel();
            a.mov(ecx, 0x10000);                    // CX = 0 but ECX != 0
            a.mov(ax, 1);
            a.jcxz(t);
            a.mov(ax, 2);
            a.jmp(end);
            a.Label(ref t);
            a.mov(ax, 3);
            a.Label(ref end);
            a.nop();
        });
        m.Run();
        Assert.Equal(3u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void FarCallAndRetfSwitchCodeSegments()
    {
        var m = new TestMachine();
        // A far routine at 2000:0010: mov bx, cs; retf.
        m.Memory.Poke(0x20010, [0x8C, 0xCB, 0xCB]);
        m.Load(a => { a.call(0x2000, 0x0010); a.mov(dx, cs); });
        m.Run();
        Assert.Equal(0x2000u, m.Cpu.Ebx & 0xFFFF);
        Assert.Equal((uint)TestMachine.CodeSegment, m.Cpu.Edx & 0xFFFF);
        Assert.Equal(0xFFFEu, m.Cpu.Esp & 0xFFFF);
    }

    [Fact]
    public void IntPushesFlagsCsIpAndIretRestoresThem()
    {
        var m = new TestMachine();
        // INT 40h handler at 3000:0000: mov ax, 1234h; iret.
        m.Memory.Poke(0x30000, [0xB8, 0x34, 0x12, 0xCF]);
        m.Memory.Poke(0x40 * 4, [0x00, 0x00, 0x00, 0x30]);
        m.Load(a => { a.sti(); a.stc(); a.@int(0x40); a.pushf(); a.pop(bx); });
        m.Run();
        Assert.Equal(0x1234u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(Processor.FlagIF | Processor.FlagCF, m.Cpu.Ebx & (Processor.FlagIF | Processor.FlagCF));
        Assert.Equal(0xFFFEu, m.Cpu.Esp & 0xFFFF);
    }

    [Fact]
    public void InterruptHandlerRunsWithIfAndTfCleared()
    {
        var m = new TestMachine();
        // Handler: pushf; pop cx; iret.
        m.Memory.Poke(0x30000, [0x9C, 0x59, 0xCF]);
        m.Memory.Poke(0x41 * 4, [0x00, 0x00, 0x00, 0x30]);
        m.Load(a => { a.sti(); a.@int(0x41); });
        m.Run();
        Assert.Equal(0u, m.Cpu.Ecx & Processor.FlagIF);
    }

    [Fact]
    public void DivideErrorPushesTheAddressOfTheFaultingInstruction()
    {
        var m = new TestMachine();
        int len = m.Load(a => { a.mov(ax, 5); a.xor(bl, bl); a.div(bl); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.DE));
        ushort ip = m.Read16(0x20000 + 0xFFFE - 6);
        Assert.Equal(len - 1 - 2, ip);              // the DIV (2 bytes) just before the appended HLT
        Assert.Equal(5u, m.Cpu.Eax & 0xFFFF);       // unchanged
    }

    [Fact]
    public void IntoTrapsOnlyWhenOverflowIsSet()
    {
        var m = new TestMachine();
        int len = m.Load(a => { a.mov(al, 0x7F); a.add(al, 1); a.into(); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(len - 1, m.Read16(0x20000 + 0xFFFE - 6));   // a trap: returns after INTO
    }

    [Fact]
    public void BoundRaisesBrWhenTheIndexIsOutOfRange()
    {
        var m = new TestMachine();
        m.Memory.Poke(0x200, [0x0A, 0x00, 0x14, 0x00]);           // bounds [10, 20]
        m.Load(a => { a.mov(ax, 15); a.bound(ax, __dword_ptr[0x200]); a.mov(ax, 21); a.bound(ax, __dword_ptr[0x200]); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.BR));
    }

    [Fact]
    public void SingleStepTrapsAfterEachInstruction()
    {
        var m = new TestMachine();
        // INT 1 handler counts into DI and returns.
        m.Memory.Poke(0x30000, [0x47, 0xCF]);                     // inc di; iret
        m.Memory.Poke(1 * 4, [0x00, 0x00, 0x00, 0x30]);
        m.Load(a =>
        {
            a.xor(di, di);
            a.pushf(); a.pop(ax); a.or(ax, 0x100); a.push(ax); a.popf();   // TF on: traps start after POPF's successor
            a.nop(); a.nop(); a.nop();
            a.pushf(); a.pop(ax); a.and(ax, 0xFEFF); a.push(ax); a.popf();
        });
        m.Run();
        // Traps after: nop nop nop pushf pop and push popf = 8 (POPF that clears TF still traps: TF was set before it).
        Assert.Equal(8u, m.Cpu.Edi & 0xFFFF);
    }
}
