using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class DataMovementTests
{
    [Fact]
    public void HighByteRegistersAliasBits8To15()
    {
        var m = new TestMachine();
        m.Load(a => { a.mov(eax, 0x11223344); a.mov(ah, 0xAA); a.mov(bl, ah); a.mov(bh, al); });
        m.Run();
        Assert.Equal(0x1122AA44u, m.Cpu.Eax);
        Assert.Equal(0x44AAu, m.Cpu.Ebx & 0xFFFF);
    }

    [Fact]
    public void SixteenBitWritesKeepTheUpperHalf()
    {
        var m = new TestMachine();
        m.Load(a => { a.mov(ecx, 0xDEADBEEF); a.mov(cx, 0x1234); });
        m.Run();
        Assert.Equal(0xDEAD1234u, m.Cpu.Ecx);
    }

    [Fact]
    public void MovzxMovsxExtend()
    {
        var m = new TestMachine();
        m.Load(a => { a.mov(bl, 0x80); a.movzx(eax, bl); a.movsx(ecx, bl); a.movsx(dx, bl); });
        m.Run();
        Assert.Equal(0x80u, m.Cpu.Eax);
        Assert.Equal(0xFFFFFF80u, m.Cpu.Ecx);
        Assert.Equal(0xFF80u, m.Cpu.Edx & 0xFFFF);
    }

    [Fact]
    public void LeaWrapsSixteenBitAddresses()
    {
        var m = new TestMachine();
        m.Load(a => { a.mov(bx, 0xFFF0); a.mov(si, 0x20); a.lea(ax, __[bx + si + 4]); });
        m.Run();
        Assert.Equal(0x0014u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void XchgAndXlat()
    {
        var m = new TestMachine();
        m.Memory.Poke(0x305, [0x77]);
        m.Load(a => { a.mov(ax, 1); a.mov(dx, 2); a.xchg(ax, dx); a.mov(bx, 0x300); a.mov(al, 5); a.xlatb(); });
        m.Run();
        Assert.Equal(0x77u, m.Cpu.Eax & 0xFF);
        Assert.Equal(1u, m.Cpu.Edx & 0xFFFF);
    }

    [Fact]
    public void SegmentOverridesAndLdsLes()
    {
        var m = new TestMachine();
        m.Memory.Poke(0x400, [0x34, 0x12, 0x00, 0x50]);        // far pointer 5000:1234
        m.Memory.Poke(0x51234, [0xAB]);
        m.Load(a => { a.lds(si, __dword_ptr[0x400]); a.mov(al, __byte_ptr[si]); a.les(di, __dword_ptr.cs[0x0]); });
        m.Run();
        Assert.Equal(0xABu, m.Cpu.Eax & 0xFF);
        Assert.Equal(0x5000, m.Cpu.Seg[SegReg.DS].Selector);
        Assert.Equal(0x50000u, m.Cpu.Seg[SegReg.DS].Base);
    }

    [Fact]
    public void MovToCsIsUndefined()
    {
        var m = new TestMachine();
        m.LoadBytes(0x8E, 0xC8);                                  // mov cs, ax
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void CbwCwdCwdeCdqSignExtend()
    {
        var m = new TestMachine();
        m.Load(a => { a.mov(al, 0xF0); a.cbw(); a.mov(bx, ax); a.cwd(); a.mov(cx, dx); a.cwde(); a.cdq(); });
        m.Run();
        Assert.Equal(0xFFF0u, m.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0xFFFFu, m.Cpu.Ecx & 0xFFFF);
        Assert.Equal(0xFFFFFFF0u, m.Cpu.Eax);
        Assert.Equal(0xFFFFFFFFu, m.Cpu.Edx);
    }
}
