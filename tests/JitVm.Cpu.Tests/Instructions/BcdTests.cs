using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class BcdTests
{
    const uint CF = Processor.FlagCF, AF = Processor.FlagAF, ZF = Processor.FlagZF;

    static TestMachine Run(Action<Assembler> code, CpuModel? model = null)
    {
        var m = new TestMachine(model);
        m.Load(code);
        m.Run();
        return m;
    }

    [Theory]
    [InlineData(0x79, 0x35, 0x14, true)]     // 79 + 35 = 114
    [InlineData(0x19, 0x28, 0x47, false)]    // AF from the low digits: 9 + 8
    [InlineData(0x50, 0x50, 0x00, true)]     // 50 + 50 = 100
    [InlineData(0x01, 0x02, 0x03, false)]    // no adjust
    public void DaaAfterAdd(byte a, byte b, byte result, bool carry)
    {
        var m = Run(x => { x.mov(al, a); x.add(al, b); x.daa(); });
        Assert.Equal(result, (byte)m.Cpu.Eax);
        uint f = m.Cpu.GetEflags();
        Assert.Equal(carry, (f & CF) != 0);
        Assert.Equal(result == 0, (f & ZF) != 0);
    }

    [Theory]
    [InlineData(0x35, 0x47, 0x88, true)]     // 35 - 47 = -12 -> 88 borrow
    [InlineData(0x47, 0x35, 0x12, false)]
    [InlineData(0x40, 0x01, 0x39, false)]    // AF from the low digits
    [InlineData(0x03, 0x04, 0x99, true)]
    public void DasAfterSub(byte a, byte b, byte result, bool borrow)
    {
        var m = Run(x => { x.mov(al, a); x.sub(al, b); x.das(); });
        Assert.Equal(result, (byte)m.Cpu.Eax);
        Assert.Equal(borrow, (m.Cpu.GetEflags() & CF) != 0);
    }

    [Fact]
    public void AaaCarriesIntoAh()
    {
        // 9 + 8 = 17: AL = 7, AH = 1, CF = AF = 1.
        var m = Run(x => { x.mov(ax, 0x0009); x.add(al, 8); x.aaa(); });
        Assert.Equal(0x0107u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(CF | AF, m.Cpu.GetEflags() & (CF | AF));

        // No adjust: only the high nibble of AL is cleared, CF = AF = 0.
        m = Run(x => { x.mov(ax, 0x0235); x.clc(); x.aaa(); });
        Assert.Equal(0x0205u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0u, m.Cpu.GetEflags() & (CF | AF));

        // AX += 106h: a carry out of AL + 6 reaches AH as well (AH goes up by 2).
        m = Run(x => { x.mov(ax, 0x00FB); x.aaa(); });
        Assert.Equal(0x0201u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void AasBorrowsFromAh()
    {
        // 12 - 5 as unpacked BCD: AX = 0102h; SUB AL,5 leaves FDh with AF; AAS gives AX = 0007h.
        var m = Run(x => { x.mov(ax, 0x0102); x.sub(al, 5); x.aas(); });
        Assert.Equal(0x0007u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(CF | AF, m.Cpu.GetEflags() & (CF | AF));

        m = Run(x => { x.mov(ax, 0x0008); x.sub(al, 5); x.aas(); });
        Assert.Equal(0x0003u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0u, m.Cpu.GetEflags() & (CF | AF));
    }

    [Fact]
    public void AamSplitsAlByTheImmediate()
    {
        var m = Run(x => { x.mov(ax, 0xFF4F); x.aam(10); });                  // 79 -> 07 09
        Assert.Equal(0x0709u, m.Cpu.Eax & 0xFFFF);

        m = Run(x => { x.mov(al, 0xA5); x.aam(16); });
        Assert.Equal(0x0A05u, m.Cpu.Eax & 0xFFFF);

        m = Run(x => { x.mov(ax, 0x1200); x.aam(10); });
        Assert.Equal(0u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(ZF, m.Cpu.GetEflags() & ZF);
    }

    [Fact]
    public void AamByZeroRaisesDe()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0xB8, 0x34, 0x12, 0xD4, 0x00);                         // mov ax, 1234h ; aam 0
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.DE));
        Assert.Equal(0x1234u, m.Cpu.Eax & 0xFFFF);
    }

    [Fact]
    public void AadCombinesAhAndAl()
    {
        var m = Run(x => { x.mov(ax, 0x0709); x.aad(10); });                  // 7 * 10 + 9 = 79
        Assert.Equal(0x004Fu, m.Cpu.Eax & 0xFFFF);

        m = Run(x => { x.mov(ax, 0x0A05); x.aad(16); });
        Assert.Equal(0x00A5u, m.Cpu.Eax & 0xFFFF);

        m = Run(x => { x.mov(ax, 0x0F80); x.aad(10); });                    // 150 + 128 = 278: AL = 16h, carry out
        Assert.Equal(0x0016u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(CF, m.Cpu.GetEflags() & CF);
    }
}
