using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>PUSH r/m/imm, POP r — mirror of JitVm.Cpu/Instructions/Stack.cs (the rest is interpreted).</summary>
internal static class Stack
{
    // PUSH r pushes the register's value before the decrement (PUSH SP pushes the old SP on the 286 and later).
    static bool Push(EmitContext cx, ref Insn i, int bits, bool imm)
    {
        var v = cx.Temp(0);
        if (imm) cx.Const(bits == 32 ? i.Imm : i.Imm & 0xFFFF);
        else cx.LoadRm(ref i, i.R0, bits);
        cx.IL.Emit(OpCodes.Stloc, v);
        cx.Push(bits / 8, v);
        return true;
    }

    // POP r: read, move the stack pointer, then write the register (POP SP ends with the popped value).
    static bool Pop(EmitContext cx, ref Insn i, int bits)
    {
        var v = cx.Temp(0);
        cx.Peek(bits / 8);
        cx.IL.Emit(OpCodes.Stloc, v);
        cx.AdjustStack(bits / 8);
        cx.IL.Emit(OpCodes.Ldloc, v);
        cx.StoreReg(i.R0, bits);
        return true;
    }

    internal static void Register(EmitterTable t)
    {
        const FlagUse F = FlagUse.Faults;
        t.Add(Code.Push_r16, (EmitContext cx, ref Insn i) => Push(cx, ref i, 16, false), F);
        t.Add(Code.Push_r32, (EmitContext cx, ref Insn i) => Push(cx, ref i, 32, false), F);
        t.Add(Code.Push_rm16, (EmitContext cx, ref Insn i) => Push(cx, ref i, 16, false), F);
        t.Add(Code.Push_rm32, (EmitContext cx, ref Insn i) => Push(cx, ref i, 32, false), F);
        t.Add(Code.Push_imm16, (EmitContext cx, ref Insn i) => Push(cx, ref i, 16, true), F);
        t.Add(Code.Pushd_imm32, (EmitContext cx, ref Insn i) => Push(cx, ref i, 32, true), F);
        t.Add(Code.Pushw_imm8, (EmitContext cx, ref Insn i) => Push(cx, ref i, 16, true), F);
        t.Add(Code.Pushd_imm8, (EmitContext cx, ref Insn i) => Push(cx, ref i, 32, true), F);
        t.Add(Code.Pop_r16, (EmitContext cx, ref Insn i) => Pop(cx, ref i, 16), F);
        t.Add(Code.Pop_r32, (EmitContext cx, ref Insn i) => Pop(cx, ref i, 32), F);
    }
}
