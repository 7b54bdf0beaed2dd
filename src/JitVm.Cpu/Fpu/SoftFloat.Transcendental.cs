using System.Numerics;

namespace JitVm.Cpu.Fpu;

// The transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1. Each result is
// evaluated in BigReal (192 bits) after an exact argument reduction and rounded once to 64 bits per RC (PC does
// not apply), so it is the correctly rounded value in all but astronomically rare cases — within 1 ulp always.
// The special operands follow the SDM's tables for each instruction.
public static partial class SoftFloat
{
    /// <summary>Fraction bits of the fixed-point constants (π, ln 2, the arctangent table).</summary>
    const int ConstBits = 384;

    static readonly BigInteger PiFixed = ComputePi();
    static readonly BigInteger HalfPiFixed = PiFixed >> 1;
    static readonly BigReal Pi = new(PiFixed, -ConstBits);
    static readonly BigReal HalfPi = Pi.Scale(-1);
    static readonly BigReal Ln2 = new(ComputeLn2(), -ConstBits);
    /// <summary>atan(j/8) for j = 0..8.</summary>
    static readonly BigReal[] AtanTable = ComputeAtanTable();

    static BigInteger ComputePi()
    {
        // Machin: π = 16·atan(1/5) − 4·atan(1/239), with 32 guard bits.
        const int bits = ConstBits + 32;
        return (16 * AtanInverse(5, bits) - 4 * AtanInverse(239, bits)) >> 32;
    }

    /// <summary>atan(1/n)·2^bits by its Taylor series.</summary>
    static BigInteger AtanInverse(int n, int bits)
    {
        BigInteger power = (BigInteger.One << bits) / n, sum = BigInteger.Zero, n2 = n * n;
        for (int k = 0; !power.IsZero; k++)
        {
            var term = power / (2 * k + 1);
            sum += (k & 1) == 0 ? term : -term;
            power /= n2;
        }
        return sum;
    }

    static BigInteger ComputeLn2()
    {
        // ln 2 = 2·atanh(1/3) = 2·Σ 1/((2k+1)·3^(2k+1)).
        const int bits = ConstBits + 32;
        BigInteger power = (BigInteger.One << bits) / 3, sum = BigInteger.Zero;
        for (int k = 0; !power.IsZero; k++)
        {
            sum += power / (2 * k + 1);
            power /= 9;
        }
        return (2 * sum) >> 32;
    }

    static BigReal[] ComputeAtanTable()
    {
        // Euler's series: atan(x) = Σ T_n with T_0 = x/(1+x²), T_n = T_{n−1}·(2n/(2n+1))·x²/(1+x²); for x = j/8:
        // T_0 = 8j/(64+j²) and the ratio is 2n·j²/((2n+1)(64+j²)).
        const int bits = ConstBits + 32;
        var table = new BigReal[9];
        table[0] = BigReal.Zero;
        for (int j = 1; j <= 8; j++)
        {
            BigInteger d = 64 + j * j;
            BigInteger term = (BigInteger.One << bits) * (8 * j) / d, sum = BigInteger.Zero;
            for (int n = 1; !term.IsZero; n++)
            {
                sum += term;
                term = term * (2 * n) * (j * j) / ((2 * n + 1) * d);
            }
            table[j] = new BigReal(sum >> 32, -ConstBits);
        }
        return table;
    }

    // ---- series (|argument| small enough that they converge quickly) ----

    /// <summary>Stops a series once a term is below the working precision relative to the sum's magnitude.</summary>
    static bool Negligible(in BigReal term, in BigReal sum) => term.IsZero || (!sum.IsZero && term.Top < sum.Top - BigReal.Precision - 4);

    /// <summary>sin r for |r| ≤ π/4; <paramref name="tail"/> is the sign of the first term left out.</summary>
    static BigReal SinSeries(BigReal r, out int tail)
    {
        tail = 0;
        if (r.IsZero) return r;
        var r2 = r * r;
        BigReal term = r, sum = r;
        for (long n = 1; ; n++)
        {
            term = (term * r2).Div(2 * n * (2 * n + 1)).Negate();
            if (Negligible(term, sum))
            {
                tail = term.M.Sign;
                return sum;
            }
            sum += term;
        }
    }

