using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>
/// What translated code calls when its inline fast path does not apply: slow memory accesses (TLB miss, MMIO,
/// ROM, code pages, segment checks that need the full rules), interpreter handlers for instructions without an
/// emitter, and flag evaluation from the processor's lazy state. None of these lets an exception unwind into
/// generated code: a guest fault is recorded with <see cref="Processor.SetPendingFault"/> and the IL checks
/// <see cref="Processor.FaultPending"/> right after the call.
/// </summary>
public static unsafe class JitHelpers
{
    public static uint Read8(Processor cpu, int seg, uint off)
    {
        try { return cpu.Read8(seg, off); }
        catch (CpuFault f) { cpu.SetPendingFault(f); return 0; }
    }

    public static uint Read16(Processor cpu, int seg, uint off)
    {
        try { return cpu.Read16(seg, off); }
        catch (CpuFault f) { cpu.SetPendingFault(f); return 0; }
    }

    public static uint Read32(Processor cpu, int seg, uint off)
    {
        try { return cpu.Read32(seg, off); }
        catch (CpuFault f) { cpu.SetPendingFault(f); return 0; }
    }

    public static void Write8(Processor cpu, int seg, uint off, uint v)
    {
        try { cpu.Write8(seg, off, v); }
        catch (CpuFault f) { cpu.SetPendingFault(f); }
    }

    public static void Write16(Processor cpu, int seg, uint off, uint v)
    {
        try { cpu.Write16(seg, off, v); }
        catch (CpuFault f) { cpu.SetPendingFault(f); }
    }

    public static void Write32(Processor cpu, int seg, uint off, uint v)
    {
        try { cpu.Write32(seg, off, v); }
        catch (CpuFault f) { cpu.SetPendingFault(f); }
    }

    /// <summary>Checks a write before a read-modify-write commits anything (used when the fast write check failed).</summary>
    public static void CheckWrite(Processor cpu, int seg, uint off, int size)
    {
        try { cpu.CheckSegment(seg, off, size, true); }
        catch (CpuFault f) { cpu.SetPendingFault(f); }
    }

    /// <summary>Raises a fault from translated code (e.g. a near jump beyond the CS limit).</summary>
    public static void Fault(Processor cpu, int vector, uint error, bool hasError)
    {
        cpu.PendingFault.Vector = vector;
        cpu.PendingFault.ErrorCode = error;
        cpu.PendingFault.HasErrorCode = hasError;
        cpu.FaultPending = true;
    }

    /// <summary>Runs the interpreter handler of instruction <paramref name="index"/> (registers and flags already written back).</summary>
    public static void Interpret(Processor cpu, Insn[] insns, int index)
    {
        try
        {
            ref Insn i = ref insns[index];
            i.Handler(cpu, ref i);
        }
        catch (CpuFault f)
        {
            cpu.RepeatInstruction = false;
            cpu.SetPendingFault(f);
        }
    }

    /// <summary>
    /// After an interpreted instruction that asked to end the block: an unfinished REP instruction runs again
    /// (with RF set, as between iterations); anything else continues after the instruction.
    /// </summary>
    public static void FinishExitBlock(Processor cpu, uint insnEip, uint nextEip)
    {
        if (cpu.RepeatInstruction)
        {
            cpu.RepeatInstruction = false;
            cpu.Eip = insnEip;
            if (cpu.Model.Generation >= CpuGeneration.I386) cpu.Flags |= Processor.FlagRF;
        }
        else cpu.Eip = nextEip;
    }

    /// <summary>DIV on the processor's accumulator registers (the translator stores and reloads them around the call).</summary>
    internal static void Div<S>(Processor cpu, uint src) where S : Cpu.Instructions.IOperandSize
    {
        try { Cpu.Instructions.MulDiv.Div<S>(cpu, src); }
        catch (CpuFault f) { cpu.SetPendingFault(f); }
    }

    /// <summary>IDIV on the processor's accumulator registers.</summary>
    internal static void Idiv<S>(Processor cpu, uint src) where S : Cpu.Instructions.IOperandSize
    {
        try { Cpu.Instructions.MulDiv.Idiv<S>(cpu, src); }
        catch (CpuFault f) { cpu.SetPendingFault(f); }
    }

    public static int Condition(Processor cpu, int cc) => cpu.Condition(cc) ? 1 : 0;

    public static uint CarryFlag(Processor cpu) => cpu.CarryFlag();
}
