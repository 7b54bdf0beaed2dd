using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV.</summary>
/// <remarks>
/// The one-operand forms use the accumulator pair of the operand size: AL/AH (AX = AL * r/m8, AX / r/m8),
/// AX/DX and EAX/EDX. The only memory access is the read of the source, done first; divide errors are raised
/// before anything is written, so a #DE leaves every register and flag as it was.
/// </remarks>
internal static unsafe class MulDiv
{
    // Register holding the high half of a one-operand multiply and the remainder of a divide: AH, DX or EDX.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int HighReg<S>() where S : IOperandSize => S.Bytes == 1 ? Processor.EAX + 1 : Processor.EDX;

    /// <summary>
    /// Flags of every multiply: CF = OF = the product does not fit the low half (unsigned: high half non-zero;
    /// signed: the product is not the sign extension of the low half). SF, ZF, PF and AF are undefined: the
    /// 80286 leaves SF/ZF/PF of the high half and AF set (measured on the vectors); the 386+ models take
    /// SF/ZF/PF from the low half and clear AF.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MulFlags<S>(Processor c, uint lo, uint hi, bool overflow) where S : IOperandSize
    {
        uint f = overflow ? Processor.FlagCF | Processor.FlagOF : 0;
        f |= c.Model.Is286 ? Processor.SzpFlags(hi, S.Sign) | Processor.FlagAF : Processor.SzpFlags(lo, S.Sign);
        c.SetArithFlags(f);
    }