    /// <summary>cos r for |r| ≤ π/4; <paramref name="tail"/> is the sign of the first term left out.</summary>
    static BigReal CosSeries(BigReal r, out int tail)
    {
        tail = 0;
        var r2 = r * r;
        BigReal term = BigReal.One, sum = BigReal.One;
        if (r.IsZero) return sum;
        for (long n = 1; ; n++)
        {
            term = (term * r2).Div((2 * n - 1) * (2 * n)).Negate();
            if (Negligible(term, sum))
            {
                tail = term.M.Sign;
                return sum;
            }
            sum += term;
        }
    }

    /// <summary>atan u for |u| ≤ 1/16 (Taylor series); <paramref name="tail"/> is the sign of the first term left out.</summary>
    static BigReal AtanSeries(BigReal u, out int tail)
    {
        tail = 0;
        if (u.IsZero) return u;
        var u2 = u * u;
        BigReal power = u, sum = u;
        for (long k = 1; ; k++)
        {
            power = (power * u2).Negate();
            var term = power.Div(2 * k + 1);
            if (Negligible(term, sum))
            {
                tail = term.M.Sign;
                return sum;
            }
            sum += term;
        }
    }

    /// <summary>atanh u = u + u³/3 + u⁵/5 + ... for |u| ≤ 0.18.</summary>
    static BigReal AtanhSeries(BigReal u)
    {
        if (u.IsZero) return u;
        var u2 = u * u;
        BigReal power = u, sum = u;
        for (long k = 1; ; k++)
        {
            power *= u2;
            var term = power.Div(2 * k + 1);
            if (Negligible(term, sum)) return sum;
            sum += term;
        }
    }

    /// <summary>e^z − 1 for |z| ≤ 1, without cancellation.</summary>
    static BigReal Expm1Series(BigReal z)
    {
        if (z.IsZero) return z;
        BigReal term = z, sum = z;
        for (long n = 2; ; n++)
        {
            term = (term * z).Div(n);
            if (Negligible(term, sum)) return sum;
            sum += term;
        }
    }

    /// <summary>atan t for 0 ≤ t ≤ 1: t = c + (t − c) with c = j/8 from the table, atan t = atan c + atan((t − c)/(1 + t·c)).</summary>
    static BigReal AtanUnit(BigReal t, out int tail)
    {
        tail = 0;
        int j = 0;
        if (!t.IsZero)
        {
            // j = round(8t), from the leading bits.
            var scaled = t.Scale(4); // 16t
            BigInteger whole = scaled.E >= 0 ? scaled.M << scaled.E : scaled.M >> -scaled.E;
            j = (int)BigInteger.Min((whole + 1) >> 1, 8);
        }
        if (j == 0) return AtanSeries(t, out tail);
        var c = new BigReal(j, -3);
        var u = (t - c) / (BigReal.One + t * c);
        return AtanTable[j] + AtanSeries(u, out _);
    }

    // ---- argument reduction for the trigonometric functions ----

    /// <summary>
    /// |x| = k·π/2 + r exactly enough (π/2 to 384 bits, so r keeps well over 64 significant bits even for the
    /// arguments closest to a multiple of π/2 below 2^63); returns r (|r| ≤ π/4) and k mod 4.
    /// </summary>
    static BigReal Reduce(int e, ulong m, out int quadrant)
    {
        quadrant = 0;
        var x = BigReal.From(false, e, m);
        if (e < -1) return x; // |x| < 1/2 < π/4
        BigInteger fixedX = (BigInteger)m << (e - 63 + ConstBits);
        BigInteger k = (fixedX + (HalfPiFixed >> 1)) / HalfPiFixed;
        quadrant = (int)(k & 3);
        return new BigReal(fixedX - k * HalfPiFixed, -ConstBits);
    }

    /// <summary>
    /// The shared front of FSIN/FCOS/FSINCOS/FPTAN: a NaN or unsupported operand or an infinity ends it (the
    /// result in <paramref name="special"/>); otherwise the operand is unpacked.
    /// </summary>
    static bool TrigOperand(in Float80 a, ref FpuEnv env, out Float80 special, out int e, out ulong m)
    {
        var k = Unpack(a, out e, out m, out bool denormal);
        special = a;
        if (IsNaNOrUnsupported(k))
        {
            special = PropagateNaN(a, k, ref env);
            return false;
        }
        if (k == Kind.Infinity)
        {
            special = Invalid(ref env);
            return false;
        }
        if (k == Kind.Zero) return false;
        if (denormal && !DenormalOperand(ref env)) return false;
        // |x| ≥ 2^63: out of range, the caller reports C2 = 1 and leaves the operand.
        return e < 63;
    }

