using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// x87 comparisons and classification: FCOM/FCOMP/FCOMPP and FUCOM/FUCOMP/FUCOMPP (result in C3, C2, C0), FICOM/
/// FICOMP, FCOMI/FCOMIP/FUCOMI/FUCOMIP (result in ZF, PF, CF; P6), FTST and FXAM. FCOM signals invalid for any NaN,
/// FUCOM only for a signalling one. An empty operand reports "unordered"; an unmasked invalid or denormal exception
/// leaves the condition codes (or EFLAGS) and the stack unchanged.
/// </summary>
internal static unsafe class X87Compare
{
    /// <summary>C3, C2, C0 of each comparison result (Greater 000, Less 001, Equal 100, Unordered 111).</summary>
    static int ConditionBits(FpuCompare r) => r switch
    {
        FpuCompare.Greater => 0,
        FpuCompare.Less => Processor.FpuC0,
        FpuCompare.Equal => Processor.FpuC3,
        _ => Processor.FpuC3 | Processor.FpuC2 | Processor.FpuC0,
    };

    /// <summary>ZF, PF, CF of each comparison result (FCOMI); OF, SF and AF are cleared.</summary>
    static uint EflagsBits(FpuCompare r) => r switch
    {
        FpuCompare.Greater => 0,
        FpuCompare.Less => Processor.FlagCF,
        FpuCompare.Equal => Processor.FlagZF,
        _ => Processor.FlagZF | Processor.FlagPF | Processor.FlagCF,
    };

    /// <summary>Pops <paramref name="pops"/> times (FCOMP once, FCOMPP twice).</summary>
    static void Pop(Processor c, int pops)
    {
        for (int k = 0; k < pops; k++) c.FpuPop();
    }

    /// <summary>Empty operand: the result is "unordered" even when unmasked; masked, the pops happen.</summary>
    static void Underflow(Processor c, int pops, bool eflags)
    {
        if (eflags) c.SetArithFlags(EflagsBits(FpuCompare.Unordered));
        else c.SetFpuConditions(ConditionBits(FpuCompare.Unordered));
        if (c.FpuStackFault(overflow: false)) Pop(c, pops);
    }

    // ---- FXAM: the class of ST(0) in C3, C2, C0 and its sign in C1 (also for an empty register) ----

    static void Fxam(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        ref Float80 v = ref c.FpuSt(0);
        c.SetFpuConditions(c.FpuEmpty(0) ? Processor.FpuC3 | Processor.FpuC0 | (v.Sign ? Processor.FpuC1 : 0) : SoftFloat.Examine(v));
    }

    /// <summary>
    /// Compares ST(0) with <paramref name="src"/> and sets C3, C2, C0 (C1 = 0). The condition codes are set even when
    /// an unmasked invalid or denormal exception occurs (unordered for an invalid one, as the host CPU does); only the
    /// pops are then skipped. SoftFloat compares with #D masked: its response is the instruction's.
    /// </summary>
    static void CompareConditions(Processor c, in Float80 src, ref FpuEnv env, bool quiet, int pops, bool srcDenormal = false)
    {
        var a = c.FpuSt(0);
        var r = SoftFloat.Compare(a, src, quiet, ref env);
        if ((env.Raised & FpuExceptions.Invalid) != 0) r = FpuCompare.Unordered;
        else if (srcDenormal && !a.IsNaN) env.Raised |= FpuExceptions.Denormal;
        if (env.Raised != 0) c.FpuSignal(env.Raised);
        c.SetFpuConditions(ConditionBits(r));
        if (!Unmasked(c, env)) Pop(c, pops);
    }

    /// <summary>An unmasked invalid or denormal exception: the comparison's pops do not happen.</summary>
    static bool Unmasked(Processor c, in FpuEnv env) =>
        ((ushort)(env.Raised & (FpuExceptions.Invalid | FpuExceptions.Denormal)) & ~c.Fpu.Control) != 0;

    /// <summary>The environment of a comparison: the control word with #D masked (see <see cref="CompareConditions"/>).</summary>
    static FpuEnv CompareEnv(Processor c) => new((ushort)(c.Fpu.Control | (ushort)FpuExceptions.Denormal));

