using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>SoftFloat's compares, FXAM, FRNDINT, FSCALE, FXTRACT, FPREM and FPREM1.</summary>
public class SoftFloatMiscTests
{
    static readonly Float80 QNaN = new(0x7FFF, 0xC000_0000_0000_0001);
    static readonly Float80 SNaN = new(0x7FFF, 0x8000_0000_0000_0001);
    static readonly Float80 Unnormal = new(0x4000, 0x4000_0000_0000_0000);

    static FpuEnv Env(RoundingControl rc = RoundingControl.Nearest, FpuExceptions unmasked = 0) =>
        new((ushort)((0x7F & ~(int)unmasked) | 0x300 | ((int)rc << 10)));

    static Float80 Int(long v)
    {
        var env = Env();
        return SoftFloat.FromInt(v, ref env);
    }

    static Float80 Half(long v) => new((ushort)(Int(v).SignExponent - 1), Int(v).Significand); // v/2

    [Fact]
    public void CompareOrdersValuesAndTreatsZerosAsEqual()
    {
        var env = Env();
        Assert.Equal(FpuCompare.Less, SoftFloat.Compare(Int(-3), Int(2), false, ref env));
        Assert.Equal(FpuCompare.Greater, SoftFloat.Compare(Int(-2), Int(-3), false, ref env));
        Assert.Equal(FpuCompare.Equal, SoftFloat.Compare(Float80.NegativeZero, Float80.Zero, false, ref env));
        Assert.Equal(FpuCompare.Less, SoftFloat.Compare(Float80.NegativeInfinity, Int(-3), false, ref env));
        Assert.Equal(FpuCompare.Equal, SoftFloat.Compare(Float80.PositiveInfinity, Float80.PositiveInfinity, false, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        // A pseudo-denormal equals the smallest normal, with #D.
        Assert.Equal(FpuCompare.Equal, SoftFloat.Compare(new Float80(0, 1UL << 63), new Float80(1, 1UL << 63), false, ref env));
        Assert.Equal(FpuExceptions.Denormal, env.Raised);
    }

    [Fact]
    public void UnorderedComparesRaiseInvalidOnlyWhenTheyShould()
    {
        var env = Env();
        Assert.Equal(FpuCompare.Unordered, SoftFloat.Compare(QNaN, Int(1), true, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(FpuCompare.Unordered, SoftFloat.Compare(QNaN, Int(1), false, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        foreach (var bad in new[] { SNaN, Unnormal })
        {
            env = Env();
            Assert.Equal(FpuCompare.Unordered, SoftFloat.Compare(Int(1), bad, true, ref env));
            Assert.Equal(FpuExceptions.Invalid, env.Raised);
        }
    }

    [Theory]
    [InlineData(0x0000, 0x0000_0000_0000_0000UL, SoftFloat.C3)]
    [InlineData(0x8000, 0x0000_0000_0000_0000UL, SoftFloat.C3 | SoftFloat.C1)]
    [InlineData(0x0000, 0x0000_0000_0000_0001UL, SoftFloat.C3 | SoftFloat.C2)]
    [InlineData(0x0000, 0x8000_0000_0000_0000UL, SoftFloat.C3 | SoftFloat.C2)]   // pseudo-denormal
    [InlineData(0x3FFF, 0x8000_0000_0000_0000UL, SoftFloat.C2)]
    [InlineData(0xFFFF, 0x8000_0000_0000_0000UL, SoftFloat.C2 | SoftFloat.C0 | SoftFloat.C1)]
    [InlineData(0x7FFF, 0x8000_0000_0000_0001UL, SoftFloat.C0)]
    [InlineData(0x7FFF, 0x0000_0000_0000_0000UL, 0)]                              // pseudo-infinity
    [InlineData(0x4000, 0x7FFF_FFFF_FFFF_FFFFUL, 0)]                              // unnormal
    public void ExamineClassifies(int signExponent, ulong significand, int expected) =>
        Assert.Equal((ushort)expected, SoftFloat.Examine(new Float80((ushort)signExponent, significand)));

    [Theory]
    [InlineData(5, RoundingControl.Nearest, 2, false)]      // 2.5 → 2 (even)
    [InlineData(7, RoundingControl.Nearest, 4, true)]       // 3.5 → 4
    [InlineData(5, RoundingControl.Up, 3, true)]
    [InlineData(-5, RoundingControl.Down, -3, true)]
    [InlineData(-5, RoundingControl.TowardZero, -2, false)]
    public void RoundToIntegerFollowsRc(long twice, RoundingControl rc, long expected, bool roundedUp)
    {
        var env = Env(rc);
        Assert.Equal(Int(expected), SoftFloat.RoundToInteger(Half(twice), ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.Equal(roundedUp, env.RoundedUp);
    }

    [Fact]
    public void RoundToIntegerIgnoresPrecisionControlAndKeepsTheSign()
    {
        // 2^40 + 1 needs more than 24 bits: PC=24 must not touch it.
        var env = new FpuEnv(0x007F);
        Assert.Equal(Int((1L << 40) + 1), SoftFloat.RoundToInteger(Int((1L << 40) + 1), ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        env = Env();
        Assert.Equal(Float80.NegativeZero, SoftFloat.RoundToInteger(new Float80(0xBFFD, 1UL << 63), ref env)); // -0.25
        env = Env(RoundingControl.Up);
        Assert.Equal(Int(1), SoftFloat.RoundToInteger(new Float80(0, 1), ref env));
        Assert.Equal(FpuExceptions.Denormal | FpuExceptions.Precision, env.Raised);
    }

    [Fact]
    public void ScaleMultipliesByTwoToTheTruncatedPower()
    {
        var env = Env();
        Assert.Equal(Int(24), SoftFloat.Scale(Int(3), Half(7), ref env));            // 3·2^trunc(3.5)
        Assert.Equal(Half(3), SoftFloat.Scale(Int(3), Half(-3), ref env));           // 3·2^trunc(-1.5)
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(Float80.NegativeInfinity, SoftFloat.Scale(Int(-3), Float80.PositiveInfinity, ref env));
        Assert.Equal(Float80.Zero, SoftFloat.Scale(Int(3), Float80.NegativeInfinity, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(Float80.Indefinite, SoftFloat.Scale(Float80.Zero, Float80.PositiveInfinity, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(Float80.Indefinite, SoftFloat.Scale(Float80.NegativeInfinity, Float80.NegativeInfinity, ref env));
    }

    [Fact]
    public void ScaleOverflowsAndUnderflows()
    {
        var env = Env();
        Assert.Equal(Float80.PositiveInfinity, SoftFloat.Scale(Int(1), Int(20000), ref env));
        Assert.Equal(FpuExceptions.Overflow | FpuExceptions.Precision, env.Raised);
        env = Env();
        Assert.Equal(new Float80(0, 1UL << 62), SoftFloat.Scale(Int(1), Int(-16383), ref env)); // exact denormal
        Assert.Equal(FpuExceptions.None, env.Raised);
        // Unmasked: rebiased, and a massive overflow gives infinity.
        env = Env(unmasked: FpuExceptions.Overflow);
        Assert.Equal(new Float80((ushort)(Float80.Bias + 20000 - 24576), 1UL << 63), SoftFloat.Scale(Int(1), Int(20000), ref env));
        env = Env(unmasked: FpuExceptions.Overflow);
        Assert.Equal(Float80.PositiveInfinity, SoftFloat.Scale(Int(1), Int(50000), ref env));
        Assert.Equal(FpuExceptions.Overflow, env.Raised & FpuExceptions.Overflow);
    }

    [Fact]
    public void ScaleBeyondTheUnmaskedRebiasGivesInfinityOrZeroInexact()
    {
        // 2^40959 rebiased is 2^16383, the largest exponent: still a number, exact.
        var env = Env(RoundingControl.TowardZero, FpuExceptions.Overflow);
        Assert.Equal(new Float80(0x7FFE, 1UL << 63), SoftFloat.Scale(Int(1), Int(40959), ref env));
        Assert.Equal(FpuExceptions.Overflow, env.Raised);
        Assert.False(env.RoundedUp);
        // One more: ±∞, inexact and rounded up whatever RC says.
        env = Env(RoundingControl.TowardZero, FpuExceptions.Overflow);
        Assert.Equal(Float80.NegativeInfinity, SoftFloat.Scale(Int(-3), Int(40959), ref env));
        Assert.Equal(FpuExceptions.Overflow | FpuExceptions.Precision, env.Raised);
        Assert.True(env.RoundedUp);
        Assert.False(env.SuppressResult);
        // 2^−40958 rebiased is 2^−16382, the smallest normal; one less gives ±0, inexact, not rounded up.
        env = Env(RoundingControl.Up, FpuExceptions.Underflow);
        Assert.Equal(new Float80(0x0001, 1UL << 63), SoftFloat.Scale(Int(1), Int(-40958), ref env));
        Assert.Equal(FpuExceptions.Underflow, env.Raised);
        env = Env(RoundingControl.Up, FpuExceptions.Underflow);
        Assert.Equal(Float80.NegativeZero, SoftFloat.Scale(Int(-1), Int(-40959), ref env));
        Assert.Equal(FpuExceptions.Underflow | FpuExceptions.Precision, env.Raised);
        Assert.False(env.RoundedUp);
    }

    [Fact]
    public void ExtractSplitsExponentAndSignificand()
    {
        var env = Env();
        var sig = SoftFloat.Extract(Int(-12), out var exp, ref env);
        Assert.Equal(Half(-3), sig);          // -1.5
        Assert.Equal(Int(3), exp);
        var den = SoftFloat.Extract(new Float80(0, 1), out exp, ref env);
        Assert.Equal(Float80.One, den);
        Assert.Equal(Int(-16445), exp);
        Assert.Equal(FpuExceptions.Denormal, env.Raised);
        env = Env();
        Assert.Equal(Float80.NegativeZero, SoftFloat.Extract(Float80.NegativeZero, out exp, ref env));
        Assert.Equal(Float80.NegativeInfinity, exp);
        Assert.Equal(FpuExceptions.ZeroDivide, env.Raised);
        env = Env(unmasked: FpuExceptions.ZeroDivide);
        SoftFloat.Extract(Float80.Zero, out _, ref env);
        Assert.True(env.SuppressResult);
        env = Env();
        Assert.Equal(Float80.NegativeInfinity, SoftFloat.Extract(Float80.NegativeInfinity, out exp, ref env));
        Assert.Equal(Float80.PositiveInfinity, exp);
    }

    [Theory]
    // a, b, FPREM remainder and quotient, FPREM1 remainder and quotient
    [InlineData(17, 5, 2, 3, 2, 3)]
    [InlineData(18, 5, 3, 3, -2, 4)]
    [InlineData(-18, 5, -3, 3, 2, 4)]
    [InlineData(15, 2, 1, 7, -1, 8)]        // 7.5 rounds to the even 8
    [InlineData(13, 2, 1, 6, 1, 6)]         // 6.5 rounds to the even 6
    [InlineData(3, 5, 3, 0, -2, 1)]         // |a/b| > 1/2 with FPREM1
    [InlineData(20, 5, 0, 4, 0, 4)]
    public void RemaindersReportTheLowQuotientBits(long a, long b, long prem, int q, long prem1, int q1)
    {
        var env = Env();
        Assert.Equal(Int(prem), SoftFloat.PartialRemainder(Int(a), Int(b), false, out ulong quotient, out bool incomplete, ref env));
        Assert.Equal((ulong)(q & 7), quotient & 7);
        Assert.False(incomplete);
        Assert.Equal(Int(prem1), SoftFloat.PartialRemainder(Int(a), Int(b), true, out quotient, out incomplete, ref env));
        Assert.Equal((ulong)(q1 & 7), quotient & 7);
        Assert.False(incomplete);
        Assert.Equal(FpuExceptions.None, env.Raised);
    }

    [Fact]
    public void ZeroRemainderKeepsTheDividendsSign()
    {
        var env = Env();
        Assert.Equal(Float80.NegativeZero, SoftFloat.PartialRemainder(Int(-20), Int(5), true, out ulong q, out _, ref env));
        Assert.Equal(4UL, q & 7);
    }

    [Fact]
    public void LargeExponentDifferencesReduceInSteps()
    {
        // 2^100 rem 3: the difference of 99 is reduced by 32 + (99 mod 32) = 35 bits per step.
        var env = Env();
        var x = new Float80(Float80.Bias + 100, 1UL << 63);
        int steps = 0;
        bool incomplete;
        do
        {
            int before = x.Exponent;
            x = SoftFloat.PartialRemainder(x, Int(3), false, out _, out incomplete, ref env);
            steps++;
            if (incomplete) Assert.True(x.Exponent <= before - 32);
        } while (incomplete);
        Assert.Equal(Int(1), x); // 2^100 = 1 (mod 3)
        Assert.Equal(2, steps);
        Assert.Equal(FpuExceptions.None, env.Raised);
    }

    [Fact]
    public void RemainderSpecialCases()
    {
        var env = Env();
        Assert.Equal(Float80.Indefinite, SoftFloat.PartialRemainder(Float80.PositiveInfinity, Int(3), false, out _, out _, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(Float80.Indefinite, SoftFloat.PartialRemainder(Int(3), Float80.Zero, true, out _, out _, ref env));
        env = Env();
        Assert.Equal(Int(3), SoftFloat.PartialRemainder(Int(3), Float80.NegativeInfinity, false, out ulong q, out _, ref env));
        Assert.Equal(0UL, q);
        Assert.Equal(FpuExceptions.None, env.Raised);
    }
}
