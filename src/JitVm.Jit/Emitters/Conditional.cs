using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>SETcc and CMOVcc — mirror of JitVm.Cpu/Instructions/Conditional.cs; conditions come straight from the flag locals where known.</summary>
internal static class Conditional
{
    static bool Set(EmitContext cx, ref Insn i)
    {
        var v = cx.Temp(0);
        cx.Condition(i.Cond);
        cx.IL.Emit(OpCodes.Stloc, v);
        if (i.HasMemory) cx.Write(i.Seg, 1, cx.EffectiveAddress(), v);
        else
        {
            cx.IL.Emit(OpCodes.Ldloc, v);
            cx.StoreReg(i.R0, 8);
        }
        return true;
    }

    // CMOVcc: the source is read (and may fault) whether or not the condition holds; a 32-bit destination is
    // written (upper half cleared) only when it holds.
    static bool Cmov(EmitContext cx, ref Insn i, int bits)
    {
        var v = cx.Temp(0);
        var skip = cx.IL.DefineLabel();
        cx.LoadRm(ref i, i.R1, bits);
        cx.IL.Emit(OpCodes.Stloc, v);
        cx.Condition(i.Cond);
        cx.IL.Emit(OpCodes.Brfalse, skip);
        cx.IL.Emit(OpCodes.Ldloc, v);
        cx.StoreReg(i.R0, bits);
        cx.IL.MarkLabel(skip);
        return true;
    }

    internal static void Register(EmitterTable t)
    {
        foreach (var cc in new[] { "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g" })
        {
            t.Add(EmitterTable.C($"Set{cc}_rm8"), (EmitContext cx, ref Insn i) => Set(cx, ref i), FlagUse.Reads | FlagUse.CanFault);
            t.Add(EmitterTable.C($"Cmov{cc}_r16_rm16"), (EmitContext cx, ref Insn i) => Cmov(cx, ref i, 16), FlagUse.Reads | FlagUse.CanFault);
            t.Add(EmitterTable.C($"Cmov{cc}_r32_rm32"), (EmitContext cx, ref Insn i) => Cmov(cx, ref i, 32), FlagUse.Reads | FlagUse.CanFault);
        }
    }
}