    /// <summary>FSIN (|x| &lt; 2^63; the caller handles the out-of-range case with C2).</summary>
    public static Float80 Sin(in Float80 a, ref FpuEnv env)
    {
        if (!TrigOperand(a, ref env, out var special, out int e, out ulong m)) return special;
        var r = Reduce(e, m, out int q);
        var v = (q & 1) == 0 ? SinSeries(r, out int tail) : CosSeries(r, out tail);
        if (((q & 2) != 0) ^ a.Sign)
        {
            v = v.Negate();
            tail = -tail;
        }
        return v.ToFloat80(false, ref env, tail);
    }

    /// <summary>FCOS (|x| &lt; 2^63); cos ±0 = +1.</summary>
    public static Float80 Cos(in Float80 a, ref FpuEnv env)
    {
        if (!TrigOperand(a, ref env, out var special, out int e, out ulong m))
            return a.IsZero ? Float80.One : special;
        var r = Reduce(e, m, out int q);
        var v = (q & 1) == 0 ? CosSeries(r, out int tail) : SinSeries(r, out tail);
        if (((q + 1) & 2) != 0)
        {
            v = v.Negate();
            tail = -tail;
        }
        return v.ToFloat80(false, ref env, tail);
    }

    /// <summary>FSINCOS: returns sin and gives cos in <paramref name="cos"/> (both rounded; the flags of both).</summary>
    public static Float80 SinCos(in Float80 a, out Float80 cos, ref FpuEnv env)
    {
        if (!TrigOperand(a, ref env, out var special, out int e, out ulong m))
        {
            cos = a.IsZero ? Float80.One : special;
            return special;
        }
        var r = Reduce(e, m, out int q);
        BigReal s = SinSeries(r, out int st), c = CosSeries(r, out int ct);
        bool odd = (q & 1) != 0;
        BigReal sin = odd ? c : s, cosine = odd ? s : c;
        int sinTail = odd ? ct : st, cosTail = odd ? st : ct;
        if (((q & 2) != 0) ^ a.Sign)
        {
            sin = sin.Negate();
            sinTail = -sinTail;
        }
        if (((q + 1) & 2) != 0)
        {
            cosine = cosine.Negate();
            cosTail = -cosTail;
        }
        var sinEnv = env;
        cos = cosine.ToFloat80(false, ref env, cosTail);
        var result = sin.ToFloat80(false, ref sinEnv, sinTail);
        env.Raised |= sinEnv.Raised;
        env.RoundedUp = sinEnv.RoundedUp;
        return result;
    }

    /// <summary>FPTAN's tangent (the caller pushes the 1.0); tan ±0 = ±0.</summary>
    public static Float80 Tan(in Float80 a, ref FpuEnv env)
    {
        if (!TrigOperand(a, ref env, out var special, out int e, out ulong m)) return special;
        var r = Reduce(e, m, out int q);
        BigReal s = SinSeries(r, out _), c = CosSeries(r, out _);
        var v = (q & 1) == 0 ? s / c : (c / s).Negate();
        if (a.Sign) v = v.Negate();
        // |tan r| > |r| for a tiny r whose tangent came out as r itself.
        return v.ToFloat80(false, ref env, (q & 1) == 0 ? v.M.Sign : 0);
    }

    // ---- FPATAN ----

    /// <summary>FPATAN: the angle of (x, y), atan2(y, x) in [−π, π], with the SDM's signed zeros and infinities.</summary>
    public static Float80 Atan(in Float80 y, in Float80 x, ref FpuEnv env)
    {
        var ky = Unpack(y, out int ey, out ulong my, out bool dy);
        var kx = Unpack(x, out int ex, out ulong mx, out bool dx);
        if (IsNaNOrUnsupported(ky) || IsNaNOrUnsupported(kx)) return PropagateNaN(y, ky, x, kx, ref env);
        if ((dy || dx) && !DenormalOperand(ref env)) return y;
        bool sy = y.Sign, sx = x.Sign;
        BigReal angle;
        int tail = 0;
        if (ky == Kind.Zero)
        {
            if (!sx) return y;                       // ±0 for x = +0 or x > 0
            angle = Pi;                              // ±π for x = −0 or x < 0
        }
        else if (ky == Kind.Infinity)
        {
            angle = kx != Kind.Infinity ? HalfPi : sx ? Pi.Scale(-2) * BigReal.FromInt(3) : Pi.Scale(-2);
        }
        else if (kx == Kind.Zero) angle = HalfPi;
        else if (kx == Kind.Infinity)
        {
            if (!sx) return SignedZero(sy);
            angle = Pi;
        }
        else
        {
            BigReal ay = BigReal.From(false, ey, my), ax = BigReal.From(false, ex, mx);
            bool steep = ey > ex || (ey == ex && my > mx);
            angle = steep ? HalfPi - AtanUnit(ax / ay, out _) : AtanUnit(ay / ax, out tail);
            if (sx || steep) tail = 0;
            if (sx) angle = Pi - angle;
        }
        if (sy)
        {
            angle = angle.Negate();
            tail = -tail;
        }
        return angle.ToFloat80(false, ref env, tail);
    }