    static void ComSt(Processor c, ref Insn i, bool quiet, int pops)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        int src = (Code)i.Code is Code.Fcompp or Code.Fucompp ? 1 : i.R0 | i.R1;
        if (c.FpuEmpty(0) || c.FpuEmpty(src)) { Underflow(c, pops, false); return; }
        var env = CompareEnv(c);
        var s = c.FpuSt(src);
        CompareConditions(c, s, ref env, quiet, pops);
    }

    static void Fcom(Processor c, ref Insn i) => ComSt(c, ref i, false, 0);
    static void Fcomp(Processor c, ref Insn i) => ComSt(c, ref i, false, 1);
    static void Fcompp(Processor c, ref Insn i) => ComSt(c, ref i, false, 2);
    static void Fucom(Processor c, ref Insn i) => ComSt(c, ref i, true, 0);
    static void Fucomp(Processor c, ref Insn i) => ComSt(c, ref i, true, 1);
    static void Fucompp(Processor c, ref Insn i) => ComSt(c, ref i, true, 2);

    static void ComM32(Processor c, ref Insn i, int pops)
    {
        if (!X87.Begin(c, ref i)) return;
        uint bits = c.Read32(i.Seg, c.Ea(ref i));
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, pops, false); return; }
        var env = CompareEnv(c);
        var s = X87.FromSingle(bits, ref env, out bool denormal);
        CompareConditions(c, s, ref env, false, pops, denormal);
    }

    static void ComM64(Processor c, ref Insn i, int pops)
    {
        if (!X87.Begin(c, ref i)) return;
        ulong bits = c.Read64(i.Seg, c.Ea(ref i));
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, pops, false); return; }
        var env = CompareEnv(c);
        var s = X87.FromDouble(bits, ref env, out bool denormal);
        CompareConditions(c, s, ref env, false, pops, denormal);
    }

    static void ComInt(Processor c, ref Insn i, long value, int pops)
    {
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, pops, false); return; }
        var env = CompareEnv(c);
        var s = SoftFloat.FromInt(value, ref env);
        CompareConditions(c, s, ref env, false, pops);
    }

    static void FcomM32(Processor c, ref Insn i) => ComM32(c, ref i, 0);
    static void FcompM32(Processor c, ref Insn i) => ComM32(c, ref i, 1);
    static void FcomM64(Processor c, ref Insn i) => ComM64(c, ref i, 0);
    static void FcompM64(Processor c, ref Insn i) => ComM64(c, ref i, 1);

    static void FicomM16(Processor c, ref Insn i, int pops)
    {
        if (X87.Begin(c, ref i)) ComInt(c, ref i, (short)c.Read16(i.Seg, c.Ea(ref i)), pops);
    }

    static void FicomM32(Processor c, ref Insn i, int pops)
    {
        if (X87.Begin(c, ref i)) ComInt(c, ref i, (int)c.Read32(i.Seg, c.Ea(ref i)), pops);
    }

    static void FicomM16(Processor c, ref Insn i) => FicomM16(c, ref i, 0);
    static void FicompM16(Processor c, ref Insn i) => FicomM16(c, ref i, 1);
    static void FicomM32(Processor c, ref Insn i) => FicomM32(c, ref i, 0);
    static void FicompM32(Processor c, ref Insn i) => FicomM32(c, ref i, 1);

    // FTST: ST(0) against +0.0 (a NaN is unordered and invalid).
    static void Ftst(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        var env = CompareEnv(c);
        CompareConditions(c, Float80.Zero, ref env, false, 0);
    }

    // ---- FCOMI/FUCOMI (P6): the result in ZF, PF, CF; C1 changes only on a stack underflow (as on the host CPU) ----

    static void Comi(Processor c, ref Insn i, bool quiet, bool pop)
    {
        if (!X87.BeginFeature(c, ref i, CpuidInfo.FeatureCmov, 0)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || c.FpuEmpty(i.R1)) { Underflow(c, pop ? 1 : 0, true); return; }
        var env = CompareEnv(c);
        var r = SoftFloat.Compare(c.FpuSt(0), c.FpuSt(i.R1), quiet, ref env);
        if ((env.Raised & FpuExceptions.Invalid) != 0) r = FpuCompare.Unordered;
        if (env.Raised != 0) c.FpuSignal(env.Raised);
        c.SetArithFlags(EflagsBits(r));
        if (pop && !Unmasked(c, env)) c.FpuPop();
    }

    static void Fcomi(Processor c, ref Insn i) => Comi(c, ref i, false, false);
    static void Fcomip(Processor c, ref Insn i) => Comi(c, ref i, false, true);
    static void Fucomi(Processor c, ref Insn i) => Comi(c, ref i, true, false);
    static void Fucomip(Processor c, ref Insn i) => Comi(c, ref i, true, true);

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Fxam, &Fxam);
        t.Add(Code.Fcom_m32fp, &FcomM32);
        t.Add(Code.Fcomp_m32fp, &FcompM32);
        t.Add(Code.Fcom_m64fp, &FcomM64);
        t.Add(Code.Fcomp_m64fp, &FcompM64);
        t.Add(Code.Fcom_st0_sti, &Fcom);
        t.Add(Code.Fcomp_st0_sti, &Fcomp);
        t.Add(Code.Fcom_st0_sti_DCD0, &Fcom);         // aliases the P6 decodes
        t.Add(Code.Fcomp_st0_sti_DCD8, &Fcomp);
        t.Add(Code.Fcomp_st0_sti_DED0, &Fcomp);
        t.Add(Code.Fcompp, &Fcompp);
        t.Add(Code.Fucom_st0_sti, &Fucom);
        t.Add(Code.Fucomp_st0_sti, &Fucomp);
        t.Add(Code.Fucompp, &Fucompp);
        t.Add(Code.Ficom_m16int, &FicomM16);
        t.Add(Code.Ficomp_m16int, &FicompM16);
        t.Add(Code.Ficom_m32int, &FicomM32);
        t.Add(Code.Ficomp_m32int, &FicompM32);
        t.Add(Code.Ftst, &Ftst);
        t.Add(Code.Fcomi_st0_sti, &Fcomi);
        t.Add(Code.Fcomip_st0_sti, &Fcomip);
        t.Add(Code.Fucomi_st0_sti, &Fucomi);
        t.Add(Code.Fucomip_st0_sti, &Fucomip);
    }
}
