using System.Numerics;

namespace JitVm.Cpu.Fpu;

// Comparisons and classification (FCOM/FUCOM/FTST/FICOM, FXAM) and the operations on a value's parts: FRNDINT,
// FSCALE, FXTRACT, FPREM and FPREM1.
public static partial class SoftFloat
{
    /// <summary>Status-word condition bits: C0 (bit 8), C1 (9), C2 (10), C3 (14).</summary>
    public const ushort C0 = 1 << 8, C1 = 1 << 9, C2 = 1 << 10, C3 = 1 << 14;

    /// <summary>
    /// FCOM (<paramref name="unordered"/> false: any NaN raises #I) or FUCOM (only an SNaN raises #I); an
    /// unsupported operand is always invalid. −0 equals +0; a denormal operand raises #D.
    /// </summary>
    public static FpuCompare Compare(in Float80 a, in Float80 b, bool unordered, ref FpuEnv env)
    {
        var ka = Unpack(a, out int ea, out ulong ma, out bool da);
        var kb = Unpack(b, out int eb, out ulong mb, out bool db);
        if (IsNaNOrUnsupported(ka) || IsNaNOrUnsupported(kb))
        {
            if (!unordered || ka is Kind.SignalingNaN or Kind.Unsupported || kb is Kind.SignalingNaN or Kind.Unsupported)
                Invalid(ref env);
            return FpuCompare.Unordered;
        }
        if ((da || db) && !DenormalOperand(ref env)) return FpuCompare.Unordered;
        int c = CompareMagnitudeSigned(a.Sign, ka, ea, ma, b.Sign, kb, eb, mb);
        return c > 0 ? FpuCompare.Greater : c < 0 ? FpuCompare.Less : FpuCompare.Equal;
    }

    /// <summary>Orders two non-NaN unpacked values: −1, 0 or 1.</summary>
    static int CompareMagnitudeSigned(bool sa, Kind ka, int ea, ulong ma, bool sb, Kind kb, int eb, ulong mb)
    {
        if (ka == Kind.Zero && kb == Kind.Zero) return 0;
        if (ka == Kind.Zero) return sb ? 1 : -1;
        if (kb == Kind.Zero) return sa ? -1 : 1;
        if (sa != sb) return sa ? -1 : 1;
        int mag;
        if (ka == Kind.Infinity || kb == Kind.Infinity)
            mag = ka == kb ? 0 : ka == Kind.Infinity ? 1 : -1;
        else mag = ea != eb ? (ea > eb ? 1 : -1) : ma.CompareTo(mb);
        return sa ? -mag : mag;
    }

    /// <summary>
    /// FXAM for a non-empty register: C3, C2, C0 give the class (000 unsupported, 001 NaN, 010 normal, 011 infinity,
    /// 100 zero, 110 denormal, pseudo-denormals included) and C1 the sign, in their status-word positions.
    /// </summary>
    public static ushort Examine(in Float80 a)
    {
        ushort sign = a.Sign ? C1 : (ushort)0;
        int cls = Unpack(a, out _, out _, out bool denormal) switch
        {
            Kind.Unsupported => 0,
            Kind.QuietNaN or Kind.SignalingNaN => C0,
            Kind.Infinity => C2 | C0,
            Kind.Zero => C3,
            _ => denormal ? C3 | C2 : C2,
        };
        return (ushort)(cls | sign);
    }

    // ---- FRNDINT ----

    /// <summary>FRNDINT: rounds to an integral value per RC (PC does not apply); #P when inexact, C1 when rounded up.</summary>
    public static Float80 RoundToInteger(in Float80 a, ref FpuEnv env)
    {
        var k = Unpack(a, out int e, out ulong m, out bool denormal);
        if (IsNaNOrUnsupported(k)) return PropagateNaN(a, k, ref env);
        if (k != Kind.Finite) return a;
        if (denormal && !DenormalOperand(ref env)) return a;
        if (e >= 63) return a;
        ulong mag = RoundToIntegerMagnitude(m, e, a.Sign, env.Rounding, out bool inexact, out bool up);
        if (inexact) env.Raised |= FpuExceptions.Precision;
        env.RoundedUp = up;
        if (mag == 0) return SignedZero(a.Sign);
        int lz = BitOperations.LeadingZeroCount(mag);
        return new Float80((ushort)((a.Sign ? 0x8000 : 0) | (Float80.Bias + 63 - lz)), mag << lz);
    }

    // ---- FSCALE ----

