using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>Where a shift or rotate takes its count from: the constant 1 (D0/D1), an imm8 (C0/C1) or CL (D2/D3).</summary>
internal interface IShiftCount
{
    static abstract uint Get(Processor c, ref Insn i);
}

internal struct CountOne : IShiftCount
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Get(Processor c, ref Insn i) => 1;
}

internal struct CountImm : IShiftCount
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Get(Processor c, ref Insn i) => i.Imm;
}

internal struct CountCl : IShiftCount
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Get(Processor c, ref Insn i) => c.Reg8(Processor.ECX);
}

/// <summary>
/// One shift or rotate by a count already masked to 1..31: returns the result (masked to the operand size) and
/// the six arithmetic flags the instruction leaves.
/// </summary>
/// <remarks>
/// The 286 and later run a multi-bit shift as repeated 1-bit steps, so CF is the last bit moved out and OF is the
/// count-1 formula of the last step; the closed forms below give the same CF/OF for every count 1..31 (checked
/// against the 80286 vectors, whose C0 file does not mask OF). The SDM leaves OF undefined for counts above 1;
/// the 386+ models use the same rule.
/// </remarks>
internal interface IShiftOp
{
    static abstract uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize;
}

internal struct RolOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        int w = S.Bytes * 8, k = (int)n & (w - 1);
        uint r = k == 0 ? d : ((d << k) | (d >> (w - k))) & S.Mask;
        uint cf = r & 1;                                            // CF = the bit that wrapped into bit 0
        uint of = ((r >> (w - 1)) ^ cf) & 1;                        // OF = MSB(result) ^ CF
        flags = RotateFlags(c, cf, of);
        return r;
    }

    /// <summary>Rotates change only CF and OF; the other four keep their (possibly lazy) values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint RotateFlags(Processor c, uint cf, uint of) =>
        (c.ComputeArith() & ~(Processor.FlagCF | Processor.FlagOF)) | cf | (of << 11);
}

internal struct RorOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        int w = S.Bytes * 8, k = (int)n & (w - 1);
        uint r = k == 0 ? d : ((d >> k) | (d << (w - k))) & S.Mask;
        uint cf = r >> (w - 1);                                     // CF = the bit that wrapped into the MSB
        uint of = ((r >> (w - 1)) ^ (r >> (w - 2))) & 1;            // OF = MSB(result) ^ MSB-1(result)
        flags = RolOp.RotateFlags(c, cf, of);
        return r;
    }
}

internal struct RclOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        // CF:dest is a (w+1)-bit ring; bytes rotate by count mod 9, words by count mod 17, dwords by count.
        int w = S.Bytes * 8;
        int k = S.Bytes == 4 ? (int)n : (int)(n % (uint)(w + 1));
        ulong ring = ((ulong)c.CarryFlag() << w) | d, ringMask = (1UL << (w + 1)) - 1;
        ring = ((ring << k) | (ring >> (w + 1 - k))) & ringMask;
        uint r = (uint)ring & S.Mask;
        uint cf = (uint)(ring >> w) & 1;                            // CF = bit w of the ring
        uint of = ((r >> (w - 1)) ^ cf) & 1;                        // OF = MSB(result) ^ CF
        flags = RolOp.RotateFlags(c, cf, of);
        return r;
    }
}

internal struct RcrOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        int w = S.Bytes * 8;
        int k = S.Bytes == 4 ? (int)n : (int)(n % (uint)(w + 1));
        ulong ring = ((ulong)c.CarryFlag() << w) | d, ringMask = (1UL << (w + 1)) - 1;
        ring = ((ring >> k) | (ring << (w + 1 - k))) & ringMask;
        uint r = (uint)ring & S.Mask;
        uint cf = (uint)(ring >> w) & 1;                            // CF = bit w of the ring
        uint of = ((r >> (w - 1)) ^ (r >> (w - 2))) & 1;            // OF = MSB(result) ^ MSB-1(result) (= old MSB ^ old CF of the last step)
        flags = RolOp.RotateFlags(c, cf, of);
        return r;
    }
}

internal struct ShlOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        int w = S.Bytes * 8;
        ulong wide = (ulong)d << (int)n;
        uint r = (uint)wide & S.Mask;
        uint cf = (uint)(wide >> w) & 1;                            // CF = last bit out of the top (0 once count > width)
        uint of = ((r >> (w - 1)) ^ cf) & 1;                        // OF = MSB(result) ^ CF
        // AF (undefined): the 80286 leaves bit 4 of the result there; the 386+ models clear it.
        uint af = c.Model.Is286 ? r & Processor.FlagAF : 0;
        flags = Processor.SzpFlags(r, S.Sign) | cf | (of << 11) | af;
        return r;
    }
}

