using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Instructions;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>
/// ROL ROR RCL RCR SHL SAL SHR SAR — mirror of JitVm.Cpu/Instructions/ShiftRotate.cs. Operands stay in the
/// translator's locals; the shift itself and its irregular flags are computed by the interpreter's own value-level
/// <see cref="Cpu.Instructions.ShiftRotate.Shift"/>, so the two engines share one implementation.
/// </summary>
internal static class ShiftRotate
{
    enum Count { One, Imm, Cl }

    /// <summary>The operations whose value (not flags) is computed inline when the flags are dead.</summary>
    enum Kind { Rol, Ror, Shl, Shr, Sar, Other }

    static bool Emit(EmitContext cx, ref Insn i, MethodInfo shift, int bits, Count count, Kind kind)
    {
        var il = cx.IL;
        var d = cx.Temp(0);
        var r = cx.Temp(2);
        var off = cx.Temp(3);
        var flags = cx.Temp(1);
        cx.LoadRm(ref i, i.R0, bits);
        il.Emit(OpCodes.Stloc, d);
        if (!cx.FlagsNeeded && kind != Kind.Other)
        {
            // Nobody reads the flags: the value alone, inline (count masked to 5 bits as on the 386 and later;
            // rotates of 8/16-bit operands by the count modulo the width, which leaves the value the same).
            var c = cx.Temp(1);
            switch (count)
            {
                case Count.One: il.Emit(OpCodes.Ldc_I4_1); break;
                case Count.Imm: cx.Const(i.Imm & 0x1F); break;
                default: cx.LoadReg(Processor.ECX, 8); cx.Const(0x1F); il.Emit(OpCodes.And); break;
            }
            il.Emit(OpCodes.Stloc, c);
            Value(cx, kind, bits, d, c);
            StoreResult(cx, ref i, bits, r, off);
            cx.FlagsDead();
            return true;
        }
        int n = count == Count.One ? 1 : count == Count.Imm ? (int)(i.Imm & 0x1F) : 0;
        if (n != 0 && kind is Kind.Shl or Kind.Shr or Kind.Sar)
        {
            // A constant count of 1-31 writes all six flags from the operand, the count and the result alone: record
            // them lazily (the processor computes them with the interpreter's own shift if anything reads them).
            var c = cx.Temp(1);
            cx.Const((uint)n);
            il.Emit(OpCodes.Stloc, c);
            Value(cx, kind, bits, d, c);
            StoreResult(cx, ref i, bits, r, off);
            cx.SetFlags(kind switch { Kind.Shl => FlagOp.Shl, Kind.Shr => FlagOp.Shr, _ => FlagOp.Sar }, bits, d, c, r, n);
            return true;
        }
        // The helper reads the current flags (rotates keep four; a zero count keeps all six).
        cx.FlushFlags();
        cx.Cpu();
        il.Emit(OpCodes.Ldloc, d);
        switch (count)
        {
            case Count.One: il.Emit(OpCodes.Ldc_I4_1); break;
            case Count.Imm: cx.Const(i.Imm & 0xFF); break;
            default: cx.LoadReg(Processor.ECX, 8); break;
        }
        il.Emit(OpCodes.Ldloca, flags);
        il.Emit(OpCodes.Call, shift);
        StoreResult(cx, ref i, bits, r, off);
        cx.CommitArithFlags(flags);
        return true;
    }

    static readonly MethodInfo RotateLeft = typeof(System.Numerics.BitOperations).GetMethod(nameof(System.Numerics.BitOperations.RotateLeft), [typeof(uint), typeof(int)])!;
    static readonly MethodInfo RotateRight = typeof(System.Numerics.BitOperations).GetMethod(nameof(System.Numerics.BitOperations.RotateRight), [typeof(uint), typeof(int)])!;

    /// <summary>Stores the result on the stack into the r/m operand (its offset, for memory, in <paramref name="off"/>), through <paramref name="r"/>.</summary>
    static void StoreResult(EmitContext cx, ref Insn i, int bits, LocalBuilder r, LocalBuilder off)
    {
        cx.IL.Emit(OpCodes.Stloc, r);
        if (i.HasMemory) cx.Write(i.Seg, bits / 8, off, r);
        else
        {
            cx.IL.Emit(OpCodes.Ldloc, r);
            cx.StoreReg(i.R0, bits);
        }
    }

