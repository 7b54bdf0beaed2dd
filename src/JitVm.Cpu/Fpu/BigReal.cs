using System.Numerics;

namespace JitVm.Cpu.Fpu;

/// <summary>
/// A binary floating-point number with a <see cref="BigInteger"/> significand, value = M·2^E, kept to
/// <see cref="Precision"/> bits (truncated; exact while a result fits). The transcendental functions evaluate
/// their series in it and round once to 64 bits at the end.
/// </summary>
internal readonly struct BigReal
{
    /// <summary>Working precision in bits: far beyond the 64 the result needs, so the final rounding is right.</summary>
    public const int Precision = 192;

    public readonly BigInteger M;
    public readonly int E;

    public BigReal(BigInteger m, int e)
    {
        long len = BigInteger.Abs(m).GetBitLength();
        if (len > Precision)
        {
            int drop = (int)(len - Precision);
            m = m.Sign < 0 ? -(BigInteger.Abs(m) >> drop) : m >> drop;
            e += drop;
        }
        M = m;
        E = e;
    }

    public static readonly BigReal Zero = new(BigInteger.Zero, 0);
    public static readonly BigReal One = new(BigInteger.One, 0);

    public bool IsZero => M.IsZero;
    public bool IsNegative => M.Sign < 0;
    /// <summary>The exponent of the leading bit: 2^Top ≤ |value| &lt; 2^(Top+1). Meaningless for zero.</summary>
    public int Top => E + (int)BigInteger.Abs(M).GetBitLength() - 1;

    public static BigReal FromInt(long v) => new(v, 0);

    /// <summary>An extended value's finite magnitude and sign, exactly (<paramref name="exp"/>, <paramref name="sig"/> as from SoftFloat.Unpack).</summary>
    public static BigReal From(bool negative, int exp, ulong sig) => new(negative ? -(BigInteger)sig : sig, exp - 63);

    public BigReal Negate() => new(-M, E);
    public BigReal Abs() => M.Sign < 0 ? new BigReal(-M, E) : this;
    /// <summary>This · 2^k.</summary>
    public BigReal Scale(int k) => new(M, E + k);

    public static BigReal operator +(BigReal a, BigReal b)
    {
        if (a.IsZero) return b;
        if (b.IsZero) return a;
        // An addend wholly below the other's working precision only disturbs bits that are truncated anyway.
        if (b.Top < a.Top - Precision - 2) return a;
        if (a.Top < b.Top - Precision - 2) return b;
        if (a.E >= b.E) return new BigReal((a.M << (a.E - b.E)) + b.M, b.E);
        return new BigReal(a.M + (b.M << (b.E - a.E)), a.E);
    }

    public static BigReal operator -(BigReal a, BigReal b) => a + b.Negate();

    public static BigReal operator *(BigReal a, BigReal b) => new(a.M * b.M, a.E + b.E);

    public static BigReal operator /(BigReal a, BigReal b)
    {
        if (a.IsZero) return a;
        int shift = Precision + 2 + (int)BigInteger.Abs(b.M).GetBitLength() - (int)BigInteger.Abs(a.M).GetBitLength();
        if (shift < 0) shift = 0;
        return new BigReal((a.M << shift) / b.M, a.E - b.E - shift);
    }

    /// <summary>Division by a small positive integer.</summary>
    public BigReal Div(long d) => new((M << 64) / d, E - 64);

    public static bool operator <(BigReal a, BigReal b) => (a - b).IsNegative;
    public static bool operator >(BigReal a, BigReal b) => (b - a).IsNegative;

    /// <summary>
    /// Rounds to the extended format (64 bits, RC) through SoftFloat's rounding: overflow, underflow and the flags.
    /// <paramref name="exact"/> false says the value only approximates an irrational result, which is never exactly
    /// representable: the sticky bit is forced so #P and C1 follow the true value.
    /// <paramref name="tail"/>: the sign of (true value − this) when known (+1, −1; 0 unknown). It matters when this
    /// approximation is exactly a 64-bit value (sin x = x − x³/6 for a tiny x whose x³/6 is below the working
    /// precision): the rounding then goes as the true value lies.
    /// </summary>
    public Float80 ToFloat80(bool exact, ref FpuEnv env, int tail)
    {
        if (IsZero) return Float80.Zero;
        bool negative = M.Sign < 0;
        var mag = BigInteger.Abs(M);
        int len = (int)mag.GetBitLength();
        UInt128 sig;
        bool below = false; // bits below the 128 kept
        if (len > 128)
        {
            int drop = len - 128;
            below = !(mag & ((BigInteger.One << drop) - 1)).IsZero;
            sig = (UInt128)(mag >> drop);
        }
        else sig = (UInt128)mag << (128 - len);
        int exp = E + len - 1;
        if (!exact && !below && (negative ? -tail : tail) < 0)
        {
            // The true magnitude is just below: step down within the 128 bits, the rest is sticky.
            sig -= UInt128.One;
            if ((sig >> 127) == UInt128.Zero)
            {
                sig = (sig << 1) | UInt128.One;
                exp--;
            }
        }
        return SoftFloat.RoundPack(negative, exp, sig, below || !exact, 64, ref env);
    }

    public override string ToString() => $"{M}·2^{E}";
}
