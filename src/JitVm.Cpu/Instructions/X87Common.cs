using System.Runtime.CompilerServices;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// What every x87 instruction does before its own work (SDM vol. 1, 8.3.12 and 8.6): #NM when CR0.EM or CR0.TS is
/// set; on a model without an FPU, the escape behaviour of <see cref="X87Escape"/>; for a waiting instruction, the
/// report of a pending unmasked exception. And the result bookkeeping the families share.
/// </summary>
internal static class X87
{
    const uint EmTs = Processor.Cr0EM | Processor.Cr0TS;

    /// <summary>Start of a waiting instruction: false when it must not run (no FPU, or it waits for FERR# handling).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Begin(Processor c, ref Insn i)
    {
        if ((c.Cr0 & EmTs) != 0 || !c.HasFpu || (c.Fpu.Status & Processor.FpuErrorSummary) != 0) return BeginSlow(c, ref i, true);
        return true;
    }

    /// <summary>Start of a no-wait control instruction (FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool BeginNoWait(Processor c, ref Insn i)
    {
        if ((c.Cr0 & EmTs) != 0 || !c.HasFpu) return BeginSlow(c, ref i, false);
        return true;
    }

    /// <summary>
    /// Start of an instruction a feature bit adds to the FPU (FCMOVcc and FCOMI need CPUID.CMOV, FISTTP SSE3): #UD on
    /// an FPU without it, an ordinary escape without an FPU.
    /// </summary>
    internal static bool BeginFeature(Processor c, ref Insn i, uint edx, uint ecx)
    {
        var id = c.Model.Cpuid;
        if (c.HasFpu && ((id!.FeaturesEdx & edx) != edx || (id.FeaturesEcx & ecx) != ecx)) c.Fault(CpuVectors.UD);
        return Begin(c, ref i);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static bool BeginSlow(Processor c, ref Insn i, bool wait)
    {
        if ((c.Cr0 & EmTs) != 0) c.Fault(CpuVectors.NM);
        if (!c.HasFpu)
        {
            if (i.HasMemory) X87Escape.CheckOperand(c, ref i);
            return false;
        }
        if (wait && (c.Fpu.Status & Processor.FpuErrorSummary) != 0) return c.FpuReportPending();
        return true;
    }

    /// <summary>
    /// The unmasked exceptions that stop a result from being written (SDM vol. 1, 8.5: invalid operation, denormal
    /// operand and zero divide are reported before the operation completes; to memory, overflow and underflow too).
    /// </summary>
    const FpuExceptions PreComputation = FpuExceptions.Invalid | FpuExceptions.Denormal | FpuExceptions.ZeroDivide;
    const FpuExceptions MemoryBlocking = PreComputation | FpuExceptions.Overflow | FpuExceptions.Underflow;

    /// <summary>An unmasked invalid, denormal or zero-divide exception occurred: the destination and TOP stay as they are.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Suppressed(Processor c, in FpuEnv env) =>
        env.SuppressResult || ((ushort)(env.Raised & PreComputation) & ~c.Fpu.Control) != 0;

    /// <summary>A store to memory must not happen: an unmasked invalid, denormal, zero-divide, overflow or underflow exception.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool StoreSuppressed(Processor c, in FpuEnv env) =>
        env.SuppressResult || ((ushort)(env.Raised & MemoryBlocking) & ~c.Fpu.Control) != 0;

    /// <summary>Merges an operation's flags into the status word; C1 reports whether the result was rounded up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Finish(Processor c, in FpuEnv env)
    {
        c.SetFpuC1(env.RoundedUp);
        if (env.Raised != 0) c.FpuSignal(env.Raised);
    }
}