    /// <summary>Pushes <paramref name="d"/> (masked to <paramref name="bits"/>) shifted or rotated by the masked count <paramref name="c"/> (0-31), masked to the width.</summary>
    static void Value(EmitContext cx, Kind kind, int bits, LocalBuilder d, LocalBuilder c)
    {
        var il = cx.IL;
        if (kind is Kind.Rol or Kind.Ror)
        {
            if (bits == 32)
            {
                il.Emit(OpCodes.Ldloc, d);
                il.Emit(OpCodes.Ldloc, c);
                il.Emit(OpCodes.Call, kind == Kind.Rol ? RotateLeft : RotateRight);
                return;
            }
            // (d << n | d >> (bits - n)) & mask with n = count % bits (d has no bits above the width).
            var n = cx.Temp(8);
            il.Emit(OpCodes.Ldloc, c);
            cx.Const((uint)bits - 1);
            il.Emit(OpCodes.And);
            if (kind == Kind.Ror)
            {
                // Rotating right by n is rotating left by (bits - n) % bits.
                cx.Const((uint)bits);
                il.Emit(OpCodes.Sub);
                il.Emit(OpCodes.Neg);
                cx.Const((uint)bits - 1);
                il.Emit(OpCodes.And);
            }
            il.Emit(OpCodes.Stloc, n);
            il.Emit(OpCodes.Ldloc, d);
            il.Emit(OpCodes.Ldloc, n);
            il.Emit(OpCodes.Shl);
            il.Emit(OpCodes.Ldloc, d);
            cx.Const((uint)bits);
            il.Emit(OpCodes.Ldloc, n);
            il.Emit(OpCodes.Sub);
            il.Emit(OpCodes.Shr_Un);
            il.Emit(OpCodes.Or);
            cx.MaskTo(bits);
            return;
        }
        il.Emit(OpCodes.Ldloc, d);
        if (kind == Kind.Sar)
        {
            if (bits == 8) il.Emit(OpCodes.Conv_I1);
            else if (bits == 16) il.Emit(OpCodes.Conv_I2);
        }
        il.Emit(OpCodes.Ldloc, c);
        il.Emit(kind switch { Kind.Shl => OpCodes.Shl, Kind.Shr => OpCodes.Shr_Un, _ => OpCodes.Shr });
        cx.MaskTo(bits);
    }

    static MethodInfo Helper(Type op, Type size) =>
        typeof(Cpu.Instructions.ShiftRotate).GetMethod(nameof(Cpu.Instructions.ShiftRotate.Shift))!.MakeGenericMethod(op, size);

    static void Group(EmitterTable t, string name, Type op, Kind kind)
    {
        // RCL/RCR read CF into the value; the others only keep old flags in their own (a zero count keeps all).
        FlagUse F = (kind == Kind.Other ? FlagUse.Reads : FlagUse.Merges) | FlagUse.CanFault;
        // SHL/SHR/SAR by a constant 1-31 write all six flags without reading any (a zero count keeps them all).
        FlagUse byImm = kind is Kind.Shl or Kind.Shr or Kind.Sar ? F | FlagUse.ImmShift : F;
        FlagUse byOne = kind is Kind.Shl or Kind.Shr or Kind.Sar ? FlagUse.WritesAll | FlagUse.CanFault : F;
        foreach (var (bits, size) in new[] { (8, typeof(Size8)), (16, typeof(Size16)), (32, typeof(Size32)) })
        {
            var m = Helper(op, size);
            int b = bits;
            t.Add(EmitterTable.C($"{name}_rm{bits}_1"), (EmitContext cx, ref Insn i) => Emit(cx, ref i, m, b, Count.One, kind), byOne);
            t.Add(EmitterTable.C($"{name}_rm{bits}_imm8"), (EmitContext cx, ref Insn i) => Emit(cx, ref i, m, b, Count.Imm, kind), byImm);
            t.Add(EmitterTable.C($"{name}_rm{bits}_CL"), (EmitContext cx, ref Insn i) => Emit(cx, ref i, m, b, Count.Cl, kind), F);
        }
    }

    internal static void Register(EmitterTable t)
    {
        Group(t, "Rol", typeof(RolOp), Kind.Rol);
        Group(t, "Ror", typeof(RorOp), Kind.Ror);
        Group(t, "Rcl", typeof(RclOp), Kind.Other);
        Group(t, "Rcr", typeof(RcrOp), Kind.Other);
        Group(t, "Shl", typeof(ShlOp), Kind.Shl);
        Group(t, "Sal", typeof(ShlOp), Kind.Shl);
        Group(t, "Shr", typeof(ShrOp), Kind.Shr);
        Group(t, "Sar", typeof(SarOp), Kind.Sar);
    }
}
