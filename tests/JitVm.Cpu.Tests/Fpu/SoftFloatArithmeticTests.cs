using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>
/// SoftFloat's FADD/FSUB/FMUL/FDIV/FSQRT on edge cases worked out from the SDM (vol. 1 §4.9, §8.5, table 4-7),
/// including the unmasked responses the host oracle cannot run natively.
/// </summary>
public class SoftFloatArithmeticTests
{
    const ushort AllMasked = 0x037F;
    static readonly Float80 One = Float80.One;
    static readonly Float80 Two = new(0x4000, 1UL << 63);
    static readonly Float80 Three = new(0x4000, 0xC000_0000_0000_0000);
    static readonly Float80 MaxFinite = new(0x7FFE, ulong.MaxValue);
    static readonly Float80 MinNormal = new(0x0001, 1UL << 63);

    /// <summary>A control word: RC, PC, and the given exceptions unmasked.</summary>
    static FpuEnv Env(RoundingControl rc = RoundingControl.Nearest, PrecisionControl pc = PrecisionControl.Extended, FpuExceptions unmasked = 0) =>
        new((ushort)((0x7F & ~(int)unmasked) | ((int)pc << 8) | ((int)rc << 10)));

    static Float80 Pow2(int e) => new((ushort)(Float80.Bias + e), 1UL << 63);

    [Theory]
    // 1 + 2^-64 is exactly half an ulp of 1 at 64 bits: nearest-even keeps 1, up goes to 1 + 2^-63.
    [InlineData(RoundingControl.Nearest, 0x8000_0000_0000_0000UL, false)]
    [InlineData(RoundingControl.Down, 0x8000_0000_0000_0000UL, false)]
    [InlineData(RoundingControl.Up, 0x8000_0000_0000_0001UL, true)]
    [InlineData(RoundingControl.TowardZero, 0x8000_0000_0000_0000UL, false)]
    public void AddRoundsAHalfUlpPerRoundingControl(RoundingControl rc, ulong significand, bool roundedUp)
    {
        var env = Env(rc);
        var r = SoftFloat.Add(One, Pow2(-64), ref env);
        Assert.Equal(new Float80(0x3FFF, significand), r);
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.Equal(roundedUp, env.RoundedUp);
    }

    [Fact]
    public void NegativeOperandsRoundDownAwayFromZero()
    {
        var env = Env(RoundingControl.Down);
        var r = SoftFloat.Add(One.Negate(), Pow2(-64).Negate(), ref env);
        Assert.Equal(new Float80(0xBFFF, 0x8000_0000_0000_0001), r);
        Assert.True(env.RoundedUp); // C1 reports a larger magnitude
    }

    [Theory]
    [InlineData(PrecisionControl.Single, 0xFFFF_FF00_0000_0000UL)]
    [InlineData(PrecisionControl.Double, 0xFFFF_FFFF_FFFF_F800UL)]
    [InlineData(PrecisionControl.Extended, 0xFFFF_FFFF_FFFF_FFFFUL)]
    public void PrecisionControlRoundsTheSignificandOnly(PrecisionControl pc, ulong significand)
    {
        // (2 - 2^-63) + 0 under toward-zero: truncated to 24/53/64 bits, the exponent is still extended.
        var env = Env(RoundingControl.TowardZero, pc);
        var r = SoftFloat.Add(new Float80(0x3FFF, ulong.MaxValue), Float80.Zero, ref env);
        Assert.Equal(new Float80(0x3FFF, significand), r);
        Assert.Equal(pc == PrecisionControl.Extended ? FpuExceptions.None : FpuExceptions.Precision, env.Raised);
    }

    [Fact]
    public void PrecisionControlRoundsOnceNotTwice()
    {
        // 1 + (2^-53 + 2^-70) at PC=53: above the half-way point, so it rounds up to 1 + 2^-52 (rounding first to 64
        // bits would make it an exact tie, and then down to 1).
        var env = Env(pc: PrecisionControl.Double);
        var b = new Float80((ushort)(Float80.Bias - 53), (1UL << 63) | (1UL << 46));
        var r = SoftFloat.Add(One, b, ref env);
        Assert.Equal(new Float80(0x3FFF, 0x8000_0000_0000_0800), r);
        Assert.True(env.RoundedUp);
    }

    [Fact]
    public void PrecisionControlKeepsTheExtendedExponentRange()
    {
        // 2^-16000 · 2^-300 is far below double's range but an ordinary number with PC=53.
        var env = Env(pc: PrecisionControl.Double);
        var r = SoftFloat.Mul(Pow2(-16000), Pow2(-300), ref env);
        Assert.Equal(Pow2(-16300), r);
        Assert.Equal(FpuExceptions.None, env.Raised);
    }

