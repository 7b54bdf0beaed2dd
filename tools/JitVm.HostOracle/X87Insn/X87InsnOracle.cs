using JitVm.Cpu;
using JitVm.Cpu.Fpu;
using JitVm.HostOracle.X87;

namespace JitVm.HostOracle.X87Insn;

/// <summary>
/// The instruction-level x87 differential: random FPU states (stack depth and TOP, tags, register contents from every
/// class of encoding, control words with some exceptions unmasked, RC and PC), operands and EFLAGS for each form, run
/// on the host CPU and through the interpreter, compared on the control word, the status word (TOP, flags, ES, B, the
/// condition codes the SDM defines), the tags, all eight registers, EFLAGS and the memory window.
/// </summary>
public sealed class X87InsnOracle(X87InsnNative native, X87InsnHarness harness, int maxReports = 30)
{
    const int Batch = 512;

    readonly List<string> reports = [];

    public IReadOnlyList<X87InsnForm> Forms { get; } = X87InsnForm.All;
    public IReadOnlyList<string> Reports => reports;
    public long Mismatches { get; private set; }
    public long Vectors { get; private set; }
    /// <summary>Per status bit (0-15), how many host results had it set: what the vectors covered.</summary>
    public long[] StatusBitCounts { get; } = new long[16];

    /// <summary>Runs <paramref name="perForm"/> vectors of every form (or of those <paramref name="include"/> accepts); returns the mismatches.</summary>
    public long Run(int perForm, ulong seed, Func<X87InsnForm, bool>? include = null)
    {
        var records = new X87InsnRecord[Batch];
        for (int f = 0; f < Forms.Count; f++)
        {
            var form = Forms[f];
            if (include is not null && !include(form)) continue;
            var rng = new Rng(seed ^ Rng.Hash(form.Name));
            for (int done = 0; done < perForm; done += Batch)
            {
                var span = records.AsSpan(0, Math.Min(Batch, perForm - done));
                for (int i = 0; i < span.Length; i++) Generate(form, rng, ref span[i]);
                native.Execute(f, span);
                for (int i = 0; i < span.Length; i++) Check(f, ref span[i]);
            }
        }
        return Mismatches;
    }

    // ---------------------------------------------------------------- inputs

    static readonly ushort[] Masks = [0x3F, 0x3F, 0x3F, 0x3E, 0x3B, 0x37, 0x2F, 0x1F, 0x3D, 0x00];

    unsafe void Generate(X87InsnForm form, Rng rng, ref X87InsnRecord r)
    {
        fixed (byte* p = r.InImage, m = r.InMem)
        {
            var image = new Span<byte>(p, X87InsnRecord.ImageSize);
            image.Clear();
            // Control: masks (mostly all, sometimes one or all unmasked), RC, PC (not the reserved 01), bit 6 set.
            ushort masks = rng.Pick(Masks);
            int pc = rng.Pick(new[] { 3, 3, 2, 0 });
            ushort fcw = (ushort)(masks | 0x40 | pc << 8 | rng.Below(4) << 10);
            // Transcendentals: precision is not compared, so it must not decide whether an exception is pending.
            if (form.Approximate) fcw |= (ushort)FpuExceptions.Precision;
            // Status: TOP, condition codes, and only flags whose exception is masked (nothing may be pending).
            int top = rng.Below(8);
            uint flags = rng.Chance(1, 4) ? rng.Next32() & 0x7F & (masks | 0x40u) : 0;
            if ((flags & 1) == 0) flags &= 0x3F;                   // SF only together with IE
            ushort fsw = (ushort)(flags | (rng.Next32() & 0x4700) | (uint)top << 11);
            byte valid = rng.Below(10) switch
            {
                < 4 => 0xFF,
                < 8 => StackOfDepth(top, rng.Below(9)),
                _ => (byte)rng.Next32(),
            };
            X87InsnRecord.SetWords(image, fcw, fsw, valid);
            for (int k = 0; k < 8; k++) X87InsnRecord.SetSt(image, k, RandomFloat80(rng));
            if (form.Guest.Code == Iced.Intel.Code.Fscale && rng.Chance(1, 3)) ScaleToAnEdge(rng, image);
            var window = new Span<byte>(m, 16);
            for (int k = 0; k < 16; k++) window[k] = (byte)rng.Next32();
            WriteOperand(form.Operand, rng, window);
        }
        // CF, PF, ZF in every combination; AF, SF, OF random (FCOMI must clear them).
        r.InFlags = rng.Next32() & Processor.ArithFlags;
    }