    /// <summary>
    /// FSCALE: a·2^trunc(b), rounded to 64 bits (PC does not apply) with the usual overflow and underflow; an
    /// unmasked response that is still out of range after the 24576 rebias gives ±∞ (#O, #P, C1 set) or ±0 (#U, #P).
    /// </summary>
    public static Float80 Scale(in Float80 a, in Float80 b, ref FpuEnv env)
    {
        var ka = Unpack(a, out int ea, out ulong ma, out bool da);
        var kb = Unpack(b, out int eb, out ulong mb, out bool db);
        if (IsNaNOrUnsupported(ka) || IsNaNOrUnsupported(kb)) return PropagateNaN(a, ka, b, kb, ref env);
        if (kb == Kind.Infinity)
        {
            // 0·2^+∞ and ∞·2^−∞ are invalid; otherwise the infinite scale takes a finite a to ∞ or 0.
            if (ka == Kind.Zero && !b.Sign || ka == Kind.Infinity && b.Sign) return Invalid(ref env);
            if (da && !DenormalOperand(ref env)) return a;
            if (ka != Kind.Finite) return a;
            return b.Sign ? SignedZero(a.Sign) : SignedInfinity(a.Sign);
        }
        if ((da || db) && !DenormalOperand(ref env)) return a;
        if (ka != Kind.Finite) return a;
        // trunc(b), clamped well beyond the point where every result overflows or underflows.
        int n;
        if (kb == Kind.Zero || eb < 0) n = 0;
        else if (eb >= 20) n = b.Sign ? -(1 << 20) : 1 << 20;
        else
        {
            n = (int)(mb >> (63 - eb));
            if (b.Sign) n = -n;
        }
        int exp = ea + n;
        // The significand is kept whole (exact), so only the exponent decides. Unmasked responses that are still out of
        // range after the 24576 rebias (SDM vol. 1 §8.5.4/§8.5.5 leave them open) give what the host CPU gives: ±∞
        // reported inexact and rounded up whatever RC says, or ±0 reported inexact.
        if (exp - RebiasAdjust > ExtMaxExp && !env.Masked(FpuExceptions.Overflow))
        {
            env.Raised |= FpuExceptions.Overflow | FpuExceptions.Precision;
            env.RoundedUp = true;
            return SignedInfinity(a.Sign);
        }
        if (exp + RebiasAdjust < ExtMinExp && !env.Masked(FpuExceptions.Underflow))
        {
            env.Raised |= FpuExceptions.Underflow | FpuExceptions.Precision;
            env.RoundedUp = false;
            return SignedZero(a.Sign);
        }
        return RoundPack(a.Sign, exp, (UInt128)ma << 64, false, 64, ref env);
    }

    // ---- FXTRACT ----

    /// <summary>
    /// FXTRACT: returns the significand (the value with exponent 0, same sign) and the unbiased exponent as a
    /// value. Zero gives ±0 and −∞ with #Z; infinity gives ±∞ and +∞; a NaN both NaN.
    /// </summary>
    public static Float80 Extract(in Float80 a, out Float80 exponent, ref FpuEnv env)
    {
        var k = Unpack(a, out int e, out ulong m, out bool denormal);
        if (IsNaNOrUnsupported(k))
        {
            exponent = PropagateNaN(a, k, ref env);
            return exponent;
        }
        switch (k)
        {
            case Kind.Zero:
                env.Raised |= FpuExceptions.ZeroDivide;
                if (!env.Masked(FpuExceptions.ZeroDivide)) env.SuppressResult = true;
                exponent = Float80.NegativeInfinity;
                return a;
            case Kind.Infinity:
                exponent = Float80.PositiveInfinity;
                return a;
        }
        if (denormal && !DenormalOperand(ref env))
        {
            exponent = a;
            return a;
        }
        exponent = FromInt(e, ref env);
        return new Float80((ushort)((a.Sign ? 0x8000 : 0) | Float80.Bias), m);
    }

    // ---- FPREM / FPREM1 ----

    /// <summary>
    /// FPREM (<paramref name="ieee"/> false: quotient truncated) and FPREM1 (quotient rounded to nearest even):
    /// a − q·b, exact. When the exponents differ by 64 or more only a partial reduction is done (by 32 to 63 bits,
    /// as the host CPU does) and <paramref name="incomplete"/> is set (C2); otherwise <paramref name="quotient"/>
    /// holds the low bits of q (the caller puts Q2, Q1, Q0 in C0, C3, C1).
    /// </summary>
    public static Float80 PartialRemainder(in Float80 a, in Float80 b, bool ieee, out ulong quotient, out bool incomplete, ref FpuEnv env)
    {
        quotient = 0;
        incomplete = false;
        var ka = Unpack(a, out int ea, out ulong ma, out bool da);
        var kb = Unpack(b, out int eb, out ulong mb, out bool db);
        if (IsNaNOrUnsupported(ka) || IsNaNOrUnsupported(kb)) return PropagateNaN(a, ka, b, kb, ref env);
        if (ka == Kind.Infinity || kb == Kind.Zero) return Invalid(ref env);
        if ((da || db) && !DenormalOperand(ref env)) return a;
        if (ka == Kind.Zero) return a;
        if (kb == Kind.Infinity) return RoundPack(a.Sign, ea, (UInt128)ma << 64, false, 64, ref env);

        bool sign = a.Sign;
        int d = ea - eb;
        if (d < 0)
        {
            // |a| < |b|: q = 0, except that FPREM1 rounds |a/b| > 1/2 up to 1.
            if (ieee && d == -1 && ma > mb)
            {
                quotient = 1;
                // |b| − |a| = (2mb − ma)·2^(eb−64), with the sign flipped.
                UInt128 diff = ((UInt128)mb << 1) - ma;
                return NormalizeRoundPack(!sign, eb, diff << 63, false, 64, ref env);
            }
            return RoundPack(sign, ea, (UInt128)ma << 64, false, 64, ref env);
        }
        int shift = d;
        if (d >= 64)
        {
            incomplete = true;
            shift = 32 | (d & 31);
        }
        // ma·2^shift = q·mb + rem: the remainder is rem·2^(eb−63+d−shift).
        var (q, rem) = UInt128.DivRem((UInt128)ma << shift, mb);
        if (ieee && !incomplete)
        {
            UInt128 twice = rem << 1;
            if (twice > mb || (twice == mb && (q & UInt128.One) != UInt128.Zero))
            {
                q += UInt128.One;
                rem = mb - rem;
                sign = !sign;
            }
        }
        quotient = (ulong)q;
        if (rem == UInt128.Zero) return SignedZero(a.Sign);
        return NormalizeRoundPack(sign, eb + d - shift, rem << 64, false, 64, ref env);
    }
}