    // ---- F2XM1 ----

    /// <summary>F2XM1: 2^x − 1 (architecturally for −1 ≤ x ≤ 1; computed for any x here).</summary>
    public static Float80 F2xm1(in Float80 a, ref FpuEnv env)
    {
        var k = Unpack(a, out int e, out ulong m, out bool denormal);
        if (IsNaNOrUnsupported(k)) return PropagateNaN(a, k, ref env);
        if (k == Kind.Zero) return a;
        if (k == Kind.Infinity) return a.Sign ? new Float80(0xBFFF, Float80.IntegerBit) : a;
        if (denormal && !DenormalOperand(ref env)) return a;
        var x = BigReal.From(a.Sign, e, m);
        if (e >= 0)
        {
            // The ends of the domain: 2^1 − 1 = 1 and 2^−1 − 1 = −1/2, reported inexact (C1 set for +1) as the
            // host CPU does; beyond them (undefined in the SDM) the operand stays, with #P, also as the host does.
            env.Raised |= FpuExceptions.Precision;
            if (e == 0 && m == Float80.IntegerBit)
            {
                env.RoundedUp = !a.Sign;
                return a.Sign ? new Float80(0xBFFE, Float80.IntegerBit) : Float80.One;
            }
            return a;
        }
        return Expm1Series(x * Ln2).ToFloat80(false, ref env, 0);
    }

    // ---- FYL2X / FYL2XP1 ----

    /// <summary>
    /// log₂v for v &gt; 0: v = s·2^t with s in [1/√2, √2), log₂v = t + 2·atanh((s − 1)/(s + 1))/ln 2. Exact (and
    /// <paramref name="exact"/> set) when v is a power of two.
    /// </summary>
    static BigReal Log2(BigReal v, out bool exact)
    {
        int t = v.Top;
        // s·2^P as an integer with P = Precision bits below the point: s − 1 and s + 1 are then exact.
        int p = BigReal.Precision;
        BigInteger s = v.E - t + p >= 0 ? v.M << (v.E - t + p) : v.M >> -(v.E - t + p);
        BigInteger one = BigInteger.One << p;
        // √2·2^P < s ⇔ s² > 2·2^2P.
        if (s * s > (one * one) << 1)
        {
            one <<= 1;
            t++;
        }
        exact = s == one;
        if (exact) return BigReal.FromInt(t);
        var u = new BigReal(s - one, 0) / new BigReal(s + one, 0);
        return AtanhSeries(u).Scale(1) / Ln2 + BigReal.FromInt(t);
    }

