using System.Numerics;
using System.Runtime.CompilerServices;

namespace JitVm.Cpu.Fpu;

/// <summary>
/// The x87's arithmetic in software, bit for bit: every function takes the control word in <see cref="FpuEnv"/>
/// and adds the exceptions it detects to <see cref="FpuEnv.Raised"/> (never clearing it), reports C1 through
/// <see cref="FpuEnv.RoundedUp"/> and sets <see cref="FpuEnv.SuppressResult"/> for an unmasked invalid, denormal or
/// zero-divide exception (the result returned then is meaningless). Values are computed exactly with 128-bit
/// integers and rounded once (Intel SDM vol. 1 §4.9 and §8.5; the NaN rules are table 4-7).
/// </summary>
/// <remarks>
/// Behaviour the manuals leave open follows the host x86-64 CPU, which <c>tests/JitVm.HostOracle.Tests/X87*.cs</c>
/// compare against: the precision control rounds to 24/53/64 bits with the extended exponent range (so a result
/// that is tiny in extended format denormalizes at that fixed significand position); tininess is detected after
/// rounding; of two NaNs the one with the larger significand wins.
/// </remarks>
public static partial class SoftFloat
{
    internal const ulong QuietBit = 1UL << 62;
    /// <summary>Smallest and largest unbiased exponents of a normal extended value.</summary>
    internal const int ExtMinExp = 1 - Float80.Bias, ExtMaxExp = Float80.Bias;
    /// <summary>The exponent adjustment of the unmasked overflow/underflow responses (SDM §8.5.4/§8.5.5).</summary>
    internal const int RebiasAdjust = 24576;

    internal enum Kind : byte { Zero, Finite, Infinity, QuietNaN, SignalingNaN, Unsupported }

    /// <summary>
    /// Splits a register value. For <see cref="Kind.Finite"/>: value = ±<paramref name="sig"/>·2^(<paramref name="exp"/>−63)
    /// with bit 63 of sig set (denormals and pseudo-denormals are normalized, read with exponent 1, and flagged in
    /// <paramref name="denormal"/>). Other kinds leave sig as stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Kind Unpack(in Float80 a, out int exp, out ulong sig, out bool denormal)
    {
        int e = a.Exponent;
        ulong m = a.Significand;
        denormal = false;
        if (e == 0)
        {
            sig = m;
            exp = ExtMinExp;
            if (m == 0) return Kind.Zero;
            denormal = true;
            int lz = BitOperations.LeadingZeroCount(m);
            sig = m << lz;
            exp -= lz;
            return Kind.Finite;
        }
        sig = m;
        exp = e - Float80.Bias;
        if ((m & Float80.IntegerBit) == 0) return Kind.Unsupported;
        if (e == Float80.MaxExponent)
        {
            if ((m << 1) == 0) return Kind.Infinity;
            return (m & QuietBit) != 0 ? Kind.QuietNaN : Kind.SignalingNaN;
        }
        return Kind.Finite;
    }

    static bool IsNaNOrUnsupported(Kind k) => k >= Kind.QuietNaN;

    /// <summary>The significand width results of FADD..FSQRT round to (PC = 01, reserved, behaves as 64 bits here).</summary>
    internal static int PrecisionBits(in FpuEnv env) => env.Precision switch
    {
        PrecisionControl.Single => 24,
        PrecisionControl.Double => 53,
        _ => 64,
    };

    // ---- exception helpers ----

    /// <summary>An invalid operation with the indefinite as its masked response.</summary>
    internal static Float80 Invalid(ref FpuEnv env)
    {
        env.Raised |= FpuExceptions.Invalid;
        if (!env.Masked(FpuExceptions.Invalid)) env.SuppressResult = true;
        return Float80.Indefinite;
    }

    /// <summary>Signals a denormal operand; false when the exception is unmasked (the operation stops there).</summary>
    internal static bool DenormalOperand(ref FpuEnv env)
    {
        env.Raised |= FpuExceptions.Denormal;
        if (env.Masked(FpuExceptions.Denormal)) return true;
        env.SuppressResult = true;
        return false;
    }

