using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class MulDivTests
{
    const uint CF = Processor.FlagCF, OF = Processor.FlagOF;

    static TestMachine Run(Action<Assembler> code, CpuModel? model = null)
    {
        var m = new TestMachine(model);
        m.Load(code);
        m.Run();
        return m;
    }

    static uint CfOf(TestMachine m) => m.Cpu.GetEflags() & (CF | OF);

    [Theory]
    [InlineData(0x80, 0x02, 0x0100, true)]
    [InlineData(0x10, 0x0F, 0x00F0, false)]
    [InlineData(0xFF, 0xFF, 0xFE01, true)]
    public void Mul8ProducesAxAndCarryWhenAhIsUsed(byte a, byte b, ushort product, bool cf)
    {
        var m = Run(x => { x.mov(ax, (ushort)(0xEE00 | a)); x.mov(bl, b); x.mul(bl); });
        Assert.Equal(product, (ushort)m.Cpu.Eax);
        Assert.Equal(cf ? CF | OF : 0, CfOf(m));
    }

    [Fact]
    public void Mul16And32UseTheDxPair()
    {
        var m = Run(x => { x.mov(ax, 0xFFFF); x.mov(bx, 0xFFFF); x.mul(bx); });
        Assert.Equal(0x0001u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xFFFEu, m.Cpu.Edx & 0xFFFF);
        Assert.Equal(CF | OF, CfOf(m));

        m = Run(x => { x.mov(eax, 0xFFFFFFFF); x.mov(ebx, 2); x.mul(ebx); });
        Assert.Equal(0xFFFFFFFEu, m.Cpu.Eax);
        Assert.Equal(1u, m.Cpu.Edx);
        Assert.Equal(CF | OF, CfOf(m));

        m = Run(x => { x.mov(eax, 0x10000); x.mov(edx, 0x1234); x.mov(ebx, 0x7FFF); x.mul(ebx); });
        Assert.Equal(0x7FFF0000u, m.Cpu.Eax);
        Assert.Equal(0u, m.Cpu.Edx);
        Assert.Equal(0u, CfOf(m));
    }

    [Theory]
    [InlineData(0xFE, 0x03, 0xFFFA, false)]     // -2 * 3 = -6 fits in AL
    [InlineData(0x40, 0x02, 0x0080, true)]      // 128 does not fit in a signed byte
    [InlineData(0x80, 0xFF, 0x0080, true)]      // -128 * -1 = +128
    [InlineData(0xF0, 0x08, 0xFF80, false)]     // -16 * 8 = -128 fits
    public void Imul8SignedOverflow(byte a, byte b, ushort product, bool cf)
    {
        var m = Run(x => { x.mov(al, a); x.mov(bl, b); x.imul(bl); });
        Assert.Equal(product, (ushort)m.Cpu.Eax);
        Assert.Equal(cf ? CF | OF : 0, CfOf(m));
    }

    [Fact]
    public void Imul16OneOperandSignExtendsIntoDx()
    {
        var m = Run(x => { x.mov(ax, unchecked((ushort)-300)); x.mov(cx, 2); x.imul(cx); });
        Assert.Equal(unchecked((ushort)-600), (ushort)m.Cpu.Eax);
        Assert.Equal(0xFFFFu, m.Cpu.Edx & 0xFFFF);
        Assert.Equal(0u, CfOf(m));
    }

    [Fact]
    public void ImulThreeOperandSignExtendsImm8()
    {
        var m = new TestMachine(CpuModel.I286);
        // mov bx, 10 ; imul cx, bx, -3 (6B CB FD) ; imul dx, bx, 7FFFh (69 D3 FF 7F)
        m.LoadBytes(0xBB, 0x0A, 0x00, 0x6B, 0xCB, 0xFD, 0x69, 0xD3, 0xFF, 0x7F);
        m.Run();
        Assert.Equal(unchecked((ushort)-30), (ushort)m.Cpu.Ecx);
        Assert.Equal(0xFFF6u, m.Cpu.Edx & 0xFFFF);           // 10 * 7FFF = 4FFF6 truncated
        Assert.Equal(CF | OF, CfOf(m));
        Assert.Equal(10u, m.Cpu.Ebx & 0xFFFF);               // the source is not written

        var n = Run(x => { x.mov(ebx, 0x10000); x.imul(ecx, ebx, -1); });
        Assert.Equal(0xFFFF0000u, n.Cpu.Ecx);
        Assert.Equal(0u, CfOf(n));
    }

    [Fact]
    public void ImulTwoOperandKeepsTheLowHalf()
    {
        var m = Run(x => { x.mov(ax, 300); x.mov(bx, unchecked((ushort)-2)); x.imul(ax, bx); });
        Assert.Equal(unchecked((ushort)-600), (ushort)m.Cpu.Eax);
        Assert.Equal(0u, CfOf(m));

        m = Run(x => { x.mov(eax, 0x40000000); x.mov(ebx, 2); x.imul(eax, ebx); });
        Assert.Equal(0x80000000u, m.Cpu.Eax);
        Assert.Equal(CF | OF, CfOf(m));
    }

    [Fact]
    public void DivideByZeroRaisesDeWithRegistersUnchanged()
    {
        var m = new TestMachine();
        m.Load(x => { x.mov(ax, 0x1234); x.mov(dx, 0x5678); x.mov(bl, 0); x.stc(); x.div(bl); x.mov(ax, 0); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.DE));
        Assert.Equal(0x1234u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0x5678u, m.Cpu.Edx & 0xFFFF);
    }

    [Fact]
    public void QuotientOverflowRaisesDe()
    {
        // 1000h / 10h = 100h does not fit in AL.
        var m = new TestMachine();
        m.Load(x => { x.mov(ax, 0x1000); x.mov(bl, 0x10); x.div(bl); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.DE));
        Assert.Equal(0x1000u, m.Cpu.Eax & 0xFFFF);

        // DX:AX = 10000h / 1 overflows AX.
        m = new TestMachine(CpuModel.I286);
        m.Load(x => { x.mov(dx, 1); x.mov(ax, 0); x.mov(cx, 1); x.div(cx); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.DE));
        Assert.Equal(1u, m.Cpu.Edx & 0xFFFF);
        Assert.Equal(0u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void DivStoresQuotientAndRemainder()
    {
        var m = Run(x => { x.mov(ax, 1000); x.mov(bl, 7); x.div(bl); });
        Assert.Equal(142u, m.Cpu.Eax & 0xFF);
        Assert.Equal(6u, (m.Cpu.Eax >> 8) & 0xFF);

        m = Run(x => { x.mov(dx, 0x0001); x.mov(ax, 0x0005); x.mov(cx, 0x10); x.div(cx); });
        Assert.Equal(0x1000u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(5u, m.Cpu.Edx & 0xFFFF);

        m = Run(x => { x.mov(edx, 7); x.mov(eax, 0x00000009); x.mov(ecx, 8); x.div(ecx); });
        Assert.Equal(0xE0000001u, m.Cpu.Eax);
        Assert.Equal(1u, m.Cpu.Edx);
    }

    [Theory]
    [InlineData(-7, 2, -3, -1)]
    [InlineData(7, -2, -3, 1)]
    [InlineData(-7, -2, 3, -1)]
    [InlineData(-128, 1, -128, 0)]          // the most negative quotient is delivered (286 and later)
    public void Idiv8TruncatesTowardZero(short dividend, sbyte divisor, sbyte q, sbyte r)
    {
        var m = Run(x => { x.mov(ax, unchecked((ushort)dividend)); x.mov(bl, unchecked((byte)divisor)); x.idiv(bl); });
        Assert.Equal(0, m.Exceptions(CpuVectors.DE));
        Assert.Equal(q, (sbyte)m.Cpu.Eax);
        Assert.Equal(r, (sbyte)(m.Cpu.Eax >> 8));
    }

    [Theory]
    [InlineData(128, 1)]
    [InlineData(-32768, -1)]
    [InlineData(-129 * 2, 2)]
    public void Idiv8OutOfRangeRaisesDe(short dividend, sbyte divisor)
    {
        var m = new TestMachine();
        m.Load(x => { x.mov(ax, unchecked((ushort)dividend)); x.mov(bl, unchecked((byte)divisor)); x.idiv(bl); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.DE));
        Assert.Equal(unchecked((ushort)dividend), (ushort)m.Cpu.Eax);
    }

    [Fact]
    public void Idiv16And32Edges()
    {
        // DX:AX = -32768 / 1 gives AX = 8000h; / -1 overflows.
        var m = Run(x => { x.mov(dx, 0xFFFF); x.mov(ax, 0x8000); x.mov(cx, 1); x.idiv(cx); });
        Assert.Equal(0x8000u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0u, m.Cpu.Edx & 0xFFFF);

        var n = new TestMachine();
        n.Load(x => { x.mov(dx, 0x8000); x.mov(ax, 0); x.mov(cx, unchecked((ushort)-1)); x.idiv(cx); });
        n.Run();
        Assert.Equal(1, n.Exceptions(CpuVectors.DE));

        // EDX:EAX = -2^63 / -1: must raise #DE, not trap the host.
        n = new TestMachine();
        n.Load(x => { x.mov(edx, 0x80000000); x.xor(eax, eax); x.mov(ecx, 0xFFFFFFFF); x.idiv(ecx); });
        n.Run();
        Assert.Equal(1, n.Exceptions(CpuVectors.DE));
        Assert.Equal(0x80000000u, n.Cpu.Edx);

        m = Run(x => { x.mov(edx, 0xFFFFFFFF); x.mov(eax, unchecked((uint)-100)); x.mov(ecx, 7); x.idiv(ecx); });
        Assert.Equal(unchecked((uint)-14), m.Cpu.Eax);
        Assert.Equal(unchecked((uint)-2), m.Cpu.Edx);
    }

    [Fact]
    public void DivMemoryOperand()
    {
        var m = Run(x => { x.mov(bx, 0x400); x.mov(__word_ptr[bx], 300); x.mov(dx, 0); x.mov(ax, 1000); x.div(__word_ptr[bx]); });
        Assert.Equal(3u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(100u, m.Cpu.Edx & 0xFFFF);
    }

    [Fact]
    public void I286MulUndefinedFlags()
    {
        // Measured on the 80286: SF/ZF/PF describe the high half and AF is set.
        var m = Run(x => { x.mov(al, 0x10); x.mov(bl, 0x10); x.mul(bl); }, CpuModel.I286);
        uint f = m.Cpu.GetEflags();
        Assert.Equal(0x0100u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(Processor.FlagAF | CF | OF, f & (Processor.FlagAF | CF | OF | Processor.FlagZF | Processor.FlagSF));
    }
}
