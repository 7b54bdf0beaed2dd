using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Instructions;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>
/// MUL, IMUL (all forms), DIV, IDIV — mirror of JitVm.Cpu/Instructions/MulDiv.cs, sharing its arithmetic: the
/// one-operand forms write the accumulator pair back to the processor, call the interpreter's implementation and
/// reload it; the two/three-operand IMUL calls its value-level form.
/// </summary>
internal static class MulDiv
{
    const BindingFlags Any = BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public;

    static MethodInfo Generic(Type owner, string name, Type size) => owner.GetMethod(name, Any)!.MakeGenericMethod(size);

    // MUL/IMUL/DIV/IDIV r/m on the accumulator pair (AX, DX:AX, EDX:EAX), through the interpreter's arithmetic.
    // Multiplies set CF/OF (and the model's undefined flags) eagerly; divides leave the flags alone and their #DE
    // leaves everything as it was.
    static bool Accumulator(EmitContext cx, ref Insn i, MethodInfo impl, int bits, bool divide)
    {
        var src = cx.Temp(0);
        cx.LoadRm(ref i, i.R0, bits);
        cx.IL.Emit(OpCodes.Stloc, src);
        cx.SyncOut(0, 2);
        cx.Cpu();
        cx.IL.Emit(OpCodes.Ldloc, src);
        cx.IL.Emit(OpCodes.Call, impl);
        if (divide) cx.FaultCheck();
        cx.SyncIn(0, 2);
        if (!divide) cx.Flags = FlagState.InCpu;
        return true;
    }

    // IMUL r, r/m [, imm]: only the low half is kept.
    // The factors are the r/m operand (operand 1) and the immediate or the destination register; the product is
    // the same either way round.
    static bool Imul2(EmitContext cx, ref Insn i, MethodInfo impl, int bits, bool imm)
    {
        var a = cx.Temp(0);
        cx.LoadRm(ref i, i.R1, bits);
        cx.IL.Emit(OpCodes.Stloc, a);
        if (cx.FlagsNeeded) cx.Cpu();
        cx.IL.Emit(OpCodes.Ldloc, a);
        if (imm) cx.Const(bits == 32 ? i.Imm : i.Imm & 0xFFFF);
        else cx.LoadReg(i.R0, bits);
        // Flags dead: the low half of the product is all that is left.
        if (!cx.FlagsNeeded) return LowProduct(cx, ref i, bits);
        cx.IL.Emit(OpCodes.Call, impl);
        cx.StoreReg(i.R0, bits);
        cx.Flags = FlagState.InCpu;
        return true;
    }

    /// <summary>The two factors on the stack: stores the low <paramref name="bits"/> of their product (the same signed or not) in the destination.</summary>
    static bool LowProduct(EmitContext cx, ref Insn i, int bits)
    {
        cx.IL.Emit(OpCodes.Mul);
        cx.MaskTo(bits);
        cx.StoreReg(i.R0, bits);
        cx.FlagsDead();
        return true;
    }

    internal static void Register(EmitterTable t)
    {
        var owner = typeof(Cpu.Instructions.MulDiv);
        foreach (var (bits, size) in new[] { (8, typeof(Size8)), (16, typeof(Size16)), (32, typeof(Size32)) })
        {
            int b = bits;
            var mul = Generic(owner, "Mul", size);
            var imul = Generic(owner, "Imul1", size);
            var div = Generic(typeof(JitHelpers), nameof(JitHelpers.Div), size);
            var idiv = Generic(typeof(JitHelpers), nameof(JitHelpers.Idiv), size);
            t.Add(EmitterTable.C($"Mul_rm{bits}"), (EmitContext cx, ref Insn i) => Accumulator(cx, ref i, mul, b, divide: false), FlagUse.WritesAll | FlagUse.CanFault);
            t.Add(EmitterTable.C($"Imul_rm{bits}"), (EmitContext cx, ref Insn i) => Accumulator(cx, ref i, imul, b, divide: false), FlagUse.WritesAll | FlagUse.CanFault);
            t.Add(EmitterTable.C($"Div_rm{bits}"), (EmitContext cx, ref Insn i) => Accumulator(cx, ref i, div, b, divide: true), FlagUse.Faults);
            t.Add(EmitterTable.C($"Idiv_rm{bits}"), (EmitContext cx, ref Insn i) => Accumulator(cx, ref i, idiv, b, divide: true), FlagUse.Faults);
            if (bits == 8) continue;
            var imul2 = Generic(owner, "Imul2Value", size);
            t.Add(EmitterTable.C($"Imul_r{bits}_rm{bits}"), (EmitContext cx, ref Insn i) => Imul2(cx, ref i, imul2, b, false), FlagUse.WritesAll | FlagUse.CanFault);
            t.Add(EmitterTable.C($"Imul_r{bits}_rm{bits}_imm{bits}"), (EmitContext cx, ref Insn i) => Imul2(cx, ref i, imul2, b, true), FlagUse.WritesAll | FlagUse.CanFault);
            t.Add(EmitterTable.C($"Imul_r{bits}_rm{bits}_imm8"), (EmitContext cx, ref Insn i) => Imul2(cx, ref i, imul2, b, true), FlagUse.WritesAll | FlagUse.CanFault);
        }
    }
}
