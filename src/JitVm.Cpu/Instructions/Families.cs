using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>Collects every instruction family's handlers into the opcode table.</summary>
internal static unsafe class Families
{
    internal static void RegisterAll(HandlerTable t)
    {
        Alu.Register(t);
        DataMovement.Register(t);
        ControlFlow.Register(t);
        Stack.Register(t);
        FlagControl.Register(t);
        ShiftRotate.Register(t);
        MulDiv.Register(t);
        Bcd.Register(t);
        Strings.Register(t);
        InputOutput.Register(t);
        Bits.Register(t);
        Conditional.Register(t);
        Exchange.Register(t);
        SystemInstructions.Register(t);
        Descriptors.Register(t);
        X87Escape.Register(t);
        FastSystemCall.Register(t);
    }

    /// <summary>
    /// Handler substituted by the decoder for encodings that must raise an exception when executed: #UD for
    /// invalid or model-unsupported opcodes, #GP for over-long instructions, the fetch fault of an unreadable
    /// first instruction. Imm = vector, Imm2 = error code, R0 = 1 when the error code is pushed; for a page fault
    /// Disp = the linear address for CR2 (set only now that the fault is really raised).
    /// </summary>
    internal static void RaiseFault(Processor c, ref Insn i)
    {
        if (i.Imm == CpuVectors.PF) c.PageFault(i.Disp, i.Imm2);
        if (i.R0 != 0) c.Fault((int)i.Imm, i.Imm2);
        c.Fault((int)i.Imm);
    }
}