internal struct ShrOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        int w = S.Bytes * 8;
        uint r = d >> (int)n;
        uint cf = (d >> (int)(n - 1)) & 1;                          // CF = last bit out of the bottom
        uint of = (d >> (int)(n - 1)) >> (w - 1);                   // OF = MSB before the last step (MSB(dest) for count 1, else 0)
        // AF (undefined): the 80286 sets it; the 386+ models clear it.
        uint af = c.Model.Is286 ? Processor.FlagAF : 0;
        flags = Processor.SzpFlags(r, S.Sign) | cf | (of << 11) | af;
        return r;
    }
}

internal struct SarOp : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Apply<S>(Processor c, uint d, uint n, out uint flags) where S : IOperandSize
    {
        int sd = S.SignExtend(d);
        uint r = (uint)(sd >> (int)n) & S.Mask;                     // counts past the width fill with the sign
        uint cf = (uint)(sd >> (int)(n - 1)) & 1;                   // CF = last bit out of the bottom
        // OF = 0 (the sign never changes). AF (undefined): the 80286 sets it; the 386+ models clear it.
        uint af = c.Model.Is286 ? Processor.FlagAF : 0;
        flags = Processor.SzpFlags(r, S.Sign) | cf | af;
        return r;
    }
}

/// <summary>ROL ROR RCL RCR SHL/SAL SHR SAR (by 1, CL, imm8) and SHLD SHRD.</summary>
/// <remarks>
/// The count is masked to 5 bits (286 and later). A masked count of 0 changes nothing, flags included; the
/// memory operand is still read, so its faults are still raised.
/// </remarks>
internal static unsafe class ShiftRotate
{
    static void R<Op, S, N>(Processor c, ref Insn i) where Op : IShiftOp where S : IOperandSize where N : IShiftCount
    {
        uint n = N.Get(c, ref i) & 31;
        if (n == 0) return;
        uint r = Op.Apply<S>(c, S.GetReg(c, i.R0), n, out uint flags);
        S.SetReg(c, i.R0, r);
        c.SetArithFlags(flags);
    }

    /// <summary>
    /// The value-level shift the translator calls (so both engines share one implementation): the result, and in
    /// <paramref name="flags"/> the six arithmetic flags afterwards (unchanged ones for a masked count of 0). The
    /// caller commits the flags after storing the result. Flags must be current in the processor (rotates keep
    /// four of them).
    /// </summary>
    public static uint Shift<Op, S>(Processor c, uint d, uint count, out uint flags) where Op : IShiftOp where S : IOperandSize
    {
        uint n = count & 31;
        if (n == 0)
        {
            flags = c.ComputeArith();
            return d;
        }
        return Op.Apply<S>(c, d, n, out flags);
    }

