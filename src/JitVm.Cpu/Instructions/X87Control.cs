using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// x87 control and stack-management instructions: FNINIT, FNCLEX, FLDCW, FNSTCW, FNSTSW, the 8087/287 leftovers
/// FNENI/FNDISI/FNSETPM (no-ops on the 387 and later), FFREE, FFREEP, FINCSTP, FDECSTP and FNOP. The FWAIT forms
/// (FINIT, FCLEX, FSTCW, FSTSW) decode as WAIT followed by the no-wait instruction.
/// </summary>
internal static unsafe class X87Control
{
    static void Fninit(Processor c, ref Insn i)
    {
        if (X87.BeginNoWait(c, ref i)) c.FpuInit();
    }

    // FNCLEX: exception flags, SF, ES and B cleared (which releases FERR#); C0-C3 are left as they were.
    static void Fnclex(Processor c, ref Insn i)
    {
        if (!X87.BeginNoWait(c, ref i)) return;
        c.Fpu.Status &= unchecked((ushort)~((ushort)FpuExceptions.All | Processor.FpuStackFaultBit | Processor.FpuErrorSummary | Processor.FpuBusy));
        c.Fpu.Ferr = false;
    }

    static void FnoWaitNop(Processor c, ref Insn i) => X87.BeginNoWait(c, ref i);

    // FLDCW may unmask a pending exception (ES set, reported by the next waiting instruction) or mask it.
    static void Fldcw(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.SetFpuControlWord(c.Read16(i.Seg, c.Ea(ref i)));
    }

    static void Fnstcw(Processor c, ref Insn i)
    {
        if (X87.BeginNoWait(c, ref i)) c.Write16(i.Seg, c.Ea(ref i), c.Fpu.Control);
    }

    static void FnstswM(Processor c, ref Insn i)
    {
        if (X87.BeginNoWait(c, ref i)) c.Write16(i.Seg, c.Ea(ref i), c.FpuStatusWord);
    }

    static void FnstswAx(Processor c, ref Insn i)
    {
        if (X87.BeginNoWait(c, ref i)) c.SetReg16(Processor.EAX, c.FpuStatusWord);
    }

    // FFREE ST(i) tags the register empty without touching TOP; FFREEP (DF C0+i, undocumented on the P6 but
    // implemented) then pops.
    static void Ffree(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuFree(i.R0);
        c.FpuRecord(ref i);
    }

    static void Ffreep(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuFree(i.R0);
        c.FpuPop();
        c.FpuRecord(ref i);
    }

    // FINCSTP/FDECSTP rotate TOP; tags and contents stay (so FINCSTP is not a pop). C1 is cleared.
    static void Fincstp(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.Fpu.Top = (c.Fpu.Top + 1) & 7;
        c.SetFpuC1(false);
        c.FpuRecord(ref i);
    }

    static void Fdecstp(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.Fpu.Top = (c.Fpu.Top - 1) & 7;
        c.SetFpuC1(false);
        c.FpuRecord(ref i);
    }

    // FNOP is a waiting instruction despite its name: it reports a pending exception.
    static void Fnop(Processor c, ref Insn i)
    {
        if (X87.Begin(c, ref i)) c.FpuRecord(ref i);
    }

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Fninit, &Fninit);
        t.Add(Code.Fnclex, &Fnclex);
        t.Add(Code.Fneni, &FnoWaitNop);
        t.Add(Code.Fndisi, &FnoWaitNop);
        t.Add(Code.Fnsetpm, &FnoWaitNop);
        t.Add(Code.Fldcw_m2byte, &Fldcw);
        t.Add(Code.Fnstcw_m2byte, &Fnstcw);
        t.Add(Code.Fnstsw_m2byte, &FnstswM);
        t.Add(Code.Fnstsw_AX, &FnstswAx);
        t.Add(Code.Ffree_sti, &Ffree);
        t.Add(Code.Ffreep_sti, &Ffreep);
        t.Add(Code.Fincstp, &Fincstp);
        t.Add(Code.Fdecstp, &Fdecstp);
        t.Add(Code.Fnop, &Fnop);
    }
}
