using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>PUSH/POP (registers, memory, immediates, segment registers), PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE.</summary>
/// <remarks>
/// Multi-slot operations write every slot before committing the stack pointer, or restore it when a slot
/// faults, so a fault leaves ESP as it was before the instruction.
/// </remarks>
internal static unsafe class Stack
{
    static void PushR<S>(Processor c, ref Insn i) where S : IOperandSize => ControlFlow.Push<S>(c, S.GetReg(c, i.R0));   // PUSH SP pushes the old value (286+)
    static void PushM<S>(Processor c, ref Insn i) where S : IOperandSize => ControlFlow.Push<S>(c, S.Read(c, i.Seg, c.Ea(ref i)));
    static void PushI<S>(Processor c, ref Insn i) where S : IOperandSize => ControlFlow.Push<S>(c, i.Imm & S.Mask);

    static uint Pop<S>(Processor c) where S : IOperandSize => S.Bytes == 4 ? c.Pop32() : c.Pop16();

    // POP r: read, bump the stack pointer, then write the register (so POP SP loads the popped value).
    static void PopR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint v = Pop<S>(c);
        S.SetReg(c, i.R0, v);
    }

    // POP m: an ESP-based address is computed with the incremented ESP; if the store faults ESP is restored.
    static void PopM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint oldEsp = c.Esp;
        uint v = Pop<S>(c);
        try
        {
            S.Write(c, i.Seg, c.Ea(ref i), v);
        }
        catch (CpuFault)
        {
            c.Esp = oldEsp;
            throw;
        }
    }

    static void PushSreg<S, G>(Processor c, ref Insn i) where S : IOperandSize where G : ISegmentRegister =>
        ControlFlow.Push<S>(c, c.Seg[G.Index].Selector);

    static void PopSreg<S, G>(Processor c, ref Insn i) where S : IOperandSize where G : ISegmentRegister
    {
        ushort sel = (ushort)S.Read(c, SegReg.SS, c.StackPointer);
        c.LoadSegment(G.Index, sel);
        c.SetStackPointer(c.StackOffset(S.Bytes));
        if (G.Index == SegReg.SS) c.InterruptShadow = true;
    }

    static void Pusha<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint oldEsp = c.Esp;
        uint sp = S.GetReg(c, Processor.ESP);
        try
        {
            for (int r = 0; r < 8; r++) ControlFlow.Push<S>(c, r == 4 ? sp : S.GetReg(c, r * 4));
        }
        catch (CpuFault)
        {
            c.Esp = oldEsp;
            throw;
        }
    }

    static void Popa<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        // Read all eight slots first (any may fault), then commit; the SP slot is discarded.
        Span<uint> v = stackalloc uint[8];
        for (int k = 0; k < 8; k++) v[k] = S.Read(c, SegReg.SS, c.StackOffset(k * S.Bytes));
        c.SetStackPointer(c.StackOffset(8 * S.Bytes));
        for (int k = 0; k < 8; k++)
        {
            int r = 7 - k;                                   // DI SI BP (SP) BX DX CX AX
            if (r != 4) S.SetReg(c, r * 4, v[k]);
        }
    }

    // PUSHF: the image has VM and RF clear (SDM PUSHF: EFLAGS AND 00FCFFFFH).
    // In V86 mode PUSHF and POPF are IOPL-sensitive: #GP(0) below IOPL 3.
    static void Pushf<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        if (c.V86Mode && c.Iopl < 3) c.Fault(CpuVectors.GP, 0);
        ControlFlow.Push<S>(c, c.GetEflags() & 0x00FCFFFF & S.Mask);
    }

    static void Popf<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        if (c.ProtectedMode)
        {
            PopfProtected<S>(c);
            return;
        }
        uint v = S.Read(c, SegReg.SS, c.StackPointer);
        c.SetStackPointer(c.StackOffset(S.Bytes));
        // Real mode: POPF changes the writable low word; POPFD everything but VM, VIP, VIF and RF (which it clears).
        uint writable = c.Model.WritableFlags & (S.Bytes == 4 ? ~(Processor.FlagVM | Processor.FlagVIP | Processor.FlagVIF | Processor.FlagRF) : 0xFFFF);
        uint f = (c.GetEflags() & ~writable) | (v & writable);
        if (S.Bytes == 4) f &= ~Processor.FlagRF;
        c.SetEflags(f);
    }

    // Protected mode: IOPL changes only at CPL 0 and IF only when CPL <= IOPL; a POPF without the privilege
    // silently keeps them. VM, VIP and VIF never change, RF is cleared. V86 mode at IOPL 3 behaves as CPL 3.
    static void PopfProtected<S>(Processor c) where S : IOperandSize
    {
        if (c.V86Mode && c.Iopl < 3) c.Fault(CpuVectors.GP, 0);
        uint v = S.Read(c, SegReg.SS, c.StackPointer);
        c.SetStackPointer(c.StackOffset(S.Bytes));
        c.SetEflags(c.MergeProtectedFlags(v, S.Bytes, c.Cpl, false));
    }

    // ENTER size, level: push BP, copy level-1 frame pointers from the old frame, push the new frame pointer.
    static void Enter<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint size = i.Imm & 0xFFFF;
        int level = (int)(i.Imm2 & 31);
        uint oldEsp = c.Esp;
        try
        {
            ControlFlow.Push<S>(c, S.GetReg(c, Processor.EBP));
            uint frame = c.StackPointer;
            if (level > 0)
            {
                uint bp = c.Stack32 ? c.Ebp : c.Ebp & 0xFFFF;
                for (int k = 1; k < level; k++)
                {
                    bp = c.Stack32 ? bp - (uint)S.Bytes : (bp - (uint)S.Bytes) & 0xFFFF;
                    ControlFlow.Push<S>(c, S.Read(c, SegReg.SS, bp));
                }
                ControlFlow.Push<S>(c, frame);
            }
            uint newSp = c.Stack32 ? c.StackPointer - size : (c.StackPointer - size) & 0xFFFF;
            // The final stack pointer must be usable: the 386+ checks the frame's lowest byte against SS.
            if (size != 0) c.CheckSegment(SegReg.SS, newSp, 1, true);
            S.SetReg(c, Processor.EBP, frame);
            c.SetStackPointer(newSp);
        }
        catch (CpuFault)
        {
            c.Esp = oldEsp;
            throw;
        }
    }

    // LEAVE: SP = BP, then POP BP.
    static void Leave<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint bp = c.Stack32 ? c.Ebp : c.Ebp & 0xFFFF;
        uint v = S.Read(c, SegReg.SS, bp);
        c.SetStackPointer(c.Stack32 ? bp + (uint)S.Bytes : (bp + (uint)S.Bytes) & 0xFFFF);
        S.SetReg(c, Processor.EBP, v);
    }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i386 = CpuGeneration.I386;
        t.Add(Code.Push_r16, &PushR<Size16>);
        t.Add(Code.Push_r32, &PushR<Size32>, min: i386);
        t.Add(Code.Pop_r16, &PopR<Size16>);
        t.Add(Code.Pop_r32, &PopR<Size32>, min: i386);
        t.AddRm(Code.Push_rm16, &PushR<Size16>, &PushM<Size16>);
        t.AddRm(Code.Push_rm32, &PushR<Size32>, &PushM<Size32>, min: i386);
        t.AddRm(Code.Pop_rm16, &PopR<Size16>, &PopM<Size16>);
        t.AddRm(Code.Pop_rm32, &PopR<Size32>, &PopM<Size32>, min: i386);
        t.Add(Code.Push_imm16, &PushI<Size16>);
        t.Add(Code.Pushd_imm32, &PushI<Size32>, min: i386);
        t.Add(Code.Pushw_imm8, &PushI<Size16>);
        t.Add(Code.Pushd_imm8, &PushI<Size32>, min: i386);

        t.Add(Code.Pushw_ES, &PushSreg<Size16, SegES>);
        t.Add(Code.Pushw_CS, &PushSreg<Size16, SegCS>);
        t.Add(Code.Pushw_SS, &PushSreg<Size16, SegSS>);
        t.Add(Code.Pushw_DS, &PushSreg<Size16, SegDS>);
        t.Add(Code.Pushw_FS, &PushSreg<Size16, SegFS>, min: i386);
        t.Add(Code.Pushw_GS, &PushSreg<Size16, SegGS>, min: i386);
        t.Add(Code.Pushd_ES, &PushSreg<Size32, SegES>, min: i386);
        t.Add(Code.Pushd_CS, &PushSreg<Size32, SegCS>, min: i386);
        t.Add(Code.Pushd_SS, &PushSreg<Size32, SegSS>, min: i386);
        t.Add(Code.Pushd_DS, &PushSreg<Size32, SegDS>, min: i386);
        t.Add(Code.Pushd_FS, &PushSreg<Size32, SegFS>, min: i386);
        t.Add(Code.Pushd_GS, &PushSreg<Size32, SegGS>, min: i386);
        t.Add(Code.Popw_ES, &PopSreg<Size16, SegES>);
        t.Add(Code.Popw_SS, &PopSreg<Size16, SegSS>, HandlerFlags.EndsBlock);
        t.Add(Code.Popw_DS, &PopSreg<Size16, SegDS>);
        t.Add(Code.Popw_FS, &PopSreg<Size16, SegFS>, min: i386);
        t.Add(Code.Popw_GS, &PopSreg<Size16, SegGS>, min: i386);
        t.Add(Code.Popd_ES, &PopSreg<Size32, SegES>, min: i386);
        t.Add(Code.Popd_SS, &PopSreg<Size32, SegSS>, HandlerFlags.EndsBlock, i386);
        t.Add(Code.Popd_DS, &PopSreg<Size32, SegDS>, min: i386);
        t.Add(Code.Popd_FS, &PopSreg<Size32, SegFS>, min: i386);
        t.Add(Code.Popd_GS, &PopSreg<Size32, SegGS>, min: i386);

        t.Add(Code.Pushaw, &Pusha<Size16>);
        t.Add(Code.Pushad, &Pusha<Size32>, min: i386);
        t.Add(Code.Popaw, &Popa<Size16>);
        t.Add(Code.Popad, &Popa<Size32>, min: i386);
        t.Add(Code.Pushfw, &Pushf<Size16>);
        t.Add(Code.Pushfd, &Pushf<Size32>, min: i386);
        t.Add(Code.Popfw, &Popf<Size16>, HandlerFlags.EndsBlock);
        t.Add(Code.Popfd, &Popf<Size32>, HandlerFlags.EndsBlock, i386);
        t.Add(Code.Enterw_imm16_imm8, &Enter<Size16>);
        t.Add(Code.Enterd_imm16_imm8, &Enter<Size32>, min: i386);
        t.Add(Code.Leavew, &Leave<Size16>);
        t.Add(Code.Leaved, &Leave<Size32>, min: i386);
    }
}