    /// <summary>Biased exponents FSCALE is aimed at: the ends of the extended range and of the unmasked responses' rebiased range.</summary>
    static readonly int[] ScaleEdges = [Float80.MaxExponent - 1, Float80.MaxExponent - 1 + Rebias, 1, 1 - 64, 1 - Rebias];

    /// <summary>The unmasked overflow and underflow responses' exponent adjustment (SDM vol. 1 §8.5.4, §8.5.5).</summary>
    const int Rebias = 24576;

    /// <summary>
    /// FSCALE: ST(1) becomes the scale (an integer k, or k ± ½ so that truncation matters) that takes ST(0) to one
    /// of <see cref="ScaleEdges"/>, give or take two: overflow and underflow, masked and unmasked, at and past the rebias.
    /// </summary>
    static void ScaleToAnEdge(Rng rng, Span<byte> image)
    {
        var a = X87InsnRecord.St(image, 0);
        int ea = a.Exponent == 0 ? 1 : a.Exponent;
        long k = rng.Pick(ScaleEdges) + rng.Below(5) - 2 - ea;
        var env = new FpuEnv(0x037F);
        var scale = SoftFloat.FromInt(k, ref env);
        if (rng.Chance(1, 3)) scale = SoftFloat.Add(scale, new Float80((ushort)(k < 0 ? 0x8000 | (Float80.Bias - 1) : Float80.Bias - 1), Float80.IntegerBit), ref env);
        X87InsnRecord.SetSt(image, 1, scale);
    }

    /// <summary>Tags for a stack holding <paramref name="depth"/> values from <paramref name="top"/> up.</summary>
    static byte StackOfDepth(int top, int depth)
    {
        int v = 0;
        for (int k = 0; k < depth; k++) v |= 1 << ((top + k) & 7);
        return (byte)v;
    }

