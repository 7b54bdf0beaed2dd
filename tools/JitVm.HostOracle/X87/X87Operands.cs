using JitVm.Cpu.Fpu;

namespace JitVm.HostOracle.X87;

/// <summary>
/// Random x87 operands biased to where implementations go wrong: exponents at the ends of the range and around
/// each other, denormals and pseudo-denormals, zeros, infinities, NaNs with payloads, unsupported encodings, and
/// significands whose low bits sit at or next to the rounding points of 24, 53 and 64 bits.
/// </summary>
public sealed class X87Operands(Rng rng)
{
    public Rng Rng { get; } = rng;

    static readonly int[] RoundingPoints = [24, 53, 64];

    /// <summary>A random control word with every exception masked: RC and PC random.</summary>
    public ushort ControlWord() => (ushort)(0x007F | (Rng.Below(4) << 8) | (Rng.Below(4) << 10));

    /// <summary>A 64-bit significand with bit 63 set, patterned.</summary>
    public ulong Significand()
    {
        ulong s;
        switch (Rng.Below(8))
        {
            case 0: s = Rng.Next64(); break;
            case 1: s = Rng.Next64(); break;
            case 2: // sparse
                s = 0;
                for (int i = Rng.Below(4); i >= 0; i--) s |= 1UL << Rng.Below(64);
                break;
            case 3: // dense
                s = ~0UL;
                for (int i = Rng.Below(4); i >= 0; i--) s &= ~(1UL << Rng.Below(64));
                break;
            case 4: // a rounding point with a half-ulp pattern below it
            {
                int p = Rng.Pick(RoundingPoints);
                s = Rng.Next64();
                if (p < 64)
                {
                    ulong below = (1UL << (64 - p)) - 1, half = 1UL << (63 - p);
                    s &= ~below;
                    s |= Rng.Below(5) switch { 0 => half, 1 => half - 1, 2 => half + 1, 3 => below, _ => 0 };
                }
                else s = Rng.Chance(1, 2) ? s | 1 : s & ~1UL;
                break;
            }
            case 5: // few significant bits (exact small integers after scaling)
                s = Rng.Next64() << (64 - 1 - Rng.Below(30));
                break;
            case 6: // runs
            {
                int from = Rng.Below(64), len = Rng.Below(64);
                s = len == 0 ? 0 : (~0UL >> (64 - len)) << from;
                s ^= Rng.Chance(1, 2) ? 0 : Rng.Next64() & 0xFFFF;
                break;
            }
            default: s = 1UL << 63; break;
        }
        return s | Float80.IntegerBit;
    }

    /// <summary>A biased exponent for a normal number.</summary>
    public int Exponent()
    {
        return Rng.Below(10) switch
        {
            < 4 => Float80.Bias - 70 + Rng.Below(141),
            4 => 1 + Rng.Below(140),
            5 => 0x7FFE - Rng.Below(70),
            6 => 1 + Rng.Below(0x7FFE),
            7 => Float80.Bias - 20 + Rng.Below(41),
            _ => Float80.Bias - 5 + Rng.Below(11),
        };
    }

    public bool Sign() => Rng.Chance(1, 2);

    static ushort SE(bool sign, int exp) => (ushort)((sign ? 0x8000 : 0) | exp);

    /// <summary>A special encoding: zero, denormal, pseudo-denormal, infinity, NaN or unsupported.</summary>
    public Float80 Special()
    {
        bool s = Sign();
        return Rng.Below(12) switch
        {
            0 or 1 => new Float80(SE(s, 0), 0),
            2 or 3 => new Float80(SE(s, 0), Significand() >> (1 + Rng.Below(63))),
            4 => new Float80(SE(s, 0), Significand()),
            5 => new Float80(SE(s, 0x7FFF), Float80.IntegerBit),
            6 => new Float80(SE(s, 0x7FFF), Float80.IntegerBit | (1UL << 62) | (Rng.Chance(1, 3) ? 0 : Rng.Next64() >> 2)),
            7 => new Float80(SE(s, 0x7FFF), Float80.IntegerBit | Math.Max(1, Rng.Next64() >> (2 + Rng.Below(60)))),
            8 => Float80.Indefinite,
            9 => new Float80(SE(s, 0x7FFF), Rng.Next64() >> 1),                       // pseudo-NaN / pseudo-infinity
            10 => new Float80(SE(s, 1 + Rng.Below(0x7FFE)), Rng.Next64() >> 1),       // unnormal
            _ => new Float80(SE(s, 0), 1UL << Rng.Below(64)),
        };
    }

    /// <summary>An operand: mostly finite normal numbers, <paramref name="specialPercent"/>% special encodings.</summary>
    public Float80 Value(int specialPercent = 20)
    {
        if (Rng.Below(100) < specialPercent) return Special();
        return new Float80(SE(Sign(), Exponent()), Significand());
    }

    /// <summary>A second operand near <paramref name="a"/>: same or close exponent, the gap of a rounding width, or a close significand.</summary>
    public Float80 Near(in Float80 a, int specialPercent = 15)
    {
        if (Rng.Below(100) < specialPercent) return Special();
        int ea = a.Exponent == 0 ? 1 : a.Exponent == 0x7FFF ? Float80.Bias : a.Exponent;
        int d = Rng.Below(6) switch
        {
            0 => 0,
            1 => Rng.Below(5) - 2,
            2 => (Rng.Chance(1, 2) ? 1 : -1) * (Rng.Pick(RoundingPoints) + Rng.Below(5) - 2),
            3 => Rng.Below(141) - 70,
            4 => (Rng.Chance(1, 2) ? 1 : -1) * (125 + Rng.Below(10)),
            _ => Rng.Below(2001) - 1000,
        };
        int e = Math.Clamp(ea + d, 0, 0x7FFE);
        ulong sig = Rng.Below(3) switch
        {
            0 => a.Significand ^ (Rng.Next64() >> (30 + Rng.Below(34))),
            1 => a.Significand + (ulong)(Rng.Below(9) - 4),
            _ => Significand(),
        };
        if (e == 0) return new Float80(SE(Sign(), 0), sig >> Rng.Below(64));
        return new Float80(SE(Sign(), e), sig | Float80.IntegerBit);
    }

    /// <summary>A value whose exponent is within <paramref name="below"/>..<paramref name="above"/> of 2^0 (unbiased), for conversions.</summary>
    public Float80 Around(int below, int above, int specialPercent = 10)
    {
        if (Rng.Below(100) < specialPercent) return Special();
        int e = Float80.Bias + below + Rng.Below(above - below + 1);
        return new Float80(SE(Sign(), Math.Clamp(e, 1, 0x7FFE)), Significand());
    }
}
