using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>
/// Jcc, JMP rel, LOOP/LOOPE/LOOPNE/JCXZ/JECXZ, CALL rel, RET near — mirror of
/// JitVm.Cpu/Instructions/ControlFlow.cs. Each ends the block; exits report which way they left (0: fall-through,
/// 1: taken) for the successor links.
/// </summary>
internal static class ControlFlow
{
    static long TargetOffset(ref Insn i) => (long)i.Offset + i.Length + (int)i.Imm;

    /// <summary>
    /// Where a block ending in a direct transfer of the code's own operand size can continue, as byte offsets
    /// from the block's start (the translator gathers those blocks into one region); empty for anything else.
    /// </summary>
    public static IEnumerable<long> Successors(DecodedBlock block)
    {
        var insns = block.Insns;
        if (insns.Length == 0) return [];
        ref Insn last = ref insns[^1];
        bool code32 = (block.Mode & BlockCache.ModeCode32) != 0;
        long next = (long)last.Offset + last.Length;
        if (!block.EndsInBranch)
            return insns.Length == BlockDecoder.MaxInstructions ? [next] : [];
        if (!Direct.TryGetValue((Code)last.Code, out var d) || d.Bits != (code32 ? 32 : 16)) return [];
        // A call's return site is gathered too: a RET in the region that returns there stays in the method.
        return d.Conditional || d.Call ? [TargetOffset(ref last), next] : [TargetOffset(ref last)];
    }

    /// <summary>The block ends in a direct CALL of the code's own operand size (its fall-through is a return site).</summary>
    public static bool EndsInCall(DecodedBlock block) =>
        block.EndsInBranch && block.Insns.Length > 0 && Direct.TryGetValue((Code)block.Insns[^1].Code, out var d) && d.Call &&
        d.Bits == ((block.Mode & BlockCache.ModeCode32) != 0 ? 32 : 16);

    static readonly Dictionary<Code, (int Bits, bool Conditional, bool Call)> Direct = DirectTransfers();

    static Dictionary<Code, (int Bits, bool Conditional, bool Call)> DirectTransfers()
    {
        var map = new Dictionary<Code, (int Bits, bool Conditional, bool Call)>();
        foreach (var cc in new[] { "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g" })
        {
            map.TryAdd(EmitterTable.C("J" + cc + "_rel8_16"), (16, true, false));
            map.TryAdd(EmitterTable.C("J" + cc + "_rel8_32"), (32, true, false));
            map.TryAdd(EmitterTable.C("J" + cc + "_rel16"), (16, true, false));
            map.TryAdd(EmitterTable.C("J" + cc + "_rel32_32"), (32, true, false));
        }
        foreach (var (c, bits, cond) in new (Code, int, bool)[]
        {
            (Code.Jmp_rel8_16, 16, false), (Code.Jmp_rel8_32, 32, false), (Code.Jmp_rel16, 16, false), (Code.Jmp_rel32_32, 32, false),
            (Code.Call_rel16, 16, false), (Code.Call_rel32_32, 32, false),
            (Code.Loop_rel8_16_CX, 16, true), (Code.Loop_rel8_32_CX, 32, true), (Code.Loop_rel8_16_ECX, 16, true), (Code.Loop_rel8_32_ECX, 32, true),
            (Code.Loope_rel8_16_CX, 16, true), (Code.Loope_rel8_32_CX, 32, true), (Code.Loope_rel8_16_ECX, 16, true), (Code.Loope_rel8_32_ECX, 32, true),
            (Code.Loopne_rel8_16_CX, 16, true), (Code.Loopne_rel8_32_CX, 32, true), (Code.Loopne_rel8_16_ECX, 16, true), (Code.Loopne_rel8_32_ECX, 32, true),
            (Code.Jcxz_rel8_16, 16, true), (Code.Jcxz_rel8_32, 32, true), (Code.Jecxz_rel8_16, 16, true), (Code.Jecxz_rel8_32, 32, true),
        })
            map.TryAdd(c, (bits, cond, c is Code.Call_rel16 or Code.Call_rel32_32));
        return map;
    }

    static bool Jcc(EmitContext cx, ref Insn i, int bits)
    {
        var notTaken = cx.IL.DefineLabel();
        cx.Condition(i.Cond);
        cx.IL.Emit(OpCodes.Brfalse, notTaken);
        cx.JumpToOffset(TargetOffset(ref i), bits, 1);
        cx.IL.MarkLabel(notTaken);
        cx.ContinueAtNext();
        return true;
    }

    static bool Jmp(EmitContext cx, ref Insn i, int bits)
    {
        cx.JumpToOffset(TargetOffset(ref i), bits, 1);
        return true;
    }

