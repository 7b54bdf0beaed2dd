using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>FSIN/FCOS/FSINCOS/FPTAN (range and C2, pushes), FPATAN, F2XM1, FYL2X, FYL2XP1 (pops) and their stack faults.</summary>
public class X87TranscendentalTests
{
    static readonly Float80 PiOver4 = new(0x3FFE, 0xC90F_DAA2_2168_C235);

    static FpuRig Run(Action<Iced.Intel.Assembler> code, double a = 0, double b = 0)
    {
        var r = new FpuRig();
        r.PokeDouble(0x7000, a);
        r.PokeDouble(0x7008, b);
        return r.Run(x => { x.fninit(); code(x); });
    }

    static double ToDouble(Float80 v) =>
        Math.ScaleB((double)(v.Significand >> 11) / (1L << 52), v.Exponent - Float80.Bias) * (v.Sign ? -1 : 1);

    [Fact]
    public void SineAndCosineOfZero()
    {
        var r = Run(x => { x.fldz(); x.fsin(); x.fldz(); x.fcos(); });
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(Float80.Zero, r.St(1));
        Assert.Equal(0, r.Status & 0x0400);
    }

    [Fact]
    public void AnOperandOfTwoToTheSixtyThreeIsOutOfRange()
    {
        var r = Run(x => { x.fld(__qword_ptr[0x7000]); x.fsin(); }, a: Math.ScaleB(1, 63));
        Assert.Equal(FpuRig.F(Math.ScaleB(1, 63)), r.St(0));
        Assert.Equal(0x0400, r.Status & 0x0600);                                   // C2 set, C1 clear
        r = Run(x => { x.fld(__qword_ptr[0x7000]); x.fptan(); }, a: -Math.ScaleB(1, 70));
        Assert.Equal(7, r.Top);                                                     // nothing pushed
        Assert.Equal(0x0400, r.Status & 0x0400);
    }

    [Fact]
    public void FsincosLeavesTheCosineOnTopAndFptanPushesOne()
    {
        var r = Run(x => { x.fld(__qword_ptr[0x7000]); x.fsincos(); }, a: 0.5);
        Assert.Equal(6, r.Top);
        Assert.Equal(Math.Cos(0.5), ToDouble(r.St(0)), 15);
        Assert.Equal(Math.Sin(0.5), ToDouble(r.St(1)), 15);
        r = Run(x => { x.fld(__qword_ptr[0x7000]); x.fptan(); }, a: 0.5);
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(Math.Tan(0.5), ToDouble(r.St(1)), 15);
    }

    [Fact]
    public void FptanOfANaNPushesTheNaNTwice()
    {
        var r = Run(x => { x.fld(__qword_ptr[0x7000]); x.fptan(); }, a: double.NaN);
        Assert.True(r.St(0).IsNaN);
        Assert.Equal(r.St(0), r.St(1));
    }

    [Fact]
    public void FpatanFyl2xAndFyl2xp1PopOnce()
    {
        var r = Run(x => { x.fld1(); x.fld1(); x.fpatan(); });
        Assert.Equal(PiOver4, r.St(0));
        Assert.Equal(7, r.Top);
        r = Run(x => { x.fld1(); x.fld(__qword_ptr[0x7000]); x.fyl2x(); }, a: 8);
        Assert.Equal(FpuRig.F(3), r.St(0));
        r = Run(x => { x.fld(__qword_ptr[0x7008]); x.fldz(); x.fyl2xp1(); }, b: 5);
        Assert.Equal(Float80.Zero, r.St(0));
        Assert.Equal(7, r.Top);
    }

    [Fact]
    public void F2xm1OfAHalf()
    {
        var r = Run(x => { x.fld(__qword_ptr[0x7000]); x.f2xm1(); }, a: 0.5);
        Assert.Equal(Math.Sqrt(2) - 1, ToDouble(r.St(0)), 15);
    }

    [Fact]
    public void FpatanOfAnEmptyOperandIsAnUnderflow()
    {
        var r = Run(x => { x.fld1(); x.fpatan(); });
        Assert.Equal(Float80.Indefinite, r.St(0));                                 // the masked response in ST(1), then the pop
        Assert.Equal(0, r.Top);
        Assert.Equal(0x41, r.Flags & 0x7F);
    }

    [Fact]
    public void FsincosOnAFullStackOverflows()
    {
        var r = Run(x => { for (int k = 0; k < 8; k++) x.fldz(); x.fsincos(); });
        Assert.Equal(Float80.Indefinite, r.St(0));
        Assert.Equal(Float80.Indefinite, r.St(1));
        Assert.Equal(0x0241, r.Flags & 0x07FF);                                     // C1 (overflow), SF, IE
    }
}
