using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// The x87 escape opcodes D8-DF and WAIT/FWAIT on a machine without a coprocessor (the 286 and 386 presets; a
/// 486SX). An escape performs no arithmetic and writes nothing; what remains is what the CPU itself does before
/// it would hand the instruction to a coprocessor: the device-not-available checks and, for a memory operand,
/// the segment-limit check of the operand. With an FPU the X87* families handle the instructions; the encodings
/// no Intel FPU of the model defines (reserved escapes, FISTTP without SSE3, the 287XL/386SL-only forms) are #UD
/// there.
/// </summary>
internal static unsafe class X87Escape
{
    /// <summary>ESC: #NM when CR0.EM (emulate the FPU in software) or CR0.TS (FPU state belongs to another task).</summary>
    static void CheckAvailable(Processor c)
    {
        if ((c.Cr0 & (Processor.Cr0EM | Processor.Cr0TS)) != 0) c.Fault(CpuVectors.NM);
    }

    internal static void EscapeRegister(Processor c, ref Insn i)
    {
        if (c.HasFpu) c.Fault(CpuVectors.UD);
        CheckAvailable(c);
    }

    /// <summary>
    /// ESC with a memory operand. The 286 checks the operand's first word against the segment limit, as for any
    /// word reference: its hardware vectors (D8, dword operands) raise interrupt 13 with the return address of the
    /// ESC for an operand at offset FFFF, and run operands up to FFEB without a fault (the set has none between
    /// FFEC and FFFE). The 80286 manual gives the rest of the rule: a word reference at offset FFFF is interrupt 13,
    /// while an ESC operand that merely extends beyond FFFF is interrupt 9 (processor extension segment overrun),
    /// raised while the coprocessor transfers the operand, which never happens without one. So a dword at FFFD or
    /// FFFE passes here. The 386 and later check the whole operand (SDM: #GP/#SS when any part lies outside the
    /// segment); its size is the decoded memory size (4 for the reserved encodings decoded as D8 /r).
    /// </summary>
    internal static void EscapeMemory(Processor c, ref Insn i)
    {
        if (c.HasFpu) c.Fault(CpuVectors.UD);
        CheckOperand(c, ref i);
    }

    /// <summary>What a CPU without a coprocessor does with an escape's memory operand (see <see cref="EscapeMemory"/>).</summary>
    internal static void CheckOperand(Processor c, ref Insn i)
    {
        CheckAvailable(c);
        uint ea = c.Ea(ref i);
        if (c.Model.Is286)
        {
            c.CheckSegment(i.Seg, ea, 2, false);
            return;
        }
        int size = Math.Max(1, (int)i.OpSize);
        c.CheckSegment(i.Seg, ea, 1, false);
        c.CheckSegment(i.Seg, ea + (uint)(size - 1), 1, false);
    }

    /// <summary>
    /// WAIT: #NM when CR0.MP and CR0.TS are both set. Without a coprocessor there is nothing to wait for; with an FPU
    /// a pending unmasked exception is reported here (#MF, or FERR# with CR0.NE = 0).
    /// </summary>
    static void Wait(Processor c, ref Insn i)
    {
        const uint MpTs = Processor.Cr0MP | Processor.Cr0TS;
        if ((c.Cr0 & MpTs) == MpTs) c.Fault(CpuVectors.NM);
        if (c.HasFpu && (c.Fpu.Status & Processor.FpuErrorSummary) != 0) c.FpuReportPending();
    }

    /// <summary>
    /// Iced codes of the escape opcodes D8-DF in 16/32-bit code: one-byte opcodes with a ModRM group (memory
    /// forms) and two-byte opcodes D8C0-DFFF (register forms), from every FPU generation, since every one is an
    /// escape to a CPU without a coprocessor. The FWAIT-prefixed pseudo-codes (FSTCW = WAIT + FNSTCW...) are
    /// left out: the decoder reads WAIT as an instruction of its own.
    /// </summary>
    static bool IsEscape(Code code)
    {
        if (code == Code.INVALID) return false;
        var op = code.ToOpCode();
        if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy || op.Table != OpCodeTableKind.Normal || op.Fwait ||
            !(op.Mode16 || op.Mode32))
            return false;
        uint first = op.OpCodeLength == 2 ? op.OpCode >> 8 : op.OpCode;
        return first is >= 0xD8 and <= 0xDF;
    }

    /// <summary>
    /// Registers the x87 instruction families, then this escape behaviour for every escape code they leave out, and
    /// WAIT. The families' handlers fall back to <see cref="CheckOperand"/> on a model without an FPU.
    /// </summary>
    internal static void Register(HandlerTable t)
    {
        X87DataMovement.Register(t);
        X87Arithmetic.Register(t);
        X87Compare.Register(t);
        X87Transcendental.Register(t);
        X87Control.Register(t);
        X87Environment.Register(t);
        foreach (var code in Enum.GetValues<Code>())
            if (IsEscape(code) && !t[code].IsDefined) t.AddRm(code, &EscapeRegister, &EscapeMemory);
        t.Add(Code.Wait, &Wait);
    }
}