    /// <summary>LOOP family: <paramref name="zf"/> null for LOOP, true for LOOPE, false for LOOPNE; <paramref name="jcxz"/> for JCXZ/JECXZ.</summary>
    static bool Loop(EmitContext cx, ref Insn i, int bits, int counterBits, bool? zf, bool jcxz)
    {
        var il = cx.IL;
        var count = cx.Temp(0);
        var notTaken = cx.IL.DefineLabel();
        cx.LoadReg(Processor.ECX, counterBits);
        if (jcxz)
        {
            il.Emit(OpCodes.Brtrue, notTaken);
            cx.JumpToOffset(TargetOffset(ref i), bits, 1);
            il.MarkLabel(notTaken);
            cx.ContinueAtNext();
            return true;
        }
        // count = CX - 1; the counter is committed only once the branch cannot fault any more.
        il.Emit(OpCodes.Ldc_I4_1);
        il.Emit(OpCodes.Sub);
        cx.MaskTo(counterBits);
        il.Emit(OpCodes.Stloc, count);
        var commit = () => { il.Emit(OpCodes.Ldloc, count); cx.StoreReg(Processor.ECX, counterBits); };
        il.Emit(OpCodes.Ldloc, count);
        il.Emit(OpCodes.Brfalse, notTaken);
        if (zf is { } wantZero)
        {
            cx.Condition(4);                                   // ZF
            il.Emit(wantZero ? OpCodes.Brfalse : OpCodes.Brtrue, notTaken);
        }
        cx.JumpToOffset(TargetOffset(ref i), bits, 1, commit);
        il.MarkLabel(notTaken);
        commit();
        cx.ContinueAtNext();
        return true;
    }

    static bool Call(EmitContext cx, ref Insn i, int bits)
    {
        var ret = cx.Temp(1);
        cx.LoadNextEip();
        cx.IL.Emit(OpCodes.Stloc, ret);
        cx.JumpToOffset(TargetOffset(ref i), bits, 1, () => cx.Push(bits / 8, ret));
        return true;
    }

    static bool Ret(EmitContext cx, ref Insn i, int bits)
    {
        var il = cx.IL;
        var target = cx.Temp(5);
        cx.Peek(bits / 8);
        il.Emit(OpCodes.Stloc, target);
        cx.CheckNearTarget(target);
        cx.AdjustStack(bits / 8 + (int)(i.Imm & 0xFFFF));
        cx.Return(target);
        return true;
    }

    internal static void Register(EmitterTable t)
    {
        const FlagUse B = FlagUse.Branch | FlagUse.Faults;
        foreach (var cc in new[] { "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g" })
        {
            string n = "J" + cc;
            t.Add(EmitterTable.C(n + "_rel8_16"), (EmitContext cx, ref Insn i) => Jcc(cx, ref i, 16), B | FlagUse.Reads);
            t.Add(EmitterTable.C(n + "_rel8_32"), (EmitContext cx, ref Insn i) => Jcc(cx, ref i, 32), B | FlagUse.Reads);
            t.Add(EmitterTable.C(n + "_rel16"), (EmitContext cx, ref Insn i) => Jcc(cx, ref i, 16), B | FlagUse.Reads);
            t.Add(EmitterTable.C(n + "_rel32_32"), (EmitContext cx, ref Insn i) => Jcc(cx, ref i, 32), B | FlagUse.Reads);
        }
        t.Add(Code.Jmp_rel8_16, (EmitContext cx, ref Insn i) => Jmp(cx, ref i, 16), B);
        t.Add(Code.Jmp_rel8_32, (EmitContext cx, ref Insn i) => Jmp(cx, ref i, 32), B);
        t.Add(Code.Jmp_rel16, (EmitContext cx, ref Insn i) => Jmp(cx, ref i, 16), B);
        t.Add(Code.Jmp_rel32_32, (EmitContext cx, ref Insn i) => Jmp(cx, ref i, 32), B);

        t.Add(Code.Loop_rel8_16_CX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 16, null, false), B);
        t.Add(Code.Loop_rel8_32_CX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 16, null, false), B);
        t.Add(Code.Loop_rel8_16_ECX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 32, null, false), B);
        t.Add(Code.Loop_rel8_32_ECX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 32, null, false), B);
        t.Add(Code.Loope_rel8_16_CX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 16, true, false), B | FlagUse.Reads);
        t.Add(Code.Loope_rel8_32_CX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 16, true, false), B | FlagUse.Reads);
        t.Add(Code.Loope_rel8_16_ECX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 32, true, false), B | FlagUse.Reads);
        t.Add(Code.Loope_rel8_32_ECX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 32, true, false), B | FlagUse.Reads);
        t.Add(Code.Loopne_rel8_16_CX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 16, false, false), B | FlagUse.Reads);
        t.Add(Code.Loopne_rel8_32_CX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 16, false, false), B | FlagUse.Reads);
        t.Add(Code.Loopne_rel8_16_ECX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 32, false, false), B | FlagUse.Reads);
        t.Add(Code.Loopne_rel8_32_ECX, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 32, false, false), B | FlagUse.Reads);
        t.Add(Code.Jcxz_rel8_16, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 16, null, true), B);
        t.Add(Code.Jcxz_rel8_32, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 16, null, true), B);
        t.Add(Code.Jecxz_rel8_16, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 16, 32, null, true), B);
        t.Add(Code.Jecxz_rel8_32, (EmitContext cx, ref Insn i) => Loop(cx, ref i, 32, 32, null, true), B);

        t.Add(Code.Call_rel16, (EmitContext cx, ref Insn i) => Call(cx, ref i, 16), B);
        t.Add(Code.Call_rel32_32, (EmitContext cx, ref Insn i) => Call(cx, ref i, 32), B);
        t.Add(Code.Retnw, (EmitContext cx, ref Insn i) => Ret(cx, ref i, 16), B);
        t.Add(Code.Retnw_imm16, (EmitContext cx, ref Insn i) => Ret(cx, ref i, 16), B);
        t.Add(Code.Retnd, (EmitContext cx, ref Insn i) => Ret(cx, ref i, 32), B);
        t.Add(Code.Retnd_imm16, (EmitContext cx, ref Insn i) => Ret(cx, ref i, 32), B);
    }
}