    // ---- MUL / IMUL r/m (accumulator forms) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Mul<S>(Processor c, uint src) where S : IOperandSize
    {
        ulong p = (ulong)S.GetReg(c, Processor.EAX) * src;
        uint lo = (uint)p & S.Mask, hi = (uint)(p >> (S.Bytes * 8)) & S.Mask;
        S.SetReg(c, Processor.EAX, lo);
        S.SetReg(c, HighReg<S>(), hi);
        MulFlags<S>(c, lo, hi, hi != 0);                          // CF = OF = high half non-zero
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Imul1<S>(Processor c, uint src) where S : IOperandSize
    {
        long p = (long)S.SignExtend(S.GetReg(c, Processor.EAX)) * S.SignExtend(src);
        uint lo = (uint)p & S.Mask, hi = (uint)(p >> (S.Bytes * 8)) & S.Mask;
        S.SetReg(c, Processor.EAX, lo);
        S.SetReg(c, HighReg<S>(), hi);
        MulFlags<S>(c, lo, hi, p != S.SignExtend(lo));            // CF = OF = product != sign-extended low half
    }

    static void MulR<S>(Processor c, ref Insn i) where S : IOperandSize => Mul<S>(c, S.GetReg(c, i.R0));
    static void MulM<S>(Processor c, ref Insn i) where S : IOperandSize => Mul<S>(c, S.Read(c, i.Seg, c.Ea(ref i)));
    static void Imul1R<S>(Processor c, ref Insn i) where S : IOperandSize => Imul1<S>(c, S.GetReg(c, i.R0));
    static void Imul1M<S>(Processor c, ref Insn i) where S : IOperandSize => Imul1<S>(c, S.Read(c, i.Seg, c.Ea(ref i)));

    // ---- IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): only the low half is kept ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Imul2<S>(Processor c, int dst, uint a, uint b) where S : IOperandSize => S.SetReg(c, dst, Imul2Value<S>(c, a, b));

    /// <summary>The two/three-operand IMUL on values (the translator calls it too): sets the flags, returns the low half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Imul2Value<S>(Processor c, uint a, uint b) where S : IOperandSize
    {
        long p = (long)S.SignExtend(a) * S.SignExtend(b);
        uint lo = (uint)p & S.Mask, hi = (uint)(p >> (S.Bytes * 8)) & S.Mask;
        MulFlags<S>(c, lo, hi, p != S.SignExtend(lo));            // CF = OF = the product was truncated
        return lo;
    }

    static void ImulRR<S>(Processor c, ref Insn i) where S : IOperandSize => Imul2<S>(c, i.R0, S.GetReg(c, i.R0), S.GetReg(c, i.R1));
    static void ImulRM<S>(Processor c, ref Insn i) where S : IOperandSize => Imul2<S>(c, i.R0, S.GetReg(c, i.R0), S.Read(c, i.Seg, c.Ea(ref i)));
    // The imm8 of 6B arrives sign-extended; masking then sign-extending at the operand size covers both forms.
    static void ImulRRI<S>(Processor c, ref Insn i) where S : IOperandSize => Imul2<S>(c, i.R0, S.GetReg(c, i.R1), i.Imm & S.Mask);
    static void ImulRMI<S>(Processor c, ref Insn i) where S : IOperandSize => Imul2<S>(c, i.R0, S.Read(c, i.Seg, c.Ea(ref i)), i.Imm & S.Mask);

    // ---- DIV / IDIV ----
    // Flags are undefined after a divide; they are left unchanged.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Div<S>(Processor c, uint src) where S : IOperandSize
    {
        if (src == 0) c.Fault(CpuVectors.DE);
        uint q, r;
        if (S.Bytes == 4)
        {
            ulong num = ((ulong)c.Edx << 32) | c.Eax;
            ulong q64 = num / src;
            if (q64 > uint.MaxValue) c.Fault(CpuVectors.DE);      // quotient does not fit
            q = (uint)q64;
            r = (uint)(num - q64 * src);
        }
        else
        {
            uint num = S.Bytes == 1 ? c.Reg16(Processor.EAX) : ((uint)c.Reg16(Processor.EDX) << 16) | c.Reg16(Processor.EAX);
            q = num / src;
            if (q > S.Mask) c.Fault(CpuVectors.DE);                // quotient does not fit
            r = num - q * src;
        }
        S.SetReg(c, Processor.EAX, q);
        S.SetReg(c, HighReg<S>(), r);
    }

    // IDIV truncates toward zero; the remainder takes the dividend's sign. A quotient of exactly the most
    // negative value (-128, -32768, -2^31) is delivered, not faulted: true of the 286 (Intel lists it among the
    // differences from the 8086, which raised #DE there) and of the 386+.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Idiv<S>(Processor c, uint src) where S : IOperandSize
    {
        int d = S.SignExtend(src);
        if (d == 0) c.Fault(CpuVectors.DE);
        uint q, r;
        if (S.Bytes == 4)
        {
            long num = (long)(((ulong)c.Edx << 32) | c.Eax);
            if (num == long.MinValue && d == -1) c.Fault(CpuVectors.DE); // the host division would trap too
            long q64 = num / d;
            if (q64 is > int.MaxValue or < int.MinValue) c.Fault(CpuVectors.DE);
            q = (uint)q64;
            r = (uint)(num - q64 * d);
        }
        else
        {
            int num = S.Bytes == 1 ? (short)c.Reg16(Processor.EAX) : (int)(((uint)c.Reg16(Processor.EDX) << 16) | c.Reg16(Processor.EAX));
            if (num == int.MinValue && d == -1) c.Fault(CpuVectors.DE);   // the host division would trap too
            int q32 = num / d;
            if (q32 != S.SignExtend((uint)q32 & S.Mask)) c.Fault(CpuVectors.DE);
            q = (uint)q32 & S.Mask;
            r = (uint)(num - q32 * d) & S.Mask;
        }
        S.SetReg(c, Processor.EAX, q);
        S.SetReg(c, HighReg<S>(), r);
    }

    static void DivR<S>(Processor c, ref Insn i) where S : IOperandSize => Div<S>(c, S.GetReg(c, i.R0));
    static void DivM<S>(Processor c, ref Insn i) where S : IOperandSize => Div<S>(c, S.Read(c, i.Seg, c.Ea(ref i)));
    static void IdivR<S>(Processor c, ref Insn i) where S : IOperandSize => Idiv<S>(c, S.GetReg(c, i.R0));
    static void IdivM<S>(Processor c, ref Insn i) where S : IOperandSize => Idiv<S>(c, S.Read(c, i.Seg, c.Ea(ref i)));

    internal static void Register(HandlerTable t)
    {
        t.AddRm(Code.Mul_rm8, &MulR<Size8>, &MulM<Size8>);
        t.AddRm(Code.Mul_rm16, &MulR<Size16>, &MulM<Size16>);
        t.AddRm(Code.Mul_rm32, &MulR<Size32>, &MulM<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Imul_rm8, &Imul1R<Size8>, &Imul1M<Size8>);
        t.AddRm(Code.Imul_rm16, &Imul1R<Size16>, &Imul1M<Size16>);
        t.AddRm(Code.Imul_rm32, &Imul1R<Size32>, &Imul1M<Size32>, min: CpuGeneration.I386);

        t.AddRm(Code.Imul_r16_rm16, &ImulRR<Size16>, &ImulRM<Size16>, min: CpuGeneration.I386);
        t.AddRm(Code.Imul_r32_rm32, &ImulRR<Size32>, &ImulRM<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Imul_r16_rm16_imm16, &ImulRRI<Size16>, &ImulRMI<Size16>);
        t.AddRm(Code.Imul_r16_rm16_imm8, &ImulRRI<Size16>, &ImulRMI<Size16>);
        t.AddRm(Code.Imul_r32_rm32_imm32, &ImulRRI<Size32>, &ImulRMI<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Imul_r32_rm32_imm8, &ImulRRI<Size32>, &ImulRMI<Size32>, min: CpuGeneration.I386);

        t.AddRm(Code.Div_rm8, &DivR<Size8>, &DivM<Size8>);
        t.AddRm(Code.Div_rm16, &DivR<Size16>, &DivM<Size16>);
        t.AddRm(Code.Div_rm32, &DivR<Size32>, &DivM<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Idiv_rm8, &IdivR<Size8>, &IdivM<Size8>);
        t.AddRm(Code.Idiv_rm16, &IdivR<Size16>, &IdivM<Size16>);
        t.AddRm(Code.Idiv_rm32, &IdivR<Size32>, &IdivM<Size32>, min: CpuGeneration.I386);
    }
}