    /// <summary>FYL2X: y·log₂x, with the SDM's table for zeros, infinities and x ≤ 0.</summary>
    public static Float80 Yl2x(in Float80 y, in Float80 x, ref FpuEnv env)
    {
        var ky = Unpack(y, out int ey, out ulong my, out bool dy);
        var kx = Unpack(x, out int ex, out ulong mx, out bool dx);
        if (IsNaNOrUnsupported(ky) || IsNaNOrUnsupported(kx)) return PropagateNaN(y, ky, x, kx, ref env);
        bool sy = y.Sign;
        if (x.Sign && kx != Kind.Zero) return Invalid(ref env);              // log of a negative number
        if (kx == Kind.Zero)
        {
            if (ky == Kind.Zero) return Invalid(ref env);
            if (ky != Kind.Infinity)
            {
                // As with division, the zero divide takes priority over a denormal y.
                env.Raised |= FpuExceptions.ZeroDivide;
                if (!env.Masked(FpuExceptions.ZeroDivide)) env.SuppressResult = true;
                return SignedInfinity(!sy);
            }
        }
        if ((dy || dx) && !DenormalOperand(ref env)) return y;
        if (kx == Kind.Zero) return SignedInfinity(!sy);
        if (kx == Kind.Infinity)
        {
            if (ky == Kind.Zero) return Invalid(ref env);
            return SignedInfinity(sy);
        }
        // x finite and positive: log₂x is negative below 1, zero at 1, positive above.
        int logSign = ex < 0 ? -1 : ex == 0 && mx == Float80.IntegerBit ? 0 : 1;
        if (ky == Kind.Infinity)
        {
            if (logSign == 0) return Invalid(ref env);
            return SignedInfinity(sy ^ (logSign < 0));
        }
        if (ky == Kind.Zero || logSign == 0) return SignedZero(sy ^ (logSign < 0));
        var log2 = Log2(BigReal.From(false, ex, mx), out bool exact);
        return ProductWithLog(BigReal.From(sy, ey, my), log2, exact, ref env);
    }

    /// <summary>
    /// Rounds y·log₂(...). An exact product (the argument a power of two) is still reported inexact, and as an
    /// underflow when it is tiny, as the host CPU does.
    /// </summary>
    static Float80 ProductWithLog(BigReal y, BigReal log2, bool exact, ref FpuEnv env)
    {
        var r = (y * log2).ToFloat80(exact, ref env, 0);
        if (exact)
        {
            env.Raised |= FpuExceptions.Precision;
            if (r.Exponent == 0 && r.Significand != 0) env.Raised |= FpuExceptions.Underflow;
        }
        return r;
    }

    /// <summary>
    /// FYL2XP1: y·log₂(x + 1), architecturally for |x| &lt; 1 − √2/2 (SDM vol. 2 table "FYL2XP1 Results"). Beyond
    /// that table the host CPU's answers are mirrored: x = −∞ is invalid, ahead of a denormal y; x = +∞ gives ±∞ with
    /// y's sign (0·∞ invalid); for finite x ≤ −1 a zero or infinite y gives that value with its sign flipped (as if
    /// log₂(x + 1) were negative) and a finite y leaves x, with #P (and #D for a denormal y).
    /// </summary>
    public static Float80 Yl2xp1(in Float80 y, in Float80 x, ref FpuEnv env)
    {
        var ky = Unpack(y, out int ey, out ulong my, out bool dy);
        var kx = Unpack(x, out int ex, out ulong mx, out bool dx);
        if (IsNaNOrUnsupported(ky) || IsNaNOrUnsupported(kx)) return PropagateNaN(y, ky, x, kx, ref env);
        bool sy = y.Sign, sx = x.Sign;
        if (kx == Kind.Infinity && sx) return Invalid(ref env);
        if ((dy || dx) && !DenormalOperand(ref env)) return y;
        if (kx == Kind.Zero)
        {
            if (ky == Kind.Infinity) return Invalid(ref env);
            return SignedZero(sy ^ sx);
        }
        if (kx == Kind.Infinity)
        {
            if (ky == Kind.Zero) return Invalid(ref env);
            return SignedInfinity(sy);
        }
        var xr = BigReal.From(sx, ex, mx);
        var onePlus = xr + BigReal.One;
        if (onePlus.IsZero || onePlus.IsNegative)
        {
            // x ≤ −1, far outside the domain (undefined in the SDM): the host's answers.
            if (ky == Kind.Infinity) return SignedInfinity(!sy);
            if (ky == Kind.Zero) return SignedZero(!sy);
            env.Raised |= FpuExceptions.Precision;
            return x;
        }
        if (ky == Kind.Infinity) return SignedInfinity(sy ^ sx);
        if (ky == Kind.Zero) return SignedZero(sy ^ sx);
        BigReal log2;
        bool exact = false;
        // Small x: ln(1 + x) = 2·atanh(x/(2 + x)) keeps x's relative precision; otherwise the general logarithm.
        if (ex < -2) log2 = AtanhSeries(xr / (onePlus + BigReal.One)).Scale(1) / Ln2;
        else
        {
            log2 = Log2(onePlus, out exact);
            // 1 + x is only exact while x is within the working precision of 1.
            exact &= (onePlus - xr - BigReal.One).IsZero;
        }
        return ProductWithLog(BigReal.From(sy, ey, my), log2, exact, ref env);
    }
}