    internal static Float80 Quiet(in Float80 a) => new(a.SignExponent, a.Significand | QuietBit);

    /// <summary>One NaN or unsupported operand: #I for an SNaN (quieted) or an unsupported encoding (indefinite).</summary>
    internal static Float80 PropagateNaN(in Float80 a, Kind k, ref FpuEnv env)
    {
        if (k == Kind.Unsupported) return Invalid(ref env);
        if (k == Kind.SignalingNaN)
        {
            env.Raised |= FpuExceptions.Invalid;
            if (!env.Masked(FpuExceptions.Invalid)) env.SuppressResult = true;
        }
        return Quiet(a);
    }

    /// <summary>
    /// Two operands, at least one a NaN or unsupported (SDM table 4-7): an unsupported operand is invalid (indefinite);
    /// otherwise an SNaN raises #I and the NaN with the larger significand is returned quieted.
    /// </summary>
    internal static Float80 PropagateNaN(in Float80 a, Kind ka, in Float80 b, Kind kb, ref FpuEnv env)
    {
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) return Invalid(ref env);
        if (ka == Kind.SignalingNaN || kb == Kind.SignalingNaN)
        {
            env.Raised |= FpuExceptions.Invalid;
            if (!env.Masked(FpuExceptions.Invalid)) env.SuppressResult = true;
        }
        bool aNaN = ka >= Kind.QuietNaN, bNaN = kb >= Kind.QuietNaN;
        if (aNaN && bNaN)
        {
            if (a.Significand > b.Significand) return Quiet(a);
            if (b.Significand > a.Significand) return Quiet(b);
            // Equal significands: the positive one.
            return Quiet(a.Sign ? b : a);
        }
        return Quiet(aNaN ? a : b);
    }

    // ---- rounding ----

    /// <summary>
    /// Rounds <paramref name="sig"/> to its top <paramref name="p"/> bits (the bits below and <paramref name="sticky"/>
    /// decide). Returns true when the increment carried out of bit 127: sig is then 2^127 and the exponent must grow.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool RoundBits(ref UInt128 sig, bool sticky, int p, RoundingControl rc, bool sign, out bool inexact, out bool up)
    {
        int drop = 128 - p;
        UInt128 mask = (UInt128.One << drop) - 1;
        UInt128 rest = sig & mask;
        inexact = rest != UInt128.Zero || sticky;
        up = false;
        if (!inexact) return false;
        UInt128 half = UInt128.One << (drop - 1);
        up = rc switch
        {
            RoundingControl.Nearest => rest > half || (rest == half && (sticky || ((sig >> drop) & UInt128.One) != UInt128.Zero)),
            RoundingControl.Up => !sign,
            RoundingControl.Down => sign,
            _ => false,
        };
        sig &= ~mask;
        if (!up) return false;
        sig += UInt128.One << drop;
        if (sig != UInt128.Zero) return false;
        sig = UInt128.One << 127;
        return true;
    }

    /// <summary>Shifts right by <paramref name="n"/> (any count ≥ 0), ORing the bits shifted out into <paramref name="sticky"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static UInt128 ShiftRightJam(UInt128 x, int n, ref bool sticky)
    {
        if (n == 0) return x;
        if (n >= 128)
        {
            sticky |= x != UInt128.Zero;
            return UInt128.Zero;
        }
        sticky |= (x & ((UInt128.One << n) - 1)) != UInt128.Zero;
        return x >> n;
    }

    /// <summary>
    /// The general rounding step. In: ±sig·2^(exp−127) with bit 127 of sig set, plus a sticky bit for anything
    /// nonzero below. Out: the rounded significand (top <paramref name="p"/> bits; bit 127 clear for a denormal or
    /// zero, whose exponent is then <paramref name="emin"/>) and its exponent; exp = emax + 1 with sig = 2^127 is
    /// infinity. <paramref name="rebias"/> is the unmasked-response exponent adjustment (0 for memory formats,
    /// where an unmasked overflow or underflow stores nothing).
    /// </summary>
    internal static UInt128 Round(bool sign, ref int exp, UInt128 sig, bool sticky, int p, int emin, int emax, int rebias, ref FpuEnv env)
    {
        var rc = env.Rounding;
        bool inexact, up;
        if (exp < emin)
        {
            // Tiny if the result rounded with an unbounded exponent is below 2^emin (tininess after rounding).
            bool tiny = true;
            if (exp == emin - 1)
            {
                var probe = sig;
                if (RoundBits(ref probe, sticky, p, rc, sign, out _, out _)) tiny = false;
            }
            if (tiny && !env.Masked(FpuExceptions.Underflow))
            {
                env.Raised |= FpuExceptions.Underflow;
                if (RoundBits(ref sig, sticky, p, rc, sign, out inexact, out up)) exp++;
                exp += rebias;
                if (inexact) env.Raised |= FpuExceptions.Precision;
                env.RoundedUp = up;
                return sig;
            }
            sig = ShiftRightJam(sig, emin - exp, ref sticky);
            exp = emin;
            RoundBits(ref sig, sticky, p, rc, sign, out inexact, out up);
            if (inexact)
            {
                env.Raised |= tiny ? FpuExceptions.Underflow | FpuExceptions.Precision : FpuExceptions.Precision;
                env.RoundedUp = up;
            }
            else env.RoundedUp = false;
            return sig;
        }
        if (RoundBits(ref sig, sticky, p, rc, sign, out inexact, out up)) exp++;
        if (exp > emax)
        {
            if (env.Masked(FpuExceptions.Overflow))
            {
                env.Raised |= FpuExceptions.Overflow | FpuExceptions.Precision;
                bool toInfinity = rc switch
                {
                    RoundingControl.Nearest => true,
                    RoundingControl.Up => !sign,
                    RoundingControl.Down => sign,
                    _ => false,
                };
                env.RoundedUp = toInfinity;
                if (toInfinity)
                {
                    exp = emax + 1;
                    return UInt128.One << 127;
                }
                exp = emax;
                return ~((UInt128.One << (128 - p)) - 1);
            }
            env.Raised |= FpuExceptions.Overflow;
            exp -= rebias;
        }
        if (inexact) env.Raised |= FpuExceptions.Precision;
        env.RoundedUp = up;
        return sig;
    }

    /// <summary>Rounds ±sig·2^(exp−127) (bit 127 set) to the precision control's width in the extended format and packs it.</summary>
    internal static Float80 RoundPack(bool sign, int exp, UInt128 sig, bool sticky, int p, ref FpuEnv env)
    {
        var r = Round(sign, ref exp, sig, sticky, p, ExtMinExp, ExtMaxExp, RebiasAdjust, ref env);
        return PackExtended(sign, exp, r);
    }

    /// <summary>Normalizes a nonzero ±sig·2^(exp−127) and rounds it.</summary>
    internal static Float80 NormalizeRoundPack(bool sign, int exp, UInt128 sig, bool sticky, int p, ref FpuEnv env)
    {
        int lz = (int)UInt128.LeadingZeroCount(sig);
        return RoundPack(sign, exp - lz, sig << lz, sticky, p, ref env);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Float80 PackExtended(bool sign, int exp, UInt128 sig)
    {
        int biased = (sig >> 127) != UInt128.Zero ? exp + Float80.Bias : 0;
        return new Float80((ushort)((sign ? 0x8000 : 0) | (biased & 0x7FFF)), (ulong)(sig >> 64));
    }

    internal static Float80 SignedZero(bool sign) => sign ? Float80.NegativeZero : Float80.Zero;
    internal static Float80 SignedInfinity(bool sign) => sign ? Float80.NegativeInfinity : Float80.PositiveInfinity;

    // ---- FADD / FSUB ----

    /// <summary>a + b rounded per RC and PC (FADD).</summary>
    public static Float80 Add(in Float80 a, in Float80 b, ref FpuEnv env) => AddSub(a, b, false, ref env);

    /// <summary>a − b rounded per RC and PC (FSUB; FSUBR is Sub(b, a)).</summary>
    public static Float80 Sub(in Float80 a, in Float80 b, ref FpuEnv env) => AddSub(a, b, true, ref env);

    static Float80 AddSub(in Float80 a, in Float80 b, bool subtract, ref FpuEnv env)
    {
        var ka = Unpack(a, out int ea, out ulong ma, out bool da);
        var kb = Unpack(b, out int eb, out ulong mb, out bool db);
        if (IsNaNOrUnsupported(ka) || IsNaNOrUnsupported(kb)) return PropagateNaN(a, ka, b, kb, ref env);
        bool sa = a.Sign, sb = b.Sign ^ subtract;
        if (ka == Kind.Infinity || kb == Kind.Infinity)
        {
            if (ka == kb && sa != sb) return Invalid(ref env);
            if ((da || db) && !DenormalOperand(ref env)) return a;
            return SignedInfinity(ka == Kind.Infinity ? sa : sb);
        }
        if ((da || db) && !DenormalOperand(ref env)) return a;
        int p = PrecisionBits(env);
        if (ka == Kind.Zero)
        {
            if (kb == Kind.Zero)
                return SignedZero(sa == sb ? sa : env.Rounding == RoundingControl.Down);
            return RoundPack(sb, eb, (UInt128)mb << 64, false, p, ref env);
        }
        if (kb == Kind.Zero) return RoundPack(sa, ea, (UInt128)ma << 64, false, p, ref env);

        // |A| ≥ |B| after the swap.
        if (ea < eb || (ea == eb && ma < mb))
        {
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
            (sa, sb) = (sb, sa);
        }
        UInt128 x = (UInt128)ma << 64;
        bool sticky = false;
        UInt128 y = ShiftRightJam((UInt128)mb << 64, ea - eb, ref sticky);
        int exp = ea; // the weight of bit 127 of x
        if (sa == sb)
        {
            UInt128 sum = x + y;
            if (sum < x)
            {
                // Carry out of bit 127: the true sum is 2^128 + sum.
                sticky |= (sum & UInt128.One) != UInt128.Zero;
                sum = (sum >> 1) | (UInt128.One << 127);
                exp++;
            }
            return NormalizeRoundPack(sa, exp, sum, sticky, p, ref env);
        }
        UInt128 diff = x - y;
        // A sticky remainder of y lies strictly between 0 and one unit: the difference is (diff − 1) + fraction.
        if (sticky) diff -= UInt128.One;
        if (diff == UInt128.Zero && !sticky) return SignedZero(env.Rounding == RoundingControl.Down);
        return NormalizeRoundPack(sa, exp, diff, sticky, p, ref env);
    }

    // ---- FMUL ----

    /// <summary>a · b rounded per RC and PC (FMUL).</summary>
    public static Float80 Mul(in Float80 a, in Float80 b, ref FpuEnv env)
    {
        var ka = Unpack(a, out int ea, out ulong ma, out bool da);
        var kb = Unpack(b, out int eb, out ulong mb, out bool db);
        if (IsNaNOrUnsupported(ka) || IsNaNOrUnsupported(kb)) return PropagateNaN(a, ka, b, kb, ref env);
        bool sign = a.Sign ^ b.Sign;
        if (ka == Kind.Infinity || kb == Kind.Infinity)
        {
            if (ka == Kind.Zero || kb == Kind.Zero) return Invalid(ref env);
            if ((da || db) && !DenormalOperand(ref env)) return a;
            return SignedInfinity(sign);
        }
        if ((da || db) && !DenormalOperand(ref env)) return a;
        if (ka == Kind.Zero || kb == Kind.Zero) return SignedZero(sign);
        UInt128 prod = (UInt128)ma * mb;
        // ma·mb·2^(ea+eb−126): bit 127 of the product weighs 2^(ea+eb+1).
        return NormalizeRoundPack(sign, ea + eb + 1, prod, false, PrecisionBits(env), ref env);
    }

    // ---- FDIV ----

    /// <summary>a / b rounded per RC and PC (FDIV; FDIVR is Div(b, a)).</summary>
    public static Float80 Div(in Float80 a, in Float80 b, ref FpuEnv env)
    {
        var ka = Unpack(a, out int ea, out ulong ma, out bool da);
        var kb = Unpack(b, out int eb, out ulong mb, out bool db);
        if (IsNaNOrUnsupported(ka) || IsNaNOrUnsupported(kb)) return PropagateNaN(a, ka, b, kb, ref env);
        bool sign = a.Sign ^ b.Sign;
        if (ka == Kind.Infinity)
        {
            if (kb == Kind.Infinity) return Invalid(ref env);
            if (db && !DenormalOperand(ref env)) return a;
            return SignedInfinity(sign);
        }
        if (kb == Kind.Infinity)
        {
            if (da && !DenormalOperand(ref env)) return a;
            return SignedZero(sign);
        }
        if (kb == Kind.Zero)
        {
            if (ka == Kind.Zero) return Invalid(ref env);
            // A denormal dividend is not reported: the zero divide takes priority.
            env.Raised |= FpuExceptions.ZeroDivide;
            if (!env.Masked(FpuExceptions.ZeroDivide)) env.SuppressResult = true;
            return SignedInfinity(sign);
        }
        if ((da || db) && !DenormalOperand(ref env)) return a;
        if (ka == Kind.Zero) return SignedZero(sign);
        return DivideSignificands(sign, ea, ma, eb, mb, PrecisionBits(env), ref env);
    }

    static Float80 DivideSignificands(bool sign, int ea, ulong ma, int eb, ulong mb, int p, ref FpuEnv env)
    {
        // ma/mb in [1, 2) → shift by 63, in (1/2, 1) → by 64: the first quotient word has bit 63 set either way.
        int exp = ea - eb;
        UInt128 num;
        if (ma >= mb) num = (UInt128)ma << 63;
        else
        {
            num = (UInt128)ma << 64;
            exp--;
        }
        var (q1, r1) = UInt128.DivRem(num, mb);
        var (q2, r2) = UInt128.DivRem(r1 << 64, mb);
        UInt128 q = (q1 << 64) | q2;
        return RoundPack(sign, exp, q, r2 != UInt128.Zero, p, ref env);
    }

    // ---- FSQRT ----

    /// <summary>√a rounded per RC and PC (FSQRT); √−0 = −0, any other negative operand is invalid.</summary>
    public static Float80 Sqrt(in Float80 a, ref FpuEnv env)
    {
        var k = Unpack(a, out int e, out ulong m, out bool denormal);
        if (IsNaNOrUnsupported(k)) return PropagateNaN(a, k, ref env);
        if (k == Kind.Zero) return a;
        if (a.Sign) return Invalid(ref env);
        if (denormal && !DenormalOperand(ref env)) return a;
        if (k == Kind.Infinity) return a;
        // m·2^(e−63) = R·2^(e−63−s) with R = m·2^s in [2^126, 2^128) and e−63−s even: √R in [2^63, 2^64).
        int s = (e & 1) == 0 ? 63 : 64;
        ulong root = SqrtRem((UInt128)m << s, out UInt128 rem);
        // √R ≥ root + 1/2 ⇔ rem ≥ root + 1/4 ⇔ rem > root (never exactly half: √R is an integer or irrational).
        UInt128 sig = ((UInt128)root << 64) | (rem > root ? (UInt128)0x8000_0000_0000_0001UL : rem != UInt128.Zero ? UInt128.One : UInt128.Zero);
        return RoundPack(false, 63 + (e - 63 - s) / 2, sig, false, PrecisionBits(env), ref env);
    }

    /// <summary>⌊√x⌋ of a 128-bit integer, restoring bit by bit, with the remainder x − root².</summary>
    internal static ulong SqrtRem(UInt128 x, out UInt128 rem)
    {
        UInt128 r = UInt128.Zero;
        ulong q = 0;
        for (int i = 63; i >= 0; i--)
        {
            r = (r << 2) | ((x >> (2 * i)) & 3);
            UInt128 t = ((UInt128)q << 2) | UInt128.One;
            if (r >= t)
            {
                r -= t;
                q = (q << 1) | 1;
            }
            else q <<= 1;
        }
        rem = r;
        return q;
    }
}