    static Float80 RandomFloat80(Rng rng)
    {
        ushort sign = (ushort)(rng.Chance(1, 2) ? 0x8000 : 0);
        ulong sig = rng.Next64();
        switch (rng.Below(20))
        {
            case 0: return new Float80(sign, 0);
            case 1: return new Float80(sign, sig >> rng.Below(64) & ~Float80.IntegerBit);                       // denormal
            case 2: return new Float80((ushort)(sign | 0x7FFF), Float80.IntegerBit);                           // infinity
            case 3: return new Float80((ushort)(sign | 0x7FFF), sig | 0xC000_0000_0000_0000);                 // QNaN
            case 4: return new Float80((ushort)(sign | 0x7FFF), (sig & 0x3FFF_FFFF_FFFF_FFFF | 1) | Float80.IntegerBit); // SNaN
            case 5: return Float80.Indefinite;
            case 6:                                                                                           // the unsupported and pseudo-denormal encodings
                return rng.Below(3) switch
                {
                    0 => new Float80(sign, sig | Float80.IntegerBit),
                    1 => new Float80((ushort)(sign | (1 + rng.Below(0x7FFE))), sig & ~Float80.IntegerBit),
                    _ => new Float80((ushort)(sign | 0x7FFF), sig & ~Float80.IntegerBit),
                };
            case 7: return new Float80((ushort)(sign | (rng.Chance(1, 2) ? 1 + rng.Below(80) : 0x7FFE - rng.Below(80))), sig | Float80.IntegerBit);
            case 8:
            case 9:                                                                                           // integers (conversions, FRNDINT, FPREM)
            {
                int e = rng.Below(66);
                ulong s = (sig | Float80.IntegerBit) & ~(e >= 63 ? 0 : (1UL << (63 - e)) - 1);
                return new Float80((ushort)(sign | (Float80.Bias + e)), s);
            }
            case 10:                                                                                          // halves and near-integers
            {
                int e = rng.Below(64);
                ulong s = (sig | Float80.IntegerBit) & ~(e >= 62 ? 0 : (1UL << (62 - e)) - 1);
                return new Float80((ushort)(sign | (Float80.Bias + e)), s);
            }
            case 11:                                                                                          // single/double precision values
            {
                ulong s = (sig | Float80.IntegerBit) & (rng.Chance(1, 2) ? 0xFFFF_FF00_0000_0000 : 0xFFFF_FFFF_FFFF_F800);
                return new Float80((ushort)(sign | (Float80.Bias - 150 + rng.Below(300))), s);
            }
            case 12:                                                                                          // the edges of the single and double ranges
            {
                int[] edges = [Float80.Bias - 126, Float80.Bias - 149, Float80.Bias + 127, Float80.Bias - 1022, Float80.Bias - 1074, Float80.Bias + 1023];
                return new Float80((ushort)(sign | (rng.Pick(edges) + rng.Below(5) - 2)), sig | Float80.IntegerBit);
            }
            default: return new Float80((ushort)(sign | (Float80.Bias - 40 + rng.Below(80))), sig | Float80.IntegerBit);
        }
    }

    static void WriteOperand(X87Operand kind, Rng rng, Span<byte> window)
    {
        switch (kind)
        {
            case X87Operand.Float32: BitConverter.TryWriteBytes(window, RandomSingle(rng)); break;
            case X87Operand.Float64: BitConverter.TryWriteBytes(window, RandomDouble(rng)); break;
            case X87Operand.Float80:
            {
                var v = RandomFloat80(rng);
                BitConverter.TryWriteBytes(window, v.Significand);
                BitConverter.TryWriteBytes(window[8..], v.SignExponent);
                break;
            }
            case X87Operand.Int16: BitConverter.TryWriteBytes(window, (short)RandomInteger(rng, 16)); break;
            case X87Operand.Int32: BitConverter.TryWriteBytes(window, (int)RandomInteger(rng, 32)); break;
            case X87Operand.Int64: BitConverter.TryWriteBytes(window, RandomInteger(rng, 64)); break;
            case X87Operand.Bcd:
            {
                int digits = rng.Below(19);
                ulong bcd = 0;
                for (int k = 0; k < Math.Min(digits, 16); k++) bcd |= (ulong)rng.Below(10) << (4 * k);
                BitConverter.TryWriteBytes(window, bcd);
                window[8] = (byte)(digits > 16 ? rng.Below(10) | (digits > 17 ? rng.Below(10) << 4 : 0) : 0);
                window[9] = (byte)(rng.Chance(1, 2) ? 0x80 : 0);
                break;
            }
        }
    }

    static uint RandomSingle(Rng rng)
    {
        uint sign = rng.Chance(1, 2) ? 0x8000_0000u : 0, frac = rng.Next32() & 0x7F_FFFF;
        return sign | rng.Below(8) switch
        {
            0 => 0u,
            1 => frac,                                               // denormal
            2 => 0x7F80_0000u,                                       // infinity
            3 => 0x7FC0_0000u | frac,                                // QNaN
            4 => 0x7F80_0000u | (frac & 0x3F_FFFF | 1),              // SNaN
            5 => (uint)(127 + rng.Below(31)) << 23 | (frac & (0x7F_FFFFu << rng.Below(23))),   // integer-ish
            _ => (uint)(1 + rng.Below(254)) << 23 | frac,
        };
    }

