using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>
/// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in every operand form, FSQRT, FRNDINT, FSCALE, FXTRACT, FPREM/FPREM1, FABS/FCHS:
/// operand order, destinations, pops, and the stack and exception responses the instructions add to the arithmetic.
/// </summary>
public class X87ArithmeticTests
{
    const uint A = 0x7000, B = 0x7010;            // doubles (or singles/integers) at DS:7000h and 7010h

    static FpuRig Run(double st1, double st0, Action<Iced.Intel.Assembler> code, ushort control = 0x037F)
    {
        var r = new FpuRig();
        r.PokeDouble(0x7100, st1);
        r.PokeDouble(0x7108, st0);
        r.M.Memory.Write16(0x7120, control);
        return r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7120]); x.fld(__qword_ptr[0x7100]); x.fld(__qword_ptr[0x7108]); code(x); });
    }

    [Fact]
    public void RegisterFormsNameTheirDestinationFirstAndTheRFormsReverseTheOperands()
    {
        // ST0 = 8, ST1 = 2.
        Assert.Equal(FpuRig.F(6), Run(2, 8, x => x.fsub(st0, st1)).St(0));
        Assert.Equal(FpuRig.F(-6), Run(2, 8, x => x.fsubr(st0, st1)).St(0));
        Assert.Equal(FpuRig.F(-6), Run(2, 8, x => x.fsub(st1, st0)).St(1));         // DC E8+i: ST(1) = ST(1) - ST(0)
        Assert.Equal(FpuRig.F(6), Run(2, 8, x => x.fsubr(st1, st0)).St(1));         // DC E0+i: ST(1) = ST(0) - ST(1)
        Assert.Equal(FpuRig.F(4), Run(2, 8, x => x.fdiv(st0, st1)).St(0));
        Assert.Equal(FpuRig.F(0.25), Run(2, 8, x => x.fdiv(st1, st0)).St(1));
        Assert.Equal(FpuRig.F(4), Run(2, 8, x => x.fdivr(st1, st0)).St(1));
        Assert.Equal(FpuRig.F(16), Run(2, 8, x => x.fmul(st1, st0)).St(1));
        Assert.Equal(FpuRig.F(10), Run(2, 8, x => x.fadd(st0, st1)).St(0));
    }

    [Fact]
    public void PoppingFormsStoreIntoSTiThenPop()
    {
        var r = Run(2, 8, x => x.fsubp(st1, st0));                                 // DE E8+i: ST(1) - ST(0)
        Assert.Equal(FpuRig.F(-6), r.St(0));
        Assert.Equal(7, r.Top);
        r = Run(2, 8, x => x.fdivrp(st1, st0));                                    // DE F0+i: ST(0) / ST(1)
        Assert.Equal(FpuRig.F(4), r.St(0));
        r = Run(2, 8, x => x.faddp(st1, st0));
        Assert.Equal(FpuRig.F(10), r.St(0));
        Assert.True(r.Empty(1));
    }

    [Fact]
    public void MemoryAndIntegerOperands()
    {
        var r = new FpuRig();
        r.PokeSingle(A, 1.5f);
        r.PokeDouble(B, 0.25);
        r.M.Memory.Write16(0x7020, unchecked((ushort)-3));
        r.M.Memory.Write32(0x7030, 10);
        r.Run(x =>
        {
            x.fninit(); x.fld1();
            x.fadd(__dword_ptr[A]);          // 2.5
            x.fsub(__qword_ptr[B]);          // 2.25
            x.fimul(__word_ptr[0x7020]);     // -6.75
            x.fidivr(__dword_ptr[0x7030]);   // 10 / -6.75
            x.fsubr(__dword_ptr[A]);         // 1.5 - that
        });
        Assert.Equal(FpuRig.F(1.5 - 10 / -6.75).Significand >> 11, r.St(0).Significand >> 11);
        Assert.Equal(FpuRig.F(1.5 - 10 / -6.75).SignExponent, r.St(0).SignExponent);
        Assert.Equal(7, r.Top);
    }

    [Fact]
    public void MaskedZeroDivideGivesASignedInfinity()
    {
        var r = Run(0, -1, x => x.fdiv(st0, st1));
        Assert.Equal(Float80.NegativeInfinity, r.St(0));
        Assert.Equal(0x0004, r.Flags);
    }

    [Fact]
    public void UnmaskedZeroDivideLeavesTheDestinationAndTheStack()
    {
        var r = Run(0, 1, x => x.fdivp(st1, st0), control: 0x037B);                // ZE unmasked: ST(1) = ST(1)/ST(0) = 0/1 fine...
        Assert.Equal(FpuRig.F(0), r.St(0));
        r = Run(0, 1, x => x.fdivrp(st1, st0), control: 0x037B);                   // ...but ST(0)/ST(1) = 1/0
        Assert.Equal(6, r.Top);
        Assert.Equal(FpuRig.F(1), r.St(0));
        Assert.Equal(FpuRig.F(0), r.St(1));
        Assert.Equal(0x8084, r.Status & 0xC7FF);                                   // B, ES, ZE
    }

    [Fact]
    public void AnEmptyOperandIsAStackUnderflowAndMaskedGivesTheIndefinite()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fadd(st0, st3); });
        Assert.Equal(Float80.Indefinite, r.St(0));
        Assert.Equal(0x0041, r.Flags);                                              // IE, SF, C1 = 0
        r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.faddp(st2, st0); });
        Assert.Equal(Float80.Indefinite, r.St(1));                                  // ST(2) before the pop
        Assert.Equal(0, r.Top);
    }

    [Fact]
    public void PrecisionControlRoundsTheSignificand()
    {
        var r = Run(3, 1, x => x.fdiv(st0, st1), control: 0x007F);                 // PC = single
        Assert.Equal(0xAAAA_AB00_0000_0000ul, r.St(0).Significand);
        Assert.Equal(0x0220, r.Flags);                                              // PE, C1 (rounded up)
        r = Run(3, 1, x => x.fdiv(st0, st1));
        Assert.Equal(0xAAAA_AAAA_AAAA_AAABul, r.St(0).Significand);
    }

    [Fact]
    public void FsqrtOfANegativeNumberIsInvalid()
    {
        Assert.Equal(FpuRig.F(3), Run(0, 9, x => x.fsqrt()).St(0));
        var r = Run(0, -4, x => x.fsqrt());
        Assert.Equal(Float80.Indefinite, r.St(0));
        Assert.Equal(0x0001, r.Flags);
    }

    [Theory]
    [InlineData(0, 2.5, 2.0)]
    [InlineData(1, 2.5, 2.0)]
    [InlineData(2, 2.5, 3.0)]
    [InlineData(3, -2.5, -2.0)]
    [InlineData(0, -3.5, -4.0)]
    public void FrndintRoundsByRc(int rc, double value, double expected)
    {
        var r = Run(0, value, x => x.frndint(), control: (ushort)(0x037F | rc << 10));
        Assert.Equal(FpuRig.F(expected), r.St(0));
        Assert.Equal(0x20, r.Flags & 0x3F);                                        // inexact
    }

    [Fact]
    public void FscaleMultipliesByTwoToTheTruncatedPower()
    {
        Assert.Equal(FpuRig.F(12), Run(2.9, 3, x => x.fscale()).St(0));
        Assert.Equal(FpuRig.F(0.375), Run(-3.5, 3, x => x.fscale()).St(0));
    }

    [Fact]
    public void FscaleWithOverflowUnmaskedRebiasesOrGivesInfinityInexactAndRoundedUp()
    {
        var r = Run(20000, 1, x => x.fscale(), control: 0x0F77);                  // #O unmasked, RC toward zero
        Assert.Equal(new Float80(Float80.Bias + 20000 - 24576, 1UL << 63), r.St(0));
        Assert.Equal(0x08, r.Flags & 0x3F);
        Assert.Equal(0, r.Status & 0x0200);
        r = Run(50000, -1, x => x.fscale(), control: 0x0F77);                     // past the rebiased range
        Assert.Equal(Float80.NegativeInfinity, r.St(0));
        Assert.Equal(0x28, r.Flags & 0x3F);                                        // #O and #P
        Assert.Equal(0x0200, r.Status & 0x0200);                                   // C1: rounded up
        r = Run(-50000, 1, x => x.fscale(), control: 0x036F);                     // #U unmasked: +0, #U and #P
        Assert.Equal(Float80.Zero, r.St(0));
        Assert.Equal(0x30, r.Flags & 0x3F);
        Assert.Equal(0, r.Status & 0x0200);
    }

    [Fact]
    public void FxtractSplitsExponentAndSignificand()
    {
        var r = Run(0, -12, x => x.fxtract());
        Assert.Equal(FpuRig.F(-1.5), r.St(0));
        Assert.Equal(FpuRig.F(3), r.St(1));
        Assert.Equal(5, r.Top);
        r = Run(0, 0, x => x.fxtract());                                            // zero: -∞ exponent, #Z
        Assert.Equal(Float80.Zero, r.St(0));
        Assert.Equal(Float80.NegativeInfinity, r.St(1));
        Assert.Equal(0x04, r.Flags & 0x3F);
    }

    [Theory]
    [InlineData(false, 17, 5, 2, 0x4200)]      // quotient 3: C3 = Q1, C1 = Q0
    [InlineData(true, 17, 5, 2, 0x4200)]       // 17/5 = 3.4 rounds to 3
    [InlineData(true, 7, 4, -1, 0x4000)]       // 7/4 = 1.75 rounds to 2: remainder -1, C3 = Q1
    [InlineData(false, -7, 4, -3, 0x0200)]     // truncated: -1 → Q0
    public void PartialRemaindersGiveTheQuotientBits(bool ieee, double dividend, double divisor, double remainder, int conditions)
    {
        var r = Run(divisor, dividend, x => { if (ieee) x.fprem1(); else x.fprem(); });
        Assert.Equal(FpuRig.F(remainder), r.St(0));
        Assert.Equal(conditions, r.Status & 0x4700);
    }

    [Fact]
    public void PartialRemainderOfAHugeQuotientIsIncomplete()
    {
        var r = Run(3, 1e30, x => x.fprem());
        Assert.Equal(0x0400, r.Status & 0x0400);                                    // C2: run again
        Assert.NotEqual(FpuRig.F(1e30), r.St(0));
    }

    [Fact]
    public void FabsAndFchsOnlyChangeTheSign()
    {
        Assert.Equal(FpuRig.F(2), Run(0, -2, x => x.fabs()).St(0));
        Assert.Equal(FpuRig.F(-2), Run(0, 2, x => x.fchs()).St(0));
        var r = new FpuRig().Run(x => { x.fninit(); x.fchs(); });
        Assert.Equal(Float80.Indefinite, r.St(0));
        Assert.Equal(0x41, r.Flags);
    }

    [Fact]
    public void UnmaskedDenormalSourceLeavesTheDestination()
    {
        var r = new FpuRig();
        r.M.Memory.Write32(A, 0x0000_0123);                                       // a single-precision denormal
        r.M.Memory.Write16(0x7120, 0x037D);                                        // DE unmasked
        r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7120]); x.fld1(); x.fadd(__dword_ptr[A]); });
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(0x8082, r.Status & 0xC7FF);                                   // B, ES, DE
    }
}
