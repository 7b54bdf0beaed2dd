using JitVm.Cpu.Fpu;

namespace JitVm.HostOracle.X87;

/// <summary>
/// The x87 differential check: generates vectors for one operation (fixed seed), runs them on the host CPU with
/// <see cref="X87Native"/> and compares every result bit and the status word (exception flags and C0-C3; TOP is
/// ignored) with <see cref="SoftFloat"/>.
/// </summary>
public sealed class X87Oracle(X87Native native, int maxReports = 30)
{
    const int Batch = 4096;
    /// <summary>The status-word bits compared: B, C3, C2, C1, C0, ES, SF and the six flags (not TOP).</summary>
    const ushort StatusMask = unchecked((ushort)~0x3800);
    const ushort C0 = 1 << 8, C1 = 1 << 9, C2 = 1 << 10, C3 = 1 << 14;

    readonly List<string> reports = [];
    /// <summary>Per status bit (0-15), how many of the last <see cref="Run"/>'s vectors had it set on the host: shows what was covered.</summary>
    public long[] StatusBitCounts { get; } = new long[16];
    /// <summary>Vectors of the last run whose first result was a denormal, a NaN, an infinity, a zero.</summary>
    public (long Denormal, long NaN, long Infinity, long Zero) ResultCounts { get; private set; }
    public IReadOnlyList<string> Reports => reports;
    public long Mismatches { get; private set; }

    /// <summary>Runs <paramref name="count"/> vectors of <paramref name="op"/>; returns the number of mismatches among them.</summary>
    public long Run(X87Op op, int count, ulong seed)
    {
        var gen = new X87Operands(new Rng(seed ^ Rng.Hash(op.ToString())));
        var vectors = new X87Vector[Math.Min(Batch, count)];
        long mismatches = 0;
        Array.Clear(StatusBitCounts);
        (long den, long nan, long inf, long zero) rc = default;
        for (int done = 0; done < count; done += vectors.Length)
        {
            var span = vectors.AsSpan(0, Math.Min(vectors.Length, count - done));
            for (int i = 0; i < span.Length; i++) span[i] = Generate(op, gen);
            native.Execute(op, span);
            foreach (ref readonly var v in span)
            {
                for (int bit = 0; bit < 16; bit++) StatusBitCounts[bit] += (v.Status >> bit) & 1;
                var r0 = v.R0;
                if (op is >= X87Op.Fist16 and <= X87Op.Fbstp) { }
                else if (r0.IsDenormal) rc.den++;
                else if (r0.IsNaN) rc.nan++;
                else if (r0.IsInfinity) rc.inf++;
                else if (r0.IsZero) rc.zero++;
                var e = Expect(op, v);
                if (Matches(op, v, e)) continue;
                mismatches++;
                if (reports.Count < maxReports && mismatches <= 8) reports.Add(Describe(op, v, e));
            }
        }
        ResultCounts = rc;
        Mismatches += mismatches;
        return mismatches;
    }

    // ---- generation ----

