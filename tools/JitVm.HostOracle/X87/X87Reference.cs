using System.Numerics;
using JitVm.Cpu.Fpu;

namespace JitVm.HostOracle.X87;

/// <summary>
/// An independent high-precision reference for FSIN/FCOS/FSINCOS/FPTAN (512-bit fixed point, π from Gauss's
/// arctangent formula, plain Taylor series), used where the host and SoftFloat differ by more than 1 ulp. The
/// host's x87 reduces its argument with π rounded to 66 bits (measured: its results are within about 1 ulp of that
/// model, give or take its own rounding, and far from the true value near multiples of π/2), so the reference
/// evaluates both: the true value, which SoftFloat must be within 1 ulp of, and the 66-bit-π model, which the host
/// must be within 2 ulps of.
/// </summary>
internal static class X87Reference
{
    const int Bits = 512;
    static readonly BigInteger One = BigInteger.One << Bits;
    static readonly BigInteger Pi = ComputePi();
    /// <summary>π rounded to 66 significant bits (64 below the point), as the x87 reduces with.</summary>
    static readonly BigInteger Pi66 = ((Pi + (BigInteger.One << (Bits - 65))) >> (Bits - 64)) << (Bits - 64);

    static BigInteger ComputePi()
    {
        // Gauss: π = 48·atan(1/18) + 32·atan(1/57) − 20·atan(1/239), with 64 guard bits.
        const int guard = 64;
        return (48 * Atan(18, Bits + guard) + 32 * Atan(57, Bits + guard) - 20 * Atan(239, Bits + guard)) >> guard;

        static BigInteger Atan(int n, int bits)
        {
            BigInteger x = (BigInteger.One << bits) / n, sum = 0;
            for (int k = 1; !x.IsZero; k += 2, x /= -(n * n)) sum += x / k;
            return sum;
        }
    }

    /// <summary>
    /// sin and cos of a finite extended value as 2^-512 fixed point, reducing with the true π or with the x87's
    /// 66-bit π; false when the value is too small for this fixed point to judge (|x| &lt; 2^-300).
    /// </summary>
    static bool SinCos(in Float80 x, bool pi66, out BigInteger sin, out BigInteger cos)
    {
        sin = cos = 0;
        int e = x.Exponent == 0 ? 1 - Float80.Bias : x.Exponent - Float80.Bias;
        if (e < -300 || x.Significand == 0) return false;
        BigInteger fx = (BigInteger)x.Significand << (e - 63 + Bits);
        BigInteger halfPi = (pi66 ? Pi66 : Pi) >> 1;
        BigInteger k = (fx + (halfPi >> 1)) / halfPi;
        BigInteger r = fx - k * halfPi;
        BigInteger r2 = r * r >> Bits, s = r, c = One, term = r;
        for (int n = 1; !term.IsZero; n++)
        {
            term = -(term * r2 >> Bits) / ((2 * n) * (2 * n + 1));
            s += term;
        }
        term = One;
        for (int n = 1; !term.IsZero; n++)
        {
            term = -(term * r2 >> Bits) / ((2 * n - 1) * (2 * n));
            c += term;
        }
        (sin, cos) = ((int)(k & 3)) switch { 0 => (s, c), 1 => (c, -s), 2 => (-s, -c), _ => (-c, s) };
        if (x.Sign) sin = -sin;
        return true;
    }

    /// <summary>The reference value of the trigonometric operation's first result (cos for FSINCOS's R0 is asked with <paramref name="second"/>).</summary>
    public static bool Value(X87Op op, in Float80 x, bool pi66, bool second, out BigInteger value)
    {
        value = 0;
        if (!SinCos(x, pi66, out var s, out var c)) return false;
        switch (op)
        {
            case X87Op.Fsin: value = s; return true;
            case X87Op.Fcos: value = c; return true;
            case X87Op.Fsincos: value = second ? s : c; return true;
            case X87Op.Fptan:
                if (c.IsZero) return false;
                value = (s << Bits) / c;
                return true;
            default: return false;
        }
    }

    /// <summary>|reference − r| &lt; <paramref name="ulps"/> ulps of r (r finite, nonzero, not tiny).</summary>
    public static bool Within(in BigInteger reference, in Float80 r, int ulps)
    {
        if (r.Exponent == 0x7FFF || r.Significand == 0) return false;
        int e = r.Exponent == 0 ? 1 - Float80.Bias : r.Exponent - Float80.Bias;
        int shift = e - 63 + Bits;
        if (shift < 0) return false;
        BigInteger fr = (BigInteger)r.Significand << shift;
        if (r.Sign) fr = -fr;
        return BigInteger.Abs(reference - fr) < (BigInteger)ulps << shift;
    }
}
