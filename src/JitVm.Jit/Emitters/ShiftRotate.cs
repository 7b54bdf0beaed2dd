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

    static bool Emit(EmitContext cx, ref Insn i, MethodInfo shift, int bits, Count count)
    {
        var il = cx.IL;
        var d = cx.Temp(0);
        var r = cx.Temp(2);
        var off = cx.Temp(3);
        var flags = cx.Temp(1);
        if (i.HasMemory)
        {
            cx.Ea();
            il.Emit(OpCodes.Stloc, off);
            cx.Read(i.Seg, bits / 8, off);
        }
        else cx.LoadReg(i.R0, bits);
        il.Emit(OpCodes.Stloc, d);
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
        il.Emit(OpCodes.Stloc, r);
        if (i.HasMemory) cx.Write(i.Seg, bits / 8, off, r);
        else
        {
            il.Emit(OpCodes.Ldloc, r);
            cx.StoreReg(i.R0, bits);
        }
        cx.CommitArithFlags(flags);
        return true;
    }

    static MethodInfo Helper(Type op, Type size) =>
        typeof(Cpu.Instructions.ShiftRotate).GetMethod(nameof(Cpu.Instructions.ShiftRotate.Shift))!.MakeGenericMethod(op, size);

    static void Group(EmitterTable t, string name, Type op)
    {
        const FlagUse F = FlagUse.Reads | FlagUse.CanFault;
        foreach (var (bits, size) in new[] { (8, typeof(Size8)), (16, typeof(Size16)), (32, typeof(Size32)) })
        {
            var m = Helper(op, size);
            int b = bits;
            t.Add(EmitterTable.C($"{name}_rm{bits}_1"), (EmitContext cx, ref Insn i) => Emit(cx, ref i, m, b, Count.One), F);
            t.Add(EmitterTable.C($"{name}_rm{bits}_imm8"), (EmitContext cx, ref Insn i) => Emit(cx, ref i, m, b, Count.Imm), F);
            t.Add(EmitterTable.C($"{name}_rm{bits}_CL"), (EmitContext cx, ref Insn i) => Emit(cx, ref i, m, b, Count.Cl), F);
        }
    }

    internal static void Register(EmitterTable t)
    {
        Group(t, "Rol", typeof(RolOp));
        Group(t, "Ror", typeof(RorOp));
        Group(t, "Rcl", typeof(RclOp));
        Group(t, "Rcr", typeof(RcrOp));
        Group(t, "Shl", typeof(ShlOp));
        Group(t, "Sal", typeof(ShlOp));
        Group(t, "Shr", typeof(ShrOp));
        Group(t, "Sar", typeof(SarOp));
    }
}