    static X87Vector Generate(X87Op op, X87Operands g)
    {
        var r = g.Rng;
        var v = new X87Vector { Control = g.ControlWord() };
        switch (op)
        {
            case X87Op.Add or X87Op.Sub or X87Op.Subr:
                v.A = g.Value();
                v.B = r.Chance(7, 10) ? g.Near(v.A) : g.Value();
                break;
            case X87Op.Mul or X87Op.Div or X87Op.Divr:
                v.A = g.Value();
                v.B = r.Below(3) switch { 0 => g.Near(v.A), 1 => g.Value(), _ => Complement(g, v.A, op == X87Op.Mul) };
                break;
            case X87Op.Sqrt:
                v.A = g.Value();
                if (r.Chance(4, 5)) v.AExp &= 0x7FFF;
                break;
            case X87Op.Fild64:
            {
                int bits = r.Below(65);
                ulong x = bits == 0 ? 0 : r.Next64() >> (64 - bits);
                v.ASig = r.Chance(1, 2) ? 0 - x : x;
                if (r.Chance(1, 50)) v.ASig = 1UL << 63;
                break;
            }
            case X87Op.FldSingle: v.ASig = BinaryBits(r, 8, 23); break;
            case X87Op.FldDouble: v.ASig = BinaryBits(r, 11, 52); break;
            case X87Op.Fbld:
            {
                int digits = r.Below(19);
                ulong lo = 0;
                ushort hi = 0;
                for (int i = 0; i < digits; i++)
                {
                    ulong d = (ulong)r.Below(10);
                    if (i < 16) lo |= d << (4 * i);
                    else hi |= (ushort)(d << (4 * (i - 16)));
                }
                if (r.Chance(1, 2)) hi |= 0x8000;
                hi |= (ushort)(r.Chance(1, 4) ? r.Below(128) << 8 & 0x7F00 : 0); // bits 72-78 are ignored
                v.ASig = lo;
                v.AExp = hi;
                break;
            }
            case X87Op.Fist16: v.A = g.Around(-3, 17); break;
            case X87Op.Fist32: v.A = g.Around(-3, 33); break;
            case X87Op.Fist64: v.A = g.Around(-3, 65); break;
            case X87Op.Fbstp: v.A = r.Chance(1, 3) ? NearPowerOfTen(g) : g.Around(-3, 62); break;
            case X87Op.FstSingle: v.A = AroundFormat(g, 126, 127, 23); break;
            case X87Op.FstDouble: v.A = AroundFormat(g, 1022, 1023, 52); break;
            case X87Op.Frndint:
                v.A = r.Chance(3, 5) ? g.Around(-3, 66) : g.Value();
                break;
            case X87Op.Fsin or X87Op.Fcos or X87Op.Fsincos or X87Op.Fptan:
                v.A = r.Below(10) switch
                {
                    0 => NearHalfPiMultiple(g),
                    1 => g.Around(63, 66),
                    2 => g.Value(60),
                    _ => g.Around(-70, 62, 0),
                };
                break;
            case X87Op.F2xm1:
                v.A = r.Chance(1, 10) ? g.Value(50) : r.Chance(1, 20) ? new Float80((ushort)(g.Sign() ? 0xBFFF : 0x3FFF), Float80.IntegerBit) : g.Around(-70, -1, 0);
                break;
            case X87Op.Fyl2x:
                v.A = g.Value();
                if (r.Chance(9, 10)) v.AExp &= 0x7FFF;
                if (r.Chance(1, 5)) v.A = new Float80((ushort)(Float80.Bias - r.Below(2)), r.Chance(1, 2) ? Float80.IntegerBit | (r.Next64() >> (20 + r.Below(44))) : ~0UL << r.Below(40));
                v.B = g.Value();
                break;
            case X87Op.Fyl2xp1:
                v.A = r.Chance(1, 10) ? g.Value(50) : g.Around(-70, -2, 0);
                if (v.A.Exponent == Float80.Bias - 2 && v.A.Significand > 0x9000_0000_0000_0000) v.A = new Float80(v.A.SignExponent, 0x9000_0000_0000_0000);
                v.B = g.Value();
                break;
            case X87Op.Fscale:
                v.A = g.Value();
                v.B = r.Chance(7, 10) ? g.Around(-3, 15) : g.Value();
                break;
            default:
                v.A = g.Value();
                v.B = r.Chance(1, 2) ? g.Near(v.A) : g.Value();
                break;
        }
        return v;
    }

    /// <summary>A second operand that puts the product (or quotient) near the bottom or the top of the exponent range.</summary>
    static Float80 Complement(X87Operands g, in Float80 a, bool product)
    {
        int ea = a.Exponent is 0 or 0x7FFF ? Float80.Bias : a.Exponent;
        int target = g.Rng.Chance(1, 2) ? 1 + g.Rng.Below(80) - 70 : 0x7FFE + g.Rng.Below(7) - 3;
        // product: ea + eb − bias = target; quotient: ea − eb + bias = target.
        int eb = product ? target - ea + Float80.Bias : ea - target + Float80.Bias;
        if (eb < 0 || eb > 0x7FFE) return g.Value();
        ulong sig = g.Significand();
        if (eb == 0) sig >>= 1 + g.Rng.Below(63);
        return new Float80((ushort)((g.Sign() ? 0x8000 : 0) | eb), sig);
    }

