using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// JMP, Jcc, CALL, RET, LOOP/LOOPcc, JCXZ/JECXZ (near and far), INT n/INT3/INTO/INT1, IRET, BOUND.
/// Every handler here runs as the last instruction of its block and sets EIP itself. The cached CS:EIP at
/// entry is the address of the instruction; the size type S is the operand size, which truncates targets.
/// </summary>
internal static unsafe class ControlFlow
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Next<S>(Processor c, ref Insn i) where S : IOperandSize => (c.Eip + i.Length) & S.Mask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Target<S>(Processor c, ref Insn i) where S : IOperandSize => (c.Eip + i.Length + i.Imm) & S.Mask;

    static void JmpRel<S>(Processor c, ref Insn i) where S : IOperandSize => c.NearJump(Target<S>(c, ref i));

    static void Jcc<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        if (c.Condition(i.Cond)) c.NearJump(Target<S>(c, ref i));
        else c.Eip = Next<S>(c, ref i);
    }

    static void JmpR<S>(Processor c, ref Insn i) where S : IOperandSize => c.NearJump(S.GetReg(c, i.R0));
    static void JmpM<S>(Processor c, ref Insn i) where S : IOperandSize => c.NearJump(S.Read(c, i.Seg, c.Ea(ref i)));

    // CALL: the target is checked before the return address is pushed, so a bad target leaves the stack alone.
    static void CallRel<S>(Processor c, ref Insn i) where S : IOperandSize => Call<S>(c, Target<S>(c, ref i), Next<S>(c, ref i));
    static void CallR<S>(Processor c, ref Insn i) where S : IOperandSize => Call<S>(c, S.GetReg(c, i.R0), Next<S>(c, ref i));
    static void CallM<S>(Processor c, ref Insn i) where S : IOperandSize => Call<S>(c, S.Read(c, i.Seg, c.Ea(ref i)), Next<S>(c, ref i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Call<S>(Processor c, uint target, uint ret) where S : IOperandSize
    {
        if (target > c.Seg[SegReg.CS].Limit) c.Fault(CpuVectors.GP, 0);
        Push<S>(c, ret);
        c.Eip = target;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Push<S>(Processor c, uint v) where S : IOperandSize
    {
        if (S.Bytes == 4) c.Push32(v);
        else c.Push16(v);
    }

    static void RetNear<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint sp = c.StackPointer;
        uint target = S.Read(c, SegReg.SS, sp);
        c.NearJump(target);
        c.SetStackPointer(c.StackOffset(S.Bytes + (int)(i.Imm & 0xFFFF)));
    }

    // ---- far transfers (real and V86 mode here; protected mode in Processor.Segmentation.cs) ----

    static void JmpFarPtr<S>(Processor c, ref Insn i) where S : IOperandSize => JmpFar<S>(c, ref i, (ushort)i.Imm2, i.Imm & S.Mask);

    static void JmpFarM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint off = S.Read(c, i.Seg, ea);
        ushort sel = c.Read16(i.Seg, (ea + (uint)S.Bytes) & i.EaMask);
        JmpFar<S>(c, ref i, sel, off);
    }

    static void JmpFar<S>(Processor c, ref Insn i, ushort sel, uint off) where S : IOperandSize
    {
        if (c.ProtectedMode && !c.V86Mode) c.JumpFarProtected(sel, off, Next<S>(c, ref i));
        else c.LoadCodeSegmentFar(sel, off);
    }

    static void CallFarPtr<S>(Processor c, ref Insn i) where S : IOperandSize => CallFar<S>(c, (ushort)i.Imm2, i.Imm & S.Mask, Next<S>(c, ref i));

    static void CallFarM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint off = S.Read(c, i.Seg, ea);
        ushort sel = c.Read16(i.Seg, (ea + (uint)S.Bytes) & i.EaMask);
        CallFar<S>(c, sel, off, Next<S>(c, ref i));
    }

    static void CallFar<S>(Processor c, ushort sel, uint off, uint ret) where S : IOperandSize
    {
        // Protected mode commits nothing until every check has passed (and a task switch must keep its new ESP).
        if (c.ProtectedMode && !c.V86Mode)
        {
            c.CallFarProtected(sel, off, ret, S.Bytes);
            return;
        }
        ushort oldCs = c.Seg[SegReg.CS].Selector;
        uint oldEsp = c.Esp;
        try
        {
            Push<S>(c, oldCs);
            Push<S>(c, ret);
            c.LoadCodeSegmentFar(sel, off);
        }
        catch (CpuFault)
        {
            c.Esp = oldEsp;
            throw;
        }
    }

    static void RetFar<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        if (c.ProtectedMode && !c.V86Mode)
        {
            c.ReturnFarProtected(S.Bytes, i.Imm & 0xFFFF);
            return;
        }
        uint off = S.Read(c, SegReg.SS, c.StackPointer);
        ushort sel = (ushort)S.Read(c, SegReg.SS, c.StackOffset(S.Bytes));
        c.LoadCodeSegmentFar(sel, off);
        c.SetStackPointer(c.StackOffset(2 * S.Bytes + (int)(i.Imm & 0xFFFF)));
    }

    // ---- loops ----
    // C is the counter size (CX or ECX, from the address size); S the operand size (IP or EIP).

    static void Loop<S, C>(Processor c, ref Insn i) where S : IOperandSize where C : IOperandSize
    {
        uint count = (C.GetReg(c, Processor.ECX) - 1) & C.Mask;
        if (count != 0) c.NearJump(Target<S>(c, ref i));
        else c.Eip = Next<S>(c, ref i);
        C.SetReg(c, Processor.ECX, count);
    }

    static void Loope<S, C>(Processor c, ref Insn i) where S : IOperandSize where C : IOperandSize
    {
        uint count = (C.GetReg(c, Processor.ECX) - 1) & C.Mask;
        if (count != 0 && c.ZeroFlag) c.NearJump(Target<S>(c, ref i));
        else c.Eip = Next<S>(c, ref i);
        C.SetReg(c, Processor.ECX, count);
    }

    static void Loopne<S, C>(Processor c, ref Insn i) where S : IOperandSize where C : IOperandSize
    {
        uint count = (C.GetReg(c, Processor.ECX) - 1) & C.Mask;
        if (count != 0 && !c.ZeroFlag) c.NearJump(Target<S>(c, ref i));
        else c.Eip = Next<S>(c, ref i);
        C.SetReg(c, Processor.ECX, count);
    }

    static void Jcxz<S, C>(Processor c, ref Insn i) where S : IOperandSize where C : IOperandSize
    {
        if (C.GetReg(c, Processor.ECX) == 0) c.NearJump(Target<S>(c, ref i));
        else c.Eip = Next<S>(c, ref i);
    }

    // ---- software interrupts ----

    // INT n is IOPL-sensitive in V86 mode (#GP(0) below IOPL 3); INT3 and INTO are not.
    static void IntN(Processor c, ref Insn i)
    {
        if (c.V86Mode && c.Iopl < 3) c.Fault(CpuVectors.GP, 0);
        uint start = c.Eip;
        c.Eip = (c.Eip + i.Length) & EipMask(c);
        c.SoftwareInterrupt((int)(i.Imm & 0xFF), start);
    }

    static void Int3(Processor c, ref Insn i)
    {
        uint start = c.Eip;
        c.Eip = (c.Eip + i.Length) & EipMask(c);
        c.SoftwareInterrupt(CpuVectors.BP, start);
    }

    // INT1 (ICEBP, F1): a debug trap delivered like an external event.
    static void Int1(Processor c, ref Insn i)
    {
        c.Eip = (c.Eip + i.Length) & EipMask(c);
        c.Interrupt(CpuVectors.DB, InterruptSource.Exception);
    }

    static void Into(Processor c, ref Insn i)
    {
        uint start = c.Eip;
        c.Eip = (c.Eip + i.Length) & EipMask(c);
        if (c.OverflowFlag) c.SoftwareInterrupt(CpuVectors.OF, start);
    }

    static uint EipMask(Processor c) => c.Code32 ? 0xFFFFFFFF : 0xFFFF;

    static void Iret<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        if (c.ProtectedMode)
        {
            if (!c.V86Mode)
            {
                c.InterruptReturnProtected(S.Bytes, Next<S>(c, ref i));
                return;
            }
            // V86 mode: IOPL-sensitive; at IOPL 3 it pops like real mode but cannot change IOPL (or VM).
            if (c.Iopl < 3) c.Fault(CpuVectors.GP, 0);
        }
        uint off = S.Read(c, SegReg.SS, c.StackPointer);
        ushort sel = (ushort)S.Read(c, SegReg.SS, c.StackOffset(S.Bytes));
        uint flags = S.Read(c, SegReg.SS, c.StackOffset(2 * S.Bytes));
        c.LoadCodeSegmentFar(sel, off);
        c.SetStackPointer(c.StackOffset(3 * S.Bytes));
        // Real mode: IRETD may change every flag but VM, VIP and VIF; IRET only the low word.
        uint writable = c.Model.WritableFlags & (S.Bytes == 4 ? ~(Processor.FlagVM | Processor.FlagVIP | Processor.FlagVIF) : 0xFFFF);
        if (c.V86Mode) writable &= ~Processor.FlagIOPL;
        c.SetEflags((c.GetEflags() & ~writable) | (flags & writable));
        c.ExitBlock = true;
    }

    // BOUND: a fault (#BR) when the signed index is outside [lower, upper].
    static void Bound<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        int lower = S.SignExtend(S.Read(c, i.Seg, ea));
        int upper = S.SignExtend(S.Read(c, i.Seg, (ea + (uint)S.Bytes) & i.EaMask));
        int index = S.SignExtend(S.GetReg(c, i.R0));
        if (index < lower || index > upper) c.Fault(CpuVectors.BR);
    }

    static Code C(string name) => Enum.Parse<Code>(name);

    internal static readonly string[] Conditions = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

    internal static void Register(HandlerTable t)
    {
        const HandlerFlags B = HandlerFlags.Branch;
        const CpuGeneration i386 = CpuGeneration.I386;
        foreach (var cc in Conditions)
        {
            string n = "J" + cc;
            t.Add(C(n + "_rel8_16"), &Jcc<Size16>, B);
            t.Add(C(n + "_rel8_32"), &Jcc<Size32>, B, i386);
            t.Add(C(n + "_rel16"), &Jcc<Size16>, B, i386);
            t.Add(C(n + "_rel32_32"), &Jcc<Size32>, B, i386);
        }
        t.Add(Code.Jmp_rel8_16, &JmpRel<Size16>, B);
        t.Add(Code.Jmp_rel8_32, &JmpRel<Size32>, B, i386);
        t.Add(Code.Jmp_rel16, &JmpRel<Size16>, B);
        t.Add(Code.Jmp_rel32_32, &JmpRel<Size32>, B, i386);
        t.AddRm(Code.Jmp_rm16, &JmpR<Size16>, &JmpM<Size16>, B);
        t.AddRm(Code.Jmp_rm32, &JmpR<Size32>, &JmpM<Size32>, B, i386);
        t.Add(Code.Jmp_ptr1616, &JmpFarPtr<Size16>, B);
        t.Add(Code.Jmp_ptr1632, &JmpFarPtr<Size32>, B, i386);
        t.Add(Code.Jmp_m1616, &JmpFarM<Size16>, B);
        t.Add(Code.Jmp_m1632, &JmpFarM<Size32>, B, i386);

        t.Add(Code.Call_rel16, &CallRel<Size16>, B);
        t.Add(Code.Call_rel32_32, &CallRel<Size32>, B, i386);
        t.AddRm(Code.Call_rm16, &CallR<Size16>, &CallM<Size16>, B);
        t.AddRm(Code.Call_rm32, &CallR<Size32>, &CallM<Size32>, B, i386);
        t.Add(Code.Call_ptr1616, &CallFarPtr<Size16>, B);
        t.Add(Code.Call_ptr1632, &CallFarPtr<Size32>, B, i386);
        t.Add(Code.Call_m1616, &CallFarM<Size16>, B);
        t.Add(Code.Call_m1632, &CallFarM<Size32>, B, i386);

        t.Add(Code.Retnw, &RetNear<Size16>, B);
        t.Add(Code.Retnw_imm16, &RetNear<Size16>, B);
        t.Add(Code.Retnd, &RetNear<Size32>, B, i386);
        t.Add(Code.Retnd_imm16, &RetNear<Size32>, B, i386);
        t.Add(Code.Retfw, &RetFar<Size16>, B);
        t.Add(Code.Retfw_imm16, &RetFar<Size16>, B);
        t.Add(Code.Retfd, &RetFar<Size32>, B, i386);
        t.Add(Code.Retfd_imm16, &RetFar<Size32>, B, i386);

        t.Add(Code.Loop_rel8_16_CX, &Loop<Size16, Size16>, B);
        t.Add(Code.Loop_rel8_32_CX, &Loop<Size32, Size16>, B, i386);
        t.Add(Code.Loop_rel8_16_ECX, &Loop<Size16, Size32>, B, i386);
        t.Add(Code.Loop_rel8_32_ECX, &Loop<Size32, Size32>, B, i386);
        t.Add(Code.Loope_rel8_16_CX, &Loope<Size16, Size16>, B);
        t.Add(Code.Loope_rel8_32_CX, &Loope<Size32, Size16>, B, i386);
        t.Add(Code.Loope_rel8_16_ECX, &Loope<Size16, Size32>, B, i386);
        t.Add(Code.Loope_rel8_32_ECX, &Loope<Size32, Size32>, B, i386);
        t.Add(Code.Loopne_rel8_16_CX, &Loopne<Size16, Size16>, B);
        t.Add(Code.Loopne_rel8_32_CX, &Loopne<Size32, Size16>, B, i386);
        t.Add(Code.Loopne_rel8_16_ECX, &Loopne<Size16, Size32>, B, i386);
        t.Add(Code.Loopne_rel8_32_ECX, &Loopne<Size32, Size32>, B, i386);
        t.Add(Code.Jcxz_rel8_16, &Jcxz<Size16, Size16>, B);
        t.Add(Code.Jcxz_rel8_32, &Jcxz<Size32, Size16>, B, i386);
        t.Add(Code.Jecxz_rel8_16, &Jcxz<Size16, Size32>, B, i386);
        t.Add(Code.Jecxz_rel8_32, &Jcxz<Size32, Size32>, B, i386);

        t.Add(Code.Int_imm8, &IntN, B);
        t.Add(Code.Int3, &Int3, B);
        t.Add(Code.Int1, &Int1, B, i386);
        t.Add(Code.Into, &Into, B);
        t.Add(Code.Iretw, &Iret<Size16>, B);
        t.Add(Code.Iretd, &Iret<Size32>, B, i386);
        t.Add(Code.Bound_r16_m1616, &Bound<Size16>);
        t.Add(Code.Bound_r32_m3232, &Bound<Size32>, min: i386);
    }
}
