using Iced.Intel;
using JitVm.Cpu;

namespace JitVm.HostOracle;

/// <summary>
/// Inputs for a form's vectors: every register, the flags and the memory window random, with a bias towards
/// edge values of the operand sizes (0, 1, sign boundaries, all ones), shift counts around the operand width and
/// the 5-bit mask, divides built to mostly fit (the rest are #DE vectors), CMPXCHG operands that often match,
/// BSF/BSR sources that are often 0 or one bit, BT* memory bit offsets that stay inside the window.
/// </summary>
public static class VectorGenerator
{
    /// <summary>EFLAGS bits the inputs may set: the six arithmetic flags; bit 1 and IF are always set (DF, TF, AC clear).</summary>
    public const uint FixedFlags = 0x202;

    static readonly Dictionary<int, uint[]> edges = new()
    {
        [8] = Edges(8),
        [16] = Edges(16),
        [32] = Edges(32),
    };

    static uint[] Edges(int bits)
    {
        uint mask = Operands.SizeMask(bits / 8), sign = 1u << (bits - 1);
        return [0, 1, 2, sign - 1, sign, sign + 1, mask, mask - 1, 0x55555555 & mask, 0xAAAAAAAA & mask, 0x0F0F0F0F & mask];
    }

    static readonly int[] CountEdges = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255];

    /// <summary>Fills <paramref name="records"/> with inputs for <paramref name="form"/>; divide vectors that must raise #DE get <see cref="VectorStatus.DivideError"/> and outputs equal to inputs.</summary>
    public static void Fill(OracleForm form, Rng rng, Span<VectorRecord> records)
    {
        var g = form.Guest;
        int[] sizes = OperandSizes(form);
        bool byCl = form.GuestSequence.Any(i => UsesClCount(i));
        // Two same-size register/memory operands (ALU, CMP, XADD...): often make them equal or adjacent, so
        // equality, borrow-free and sign-boundary outcomes are common (CMP followed by SETE/SETBE/SETLE).
        bool related = g.OpCount >= 2 && g.Op0Kind is OpKind.Register or OpKind.Memory && g.Op1Kind is OpKind.Register or OpKind.Memory
                       && Operands.Size(g, 0) == Operands.Size(g, 1) && !IsShift(g);
        bool divide = g.Mnemonic is Mnemonic.Div or Mnemonic.Idiv;
        bool bitStringOffset = g.Mnemonic is Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc
                               && g.Op0Kind == OpKind.Memory && g.Op1Kind == OpKind.Register;

        for (int n = 0; n < records.Length; n++)
        {
            ref var r = ref records[n];
            r = default;
            for (int i = 0; i < 8; i++)
                if (i != 4) r.InRegs[i] = Value(rng, sizes);
            for (int i = 0; i < 16; i += 4)
            {
                uint v = rng.Next32();
                for (int k = 0; k < 4; k++) r.InMem[i + k] = (byte)(v >> (8 * k));
            }
            if (rng.Chance(3, 8))
            {
                int bits = rng.Pick(sizes);
                Operands.WriteOperandMemory(ref r.InMem, bits / 8, rng.Pick(edges[bits]));
            }
            r.InFlags = (rng.Next32() & Processor.ArithFlags) | FixedFlags;

            if (byCl && rng.Chance(1, 2)) r.InRegs[1] = (r.InRegs[1] & ~0xFFu) | (uint)rng.Pick(CountEdges);
            if (related && rng.Chance(1, 6))
                WriteOperand(g, 1, ref r, Operands.ReadInput(g, 0, r) + (uint)(rng.Below(3) - 1));

            switch (g.Mnemonic)
            {
                case Mnemonic.Bsf or Mnemonic.Bsr:
                    if (rng.Chance(1, 6)) WriteOperand(g, 1, ref r, 0);
                    else if (rng.Chance(1, 5)) WriteOperand(g, 1, ref r, 1u << rng.Below(Operands.Size(g, 1) * 8));
                    break;
                case Mnemonic.Cmpxchg:
                    if (rng.Chance(1, 2))
                    {
                        int bytes = Operands.Size(g, 0);
                        var acc = bytes switch { 1 => Register.AL, 2 => Register.AX, _ => Register.EAX };
                        Operands.WriteRegister(ref r.InRegs, acc, Operands.ReadInput(g, 0, r));
                    }
                    break;
                case Mnemonic.Div or Mnemonic.Idiv:
                    if (rng.Chance(3, 4)) MakeDivisible(g, rng, ref r);
                    break;
            }
            if (bitStringOffset)
            {
                // Signed bit offsets -32..63 address the word/dword before the operand up to the one after it: all inside the window.
                int offset = rng.Below(96) - 32;
                Operands.WriteRegister(ref r.InRegs, g.Op1Register, (uint)offset);
            }

            if (divide && Divide.Faults(g, r))
            {
                r.Status = VectorStatus.DivideError;
                r.OutRegs = r.InRegs;
                r.OutFlags = r.InFlags;
                r.OutMem = r.InMem;
            }
        }
    }

    static uint Value(Rng rng, int[] sizes)
    {
        uint v = rng.Next32();
        if (rng.Chance(3, 8))
        {
            int bits = rng.Pick(sizes);
            uint mask = Operands.SizeMask(bits / 8);
            v = (v & ~mask) | rng.Pick(edges[bits]);
        }
        // Byte registers AH..BH: bits 8-15 get edge values too.
        if (sizes.Contains(8) && rng.Chance(3, 8)) v = (v & ~0xFF00u) | (rng.Pick(edges[8]) << 8);
        return v;
    }

    /// <summary>Distinct sizes in bits of the register and memory operands of the form's first instruction (smallest first), then of the others.</summary>
    static int[] OperandSizes(OracleForm form)
    {
        var first = new SortedSet<int>();
        var rest = new SortedSet<int>();
        for (int k = 0; k < form.GuestSequence.Count; k++)
        {
            var g = form.GuestSequence[k];
            for (int op = 0; op < g.OpCount; op++)
                if (g.GetOpKind(op) is OpKind.Register or OpKind.Memory && !(op > 0 && g.GetOpRegister(op) == Register.CL && IsShift(g)))
                    (k == 0 ? first : rest).Add(Operands.Size(g, op) * 8);
        }
        if (first.Count == 0) first.Add(Operands.OperandBits(form.Guest));
        return first.Concat(rest.Except(first)).ToArray();
    }

    static bool IsShift(in Instruction g) => g.Mnemonic is Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr
        or Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Shld or Mnemonic.Shrd;

    static bool UsesClCount(in Instruction g) =>
        IsShift(g) && g.GetOpKind(g.OpCount - 1) == OpKind.Register && g.GetOpRegister(g.OpCount - 1) == Register.CL;

    static void WriteOperand(in Instruction g, int op, ref VectorRecord r, uint value)
    {
        if (g.GetOpKind(op) == OpKind.Register) Operands.WriteRegister(ref r.InRegs, g.GetOpRegister(op), value);
        else Operands.WriteOperandMemory(ref r.InMem, g.MemorySize.GetSize(), value);
    }

    /// <summary>Chooses divisor, quotient and remainder so the quotient fits, and writes divisor and dividend.</summary>
    static void MakeDivisible(in Instruction g, Rng rng, ref VectorRecord r)
    {
        int bits = Operands.OperandBits(g);
        uint mask = Operands.SizeMask(bits / 8);
        uint[] e = edges[bits];
        uint d = (rng.Chance(1, 3) ? rng.Pick(e) : rng.Next32()) & mask;
        if (d == 0) d = 1;
        uint q = (rng.Chance(1, 3) ? rng.Pick(e) : rng.Next32()) & mask;
        Int128 dividend;
        if (g.Mnemonic == Mnemonic.Div)
        {
            ulong rem = rng.Next64() % d;
            dividend = (Int128)((ulong)q * d + rem);
        }
        else
        {
            long sd = SignExtend(d, bits), sq = SignExtend(q, bits);
            long prod = sq * sd;
            long magnitude = (long)(rng.Next64() % (ulong)Math.Abs(sd));
            long rem = prod > 0 || (prod == 0 && rng.Chance(1, 2)) ? magnitude : -magnitude;
            dividend = prod + rem;
        }
        WriteOperand(g, 0, ref r, d);
        ulong n = (ulong)(dividend & (((Int128)1 << (2 * bits)) - 1));
        switch (bits)
        {
            case 8:
                Operands.WriteRegister(ref r.InRegs, Register.AX, (uint)n);
                break;
            case 16:
                Operands.WriteRegister(ref r.InRegs, Register.AX, (uint)n);
                Operands.WriteRegister(ref r.InRegs, Register.DX, (uint)(n >> 16));
                break;
            default:
                r.InRegs[0] = (uint)n;
                r.InRegs[2] = (uint)(n >> 32);
                break;
        }
    }

    internal static long SignExtend(uint v, int bits) => bits switch { 8 => (sbyte)v, 16 => (short)v, _ => (int)v };
}