    /// <summary>Raw single (8/23) or double (11/52) bits: zeros, denormals, infinities, NaNs and normals.</summary>
    static ulong BinaryBits(Rng r, int expBits, int fracBits)
    {
        ulong frac = r.Next64() & ((1UL << fracBits) - 1);
        if (r.Chance(1, 4)) frac >>= r.Below(fracBits);
        int maxExp = (1 << expBits) - 1;
        int e = r.Below(10) switch { 0 or 1 => 0, 2 => maxExp, 3 => 1, _ => r.Below(maxExp + 1) };
        ulong sign = r.Chance(1, 2) ? 1UL << (expBits + fracBits) : 0;
        return sign | ((ulong)e << fracBits) | frac;
    }

    /// <summary>Values whose exponent is near a memory format's underflow or overflow threshold, or in between.</summary>
    static Float80 AroundFormat(X87Operands g, int minExp, int maxExp, int fracBits)
    {
        var r = g.Rng;
        if (r.Chance(1, 8)) return g.Special();
        int e = r.Below(4) switch
        {
            0 => -minExp - fracBits - 3 + r.Below(fracBits + 8),
            1 => maxExp - 3 + r.Below(7),
            2 => -minExp - 3 + r.Below(6),
            _ => -minExp - fracBits - 70 + r.Below(minExp + maxExp + fracBits + 140),
        };
        return new Float80((ushort)((g.Sign() ? 0x8000 : 0) | Math.Clamp(e + Float80.Bias, 1, 0x7FFE)), g.Significand());
    }

    /// <summary>A value at or next to k·π/2 for a random k below 2^62: where argument reduction needs its extra bits.</summary>
    static Float80 NearHalfPiMultiple(X87Operands g)
    {
        var env = new FpuEnv(0x037F);
        var halfPi = new Float80(0x3FFF, 0xC90F_DAA2_2168_C235);
        var k = SoftFloat.FromInt((long)(g.Rng.Next64() >> (2 + g.Rng.Below(62))) | 1, ref env);
        var x = SoftFloat.Mul(halfPi, k, ref env);
        ulong sig = x.Significand + (ulong)(g.Rng.Below(5) - 2);
        return new Float80((ushort)(x.SignExponent | (g.Sign() ? 0x8000 : 0)), sig | Float80.IntegerBit);
    }

    static Float80 NearPowerOfTen(X87Operands g)
    {
        var env = new FpuEnv(0x037F);
        long v = 999_999_999_999_999_999 + g.Rng.Below(5) - 2;
        var f = SoftFloat.FromInt(v, ref env);
        ulong sig = f.Significand + (ulong)(g.Rng.Below(2001) - 1000);
        return new Float80((ushort)(f.SignExponent | (g.Sign() ? 0x8000 : 0)), sig | Float80.IntegerBit);
    }

    // ---- expectations ----

    /// <summary>What the host should have produced: the results, the status word and which results count.</summary>
    /// <summary>
    /// <paramref name="Approximate"/>: a transcendental result, which may differ from the host's by 1 ulp (then C1 is
    /// not compared). <paramref name="Swap"/>: R0 is the host's second result (FPTAN pushes 1.0 over the tangent).
    /// </summary>
    internal readonly record struct Expectation(Float80 R0, Float80 R1, ushort Status, bool CheckR0, bool CheckR1, ulong R0Mask = ulong.MaxValue,
                                                bool Approximate = false, bool Swap = false);

    static ushort StatusOf(in FpuEnv env) => (ushort)((ushort)env.Raised | (env.RoundedUp ? C1 : 0));

