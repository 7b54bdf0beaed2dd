using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit.Emitters;

/// <summary>
/// MOVS, STOS, LODS, SCAS, CMPS without a REP prefix — mirror of the single-element path of JitVm.Cpu/Instructions/Strings.cs.
/// The access (or both, for MOVS) comes first, so a fault commits nothing; then the pointers move by the operand
/// size, down when DF is set, within the address size (16-bit addressing changes only the low words). Repeated
/// forms and the 286 (whose faulting string instructions leave pointers stepped) run in the interpreter.
/// </summary>
internal static class Strings
{
    enum Kind { Movs, Stos, Lods, Scas, Cmps }

    static bool Emit(EmitContext cx, ref Insn i, Kind kind, int bits)
    {
        if (kind is Kind.Scas or Kind.Cmps) return Compare(cx, ref i, kind, bits);
        var il = cx.IL;
        int bytes = bits / 8;
        uint mask = i.EaMask;
        var src = cx.Temp(0);
        var dst = cx.Temp(1);
        var v = cx.Temp(2);
        if (kind != Kind.Stos) ReadAt(cx, Processor.ESI, i.Seg, mask, bytes, src);
        else cx.LoadReg(Processor.EAX, bits);
        il.Emit(OpCodes.Stloc, v);
        if (kind != Kind.Lods)
        {
            Pointer(cx, Processor.EDI, mask, dst);
            cx.Write(SegReg.ES, bytes, dst, v);
        }
        if (kind == Kind.Lods)
        {
            il.Emit(OpCodes.Ldloc, v);
            cx.StoreReg(Processor.EAX, bits);
        }
        if (kind != Kind.Stos) Step(cx, Processor.ESI, mask, bytes);
        if (kind != Kind.Lods) Step(cx, Processor.EDI, mask, bytes);
        return true;
    }

    // SCAS compares the accumulator with ES:[DI], CMPS seg:[SI] with ES:[DI]: both reads first (a fault commits
    // nothing), then the pointers step, then the flags of the subtraction first - second.
    static bool Compare(EmitContext cx, ref Insn i, Kind kind, int bits)
    {
        var il = cx.IL;
        int bytes = bits / 8;
        uint mask = i.EaMask;
        var src = cx.Temp(0);
        var dst = cx.Temp(1);
        var a = cx.Temp(2);
        var b = cx.Temp(8);
        var r = cx.Temp(9);
        if (kind == Kind.Cmps) ReadAt(cx, Processor.ESI, i.Seg, mask, bytes, src);
        else cx.LoadReg(Processor.EAX, bits);
        il.Emit(OpCodes.Stloc, a);
        ReadAt(cx, Processor.EDI, SegReg.ES, mask, bytes, dst);
        il.Emit(OpCodes.Stloc, b);
        if (kind == Kind.Cmps) Step(cx, Processor.ESI, mask, bytes);
        Step(cx, Processor.EDI, mask, bytes);
        il.Emit(OpCodes.Ldloc, a);
        il.Emit(OpCodes.Ldloc, b);
        il.Emit(OpCodes.Sub);
        cx.MaskTo(bits);
        il.Emit(OpCodes.Stloc, r);
        cx.SetFlags(FlagOp.Sub, bits, a, b, r);
        return true;
    }

    // The pointer register within the address size, into ptr.
    static void Pointer(EmitContext cx, int reg, uint mask, LocalBuilder ptr)
    {
        cx.LoadReg(reg, 32);
        cx.Const(mask);
        cx.IL.Emit(OpCodes.And);
        cx.IL.Emit(OpCodes.Stloc, ptr);
    }

    // Pushes the element at seg:pointer (the pointer, within the address size, left in ptr).
    static void ReadAt(EmitContext cx, int reg, int seg, uint mask, int bytes, LocalBuilder ptr)
    {
        Pointer(cx, reg, mask, ptr);
        cx.Read(seg, bytes, ptr);
    }

    // p = (p & ~mask) | ((p + delta) & mask), delta = DF ? -bytes : bytes.
    static void Step(EmitContext cx, int reg, uint mask, int bytes)
    {
        var il = cx.IL;
        if (mask != 0xFFFFFFFF)
        {
            cx.LoadReg(reg, 32);
            cx.Const(~mask);
            il.Emit(OpCodes.And);
        }
        cx.LoadReg(reg, 32);
        cx.LoadStringDelta(bytes);
        il.Emit(OpCodes.Add);
        if (mask != 0xFFFFFFFF)
        {
            cx.Const(mask);
            il.Emit(OpCodes.And);
            il.Emit(OpCodes.Or);
        }
        cx.StoreReg(reg, 32);
    }

    internal static void Register(EmitterTable t)
    {
        const FlagUse F = FlagUse.Faults | FlagUse.NoRepeat;
        t.Add(Code.Movsb_m8_m8, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Movs, 8), F);
        t.Add(Code.Movsw_m16_m16, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Movs, 16), F);
        t.Add(Code.Movsd_m32_m32, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Movs, 32), F);
        t.Add(Code.Stosb_m8_AL, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Stos, 8), F);
        t.Add(Code.Stosw_m16_AX, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Stos, 16), F);
        t.Add(Code.Stosd_m32_EAX, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Stos, 32), F);
        const FlagUse C = F | FlagUse.WritesAll;
        t.Add(Code.Scasb_AL_m8, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Scas, 8), C);
        t.Add(Code.Scasw_AX_m16, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Scas, 16), C);
        t.Add(Code.Scasd_EAX_m32, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Scas, 32), C);
        t.Add(Code.Cmpsb_m8_m8, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Cmps, 8), C);
        t.Add(Code.Cmpsw_m16_m16, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Cmps, 16), C);
        t.Add(Code.Cmpsd_m32_m32, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Cmps, 32), C);
        t.Add(Code.Lodsb_AL_m8, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Lods, 8), F);
        t.Add(Code.Lodsw_AX_m16, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Lods, 16), F);
        t.Add(Code.Lodsd_EAX_m32, (EmitContext cx, ref Insn i) => Emit(cx, ref i, Kind.Lods, 32), F);
    }
}