/// <summary>The SDM's #DE rule for DIV and IDIV, computed exactly (the host would raise SIGFPE, so faulting vectors are never run natively).</summary>
public static class Divide
{
    /// <summary>
    /// DIV: "If the quotient is too large for the designated register, or the source operand is 0, #DE".
    /// IDIV: the same, with a signed quotient that must fit in [-2^(n-1), 2^(n-1)-1] (so -128, -32768 and -2^31 are delivered).
    /// </summary>
    public static bool Faults(in Instruction g, in VectorRecord r)
    {
        int bits = Operands.OperandBits(g);
        uint d = Operands.ReadInput(g, 0, r);
        if (d == 0) return true;
        ulong dividend = bits switch
        {
            8 => r.InRegs[0] & 0xFFFF,
            16 => ((r.InRegs[2] & 0xFFFF) << 16) | (r.InRegs[0] & 0xFFFF),
            _ => ((ulong)r.InRegs[2] << 32) | r.InRegs[0],
        };
        if (g.Mnemonic == Mnemonic.Div) return dividend / d > Operands.SizeMask(bits / 8);
        Int128 n = bits == 32 ? (long)dividend : VectorGenerator.SignExtend((uint)dividend, bits * 2);
        Int128 q = n / VectorGenerator.SignExtend(d, bits);
        return q < -((Int128)1 << (bits - 1)) || q > ((Int128)1 << (bits - 1)) - 1;
    }
}
