using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class AluTests
{
    [Theory]
    [InlineData(0x7F, 0x01, 0x80, false, true)]      // signed overflow into the sign bit
    [InlineData(0xFF, 0x01, 0x00, true, false)]      // carry out, no overflow
    [InlineData(0x80, 0x80, 0x00, true, true)]       // both
    public void Add8SetsCarryAndOverflow(byte a, byte b, byte sum, bool cf, bool of)
    {
        var m = new TestMachine();
        m.Load(x => { x.mov(al, a); x.mov(bl, b); x.add(al, bl); });
        m.Run();
        Assert.Equal(sum, (byte)m.Cpu.Eax);
        uint f = m.Cpu.GetEflags();
        Assert.Equal(cf, (f & Processor.FlagCF) != 0);
        Assert.Equal(of, (f & Processor.FlagOF) != 0);
        Assert.Equal(sum == 0, (f & Processor.FlagZF) != 0);
    }

    [Fact]
    public void AdcAndSbbChainCarryAcrossWords()
    {
        var m = new TestMachine();
        // 0x0001FFFF + 0x00000001 computed as two 16-bit halves, then subtracted back.
        m.Load(x =>
        {
            x.mov(ax, 0xFFFF); x.mov(dx, 0x0001);
            x.add(ax, 1); x.adc(dx, 0);
            x.mov(bx, ax); x.mov(cx, dx);
            x.sub(bx, 1); x.sbb(cx, 0);
        });
        m.Run();
        Assert.Equal(0x0000u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0x0002u, m.Cpu.Edx & 0xFFFF);
        Assert.Equal(0xFFFFu, m.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0x0001u, m.Cpu.Ecx & 0xFFFF);
    }

    [Fact]
    public void IncPreservesCarryAndNegSetsIt()
    {
        var m = new TestMachine();
        m.Load(x => { x.stc(); x.mov(ax, 0x7FFF); x.inc(ax); x.setc(bl); x.seto(bh); x.neg(ax); x.setc(cl); });
        m.Run();
        Assert.Equal(1u, m.Cpu.Ebx & 0xFF);             // CF kept by INC
        Assert.Equal(1u, (m.Cpu.Ebx >> 8) & 0xFF);      // 7FFF+1 overflows
        Assert.Equal(0x8000u, m.Cpu.Eax & 0xFFFF);      // NEG 8000 = 8000
        Assert.Equal(1u, m.Cpu.Ecx & 0xFF);             // NEG of nonzero sets CF
    }

    [Fact]
    public void MemoryDestinationFormsReadModifyWrite()
    {
        var m = new TestMachine();
        m.Load(x => { x.mov(bx, 0x100); x.mov(__word_ptr[bx], 0x1234); x.add(__word_ptr[bx], 0x0101); x.xor(__byte_ptr[bx + 1], 0xFF); });
        m.Run();
        Assert.Equal(0xEC35, m.Read16(0x100));
    }
}
