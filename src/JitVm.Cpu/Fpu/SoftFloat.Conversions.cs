using System.Numerics;

namespace JitVm.Cpu.Fpu;

// Conversions between the register format and the memory formats: integers (FILD/FIST/FISTP/FISTTP), single and
// double (FLD/FST m32fp/m64fp) and packed BCD (FBLD/FBSTP).
public static partial class SoftFloat
{
    public const short Int16Indefinite = short.MinValue;
    public const int Int32Indefinite = int.MinValue;
    public const long Int64Indefinite = long.MinValue;
    public const uint SingleIndefinite = 0xFFC0_0000;
    public const ulong DoubleIndefinite = 0xFFF8_0000_0000_0000;
    /// <summary>The packed BCD indefinite: FFFF C000 0000 0000 0000 (bytes 8-9 and 0-7).</summary>
    public const ushort BcdIndefiniteHigh = 0xFFFF;
    public const ulong BcdIndefiniteLow = 0xC000_0000_0000_0000;

    // ---- integers ----

    /// <summary>FILD: a 16-, 32- or 64-bit integer, always exact (0 → +0).</summary>
    public static Float80 FromInt(long value, ref FpuEnv env)
    {
        if (value == 0) return Float80.Zero;
        bool sign = value < 0;
        ulong mag = sign ? (ulong)-value : (ulong)value;
        int lz = BitOperations.LeadingZeroCount(mag);
        return new Float80((ushort)((sign ? 0x8000 : 0) | (Float80.Bias + 63 - lz)), mag << lz);
    }

    /// <summary>FIST/FISTP m16int, rounded per RC (FISTTP passes a control word with RC = toward zero).</summary>
    public static short ToInt16(in Float80 a, ref FpuEnv env) => (short)ToInteger(a, 16, ref env);
    /// <summary>FIST/FISTP m32int, rounded per RC.</summary>
    public static int ToInt32(in Float80 a, ref FpuEnv env) => (int)ToInteger(a, 32, ref env);
    /// <summary>FISTP m64int, rounded per RC.</summary>
    public static long ToInt64(in Float80 a, ref FpuEnv env) => ToInteger(a, 64, ref env);

    /// <summary>As <see cref="ToInt16(in Float80, ref FpuEnv)"/>; <paramref name="truncate"/> rounds toward zero whatever RC says (FISTTP).</summary>
    public static short ToInt16(in Float80 a, bool truncate, ref FpuEnv env) => (short)ToIntegerMaybeTruncating(a, 16, truncate, ref env);
    public static int ToInt32(in Float80 a, bool truncate, ref FpuEnv env) => (int)ToIntegerMaybeTruncating(a, 32, truncate, ref env);
    public static long ToInt64(in Float80 a, bool truncate, ref FpuEnv env) => ToIntegerMaybeTruncating(a, 64, truncate, ref env);

    static long ToIntegerMaybeTruncating(in Float80 a, int bits, bool truncate, ref FpuEnv env)
    {
        if (!truncate) return ToInteger(a, bits, ref env);
        var e = new FpuEnv((ushort)(env.ControlWord | 0x0C00));
        long r = ToInteger(a, bits, ref e);
        env.Raised |= e.Raised;
        env.RoundedUp = e.RoundedUp;
        env.SuppressResult |= e.SuppressResult;
        return r;
    }

    /// <summary>
    /// Rounds to an integer of <paramref name="bits"/> bits per RC. NaN, infinity, an unsupported encoding or a
    /// rounded value out of range raise #I and give the integer indefinite (the most negative value).
    /// </summary>
    static long ToInteger(in Float80 a, int bits, ref FpuEnv env)
    {
        long indefinite = bits == 64 ? long.MinValue : -(1L << (bits - 1));
        var k = Unpack(a, out int e, out ulong m, out _);
        if (k == Kind.Zero) return 0;
        if (k != Kind.Finite)
        {
            Invalid(ref env);
            return indefinite;
        }
        bool sign = a.Sign;
        ulong mag;
        bool inexact = false, up = false;
        if (e >= 63)
        {
            if (e > 63) goto outOfRange;
            mag = m;
        }
        else mag = RoundToIntegerMagnitude(m, e, sign, env.Rounding, out inexact, out up);
        ulong limit = (1UL << (bits - 1)) - (sign ? 0UL : 1UL);
        if (mag > limit) goto outOfRange;
        if (inexact) env.Raised |= FpuExceptions.Precision;
        env.RoundedUp = up;
        return sign ? (long)(0 - mag) : (long)mag;
    outOfRange:
        Invalid(ref env);
        return indefinite;
    }