    static void M<Op, S, N>(Processor c, ref Insn i) where Op : IShiftOp where S : IOperandSize where N : IShiftCount
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea);
        uint n = N.Get(c, ref i) & 31;
        if (n == 0) return;
        uint r = Op.Apply<S>(c, d, n, out uint flags);
        S.Write(c, i.Seg, ea, r);
        c.SetArithFlags(flags);
    }

    // ---- SHLD / SHRD (386+, 16/32-bit) ----

    // SHLD: dest shifted left, vacated bits filled from the top of src. Count mod 32; a 16-bit count above 16 is
    // undefined: here the 16-bit form shifts through dest:src:dest (48 bits), so bits of dest come back in.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Shld<S>(uint d, uint s, int n, out uint flags) where S : IOperandSize
    {
        ulong v = S.Bytes == 4 ? ((ulong)d << 32) | s : ((ulong)d << 32) | ((ulong)s << 16) | d;
        int top = S.Bytes == 4 ? 64 : 48;
        uint r = (uint)(v >> (32 - n)) & S.Mask;
        uint cf = (uint)(v >> (top - n)) & 1;                       // CF = last bit out of the top of dest
        flags = DoubleShiftFlags<S>(d, r, cf);
        return r;
    }

    // SHRD: dest shifted right, vacated bits filled from the bottom of src; 16-bit counts above 16 as for SHLD.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Shrd<S>(uint d, uint s, int n, out uint flags) where S : IOperandSize
    {
        ulong v = S.Bytes == 4 ? ((ulong)s << 32) | d : ((ulong)d << 32) | ((ulong)s << 16) | d;
        uint r = (uint)(v >> n) & S.Mask;
        uint cf = (uint)(v >> (n - 1)) & 1;                         // CF = last bit out of the bottom of dest
        flags = DoubleShiftFlags<S>(d, r, cf);
        return r;
    }

    // SF/ZF/PF from the result; OF = sign change (defined for count 1, used for every count); AF (undefined) = 0.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint DoubleShiftFlags<S>(uint d, uint r, uint cf) where S : IOperandSize =>
        Processor.SzpFlags(r, S.Sign) | cf | (((r ^ d) & S.Sign) != 0 ? Processor.FlagOF : 0);

    static void ShldR<S, N>(Processor c, ref Insn i) where S : IOperandSize where N : IShiftCount
    {
        int n = (int)(N.Get(c, ref i) & 31);
        if (n == 0) return;
        uint r = Shld<S>(S.GetReg(c, i.R0), S.GetReg(c, i.R1), n, out uint flags);
        S.SetReg(c, i.R0, r);
        c.SetArithFlags(flags);
    }

    static void ShldM<S, N>(Processor c, ref Insn i) where S : IOperandSize where N : IShiftCount
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea);
        int n = (int)(N.Get(c, ref i) & 31);
        if (n == 0) return;
        uint r = Shld<S>(d, S.GetReg(c, i.R1), n, out uint flags);
        S.Write(c, i.Seg, ea, r);
        c.SetArithFlags(flags);
    }

    static void ShrdR<S, N>(Processor c, ref Insn i) where S : IOperandSize where N : IShiftCount
    {
        int n = (int)(N.Get(c, ref i) & 31);
        if (n == 0) return;
        uint r = Shrd<S>(S.GetReg(c, i.R0), S.GetReg(c, i.R1), n, out uint flags);
        S.SetReg(c, i.R0, r);
        c.SetArithFlags(flags);
    }

    static void ShrdM<S, N>(Processor c, ref Insn i) where S : IOperandSize where N : IShiftCount
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea);
        int n = (int)(N.Get(c, ref i) & 31);
        if (n == 0) return;
        uint r = Shrd<S>(d, S.GetReg(c, i.R1), n, out uint flags);
        S.Write(c, i.Seg, ea, r);
        c.SetArithFlags(flags);
    }

    static Code C(string name) => Enum.Parse<Code>(name);

    static void Group<Op>(HandlerTable t, string n) where Op : IShiftOp
    {
        t.AddRm(C(n + "_rm8_1"), &R<Op, Size8, CountOne>, &M<Op, Size8, CountOne>);
        t.AddRm(C(n + "_rm16_1"), &R<Op, Size16, CountOne>, &M<Op, Size16, CountOne>);
        t.AddRm(C(n + "_rm32_1"), &R<Op, Size32, CountOne>, &M<Op, Size32, CountOne>, min: CpuGeneration.I386);
        t.AddRm(C(n + "_rm8_CL"), &R<Op, Size8, CountCl>, &M<Op, Size8, CountCl>);
        t.AddRm(C(n + "_rm16_CL"), &R<Op, Size16, CountCl>, &M<Op, Size16, CountCl>);
        t.AddRm(C(n + "_rm32_CL"), &R<Op, Size32, CountCl>, &M<Op, Size32, CountCl>, min: CpuGeneration.I386);
        t.AddRm(C(n + "_rm8_imm8"), &R<Op, Size8, CountImm>, &M<Op, Size8, CountImm>);
        t.AddRm(C(n + "_rm16_imm8"), &R<Op, Size16, CountImm>, &M<Op, Size16, CountImm>);
        t.AddRm(C(n + "_rm32_imm8"), &R<Op, Size32, CountImm>, &M<Op, Size32, CountImm>, min: CpuGeneration.I386);
    }

    internal static void Register(HandlerTable t)
    {
        Group<RolOp>(t, "Rol");
        Group<RorOp>(t, "Ror");
        Group<RclOp>(t, "Rcl");
        Group<RcrOp>(t, "Rcr");
        Group<ShlOp>(t, "Shl");
        Group<ShlOp>(t, "Sal");              // /6: an undocumented alias of SHL
        Group<ShrOp>(t, "Shr");
        Group<SarOp>(t, "Sar");

        t.AddRm(Code.Shld_rm16_r16_imm8, &ShldR<Size16, CountImm>, &ShldM<Size16, CountImm>, min: CpuGeneration.I386);
        t.AddRm(Code.Shld_rm32_r32_imm8, &ShldR<Size32, CountImm>, &ShldM<Size32, CountImm>, min: CpuGeneration.I386);
        t.AddRm(Code.Shld_rm16_r16_CL, &ShldR<Size16, CountCl>, &ShldM<Size16, CountCl>, min: CpuGeneration.I386);
        t.AddRm(Code.Shld_rm32_r32_CL, &ShldR<Size32, CountCl>, &ShldM<Size32, CountCl>, min: CpuGeneration.I386);
        t.AddRm(Code.Shrd_rm16_r16_imm8, &ShrdR<Size16, CountImm>, &ShrdM<Size16, CountImm>, min: CpuGeneration.I386);
        t.AddRm(Code.Shrd_rm32_r32_imm8, &ShrdR<Size32, CountImm>, &ShrdM<Size32, CountImm>, min: CpuGeneration.I386);
        t.AddRm(Code.Shrd_rm16_r16_CL, &ShrdR<Size16, CountCl>, &ShrdM<Size16, CountCl>, min: CpuGeneration.I386);
        t.AddRm(Code.Shrd_rm32_r32_CL, &ShrdR<Size32, CountCl>, &ShrdM<Size32, CountCl>, min: CpuGeneration.I386);
    }
}