    [Fact]
    public void ExactCancellationGivesPlusZeroExceptWhenRoundingDown()
    {
        var env = Env();
        Assert.Equal(Float80.Zero, SoftFloat.Sub(Three, Three, ref env));
        env = Env(RoundingControl.Down);
        Assert.Equal(Float80.NegativeZero, SoftFloat.Sub(Three, Three, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        env = Env();
        Assert.Equal(Float80.NegativeZero, SoftFloat.Add(Float80.NegativeZero, Float80.NegativeZero, ref env));
        Assert.Equal(Float80.Zero, SoftFloat.Add(Float80.NegativeZero, Float80.Zero, ref env));
    }

    [Fact]
    public void SubtractionBorrowsThroughTheStickyBits()
    {
        // 1 - 2^-100: just below 1, toward zero gives the largest significand below 1; nearest gives 1.
        var env = Env(RoundingControl.TowardZero);
        Assert.Equal(new Float80(0x3FFE, ulong.MaxValue), SoftFloat.Sub(One, Pow2(-100), ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        env = Env();
        Assert.Equal(One, SoftFloat.Sub(One, Pow2(-100), ref env));
        Assert.True(env.RoundedUp);
    }

    [Fact]
    public void DenormalOperandsRaiseDAndAreExact()
    {
        var den = new Float80(0, 0x0000_0000_0000_0003);
        var env = Env();
        var r = SoftFloat.Add(den, den, ref env);
        Assert.Equal(new Float80(0, 6), r);
        Assert.Equal(FpuExceptions.Denormal, env.Raised); // exact, so no underflow when masked
    }

    [Fact]
    public void PseudoDenormalsReadAsExponentOneAndComeOutNormalized()
    {
        var pseudo = new Float80(0, 1UL << 63);
        var env = Env();
        var r = SoftFloat.Add(pseudo, Float80.Zero, ref env);
        Assert.Equal(MinNormal, r);
        Assert.Equal(FpuExceptions.Denormal, env.Raised);
    }

    [Fact]
    public void UnmaskedDenormalSuppressesTheResult()
    {
        var env = Env(unmasked: FpuExceptions.Denormal);
        SoftFloat.Mul(new Float80(0, 5), Two, ref env);
        Assert.True(env.SuppressResult);
        Assert.Equal(FpuExceptions.Denormal, env.Raised);
    }

    [Fact]
    public void UnsupportedEncodingsAreInvalid()
    {
        foreach (var bad in new[] { new Float80(0x4000, 0x4000_0000_0000_0000), new Float80(0x7FFF, 0), new Float80(0x7FFF, 0x4000_0000_0000_0000) })
        {
            var env = Env();
            Assert.Equal(Float80.Indefinite, SoftFloat.Add(bad, One, ref env));
            Assert.Equal(FpuExceptions.Invalid, env.Raised);
            env = Env();
            // Even next to a QNaN.
            Assert.Equal(Float80.Indefinite, SoftFloat.Mul(new Float80(0x7FFF, 0xC000_0000_0000_0001), bad, ref env));
            Assert.False(env.SuppressResult);
        }
    }

    [Fact]
    public void NaNsPropagateTheLargerSignificandQuieted()
    {
        var q1 = new Float80(0x7FFF, 0xC000_0000_0000_0001);
        var q2 = new Float80(0xFFFF, 0xC000_0000_0000_0002);
        var s3 = new Float80(0x7FFF, 0xA000_0000_0000_0003);
        var env = Env();
        Assert.Equal(q2, SoftFloat.Add(q1, q2, ref env));
        Assert.Equal(q2, SoftFloat.Sub(q2, q1, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        // SNaN and QNaN: the QNaN's significand is larger (bit 62); #I for the SNaN.
        Assert.Equal(q1, SoftFloat.Div(s3, q1, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        // SNaN and a number: the SNaN quieted.
        env = Env();
        Assert.Equal(new Float80(0x7FFF, 0xE000_0000_0000_0003), SoftFloat.Mul(Three, s3, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        // Equal significands: the positive one.
        env = Env();
        Assert.Equal(q1, SoftFloat.Add(q1.Negate(), q1, ref env));
    }

    [Fact]
    public void InvalidOperationsGiveTheIndefinite()
    {
        var inf = Float80.PositiveInfinity;
        (Float80 r, FpuEnv env) Do(Func<FpuEnv, (Float80, FpuEnv)> f) => f(Env());
        foreach (var (r, env) in new[]
                 {
                     Do(e => (SoftFloat.Add(inf, inf.Negate(), ref e), e)),
                     Do(e => (SoftFloat.Sub(inf, inf, ref e), e)),
                     Do(e => (SoftFloat.Mul(Float80.NegativeZero, inf, ref e), e)),
                     Do(e => (SoftFloat.Div(Float80.Zero, Float80.Zero, ref e), e)),
                     Do(e => (SoftFloat.Div(inf, inf.Negate(), ref e), e)),
                     Do(e => (SoftFloat.Sqrt(Pow2(-3).Negate(), ref e), e)),
                     Do(e => (SoftFloat.Sqrt(Float80.NegativeInfinity, ref e), e)),
                 })
        {
            Assert.Equal(Float80.Indefinite, r);
            Assert.Equal(FpuExceptions.Invalid, env.Raised);
            Assert.False(env.SuppressResult);
        }
        var unmasked = Env(unmasked: FpuExceptions.Invalid);
        SoftFloat.Sub(inf, inf, ref unmasked);
        Assert.True(unmasked.SuppressResult);
    }

    [Fact]
    public void DivisionByZeroGivesASignedInfinity()
    {
        var env = Env();
        Assert.Equal(Float80.NegativeInfinity, SoftFloat.Div(Three, Float80.NegativeZero, ref env));
        Assert.Equal(FpuExceptions.ZeroDivide, env.Raised);
        // A denormal dividend: still only #Z.
        env = Env();
        Assert.Equal(Float80.PositiveInfinity, SoftFloat.Div(new Float80(0, 1), Float80.Zero, ref env));
        Assert.Equal(FpuExceptions.ZeroDivide, env.Raised);
        env = Env(unmasked: FpuExceptions.ZeroDivide);
        SoftFloat.Div(One, Float80.Zero, ref env);
        Assert.True(env.SuppressResult);
    }

    [Theory]
    [InlineData(RoundingControl.Nearest, false, 0x7FFF, 0x8000_0000_0000_0000UL, true)]
    [InlineData(RoundingControl.TowardZero, false, 0x7FFE, 0xFFFF_FFFF_FFFF_FFFFUL, false)]
    [InlineData(RoundingControl.Up, false, 0x7FFF, 0x8000_0000_0000_0000UL, true)]
    [InlineData(RoundingControl.Up, true, 0xFFFE, 0xFFFF_FFFF_FFFF_FFFFUL, false)]
    [InlineData(RoundingControl.Down, false, 0x7FFE, 0xFFFF_FFFF_FFFF_FFFFUL, false)]
    [InlineData(RoundingControl.Down, true, 0xFFFF, 0x8000_0000_0000_0000UL, true)]
    public void MaskedOverflowGivesInfinityOrTheLargestFinitePerRounding(RoundingControl rc, bool negative, int exp, ulong sig, bool roundedUp)
    {
        var env = Env(rc);
        var r = SoftFloat.Mul(negative ? MaxFinite.Negate() : MaxFinite, Two, ref env);
        Assert.Equal(new Float80((ushort)exp, sig), r);
        Assert.Equal(FpuExceptions.Overflow | FpuExceptions.Precision, env.Raised);
        Assert.Equal(roundedUp, env.RoundedUp);
    }

    [Fact]
    public void MaskedOverflowAtSinglePrecisionStopsAtTheLargestSingleSignificand()
    {
        var env = Env(RoundingControl.TowardZero, PrecisionControl.Single);
        Assert.Equal(new Float80(0x7FFE, 0xFFFF_FF00_0000_0000), SoftFloat.Mul(MaxFinite, Two, ref env));
    }

    [Fact]
    public void UnmaskedOverflowRebiasesTheExponentBy24576()
    {
        var env = Env(unmasked: FpuExceptions.Overflow);
        var r = SoftFloat.Mul(Pow2(16000), Pow2(16000), ref env);
        Assert.Equal(new Float80((ushort)(32000 + Float80.Bias - 24576), 1UL << 63), r);
        Assert.Equal(FpuExceptions.Overflow, env.Raised);   // exact: no #P
        Assert.False(env.SuppressResult);

        env = Env(RoundingControl.Up, unmasked: FpuExceptions.Overflow);
        r = SoftFloat.Mul(new Float80(0x7FFE, 0x8000_0000_0000_0001), Three, ref env);
        Assert.Equal(FpuExceptions.Overflow | FpuExceptions.Precision, env.Raised);
        Assert.Equal(0x7FFF - 24576, r.Exponent);
        Assert.True(env.RoundedUp);
    }

    [Fact]
    public void UnmaskedUnderflowRebiasesTheExponentAndIsRaisedEvenWhenExact()
    {
        var env = Env(unmasked: FpuExceptions.Underflow);
        var r = SoftFloat.Mul(Pow2(-16000), Pow2(-16000), ref env);
        Assert.Equal(new Float80((ushort)(-32000 + Float80.Bias + 24576), 1UL << 63), r);
        Assert.Equal(FpuExceptions.Underflow, env.Raised);
    }

    [Fact]
    public void MaskedUnderflowDenormalizesAndFlagsOnlyWhenInexact()
    {
        // Exact: 2^-16400 is a denormal with one bit; no #U.
        var env = Env();
        Assert.Equal(new Float80(0, 1UL << (63 - 18)), SoftFloat.Mul(Pow2(-16000), Pow2(-400), ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        // Inexact: 1.5·2^-16446 is 0.75 of the smallest denormal (2^-16445) and rounds to it.
        env = Env();
        Assert.Equal(new Float80(0, 1), SoftFloat.Mul(Pow2(-16000), new Float80((ushort)(Float80.Bias - 446), 0xC000_0000_0000_0000), ref env));
        Assert.Equal(FpuExceptions.Underflow | FpuExceptions.Precision, env.Raised);
        Assert.True(env.RoundedUp);
    }

    [Fact]
    public void DenormalizingAtSinglePrecisionRoundsAtTheFixedSignificandPosition()
    {
        // PC=24: (1 - 2^-25)·2^-16382 toward zero is 0.FFFFFE·2^-16382: 23 bits of the denormal significand.
        var env = Env(RoundingControl.TowardZero, PrecisionControl.Single);
        var r = SoftFloat.Mul(new Float80(0x3FFE, 0xFFFF_FF80_0000_0000), MinNormal, ref env);
        Assert.Equal(new Float80(0, 0x7FFF_FF00_0000_0000), r);
        Assert.Equal(FpuExceptions.Underflow | FpuExceptions.Precision, env.Raised);
    }

    [Fact]
    public void TininessIsDetectedAfterRounding()
    {
        // The same product rounded to nearest reaches 2^-16382 when rounded with an unbounded exponent: not tiny, no #U.
        var env = Env(RoundingControl.Nearest, PrecisionControl.Single);
        var r = SoftFloat.Mul(new Float80(0x3FFE, 0xFFFF_FF80_0000_0000), MinNormal, ref env);
        Assert.Equal(MinNormal, r);
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.True(env.RoundedUp);
    }

    [Fact]
    public void DivisionRoundsTheQuotient()
    {
        var env = Env();
        Assert.Equal(new Float80(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB), SoftFloat.Div(One, Three, ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.True(env.RoundedUp);
        env = Env(RoundingControl.Down, PrecisionControl.Single);
        Assert.Equal(new Float80(0x3FFD, 0xAAAA_AA00_0000_0000), SoftFloat.Div(One, Three, ref env));
        Assert.False(env.RoundedUp);
        env = Env();
        Assert.Equal(new Float80(0x3FFF, 0xC000_0000_0000_0000), SoftFloat.Div(Three, Two, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
    }

    [Fact]
    public void SquareRoots()
    {
        var env = Env();
        // √2 = 1.6A09E667F3BCC908B2F...: 64 bits B504F333F9DE6484, the rest below half.
        Assert.Equal(new Float80(0x3FFF, 0xB504_F333_F9DE_6484), SoftFloat.Sqrt(Two, ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.False(env.RoundedUp);
        env = Env();
        Assert.Equal(Three, SoftFloat.Sqrt(new Float80(0x4002, 0x9000_0000_0000_0000), ref env)); // √9
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(Float80.NegativeZero, SoftFloat.Sqrt(Float80.NegativeZero, ref env));
        Assert.Equal(Float80.PositiveInfinity, SoftFloat.Sqrt(Float80.PositiveInfinity, ref env));
        // The smallest denormal, 2^-16445: its root is 2^-8222.5, a normal number.
        env = Env();
        var r = SoftFloat.Sqrt(new Float80(0, 1), ref env);
        Assert.Equal(Float80.Bias - 8223, r.Exponent);
        Assert.Equal(0xB504_F333_F9DE_6484UL, r.Significand);
        Assert.Equal(FpuExceptions.Denormal | FpuExceptions.Precision, env.Raised);
    }
}