    static ulong RandomDouble(Rng rng)
    {
        ulong sign = rng.Chance(1, 2) ? 0x8000_0000_0000_0000 : 0, frac = rng.Next64() & 0xF_FFFF_FFFF_FFFF;
        return sign | rng.Below(8) switch
        {
            0 => 0UL,
            1 => frac,
            2 => 0x7FF0_0000_0000_0000UL,
            3 => 0x7FF8_0000_0000_0000UL | frac,
            4 => 0x7FF0_0000_0000_0000UL | (frac & 0x7_FFFF_FFFF_FFFF | 1),
            5 => (ulong)(1023 + rng.Below(64)) << 52 | (frac & (0xF_FFFF_FFFF_FFFFUL << rng.Below(52))),
            _ => (ulong)(1 + rng.Below(2046)) << 52 | frac,
        };
    }

    static long RandomInteger(Rng rng, int bits)
    {
        long min = bits == 64 ? long.MinValue : -(1L << (bits - 1)), max = bits == 64 ? long.MaxValue : (1L << (bits - 1)) - 1;
        return rng.Below(6) switch
        {
            0 => rng.Pick(new[] { 0L, 1L, -1L, min, max, min + 1, max - 1 }),
            1 => rng.Below(2001) - 1000,
            _ => (long)(rng.Next64() << (64 - bits)) >> (64 - bits) >> rng.Below(bits),
        };
    }

    // ---------------------------------------------------------------- comparison

    /// <summary>
    /// Transcendental results that are both finite and nonzero: the host's values are not correctly rounded, so these
    /// are compared within 1 ulp (<see cref="ValuesAgree"/>). NaNs, infinities and zeros must match exactly.
    /// </summary>
    static bool BothFiniteNonzero(Float80 a, Float80 b) =>
        a.Exponent != Float80.MaxExponent && b.Exponent != Float80.MaxExponent && !a.IsZero && !b.IsZero;

    /// <summary>
    /// Two different finite nonzero transcendental results that still agree: within 1 ulp (as the soft-float oracle
    /// requires); any values for the trigonometric forms, whose host argument reduction (66-bit π) is far off for large
    /// operands (the soft-float oracle judges those against a reference), and for operands the SDM leaves undefined.
    /// </summary>
    static bool ValuesAgree(X87InsnForm form, bool undefinedDomain, Float80 host, Float80 ours) =>
        undefinedDomain || form.Guest.Code is Iced.Intel.Code.Fsin or Iced.Intel.Code.Fcos or Iced.Intel.Code.Fsincos or Iced.Intel.Code.Fptan ||
        X87Oracle.WithinOneUlp(host, ours);

    /// <summary>
    /// Operands the SDM leaves undefined: F2XM1 beyond ±1, FYL2XP1 with |ST(0)| ≥ 1 − √2/2 (finite values only: what
    /// the special operands give, there too, must match).
    /// </summary>
    static bool OutsideDomain(X87InsnForm form, ReadOnlySpan<byte> input)
    {
        var x = X87InsnRecord.St(input, 0);
        if (x.Exponent == 0 || x.Exponent == Float80.MaxExponent) return false;
        int e = x.Exponent - Float80.Bias;
        return form.Guest.Code switch
        {
            Iced.Intel.Code.F2xm1 => e >= 0 && !(e == 0 && x.Significand == Float80.IntegerBit),
            Iced.Intel.Code.Fyl2xp1 => e >= -1 || e == -2 && x.Significand >= 0x95F6_1998_0C43_36F7,
            _ => false,
        };
    }

