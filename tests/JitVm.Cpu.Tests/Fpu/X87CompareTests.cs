using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>FCOM/FUCOM/FICOM/FTST (C3 C2 C0), FCOMI/FUCOMI (ZF PF CF), their pops and NaN rules, and FXAM.</summary>
public class X87CompareTests
{
    static readonly Float80 QuietNaN = new(0x7FFF, 0xC000_0000_0000_0001);

    static FpuRig Compare(Float80 st1, Float80 st0, Action<Iced.Intel.Assembler> code, ushort control = 0x037F)
    {
        var r = new FpuRig();
        r.Poke80(0x7100, st1);
        r.Poke80(0x7110, st0);
        r.M.Memory.Write16(0x7120, control);
        return r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7120]); x.fld(__tword_ptr[0x7100]); x.fld(__tword_ptr[0x7110]); code(x); });
    }

    [Theory]
    [InlineData(1.0, 2.0, 0x0000)]          // ST0 > ST1
    [InlineData(2.0, 1.0, 0x0100)]          // less: C0
    [InlineData(0.0, -0.0, 0x4000)]         // equal: C3 (-0 = +0)
    public void FcomSetsC3C2C0(double second, double top, int conditions)
    {
        var r = Compare(FpuRig.F(second), FpuRig.F(top), x => x.fcom(st0, st1));
        Assert.Equal(conditions, r.Status & 0x4700);
        Assert.Equal(6, r.Top);
        Assert.Equal(0, r.Flags & 0x3F);
    }

    [Fact]
    public void FcomOfANaNIsInvalidFucomOnlyForASignallingOne()
    {
        var r = Compare(QuietNaN, Float80.One, x => x.fcom(st0, st1));
        Assert.Equal(0x4501, r.Status & 0x4701);                                   // unordered, IE
        r = Compare(QuietNaN, Float80.One, x => x.fucom(st0, st1));
        Assert.Equal(0x4500, r.Status & 0x4701);
    }

    [Fact]
    public void FcompAndFcomppPop()
    {
        Assert.Equal(7, Compare(Float80.One, Float80.One, x => x.fcomp(st0, st1)).Top);
        Assert.Equal(0, Compare(Float80.One, Float80.One, x => x.fcompp()).Top);
        Assert.Equal(0, Compare(Float80.One, Float80.One, x => x.fucompp()).Top);
    }

    [Fact]
    public void UnmaskedInvalidComparisonSetsUnorderedButDoesNotPop()
    {
        var r = Compare(QuietNaN, Float80.One, x => x.fcompp(), control: 0x037E);
        Assert.Equal(6, r.Top);
        Assert.Equal(0xC581, r.Status & 0xC7FF);                                   // B, unordered, ES, IE
    }

    [Fact]
    public void FicomAndFtst()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, 5);
        r.M.Memory.Write32(0x7004, unchecked((uint)-5));
        r.Run(x =>
        {
            x.fninit(); x.fld1();
            x.ficom(__word_ptr[0x7000]); x.fnstsw(__word_ptr[0x7010]);
            x.ficom(__dword_ptr[0x7004]); x.fnstsw(__word_ptr[0x7012]);
            x.fchs(); x.ftst(); x.fnstsw(__word_ptr[0x7014]);
            x.ficomp(__word_ptr[0x7000]);
        });
        Assert.Equal(0x0100, r.M.Read16(0x7010) & 0x4700);                       // 1 < 5
        Assert.Equal(0x0000, r.M.Read16(0x7012) & 0x4700);                        // 1 > -5
        Assert.Equal(0x0100, r.M.Read16(0x7014) & 0x4700);                        // -1 < 0
        Assert.Equal(0, r.Top);
    }

    [Theory]
    [InlineData(1.0, 2.0, 0x00)]
    [InlineData(2.0, 1.0, 0x01)]
    [InlineData(1.0, 1.0, 0x40)]
    public void FcomiSetsZfPfCfAndClearsOfSfAf(double second, double top, int flags)
    {
        var r = new FpuRig();
        r.PokeDouble(0x7100, second);
        r.PokeDouble(0x7108, top);
        r.Run(x =>
        {
            x.mov(ax, 0x8D5); x.push(ax); x.popf();             // OF, SF, AF, PF, CF set
            x.fninit(); x.fld(__qword_ptr[0x7100]); x.fld(__qword_ptr[0x7108]); x.fcomi(st0, st1);
        });
        Assert.Equal((uint)flags, r.Cpu.GetEflags() & Processor.ArithFlags);
        Assert.Equal(6, r.Top);
    }

    [Fact]
    public void FucomipOfANaNIsUnorderedAndPops()
    {
        var r = Compare(QuietNaN, Float80.One, x => x.fucomip(st0, st1));
        Assert.Equal(Processor.FlagZF | Processor.FlagPF | Processor.FlagCF, r.Cpu.GetEflags() & Processor.ArithFlags);
        Assert.Equal(7, r.Top);
        Assert.Equal(0, r.Flags & 0x3F);
        r = Compare(QuietNaN, Float80.One, x => x.fcomip(st0, st1));
        Assert.Equal(1, r.Flags & 0x3F);
    }

    [Fact]
    public void FcomiIsInvalidBeforeTheP6()
    {
        var r = new FpuRig(CpuModel.Pentium);
        r.M.LoadBytes(0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xE8, 0xDB, 0xF1);              // fninit; fld1; fld1; fcomi st, st(1)
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.UD));
    }

    public static TheoryData<ushort, ulong, int> Classes => new()
    {
        { 0x3FFF, 0x8000_0000_0000_0000, 0x0400 },                                  // normal
        { 0xBFFF, 0x8000_0000_0000_0000, 0x0600 },                                  // negative normal: C1
        { 0x0000, 0x0000_0000_0000_0000, 0x4000 },                                  // zero
        { 0x0000, 0x0000_0000_0000_0001, 0x4400 },                                  // denormal
        { 0x0000, 0x8000_0000_0000_0001, 0x4400 },                                  // pseudo-denormal
        { 0x7FFF, 0x8000_0000_0000_0000, 0x0500 },                                  // infinity
        { 0x7FFF, 0xC000_0000_0000_0000, 0x0100 },                                  // NaN
        { 0x4000, 0x4000_0000_0000_0000, 0x0000 },                                  // unnormal: unsupported
        { 0x7FFF, 0x0000_0000_0000_0001, 0x0000 },                                  // pseudo-NaN: unsupported
    };

    [Theory]
    [MemberData(nameof(Classes))]
    public void FxamClassifies(ushort signExponent, ulong significand, int conditions)
    {
        var r = new FpuRig();
        r.Poke80(0x7100, new Float80(signExponent, significand));
        r.Run(x => { x.fninit(); x.fld(__tword_ptr[0x7100]); x.fxam(); });
        Assert.Equal(conditions, r.Status & 0x4700);
    }

    [Fact]
    public void FxamOfAnEmptyRegister()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fxam(); });
        Assert.Equal(0x4100, r.Status & 0x4500);                                   // C3 and C0
    }
}
