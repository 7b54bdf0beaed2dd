using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>What BT, BTS, BTR and BTC do to the selected bit.</summary>
internal interface IBitTestOp
{
    static abstract bool WritesResult { get; }
    static abstract uint Apply(uint value, uint mask);
}

internal struct BtOp : IBitTestOp
{
    public static bool WritesResult => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Apply(uint value, uint mask) => value;
}

internal struct BtsOp : IBitTestOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Apply(uint value, uint mask) => value | mask;
}

internal struct BtrOp : IBitTestOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Apply(uint value, uint mask) => value & ~mask;
}

internal struct BtcOp : IBitTestOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Apply(uint value, uint mask) => value ^ mask;
}

/// <summary>BT BTS BTR BTC (register and immediate bit offsets), BSF BSR. All 386 and later.</summary>
/// <remarks>
/// Flags the SDM leaves undefined are kept as they were (a deterministic choice that any conforming program
/// must accept): BT* define CF (the selected bit) and leave ZF alone, OF SF AF PF are undefined and kept;
/// BSF/BSR define ZF, and CF OF SF AF PF are undefined and kept.
/// </remarks>
internal static unsafe class Bits
{
    /// <summary>log2 of the operand width in bits: 4 for 16-bit operands, 5 for 32-bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int WidthShift<S>() where S : IOperandSize => S.Bytes == 4 ? 5 : 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SetCarry(Processor c, uint bit)
    {
        c.MaterializeFlags();
        c.Flags = (c.Flags & ~Processor.FlagCF) | bit;
    }

    // Register operand: the bit offset (register or immediate) is taken modulo the operand width.
    static void RR<Op, S>(Processor c, ref Insn i) where Op : IBitTestOp where S : IOperandSize =>
        OnRegister<Op, S>(c, i.R0, (int)S.GetReg(c, i.R1));

    static void RI<Op, S>(Processor c, ref Insn i) where Op : IBitTestOp where S : IOperandSize =>
        OnRegister<Op, S>(c, i.R0, (int)i.Imm);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void OnRegister<Op, S>(Processor c, int reg, int offset) where Op : IBitTestOp where S : IOperandSize
    {
        int n = offset & (S.Bytes * 8 - 1);
        uint v = S.GetReg(c, reg);
        if (Op.WritesResult) S.SetReg(c, reg, Op.Apply(v, 1u << n));
        SetCarry(c, (v >> n) & 1);
    }

    // Memory operand, immediate offset: the operand at the effective address, offset modulo the width.
    static void MI<Op, S>(Processor c, ref Insn i) where Op : IBitTestOp where S : IOperandSize =>
        OnMemory<Op, S>(c, ref i, c.Ea(ref i), (int)i.Imm & (S.Bytes * 8 - 1));

    // Memory operand, register offset: the offset is a signed bit index into a bit string that starts at the
    // effective address, so it may select a word/dword before or after the operand:
    // address = EA + (offset SAR 4 or 5) * operand bytes, wrapped to the address size; bit = offset mod width.
    static void MR<Op, S>(Processor c, ref Insn i) where Op : IBitTestOp where S : IOperandSize
    {
        int offset = S.SignExtend(S.GetReg(c, i.R1));
        uint ea = (c.Ea(ref i) + (uint)((offset >> WidthShift<S>()) * S.Bytes)) & i.EaMask;
        OnMemory<Op, S>(c, ref i, ea, offset & (S.Bytes * 8 - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void OnMemory<Op, S>(Processor c, ref Insn i, uint ea, int n) where Op : IBitTestOp where S : IOperandSize
    {
        uint v = S.Read(c, i.Seg, ea);
        if (Op.WritesResult) S.Write(c, i.Seg, ea, Op.Apply(v, 1u << n));
        SetCarry(c, (v >> n) & 1);
    }

    // BSF/BSR: ZF=1 and the destination unchanged when the source is 0 (what Intel and AMD processors do;
    // the SDM calls the destination undefined), else ZF=0 and the index of the lowest/highest set bit.
    static void BsfR<S>(Processor c, ref Insn i) where S : IOperandSize => Bsf<S>(c, i.R0, S.GetReg(c, i.R1));
    static void BsfM<S>(Processor c, ref Insn i) where S : IOperandSize => Bsf<S>(c, i.R0, S.Read(c, i.Seg, c.Ea(ref i)));
    static void BsrR<S>(Processor c, ref Insn i) where S : IOperandSize => Bsr<S>(c, i.R0, S.GetReg(c, i.R1));
    static void BsrM<S>(Processor c, ref Insn i) where S : IOperandSize => Bsr<S>(c, i.R0, S.Read(c, i.Seg, c.Ea(ref i)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Bsf<S>(Processor c, int dst, uint src) where S : IOperandSize
    {
        c.MaterializeFlags();
        if (src == 0)
        {
            c.Flags |= Processor.FlagZF;
            return;
        }
        c.Flags &= ~Processor.FlagZF;
        S.SetReg(c, dst, (uint)BitOperations.TrailingZeroCount(src));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Bsr<S>(Processor c, int dst, uint src) where S : IOperandSize
    {
        c.MaterializeFlags();
        if (src == 0)
        {
            c.Flags |= Processor.FlagZF;
            return;
        }
        c.Flags &= ~Processor.FlagZF;
        S.SetReg(c, dst, (uint)BitOperations.Log2(src));
    }

    static Code C(string name) => Enum.Parse<Code>(name);

    static void BitTest<Op>(HandlerTable t, string n) where Op : IBitTestOp
    {
        const CpuGeneration i386 = CpuGeneration.I386;
        t.AddRm(C(n + "_rm16_r16"), &RR<Op, Size16>, &MR<Op, Size16>, min: i386);
        t.AddRm(C(n + "_rm32_r32"), &RR<Op, Size32>, &MR<Op, Size32>, min: i386);
        t.AddRm(C(n + "_rm16_imm8"), &RI<Op, Size16>, &MI<Op, Size16>, min: i386);
        t.AddRm(C(n + "_rm32_imm8"), &RI<Op, Size32>, &MI<Op, Size32>, min: i386);
    }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i386 = CpuGeneration.I386;
        BitTest<BtOp>(t, "Bt");
        BitTest<BtsOp>(t, "Bts");
        BitTest<BtrOp>(t, "Btr");
        BitTest<BtcOp>(t, "Btc");
        t.AddRm(Code.Bsf_r16_rm16, &BsfR<Size16>, &BsfM<Size16>, min: i386);
        t.AddRm(Code.Bsf_r32_rm32, &BsfR<Size32>, &BsfM<Size32>, min: i386);
        t.AddRm(Code.Bsr_r16_rm16, &BsrR<Size16>, &BsrM<Size16>, min: i386);
        t.AddRm(Code.Bsr_r32_rm32, &BsrR<Size32>, &BsrM<Size32>, min: i386);
    }
}
