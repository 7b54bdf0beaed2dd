using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>
/// SoftFloat's transcendental functions: correctly rounded values checked against constants worked out to more
/// digits than 64 bits need, the special operands of the SDM's tables, and the rounding direction (C1) where the
/// true value lies a hair from a 64-bit number.
/// </summary>
public class SoftFloatTranscendentalTests
{
    static FpuEnv Env(RoundingControl rc = RoundingControl.Nearest) => new((ushort)(0x037F | ((int)rc << 10)));

    static Float80 Int(long v)
    {
        var env = Env();
        return SoftFloat.FromInt(v, ref env);
    }

    // π/2 = 1.921FB54442D18469898CC51701B8...: 64 bits C90FDAA22168C234|C4C6..., nearest rounds up.
    static readonly Float80 HalfPiNearest = new(0x3FFF, 0xC90F_DAA2_2168_C235);

    [Fact]
    public void SineAndCosineOfOne()
    {
        // sin 1 = 0.D76AA47848677020C6E9E909..., cos 1 = 0.8A51407DA8345C91C2466D97...
        var env = Env();
        Assert.Equal(new Float80(0x3FFE, 0xD76A_A478_4867_7021), SoftFloat.Sin(Float80.One, ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.True(env.RoundedUp);
        env = Env();
        Assert.Equal(new Float80(0x3FFE, 0x8A51_407D_A834_5C92), SoftFloat.Cos(Float80.One, ref env));
        env = Env(RoundingControl.TowardZero);
        var sin = SoftFloat.SinCos(Float80.One, out var cos, ref env);
        Assert.Equal(new Float80(0x3FFE, 0xD76A_A478_4867_7020), sin);
        Assert.Equal(new Float80(0x3FFE, 0x8A51_407D_A834_5C91), cos);
        Assert.False(env.RoundedUp);
    }

    [Fact]
    public void ArgumentReductionIsExactNearAMultipleOfPi()
    {
        // The double nearest π: sin of it is π − x = 1.1A62633145C06E0E68948127...·2^-53, exactly reduced (the host
        // x87, with its 66-bit π, gets only a few bits of it right).
        var env = Env();
        var x = new Float80(0x4000, 0xC90F_DAA2_2168_C000);
        var r = SoftFloat.Sin(x, ref env);
        Assert.Equal((ushort)(Float80.Bias - 53), r.SignExponent);
        Assert.Equal(0x8D31_3198_A2E0_3707UL, r.Significand);
    }

    [Fact]
    public void TinyArgumentsRoundAsTheTrueValueLies()
    {
        var tiny = new Float80(Float80.Bias - 200, 1UL << 63);
        // sin x is a hair below x: nearest gives x with C1 = 1, toward zero the number below.
        var env = Env();
        Assert.Equal(tiny, SoftFloat.Sin(tiny, ref env));
        Assert.True(env.RoundedUp);
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        env = Env(RoundingControl.TowardZero);
        Assert.Equal(new Float80(Float80.Bias - 201, ulong.MaxValue), SoftFloat.Sin(tiny, ref env));
        // tan x is a hair above x: up gives the next number.
        env = Env(RoundingControl.Up);
        Assert.Equal(new Float80(Float80.Bias - 200, (1UL << 63) + 1), SoftFloat.Tan(tiny, ref env));
        // cos x is a hair below 1.
        env = Env(RoundingControl.Down);
        Assert.Equal(new Float80(0x3FFE, ulong.MaxValue), SoftFloat.Cos(tiny, ref env));
        // atan(y/x) for a tiny exact ratio: below it.
        env = Env(RoundingControl.TowardZero);
        Assert.Equal(new Float80(Float80.Bias - 201, ulong.MaxValue), SoftFloat.Atan(tiny, Float80.One, ref env));
    }

    [Fact]
    public void TrigonometricSpecialOperands()
    {
        var env = Env();
        Assert.Equal(Float80.NegativeZero, SoftFloat.Sin(Float80.NegativeZero, ref env));
        Assert.Equal(Float80.One, SoftFloat.Cos(Float80.NegativeZero, ref env));
        Assert.Equal(Float80.NegativeZero, SoftFloat.Tan(Float80.NegativeZero, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(Float80.Indefinite, SoftFloat.Sin(Float80.PositiveInfinity, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        var s = SoftFloat.SinCos(new Float80(0x7FFF, 0x8000_0000_0000_0001), out var c, ref env);
        Assert.Equal(new Float80(0x7FFF, 0xC000_0000_0000_0001), s);
        Assert.Equal(s, c);
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
    }

    [Fact]
    public void ArctangentQuadrantsAndSpecialCases()
    {
        var env = Env();
        Assert.Equal(HalfPiNearest, SoftFloat.Atan(Float80.One, Float80.Zero, ref env));
        Assert.Equal(HalfPiNearest.Negate(), SoftFloat.Atan(Float80.NegativeInfinity, Int(5), ref env));
        // π = 3.243F6A8885A308D3...: 64 bits C90FDAA22168C234|C..., nearest rounds up.
        Assert.Equal(new Float80(0x4000, 0xC90F_DAA2_2168_C235), SoftFloat.Atan(Float80.Zero, Float80.NegativeZero, ref env));
        Assert.Equal(Float80.NegativeZero, SoftFloat.Atan(Float80.NegativeZero, Float80.Zero, ref env));
        Assert.Equal(Float80.Zero, SoftFloat.Atan(Int(3), Float80.PositiveInfinity, ref env));
        // atan2(1, 1) = π/4; atan2(-1, -1) = -3π/4 = -2.5B2F8FE6643A469E4...
        Assert.Equal(new Float80(0x3FFE, 0xC90F_DAA2_2168_C235), SoftFloat.Atan(Float80.One, Float80.One, ref env));
        Assert.Equal(new Float80(0xC000, 0x96CB_E3F9_990E_91A8), SoftFloat.Atan(Int(-1), Int(-1), ref env));
    }

    [Fact]
    public void TwoToTheXMinusOne()
    {
        var env = Env();
        // 2^0.5 − 1 = 0.6A09E667F3BCC908B2F...
        Assert.Equal(new Float80(0x3FFD, 0xD413_CCCF_E779_9211), SoftFloat.F2xm1(new Float80(0x3FFE, 1UL << 63), ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        env = Env();
        Assert.Equal(new Float80(0xBFFE, 1UL << 63), SoftFloat.F2xm1(Int(-1), ref env));
        Assert.Equal(Float80.NegativeZero, SoftFloat.F2xm1(Float80.NegativeZero, ref env));
    }

    [Fact]
    public void Logarithms()
    {
        var env = Env();
        // 3·log2 8 = 9 exactly (still reported inexact, as the host does).
        Assert.Equal(Int(9), SoftFloat.Yl2x(Int(3), Int(8), ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        // log2 3 = 1.95C01A39FBD687A02...
        env = Env();
        Assert.Equal(new Float80(0x3FFF, 0xCAE0_0D1C_FDEB_43D0), SoftFloat.Yl2x(Float80.One, Int(3), ref env));
        // log2(1 + 0.5) = 0.95C01A39FBD687A02...
        env = Env();
        Assert.Equal(new Float80(0x3FFE, 0x95C0_1A39_FBD6_87A0), SoftFloat.Yl2xp1(Float80.One, new Float80(0x3FFE, 1UL << 63), ref env));
        // Specials: log of a negative number, of zero, 0·log(inf).
        env = Env();
        Assert.Equal(Float80.Indefinite, SoftFloat.Yl2x(Float80.One, Int(-2), ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(Float80.NegativeInfinity, SoftFloat.Yl2x(Int(2), Float80.Zero, ref env));
        Assert.Equal(FpuExceptions.ZeroDivide, env.Raised);
        env = Env();
        Assert.Equal(Float80.Indefinite, SoftFloat.Yl2x(Float80.Zero, Float80.PositiveInfinity, ref env));
        env = Env();
        Assert.Equal(Float80.NegativeZero, SoftFloat.Yl2x(Int(-2), Float80.One, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
    }

    static readonly Float80 Denormal = new(0x8000, 0x0000_1234_5678_9ABC);

    [Fact]
    public void LogOfOnePlusXMinusInfinityIsInvalidAheadOfADenormal()
    {
        var env = Env();
        Assert.Equal(Float80.Indefinite, SoftFloat.Yl2xp1(Denormal, Float80.NegativeInfinity, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        // #IA unmasked with #D unmasked too: only #IA, the result suppressed.
        env = new FpuEnv(0x0340);
        SoftFloat.Yl2xp1(Denormal, Float80.NegativeInfinity, ref env);
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        Assert.True(env.SuppressResult);
        // x = +∞: the denormal is reported and y's sign taken.
        env = Env();
        Assert.Equal(Float80.NegativeInfinity, SoftFloat.Yl2xp1(Denormal, Float80.PositiveInfinity, ref env));
        Assert.Equal(FpuExceptions.Denormal, env.Raised);
    }

    [Fact]
    public void LogOfOnePlusXAtOrBelowMinusOneFlipsZerosAndInfinitiesAndLeavesX()
    {
        foreach (var x in new[] { Int(-1), Int(-5), new Float80(0xBFFF, 0xC000_0000_0000_0000), new Float80(0xFFFE, ulong.MaxValue) })
        {
            var env = Env();
            Assert.Equal(Float80.Zero, SoftFloat.Yl2xp1(Float80.NegativeZero, x, ref env));
            Assert.Equal(Float80.NegativeZero, SoftFloat.Yl2xp1(Float80.Zero, x, ref env));
            Assert.Equal(Float80.PositiveInfinity, SoftFloat.Yl2xp1(Float80.NegativeInfinity, x, ref env));
            Assert.Equal(Float80.NegativeInfinity, SoftFloat.Yl2xp1(Float80.PositiveInfinity, x, ref env));
            Assert.Equal(FpuExceptions.None, env.Raised);
            Assert.Equal(x, SoftFloat.Yl2xp1(Int(3), x, ref env));
            Assert.Equal(FpuExceptions.Precision, env.Raised);
            env = Env();
            Assert.Equal(x, SoftFloat.Yl2xp1(Denormal, x, ref env));
            Assert.Equal(FpuExceptions.Denormal | FpuExceptions.Precision, env.Raised);
        }
        // Just above −1 it is a logarithm again (outside the SDM's domain, but computed): y·log₂(2^−64) = −64·y.
        var above = Env();
        Assert.Equal(Int(-192), SoftFloat.Yl2xp1(Int(3), new Float80(0xBFFE, ulong.MaxValue), ref above));
    }
}
