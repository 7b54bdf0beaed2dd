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

    /// <summary>
    /// Widens a single-precision memory operand for an arithmetic or compare instruction. An SNaN stays signalling
    /// (the operation raises #IA and picks the NaN by the unquieted significands, as the hardware does); whether the
    /// source was a denormal comes back in <paramref name="denormal"/>, for <see cref="SourceDenormal"/> once the
    /// operation has run, because #D ranks below an invalid operation and a QNaN operand (SDM vol. 1, 4.9.2).
    /// </summary>
    internal static Float80 FromSingle(uint bits, ref FpuEnv env, out bool denormal)
    {
        denormal = false;
        // An SNaN goes to the operation as it is: the NaN the operation returns depends on the unquieted significands.
        if ((bits & 0x7F80_0000) == 0x7F80_0000 && (bits & 0x7F_FFFF) != 0 && (bits & 0x40_0000) == 0)
            return new Float80((ushort)((bits >> 16 & 0x8000) | 0x7FFF), Float80.IntegerBit | (ulong)(bits & 0x7F_FFFF) << 40);
        var conversion = new FpuEnv(env.ControlWord);
        var v = SoftFloat.FromSingle(bits, ref conversion);
        denormal = (conversion.Raised & FpuExceptions.Denormal) != 0;
        env.Raised |= conversion.Raised & FpuExceptions.Invalid;
        return v;
    }

    /// <inheritdoc cref="FromSingle"/>
    internal static Float80 FromDouble(ulong bits, ref FpuEnv env, out bool denormal)
    {
        denormal = false;
        if ((bits & 0x7FF0_0000_0000_0000) == 0x7FF0_0000_0000_0000 && (bits & 0xF_FFFF_FFFF_FFFF) != 0 && (bits & 0x8_0000_0000_0000) == 0)
            return new Float80((ushort)((bits >> 48 & 0x8000) | 0x7FFF), Float80.IntegerBit | (bits & 0xF_FFFF_FFFF_FFFF) << 11);
        var conversion = new FpuEnv(env.ControlWord);
        var v = SoftFloat.FromDouble(bits, ref conversion);
        denormal = (conversion.Raised & FpuExceptions.Denormal) != 0;
        env.Raised |= conversion.Raised & FpuExceptions.Invalid;
        return v;
    }

    /// <summary>
    /// Adds the #D of a denormal memory operand after the operation: not when the operation was invalid or divided by
    /// zero (both rank above #D) or the other operand is a NaN. Returns false when #D is unmasked: then the operation's own flags are dropped and its result
    /// must not be written (the handler is called before the operation completes).
    /// </summary>
    internal static bool SourceDenormal(Processor c, ref FpuEnv env, bool denormal, in Float80 other)
    {
        if (!denormal || (env.Raised & (FpuExceptions.Invalid | FpuExceptions.ZeroDivide)) != 0 || other.IsNaN) return true;
        if (c.FpuMasked(FpuExceptions.Denormal))
        {
            env.Raised |= FpuExceptions.Denormal;
            return true;
        }
        env.Raised = FpuExceptions.Denormal;
        env.RoundedUp = false;
        return false;
    }

    /// <summary>
    /// A store an unmasked exception stopped: nothing is written, the stack is not popped, and as no rounded result
    /// was delivered, precision and "rounded up" are not reported.
    /// </summary>
    internal static void Undelivered(ref FpuEnv env, ref bool pop)
    {
        env.Raised &= ~FpuExceptions.Precision;
        env.RoundedUp = false;
        pop = false;
    }

    /// <summary>Merges an operation's flags into the status word; C1 reports whether the result was rounded up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Finish(Processor c, in FpuEnv env)
    {
        c.SetFpuC1(env.RoundedUp);
        if (env.Raised != 0) c.FpuSignal(env.Raised);
    }
}