    /// <summary>
    /// |m·2^(e−63)| rounded to an integer per RC (e &lt; 63, so the result is at most 2^63).
    /// </summary>
    internal static ulong RoundToIntegerMagnitude(ulong m, int e, bool sign, RoundingControl rc, out bool inexact, out bool up)
    {
        int shift = 63 - e; // ≥ 1
        ulong ip, frac;
        bool sticky = false;
        // frac keeps the 64 fraction bits just below the binary point; anything further down goes into sticky.
        if (shift >= 128)
        {
            ip = 0;
            frac = 0;
            sticky = m != 0;
        }
        else if (shift > 64)
        {
            ip = 0;
            frac = m >> (shift - 64);
            sticky = (m << (128 - shift)) != 0;
        }
        else if (shift == 64)
        {
            ip = 0;
            frac = m;
        }
        else
        {
            ip = m >> shift;
            frac = m << (64 - shift);
        }
        inexact = frac != 0 || sticky;
        up = inexact && rc switch
        {
            RoundingControl.Nearest => frac > 0x8000_0000_0000_0000UL || (frac == 0x8000_0000_0000_0000UL && (sticky || (ip & 1) != 0)),
            RoundingControl.Up => !sign,
            RoundingControl.Down => sign,
            _ => false,
        };
        return up ? ip + 1 : ip;
    }

    // ---- single and double ----

    /// <summary>FLD m32fp: exact; a denormal raises #D, an SNaN raises #I and is quieted.</summary>
    public static Float80 FromSingle(uint bits, ref FpuEnv env) => FromBinary(bits, 8, 23, ref env);

    /// <summary>FLD m64fp: exact; a denormal raises #D, an SNaN raises #I and is quieted.</summary>
    public static Float80 FromDouble(ulong bits, ref FpuEnv env) => FromBinary(bits, 11, 52, ref env);

    static Float80 FromBinary(ulong bits, int expBits, int fracBits, ref FpuEnv env)
    {
        bool sign = (bits >> (expBits + fracBits)) != 0;
        ushort s = (ushort)(sign ? 0x8000 : 0);
        int maxExp = (1 << expBits) - 1, bias = maxExp >> 1;
        int e = (int)(bits >> fracBits) & maxExp;
        ulong f = bits & ((1UL << fracBits) - 1);
        int align = 63 - fracBits;
        if (e == maxExp)
        {
            if (f == 0) return new Float80((ushort)(s | 0x7FFF), Float80.IntegerBit);
            var nan = new Float80((ushort)(s | 0x7FFF), Float80.IntegerBit | (f << align));
            if ((nan.Significand & QuietBit) != 0) return nan;
            env.Raised |= FpuExceptions.Invalid;
            if (!env.Masked(FpuExceptions.Invalid)) env.SuppressResult = true;
            return Quiet(nan);
        }
        if (e == 0)
        {
            if (f == 0) return new Float80(s, 0);
            DenormalOperand(ref env);
            // f·2^(1−bias−fracBits): normalize so that bit 63 is set.
            int lz = BitOperations.LeadingZeroCount(f);
            return new Float80((ushort)(s | (Float80.Bias + 1 - bias - fracBits + 63 - lz)), f << lz);
        }
        return new Float80((ushort)(s | (e - bias + Float80.Bias)), Float80.IntegerBit | (f << align));
    }

    /// <summary>FST/FSTP m32fp: rounded per RC (not PC) to single precision, with single's overflow and underflow.</summary>
    public static uint ToSingle(in Float80 a, ref FpuEnv env) => (uint)ToBinary(a, 8, 23, ref env);