    internal static Expectation Expect(X87Op op, in X87Vector v)
    {
        var env = new FpuEnv(v.Control);
        Float80 a = v.A, b = v.B;
        switch (op)
        {
            case X87Op.Add: return Value(SoftFloat.Add(a, b, ref env), env);
            case X87Op.Sub: return Value(SoftFloat.Sub(a, b, ref env), env);
            case X87Op.Subr: return Value(SoftFloat.Sub(b, a, ref env), env);
            case X87Op.Mul: return Value(SoftFloat.Mul(a, b, ref env), env);
            case X87Op.Div: return Value(SoftFloat.Div(a, b, ref env), env);
            case X87Op.Divr: return Value(SoftFloat.Div(b, a, ref env), env);
            case X87Op.Sqrt: return Value(SoftFloat.Sqrt(a, ref env), env);
            case X87Op.Fild64: return Value(SoftFloat.FromInt((long)v.ASig, ref env), env);
            case X87Op.FldSingle: return Value(SoftFloat.FromSingle((uint)v.ASig, ref env), env);
            case X87Op.FldDouble: return Value(SoftFloat.FromDouble(v.ASig, ref env), env);
            case X87Op.Fbld: return Value(SoftFloat.FromBcd(v.ASig, v.AExp, ref env), env);
            case X87Op.Fist16: return Memory((ushort)SoftFloat.ToInt16(a, ref env), 0, env, 0xFFFF);
            case X87Op.Fist32: return Memory((uint)SoftFloat.ToInt32(a, ref env), 0, env, 0xFFFF_FFFF);
            case X87Op.Fist64: return Memory((ulong)SoftFloat.ToInt64(a, ref env), 0, env, ulong.MaxValue);
            case X87Op.FstSingle: return Memory(SoftFloat.ToSingle(a, ref env), 0, env, 0xFFFF_FFFF);
            case X87Op.FstDouble: return Memory(SoftFloat.ToDouble(a, ref env), 0, env, ulong.MaxValue);
            case X87Op.Fbstp:
            {
                ulong lo = SoftFloat.ToBcd(a, out ushort hi, ref env);
                return new Expectation(new Float80(hi, lo), default, StatusOf(env), true, false);
            }
            case X87Op.Fcom: return Condition(SoftFloat.Compare(a, b, false, ref env), env);
            case X87Op.Fucom: return Condition(SoftFloat.Compare(a, b, true, ref env), env);
            case X87Op.Ftst: return Condition(SoftFloat.Compare(a, Float80.Zero, false, ref env), env);
            case X87Op.Fxam: return new Expectation(default, default, SoftFloat.Examine(a), false, false);
            case X87Op.Frndint: return Value(SoftFloat.RoundToInteger(a, ref env), env);
            case X87Op.Fscale: return Value(SoftFloat.Scale(a, b, ref env), env);
            case X87Op.Fxtract:
            {
                var significand = SoftFloat.Extract(a, out var exponent, ref env);
                return new Expectation(significand, exponent, StatusOf(env), true, true);
            }
            case X87Op.Fprem or X87Op.Fprem1:
            {
                var rem = SoftFloat.PartialRemainder(a, b, op == X87Op.Fprem1, out ulong q, out bool incomplete, ref env);
                ushort cc = incomplete ? C2 : (ushort)(((q & 4) != 0 ? C0 : 0) | ((q & 2) != 0 ? C3 : 0) | ((q & 1) != 0 ? C1 : 0));
                return new Expectation(rem, default, (ushort)((ushort)env.Raised | cc), true, false);
            }
            case X87Op.Fsin or X87Op.Fcos or X87Op.Fsincos or X87Op.Fptan:
            {
                // |x| ≥ 2^63 (finite): C2 = 1 and the operand stays (the instruction handler's rule).
                if (a.Exponent >= Float80.Bias + 63 && a.Exponent != 0x7FFF && (a.Significand & Float80.IntegerBit) != 0)
                    return new Expectation(a, default, C2, true, false);
                if (op == X87Op.Fsin) return Approx(SoftFloat.Sin(a, ref env), env);
                if (op == X87Op.Fcos) return Approx(SoftFloat.Cos(a, ref env), env);
                if (op == X87Op.Fptan)
                {
                    // A NaN result (NaN or infinite operand) is pushed in place of the 1.0.
                    var tan = SoftFloat.Tan(a, ref env);
                    return Approx(tan, env) with { R1 = tan.IsNaN ? tan : Float80.One, Swap = true };
                }
                var sin = SoftFloat.SinCos(a, out var cos, ref env);
                return new Expectation(cos, sin, StatusOf(env), true, true, Approximate: true);
            }
            case X87Op.Fpatan: return Approx(SoftFloat.Atan(b, a, ref env), env);
            case X87Op.F2xm1: return Approx(SoftFloat.F2xm1(a, ref env), env);
            case X87Op.Fyl2x: return Approx(SoftFloat.Yl2x(b, a, ref env), env);
            case X87Op.Fyl2xp1: return Approx(SoftFloat.Yl2xp1(b, a, ref env), env);
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "not checked by this oracle yet");
        }
    }

    static Expectation Value(Float80 r, in FpuEnv env) => new(r, default, StatusOf(env), true, false);

    static Expectation Approx(Float80 r, in FpuEnv env) => new(r, default, StatusOf(env), true, false, Approximate: true);

    static Expectation Condition(FpuCompare c, in FpuEnv env) => new(default, default, (ushort)((ushort)env.Raised | c switch
    {
        FpuCompare.Greater => 0,
        FpuCompare.Less => C0,
        FpuCompare.Equal => C3,
        _ => C3 | C2 | C0,
    }), false, false);

    static Expectation Memory(ulong bits, ushort high, in FpuEnv env, ulong mask) =>
        new(new Float80(high, bits), default, StatusOf(env), true, false, mask);

    bool Matches(X87Op op, in X87Vector v, in Expectation e)
    {
        if (e.Approximate)
        {
            // FPTAN: host R0 = 1.0 pushed, R1 = tan; ours R0 = tan, R1 = 1.0. C1 is not compared: the host's comes from
            // its own ~68-bit result, which is on the wrong side of the rounding point when the true value is within a
            // few hundredths of an ulp of it (checked against a 120-digit reference: SoftFloat's C1 was right each time).
            Float80 h0 = e.Swap ? v.R1 : v.R0, h1 = e.Swap ? v.R0 : v.R1;
            const ushort mask = StatusMask & ~C1;
            if ((v.Status & mask) != (e.Status & mask)) return false;
            if (h0 == e.R0 && (!e.CheckR1 || h1 == e.R1) && (v.Status & C1) != (e.Status & C1)) HostC1Differences++;
            bool ok0 = CloseOrExplained(op, v.A, h0, e.R0, second: false);
            bool ok1 = !e.CheckR1 || CloseOrExplained(op, v.A, h1, e.R1, second: true);
            if (e.Swap && h1 != e.R1) return false;
            return ok0 && ok1;
        }
        if ((v.Status & StatusMask) != e.Status) return false;
        if (e.CheckR0)
        {
            if (e.R0Mask == ulong.MaxValue ? v.R0 != e.R0 : (v.R0Sig & e.R0Mask) != (e.R0.Significand & e.R0Mask)) return false;
        }
        if (e.CheckR1 && v.R1 != e.R1) return false;
        return true;
    }

    /// <summary>
    /// Within 1 ulp of the host; or, for the trigonometric functions, ours within 1 ulp of the true value and the
    /// host's within 2 ulps of its 66-bit-π reduction (<see cref="X87Reference"/>).
    /// </summary>
    bool CloseOrExplained(X87Op op, in Float80 x, in Float80 host, in Float80 ours, bool second)
    {
        if (WithinOneUlp(host, ours)) return true;
        if (op is not (X87Op.Fsin or X87Op.Fcos or X87Op.Fsincos or X87Op.Fptan)) return false;
        if (!X87Reference.Value(op, x, false, second, out var exact) || !X87Reference.Within(exact, ours, 1)) return false;
        if (!X87Reference.Value(op, x, true, second, out var model) || !X87Reference.Within(model, host, 2)) return false;
        HostReductionDeviations++;
        return true;
    }

    /// <summary>Transcendental vectors whose result matched but whose C1 did not (the host's C1 is not reliable there).</summary>
    public long HostC1Differences { get; private set; }
    /// <summary>Trigonometric results more than 1 ulp from ours, explained by the host's 66-bit π and ours within 1 ulp of the truth.</summary>
    public long HostReductionDeviations { get; private set; }

    /// <summary>Equal, or finite with the same sign and adjacent in the 64-bit-significand ordering.</summary>
    internal static bool WithinOneUlp(in Float80 x, in Float80 y)
    {
        if (x == y) return true;
        if (x.Sign != y.Sign || x.Exponent == 0x7FFF || y.Exponent == 0x7FFF) return false;
        UInt128 ox = Ordinal(x), oy = Ordinal(y);
        return (ox > oy ? ox - oy : oy - ox) <= 1;
    }

    static UInt128 Ordinal(in Float80 x) => x.Exponent == 0 ? x.Significand : ((UInt128)(uint)(x.Exponent - 1) << 63) + x.Significand;

    static string Describe(X87Op op, in X87Vector v, in Expectation e) =>
        $"{op} cw={v.Control:X4} a={v.A} b={v.B}: host r0={v.R0} r1={v.R1} sw={v.Status & StatusMask:X4}; " +
        $"ours r0={e.R0} r1={(e.CheckR1 ? e.R1.ToString() : "-")} sw={e.Status:X4}";
}
