using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>CLC STC CMC CLD STD CLI STI LAHF SAHF SALC, and HLT.</summary>
internal static unsafe class FlagControl
{
    static void Clc(Processor c, ref Insn i) { c.MaterializeFlags(); c.Flags &= ~Processor.FlagCF; }
    static void Stc(Processor c, ref Insn i) { c.MaterializeFlags(); c.Flags |= Processor.FlagCF; }
    static void Cmc(Processor c, ref Insn i) { c.MaterializeFlags(); c.Flags ^= Processor.FlagCF; }
    static void Cld(Processor c, ref Insn i) => c.Flags &= ~Processor.FlagDF;
    static void Std(Processor c, ref Insn i) => c.Flags |= Processor.FlagDF;

    // CLI/STI: IOPL-sensitive in protected and V86 mode (not yet modelled); STI starts an interrupt shadow.
    static void Cli(Processor c, ref Insn i)
    {
        CheckIopl(c);
        c.Flags &= ~Processor.FlagIF;
    }

    static void Sti(Processor c, ref Insn i)
    {
        CheckIopl(c);
        if ((c.Flags & Processor.FlagIF) == 0)
        {
            // The interrupt window opens after the next instruction: a request already pending is then taken
            // there, in every engine (the block or translated region ends here; the dispatcher runs one instruction).
            c.InterruptShadow = true;
            if (c.IrqLine) c.ExitBlock = true;
        }
        c.Flags |= Processor.FlagIF;
    }

    static void CheckIopl(Processor c)
    {
        if (c.ProtectedMode && c.Cpl > (int)((c.Flags & Processor.FlagIOPL) >> 12)) c.Fault(CpuVectors.GP, 0);
    }

    // LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
    static void Lahf(Processor c, ref Insn i) => c.SetReg8(Processor.EAX + 1, (c.GetEflags() & 0xD5) | 2);

    // SAHF: SF ZF AF PF CF from AH.
    static void Sahf(Processor c, ref Insn i)
    {
        c.MaterializeFlags();
        c.Flags = (c.Flags & ~0xD5u) | (c.Reg8(Processor.EAX + 1) & 0xD5u);
    }

    // SALC (undocumented D6): AL = CF ? FF : 00.
    static void Salc(Processor c, ref Insn i) => c.SetReg8(Processor.EAX, c.CarryFlag() != 0 ? 0xFFu : 0);

    // HLT: privileged in protected mode; execution resumes after it when an interrupt arrives.
    static void Hlt(Processor c, ref Insn i)
    {
        if (c.ProtectedMode && c.Cpl != 0) c.Fault(CpuVectors.GP, 0);
        c.Halted = true;
    }

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Clc, &Clc);
        t.Add(Code.Stc, &Stc);
        t.Add(Code.Cmc, &Cmc);
        t.Add(Code.Cld, &Cld);
        t.Add(Code.Std, &Std);
        t.Add(Code.Cli, &Cli);
        t.Add(Code.Sti, &Sti, HandlerFlags.EndsBlock);
        t.Add(Code.Lahf, &Lahf);
        t.Add(Code.Sahf, &Sahf);
        t.Add(Code.Salc, &Salc);
        t.Add(Code.Hlt, &Hlt, HandlerFlags.EndsBlock);
    }
}
