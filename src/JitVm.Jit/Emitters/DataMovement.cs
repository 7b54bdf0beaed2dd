using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>MOV, MOVZX/MOVSX, LEA, XCHG, NOP — mirror of JitVm.Cpu/Instructions/DataMovement.cs.</summary>
internal static class DataMovement
{
    // MOV r/m, r and MOV r, r/m and MOV r/m, imm; destination operand 0, source operand 1.
    static bool Mov(EmitContext cx, ref Insn i, int bits, bool fromMemoryOrReg, bool imm)
    {
        var il = cx.IL;
        var v = cx.Temp(0);
        var off = cx.Temp(3);
        int bytes = bits / 8;
        if (i.HasMemory) cx.EffectiveAddress();
        if (imm)
        {
            cx.Const(bits == 32 ? i.Imm : i.Imm & ((1u << bits) - 1));
            il.Emit(OpCodes.Stloc, v);
            if (i.HasMemory) cx.Write(i.Seg, bytes, off, v);
            else { il.Emit(OpCodes.Ldloc, v); cx.StoreReg(i.R0, bits); }
            return true;
        }
        if (fromMemoryOrReg)
        {
            // r <- r/m
            if (i.HasMemory) cx.Read(i.Seg, bytes, off); else cx.LoadReg(i.R1, bits);
            cx.StoreReg(i.R0, bits);
        }
        else
        {
            // r/m <- r
            cx.LoadReg(i.R1, bits);
            if (i.HasMemory)
            {
                il.Emit(OpCodes.Stloc, v);
                cx.Write(i.Seg, bytes, off, v);
            }
            else cx.StoreReg(i.R0, bits);
        }
        return true;
    }

    static bool Extend(EmitContext cx, ref Insn i, int srcBits, int dstBits, bool signed)
    {
        var il = cx.IL;
        var off = cx.Temp(3);
        cx.LoadRm(ref i, i.R1, srcBits);
        if (signed)
        {
            il.Emit(srcBits == 8 ? OpCodes.Conv_I1 : OpCodes.Conv_I2);
            cx.MaskTo(dstBits);
        }
        cx.StoreReg(i.R0, dstBits);
        return true;
    }

    static bool Lea(EmitContext cx, ref Insn i, int bits)
    {
        cx.Ea();
        cx.MaskTo(bits);
        cx.StoreReg(i.R0, bits);
        return true;
    }

    static bool Xchg(EmitContext cx, ref Insn i, int bits)
    {
        var a = cx.Temp(0);
        if (i.HasMemory)
        {
            // XCHG r/m, r: memory gets the register, the register gets the old memory value (store first).
            var r = cx.Temp(1);
            var off = cx.EffectiveAddress();
            cx.Read(i.Seg, bits / 8, off);
            cx.IL.Emit(OpCodes.Stloc, a);
            cx.LoadReg(i.R1, bits);
            cx.IL.Emit(OpCodes.Stloc, r);
            cx.Write(i.Seg, bits / 8, off, r);
            cx.IL.Emit(OpCodes.Ldloc, a);
            cx.StoreReg(i.R1, bits);
            return true;
        }
        cx.LoadReg(i.R0, bits);
        cx.IL.Emit(OpCodes.Stloc, a);
        cx.LoadReg(i.R1, bits);
        cx.StoreReg(i.R0, bits);
        cx.IL.Emit(OpCodes.Ldloc, a);
        cx.StoreReg(i.R1, bits);
        return true;
    }

    internal static void Register(EmitterTable t)
    {
        const FlagUse F = FlagUse.CanFault;
        foreach (var (bits, sfx) in new[] { (8, "8"), (16, "16"), (32, "32") })
        {
            int b = bits;
            t.Add(EmitterTable.C($"Mov_rm{sfx}_r{sfx}"), (EmitContext cx, ref Insn i) => Mov(cx, ref i, b, false, false), F);
            t.Add(EmitterTable.C($"Mov_r{sfx}_rm{sfx}"), (EmitContext cx, ref Insn i) => Mov(cx, ref i, b, true, false), F);
            t.Add(EmitterTable.C($"Mov_r{sfx}_imm{sfx}"), (EmitContext cx, ref Insn i) => Mov(cx, ref i, b, false, true), FlagUse.None);
            t.Add(EmitterTable.C($"Mov_rm{sfx}_imm{sfx}"), (EmitContext cx, ref Insn i) => Mov(cx, ref i, b, false, true), F);
        }
        // moffs forms: the memory operand is a plain displacement.
        t.Add(Code.Mov_AL_moffs8, (EmitContext cx, ref Insn i) => Mov(cx, ref i, 8, true, false), F);
        t.Add(Code.Mov_AX_moffs16, (EmitContext cx, ref Insn i) => Mov(cx, ref i, 16, true, false), F);
        t.Add(Code.Mov_EAX_moffs32, (EmitContext cx, ref Insn i) => Mov(cx, ref i, 32, true, false), F);
        t.Add(Code.Mov_moffs8_AL, (EmitContext cx, ref Insn i) => Mov(cx, ref i, 8, false, false), F);
        t.Add(Code.Mov_moffs16_AX, (EmitContext cx, ref Insn i) => Mov(cx, ref i, 16, false, false), F);
        t.Add(Code.Mov_moffs32_EAX, (EmitContext cx, ref Insn i) => Mov(cx, ref i, 32, false, false), F);

        t.Add(Code.Movzx_r16_rm8, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 8, 16, false), F);
        t.Add(Code.Movzx_r32_rm8, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 8, 32, false), F);
        t.Add(Code.Movzx_r16_rm16, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 16, 16, false), F);
        t.Add(Code.Movzx_r32_rm16, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 16, 32, false), F);
        t.Add(Code.Movsx_r16_rm8, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 8, 16, true), F);
        t.Add(Code.Movsx_r32_rm8, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 8, 32, true), F);
        t.Add(Code.Movsx_r16_rm16, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 16, 16, true), F);
        t.Add(Code.Movsx_r32_rm16, (EmitContext cx, ref Insn i) => Extend(cx, ref i, 16, 32, true), F);

        t.Add(Code.Lea_r16_m, (EmitContext cx, ref Insn i) => Lea(cx, ref i, 16), FlagUse.None);
        t.Add(Code.Lea_r32_m, (EmitContext cx, ref Insn i) => Lea(cx, ref i, 32), FlagUse.None);
        t.Add(Code.Xchg_rm8_r8, (EmitContext cx, ref Insn i) => Xchg(cx, ref i, 8), F);
        t.Add(Code.Xchg_rm16_r16, (EmitContext cx, ref Insn i) => Xchg(cx, ref i, 16), F);
        t.Add(Code.Xchg_rm32_r32, (EmitContext cx, ref Insn i) => Xchg(cx, ref i, 32), F);
        t.Add(Code.Xchg_r16_AX, (EmitContext cx, ref Insn i) => Xchg(cx, ref i, 16), FlagUse.None);
        t.Add(Code.Xchg_r32_EAX, (EmitContext cx, ref Insn i) => Xchg(cx, ref i, 32), FlagUse.None);
        t.Add(Code.Nopw, (EmitContext cx, ref Insn i) => true, FlagUse.None);
        t.Add(Code.Nopd, (EmitContext cx, ref Insn i) => true, FlagUse.None);
    }
}