    /// <summary>FST/FSTP m64fp: rounded per RC (not PC) to double precision, with double's overflow and underflow.</summary>
    public static ulong ToDouble(in Float80 a, ref FpuEnv env) => ToBinary(a, 11, 52, ref env);

    static ulong ToBinary(in Float80 a, int expBits, int fracBits, ref FpuEnv env)
    {
        ulong s = a.Sign ? 1UL << (expBits + fracBits) : 0;
        int maxExp = (1 << expBits) - 1, bias = maxExp >> 1;
        ulong infinity = (ulong)maxExp << fracBits;
        int align = 63 - fracBits;
        var k = Unpack(a, out int e, out ulong m, out _);
        switch (k)
        {
            case Kind.Zero: return s;
            case Kind.Infinity: return s | infinity;
            case Kind.Unsupported:
                Invalid(ref env);
                return s | infinity | (1UL << (fracBits - 1)) | (1UL << (expBits + fracBits));
            case Kind.SignalingNaN:
            case Kind.QuietNaN:
                if (k == Kind.SignalingNaN)
                {
                    env.Raised |= FpuExceptions.Invalid;
                    if (!env.Masked(FpuExceptions.Invalid)) env.SuppressResult = true;
                }
                return s | infinity | ((m | QuietBit) & ~Float80.IntegerBit) >> align;
        }
        // A denormal source raises no #D here: it simply underflows.
        int emin = 1 - bias;
        var r = Round(a.Sign, ref e, (UInt128)m << 64, false, fracBits + 1, emin, bias, 0, ref env);
        if ((r >> 127) == UInt128.Zero) return s | (ulong)(r >> (127 - fracBits));
        return s | ((ulong)(e + bias) << fracBits) | ((ulong)(r >> (127 - fracBits)) & ((1UL << fracBits) - 1));
    }

    // ---- packed BCD ----

    /// <summary>
    /// FBLD: 18 BCD digits (bytes 0-7 in <paramref name="digits"/>, byte 8 the low byte of <paramref name="top"/>)
    /// and the sign in bit 15 of top; exact. Nibbles above 9 are taken at face value (the result is undefined).
    /// </summary>
    public static Float80 FromBcd(ulong digits, ushort top, ref FpuEnv env)
    {
        ulong value = 0;
        for (int i = 1; i >= 0; i--) value = value * 10 + (ulong)((top >> (4 * i)) & 0xF);
        for (int i = 15; i >= 0; i--) value = value * 10 + ((digits >> (4 * i)) & 0xF);
        bool sign = (top & 0x8000) != 0;
        if (value == 0) return SignedZero(sign);
        int lz = BitOperations.LeadingZeroCount(value);
        return new Float80((ushort)((sign ? 0x8000 : 0) | (Float80.Bias + 63 - lz)), value << lz);
    }

    /// <summary>
    /// FBSTP: rounded to an integer per RC; returns bytes 0-7 and bytes 8-9 in <paramref name="high"/>. NaN,
    /// infinity, unsupported or |value| ≥ 10^18 after rounding raise #I and give the BCD indefinite.
    /// </summary>
    public static ulong ToBcd(in Float80 a, out ushort high, ref FpuEnv env)
    {
        var k = Unpack(a, out int e, out ulong m, out _);
        bool sign = a.Sign;
        ulong mag = 0;
        if (k == Kind.Finite)
        {
            bool inexact = false, up = false;
            if (e >= 63) goto invalid;
            mag = RoundToIntegerMagnitude(m, e, sign, env.Rounding, out inexact, out up);
            if (mag > 999_999_999_999_999_999UL) goto invalid;
            if (inexact) env.Raised |= FpuExceptions.Precision;
            env.RoundedUp = up;
        }
        else if (k != Kind.Zero) goto invalid;
        ulong low = 0;
        for (int i = 0; i < 16; i++)
        {
            low |= (mag % 10) << (4 * i);
            mag /= 10;
        }
        high = (ushort)((sign ? 0x8000 : 0) | (int)(mag % 10) | (int)(mag / 10 % 10) << 4);
        return low;
    invalid:
        Invalid(ref env);
        high = BcdIndefiniteHigh;
        return BcdIndefiniteLow;
    }
}