    unsafe void Check(int f, ref X87InsnRecord r)
    {
        Vectors++;
        var form = Forms[f];
        var host = r;
        bool ran = harness.Run(f, ref r);
        byte* hi = host.OutImage, hm = host.OutMem;
        fixed (byte* gi = r.OutImage, gm = r.OutMem)
        {
            var h = new ReadOnlySpan<byte>(hi, X87InsnRecord.ImageSize);
            var g = new ReadOnlySpan<byte>(gi, X87InsnRecord.ImageSize);
            ushort hsw = X87InsnRecord.Fsw(h), gsw = X87InsnRecord.Fsw(g);
            for (int bit = 0; bit < 16; bit++) StatusBitCounts[bit] += (hsw >> bit) & 1;
            ushort conditions = form.DefinedConditions;
            // FPREM: the quotient bits are only defined once the reduction is complete and valid.
            if (form.PartialRemainder && (hsw & (X87InsnForm.C2 | 1)) != 0) conditions = (ushort)(conditions & X87InsnForm.C2);
            ushort swMask = (ushort)(~X87InsnForm.AllConditions | conditions);
            if (form.Approximate) swMask &= unchecked((ushort)~(X87InsnForm.C1 | (ushort)FpuExceptions.Precision));
            var diffs = new List<string>();
            if (!ran) diffs.Add("the interpreter raised an exception");
            if (X87InsnRecord.Fcw(h) != X87InsnRecord.Fcw(g)) diffs.Add($"FCW {X87InsnRecord.Fcw(h):X4} vs {X87InsnRecord.Fcw(g):X4}");
            if (((hsw ^ gsw) & swMask) != 0) diffs.Add($"FSW {hsw:X4} vs {gsw:X4} (compared {swMask:X4})");
            if (X87InsnRecord.Ftw(h) != X87InsnRecord.Ftw(g)) diffs.Add($"tags {X87InsnRecord.Ftw(h):X2} vs {X87InsnRecord.Ftw(g):X2}");
            bool undefinedDomain;
            fixed (byte* ii = r.InImage) undefinedDomain = form.Approximate && OutsideDomain(form, new ReadOnlySpan<byte>(ii, X87InsnRecord.ImageSize));
            for (int k = 0; k < 8; k++)
            {
                var hv = X87InsnRecord.St(h, k);
                var gv = X87InsnRecord.St(g, k);
                if (hv != gv && !(form.Approximate && BothFiniteNonzero(hv, gv) && ValuesAgree(form, undefinedDomain, hv, gv)))
                    diffs.Add($"ST({k}) {hv} vs {gv}");
            }
            if (((host.OutFlags ^ r.OutFlags) & Processor.ArithFlags) != 0) diffs.Add($"EFLAGS {host.OutFlags & Processor.ArithFlags:X3} vs {r.OutFlags & Processor.ArithFlags:X3}");
            if (!new ReadOnlySpan<byte>(hm, 16).SequenceEqual(new ReadOnlySpan<byte>(gm, 16)))
                diffs.Add($"memory {Convert.ToHexString(new ReadOnlySpan<byte>(hm, 16))} vs {Convert.ToHexString(new ReadOnlySpan<byte>(gm, 16))}");
            if (diffs.Count == 0) return;
            Mismatches++;
            if (reports.Count >= maxReports) return;
            fixed (byte* ii = r.InImage, im = r.InMem)
            {
                var input = new ReadOnlySpan<byte>(ii, X87InsnRecord.ImageSize);
                var regs = new System.Text.StringBuilder();
                for (int k = 0; k < 8; k++) regs.Append(k == 0 ? "" : " ").Append(X87InsnRecord.St(input, k));
                reports.Add($"{form.Name}: in FCW {X87InsnRecord.Fcw(input):X4} FSW {X87InsnRecord.Fsw(input):X4} tags {X87InsnRecord.Ftw(input):X2} " +
                            $"EFLAGS {r.InFlags:X3} ST {regs} mem {Convert.ToHexString(new ReadOnlySpan<byte>(im, 16))}\n    host vs interpreter: {string.Join("; ", diffs)}");
            }
        }
    }
}
