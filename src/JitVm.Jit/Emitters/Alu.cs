using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>
/// ADD OR ADC SBB AND SUB XOR CMP TEST, INC DEC NEG NOT — the translator's mirror of
/// JitVm.Cpu/Instructions/Alu.cs, with the same lazy-flags semantics (flags recorded after the result is stored).
/// </summary>
internal static class Alu
{
    enum Op { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test }

    /// <summary>Operand shapes: destination r/m with a register source, register destination with an r/m source, r/m with an immediate.</summary>
    enum Shape { RmR, RRm, RmI }

    static bool Binary(EmitContext cx, ref Insn i, Op op, Shape shape, int bits)
    {
        var il = cx.IL;
        var d = cx.Temp(0);
        var s = cx.Temp(1);
        var r = cx.Temp(2);
        var off = cx.Temp(3);
        int bytes = bits / 8;
        bool memDst = i.HasMemory && shape != Shape.RRm;
        if (i.HasMemory) cx.EffectiveAddress();
        // Operands.
        switch (shape)
        {
            case Shape.RmR:
                if (i.HasMemory) cx.Read(i.Seg, bytes, off); else cx.LoadReg(i.R0, bits);
                il.Emit(OpCodes.Stloc, d);
                cx.LoadReg(i.R1, bits);
                il.Emit(OpCodes.Stloc, s);
                break;
            case Shape.RRm:
                cx.LoadReg(i.R0, bits);
                il.Emit(OpCodes.Stloc, d);
                if (i.HasMemory) cx.Read(i.Seg, bytes, off); else cx.LoadReg(i.R1, bits);
                il.Emit(OpCodes.Stloc, s);
                break;
            default:
                if (i.HasMemory) cx.Read(i.Seg, bytes, off); else cx.LoadReg(i.R0, bits);
                il.Emit(OpCodes.Stloc, d);
                cx.Const(bits == 32 ? i.Imm : i.Imm & ((1u << bits) - 1));
                il.Emit(OpCodes.Stloc, s);
                break;
        }
        // Result.
        il.Emit(OpCodes.Ldloc, d);
        il.Emit(OpCodes.Ldloc, s);
        switch (op)
        {
            case Op.Add: il.Emit(OpCodes.Add); cx.MaskTo(bits); break;
            case Op.Adc: il.Emit(OpCodes.Add); cx.LoadCarry(); il.Emit(OpCodes.Add); cx.MaskTo(bits); break;
            case Op.Sub:
            case Op.Cmp: il.Emit(OpCodes.Sub); cx.MaskTo(bits); break;
            case Op.Sbb: il.Emit(OpCodes.Sub); cx.LoadCarry(); il.Emit(OpCodes.Sub); cx.MaskTo(bits); break;
            case Op.Or: il.Emit(OpCodes.Or); break;
            case Op.Xor: il.Emit(OpCodes.Xor); break;
            default: il.Emit(OpCodes.And); break;
        }
        il.Emit(OpCodes.Stloc, r);
        // Store (CMP and TEST do not write).
        if (op is not (Op.Cmp or Op.Test))
        {
            if (memDst) cx.Write(i.Seg, bytes, off, r);
            else
            {
                il.Emit(OpCodes.Ldloc, r);
                cx.StoreReg(i.R0, bits);
            }
        }
        // Flags, last: a faulting store leaves them as they were.
        FlagOp fop = op switch
        {
            Op.Add => FlagOp.Add,
            Op.Adc => FlagOp.Adc,
            Op.Sub or Op.Cmp => FlagOp.Sub,
            Op.Sbb => FlagOp.Sbb,
            _ => FlagOp.Logic,
        };
        if (fop == FlagOp.Logic) cx.SetFlags(fop, bits, null, null, r);
        else cx.SetFlags(fop, bits, d, s, r);
        return true;
    }

