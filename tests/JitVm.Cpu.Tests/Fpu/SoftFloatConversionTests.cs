using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>SoftFloat's conversions: integers (FILD/FIST/FISTTP), single and double (FLD/FST) and packed BCD (FBLD/FBSTP).</summary>
public class SoftFloatConversionTests
{
    static FpuEnv Env(RoundingControl rc = RoundingControl.Nearest, FpuExceptions unmasked = 0) =>
        new((ushort)((0x7F & ~(int)unmasked) | 0x300 | ((int)rc << 10)));

    static Float80 Ext(double d)
    {
        var env = Env();
        return SoftFloat.FromDouble(BitConverter.DoubleToUInt64Bits(d), ref env);
    }

    [Fact]
    public void FromIntIsExact()
    {
        var env = Env();
        Assert.Equal(Float80.Zero, SoftFloat.FromInt(0, ref env));
        Assert.Equal(new Float80(0xC03E, 1UL << 63), SoftFloat.FromInt(long.MinValue, ref env));
        Assert.Equal(new Float80(0x403D, 0xFFFF_FFFF_FFFF_FFFE), SoftFloat.FromInt(long.MaxValue, ref env));
        Assert.Equal(new Float80(0xBFFF, 1UL << 63), SoftFloat.FromInt(-1, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
    }

    [Theory]
    [InlineData(2.5, RoundingControl.Nearest, 2, true, false)]
    [InlineData(3.5, RoundingControl.Nearest, 4, true, true)]
    [InlineData(-2.5, RoundingControl.Down, -3, true, true)]
    [InlineData(-2.5, RoundingControl.Up, -2, true, false)]
    [InlineData(2.7, RoundingControl.TowardZero, 2, true, false)]
    [InlineData(-7.0, RoundingControl.Nearest, -7, false, false)]
    [InlineData(1e-300, RoundingControl.Up, 1, true, true)]
    public void ToIntegerRoundsPerRoundingControl(double x, RoundingControl rc, int expected, bool inexact, bool roundedUp)
    {
        var env = Env(rc);
        Assert.Equal(expected, SoftFloat.ToInt32(Ext(x), ref env));
        Assert.Equal(inexact ? FpuExceptions.Precision : 0, env.Raised);
        Assert.Equal(roundedUp, env.RoundedUp);
    }

    [Fact]
    public void ToIntegerOutOfRangeOrNaNIsTheIntegerIndefinite()
    {
        var env = Env();
        Assert.Equal(short.MinValue, SoftFloat.ToInt16(Ext(32767.5), ref env));        // rounds to 32768
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(short.MinValue, SoftFloat.ToInt16(Ext(-32768.4), ref env));       // rounds to -32768: in range
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        env = Env();
        Assert.Equal(int.MinValue, SoftFloat.ToInt32(Float80.PositiveInfinity, ref env));
        Assert.Equal(long.MinValue, SoftFloat.ToInt64(Float80.Indefinite, ref env));
        Assert.Equal(long.MinValue, SoftFloat.ToInt64(Ext(9.3e18), ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(long.MinValue, SoftFloat.ToInt64(Ext(-9223372036854775808.0), ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        env = Env(unmasked: FpuExceptions.Invalid);
        SoftFloat.ToInt16(Ext(1e6), ref env);
        Assert.True(env.SuppressResult);
    }

    [Fact]
    public void TruncatingConversionIgnoresRoundingControl()
    {
        var env = Env(RoundingControl.Up);
        Assert.Equal(-2, SoftFloat.ToInt32(Ext(-2.9), true, ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.False(env.RoundedUp);
        Assert.Equal((short)2, SoftFloat.ToInt16(Ext(2.9), true, ref env));
    }

    [Fact]
    public void SingleAndDoubleLoadsAreExact()
    {
        var env = Env();
        Assert.Equal(new Float80(0x3FFF, 0xC000_0000_0000_0000), SoftFloat.FromSingle(0x3FC0_0000, ref env)); // 1.5
        Assert.Equal(new Float80(0xFFFF, 1UL << 63), SoftFloat.FromDouble(0xFFF0_0000_0000_0000, ref env));  // -inf
        Assert.Equal(FpuExceptions.None, env.Raised);
        // The smallest single denormal, 2^-149, normalized.
        Assert.Equal(new Float80((ushort)(Float80.Bias - 149), 1UL << 63), SoftFloat.FromSingle(1, ref env));
        Assert.Equal(FpuExceptions.Denormal, env.Raised);
        env = Env();
        Assert.Equal(new Float80((ushort)(Float80.Bias - 1074), 1UL << 63), SoftFloat.FromDouble(1, ref env));
    }

    [Fact]
    public void SignalingNaNLoadsAreQuietedWithInvalid()
    {
        var env = Env();
        Assert.Equal(new Float80(0x7FFF, 0xC000_0100_0000_0000), SoftFloat.FromSingle(0x7F80_0001, ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(new Float80(0xFFFF, 0xE000_0000_0000_0800), SoftFloat.FromDouble(0xFFFC_0000_0000_0001, ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        env = Env(unmasked: FpuExceptions.Invalid);
        SoftFloat.FromDouble(0x7FF0_0000_0000_0001, ref env);
        Assert.True(env.SuppressResult);
    }

    [Theory]
    [InlineData(RoundingControl.Nearest, 0x3EAA_AAABu, true)]
    [InlineData(RoundingControl.Down, 0x3EAA_AAAAu, false)]
    [InlineData(RoundingControl.TowardZero, 0x3EAA_AAAAu, false)]
    [InlineData(RoundingControl.Up, 0x3EAA_AAABu, true)]
    public void SingleStoresRoundPerRoundingControl(RoundingControl rc, uint expected, bool roundedUp)
    {
        var env = Env(rc);
        var third = new Float80(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB);
        Assert.Equal(expected, SoftFloat.ToSingle(third, ref env));
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.Equal(roundedUp, env.RoundedUp);
    }

    [Fact]
    public void StoresOverflowAndUnderflowAtTheFormatsRange()
    {
        var env = Env();
        Assert.Equal(0x7F80_0000u, SoftFloat.ToSingle(Ext(1e39), ref env));
        Assert.Equal(FpuExceptions.Overflow | FpuExceptions.Precision, env.Raised);
        env = Env(RoundingControl.TowardZero);
        Assert.Equal(0xFF7F_FFFFu, SoftFloat.ToSingle(Ext(-1e39), ref env));
        env = Env();
        Assert.Equal(0x7FF0_0000_0000_0000UL, SoftFloat.ToDouble(new Float80(0x7FFE, 1UL << 63), ref env));
        // 2^-149·1.5 → a denormal single rounded to even (2·2^-149), tiny and inexact.
        env = Env();
        Assert.Equal(2u, SoftFloat.ToSingle(new Float80((ushort)(Float80.Bias - 149), 0xC000_0000_0000_0000), ref env));
        Assert.Equal(FpuExceptions.Underflow | FpuExceptions.Precision, env.Raised);
        // An exact denormal double: no flags (and an extended denormal source raises no #D).
        env = Env();
        Assert.Equal(1UL, SoftFloat.ToDouble(new Float80((ushort)(Float80.Bias - 1074), 1UL << 63), ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        env = Env();
        Assert.Equal(0UL, SoftFloat.ToDouble(new Float80(0, 1), ref env));
        Assert.Equal(FpuExceptions.Underflow | FpuExceptions.Precision, env.Raised);
    }

    [Fact]
    public void NaNStoresKeepTheTopOfThePayload()
    {
        var env = Env();
        Assert.Equal(0x7FC0_0001u, SoftFloat.ToSingle(new Float80(0x7FFF, 0xC000_0100_0000_00FF), ref env));
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(0xFFF8_0000_0000_0001UL, SoftFloat.ToDouble(new Float80(0xFFFF, 0x8000_0000_0000_0800), ref env));
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
        env = Env();
        Assert.Equal(SoftFloat.SingleIndefinite, SoftFloat.ToSingle(new Float80(0x3FFF, 1), ref env)); // unnormal
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
    }

    [Fact]
    public void BcdRoundTrips()
    {
        var env = Env();
        var v = SoftFloat.FromBcd(0x0000_0000_0012_3456, 0x8099, ref env);
        // -990000000000123456
        Assert.Equal(SoftFloat.FromInt(-990_000_000_000_123_456, ref env), v);
        ulong low = SoftFloat.ToBcd(v, out ushort high, ref env);
        Assert.Equal(0x0000_0000_0012_3456UL, low);
        Assert.Equal((ushort)0x8099, high);
        Assert.Equal(FpuExceptions.None, env.Raised);
        Assert.Equal(Float80.NegativeZero, SoftFloat.FromBcd(0, 0x8000, ref env));
    }

    [Fact]
    public void BcdStoresRoundAndRejectNineteenDigits()
    {
        var env = Env(RoundingControl.Up);
        ulong low = SoftFloat.ToBcd(Ext(41.25), out ushort high, ref env);
        Assert.Equal(0x42UL, low);
        Assert.Equal((ushort)0, high);
        Assert.Equal(FpuExceptions.Precision, env.Raised);
        Assert.True(env.RoundedUp);
        env = Env();
        low = SoftFloat.ToBcd(SoftFloat.FromInt(1_000_000_000_000_000_000, ref env), out high, ref env);
        Assert.Equal(SoftFloat.BcdIndefiniteLow, low);
        Assert.Equal(SoftFloat.BcdIndefiniteHigh, high);
        Assert.Equal(FpuExceptions.Invalid, env.Raised);
    }
}