    static bool Unary(EmitContext cx, ref Insn i, int bits, FlagOp? op, bool neg)
    {
        var il = cx.IL;
        var d = cx.Temp(0);
        var r = cx.Temp(2);
        var off = cx.Temp(3);
        var zero = cx.Temp(1);
        cx.LoadRm(ref i, i.R0, bits);
        il.Emit(OpCodes.Stloc, d);
        if (neg)
        {
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Ldloc, d);
            il.Emit(OpCodes.Sub);
        }
        else if (op == FlagOp.Inc) { il.Emit(OpCodes.Ldloc, d); il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Add); }
        else if (op == FlagOp.Dec) { il.Emit(OpCodes.Ldloc, d); il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Sub); }
        else { il.Emit(OpCodes.Ldloc, d); il.Emit(OpCodes.Not); }
        cx.MaskTo(bits);
        il.Emit(OpCodes.Stloc, r);
        if (i.HasMemory) cx.Write(i.Seg, bits / 8, off, r);
        else
        {
            il.Emit(OpCodes.Ldloc, r);
            cx.StoreReg(i.R0, bits);
        }
        if (neg)
        {
            // NEG: flags of 0 - src.
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Stloc, zero);
            cx.SetFlags(FlagOp.Sub, bits, zero, d, r);
        }
        else if (op is { } f) cx.SetFlags(f, bits, d, null, r);
        return true;
    }

    static void Register(EmitterTable t, string name, Op op)
    {
        FlagUse f = FlagUse.WritesAll | FlagUse.CanFault | (op is Op.Adc or Op.Sbb ? FlagUse.Reads : FlagUse.None);
        void Add(string suffix, Shape shape, int bits) =>
            t.Add(EmitterTable.C(name + suffix), (EmitContext cx, ref Insn i) => Binary(cx, ref i, op, shape, bits), f);
        Add("_rm8_r8", Shape.RmR, 8);
        Add("_rm16_r16", Shape.RmR, 16);
        Add("_rm32_r32", Shape.RmR, 32);
        Add("_r8_rm8", Shape.RRm, 8);
        Add("_r16_rm16", Shape.RRm, 16);
        Add("_r32_rm32", Shape.RRm, 32);
        Add("_AL_imm8", Shape.RmI, 8);
        Add("_AX_imm16", Shape.RmI, 16);
        Add("_EAX_imm32", Shape.RmI, 32);
        Add("_rm8_imm8", Shape.RmI, 8);
        Add("_rm16_imm16", Shape.RmI, 16);
        Add("_rm32_imm32", Shape.RmI, 32);
        Add("_rm16_imm8", Shape.RmI, 16);
        Add("_rm32_imm8", Shape.RmI, 32);
        if (op != Op.Test) Add("_rm8_imm8_82", Shape.RmI, 8);
    }

    internal static void Register(EmitterTable t)
    {
        Register(t, "Add", Op.Add);
        Register(t, "Or", Op.Or);
        Register(t, "Adc", Op.Adc);
        Register(t, "Sbb", Op.Sbb);
        Register(t, "And", Op.And);
        Register(t, "Sub", Op.Sub);
        Register(t, "Xor", Op.Xor);
        Register(t, "Cmp", Op.Cmp);

        const FlagUse W = FlagUse.WritesAll | FlagUse.CanFault;
        t.Add(Code.Test_rm8_r8, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmR, 8), W);
        t.Add(Code.Test_rm16_r16, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmR, 16), W);
        t.Add(Code.Test_rm32_r32, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmR, 32), W);
        t.Add(Code.Test_AL_imm8, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 8), W);
        t.Add(Code.Test_AX_imm16, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 16), W);
        t.Add(Code.Test_EAX_imm32, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 32), W);
        t.Add(Code.Test_rm8_imm8, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 8), W);
        t.Add(Code.Test_rm8_imm8_F6r1, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 8), W);
        t.Add(Code.Test_rm16_imm16, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 16), W);
        t.Add(Code.Test_rm16_imm16_F7r1, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 16), W);
        t.Add(Code.Test_rm32_imm32, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 32), W);
        t.Add(Code.Test_rm32_imm32_F7r1, (EmitContext cx, ref Insn i) => Binary(cx, ref i, Op.Test, Shape.RmI, 32), W);

        // INC/DEC write every flag but CF: they do not end the previous producer's life.
        const FlagUse ID = FlagUse.CanFault;
        t.Add(Code.Inc_r16, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 16, FlagOp.Inc, false), ID);
        t.Add(Code.Inc_r32, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 32, FlagOp.Inc, false), ID);
        t.Add(Code.Dec_r16, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 16, FlagOp.Dec, false), ID);
        t.Add(Code.Dec_r32, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 32, FlagOp.Dec, false), ID);
        t.Add(Code.Inc_rm8, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 8, FlagOp.Inc, false), ID);
        t.Add(Code.Inc_rm16, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 16, FlagOp.Inc, false), ID);
        t.Add(Code.Inc_rm32, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 32, FlagOp.Inc, false), ID);
        t.Add(Code.Dec_rm8, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 8, FlagOp.Dec, false), ID);
        t.Add(Code.Dec_rm16, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 16, FlagOp.Dec, false), ID);
        t.Add(Code.Dec_rm32, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 32, FlagOp.Dec, false), ID);
        t.Add(Code.Neg_rm8, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 8, null, true), W);
        t.Add(Code.Neg_rm16, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 16, null, true), W);
        t.Add(Code.Neg_rm32, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 32, null, true), W);
        t.Add(Code.Not_rm8, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 8, null, false), FlagUse.CanFault);
        t.Add(Code.Not_rm16, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 16, null, false), FlagUse.CanFault);
        t.Add(Code.Not_rm32, (EmitContext cx, ref Insn i) => Unary(cx, ref i, 32, null, false), FlagUse.CanFault);
    }
}
