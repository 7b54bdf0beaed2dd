using Iced.Intel;
using JitVm.Cpu;

namespace JitVm.HostOracle;

/// <summary>When an <see cref="UndefinedRule"/> applies to a vector.</summary>
public enum RuleCondition
{
    Always,
    /// <summary>The count, masked to 5 bits, is not 0 (a zero count changes nothing, flags included).</summary>
    CountNonZero,
    /// <summary>The masked count is 2 or more.</summary>
    CountAboveOne,
    /// <summary>The masked count is at least the operand width (only possible for 8- and 16-bit operands).</summary>
    CountAtLeastWidth,
    /// <summary>The masked count exceeds the operand width (16-bit SHLD/SHRD with counts 17..31).</summary>
    CountAboveWidth,
    /// <summary>The source operand is 0.</summary>
    SourceZero,
    /// <summary>The operand is 16 bits wide.</summary>
    WordOperand,
}

/// <summary>
/// One thing the Intel SDM leaves undefined: for these instructions, under this condition, these arithmetic
/// flags (and, if <see cref="Destination"/>, the destination operand) are not compared.
/// </summary>
public sealed record UndefinedRule(Mnemonic[] Mnemonics, RuleCondition When, uint Flags, bool Destination, string Sdm);

/// <summary>What one vector's comparison ignores.</summary>
public struct UndefinedMask
{
    /// <summary>Arithmetic flag bits that are undefined.</summary>
    public uint Flags;
    /// <summary>Undefined bits per register (a register destination the SDM calls undefined).</summary>
    public RegisterSet Registers;
    /// <summary>One bit per byte of the memory window that is undefined (a memory destination).</summary>
    public uint MemoryBytes;
}

/// <summary>
/// The undefined-behaviour table: every flag and result the comparison masks, each with the SDM sentence it
/// rests on (Intel 64 and IA-32 Architectures Software Developer's Manual, vol. 2, the instruction's "Flags
/// Affected" section unless noted). Undefined flags really do differ between processors (the 80286 vectors,
/// Intel and AMD parts disagree), so a modern host says nothing about them; everything not listed here is
/// defined and must match exactly, including flags an instruction leaves unchanged.
/// </summary>
public static class UndefinedBehaviour
{
    const uint CF = Processor.FlagCF, PF = Processor.FlagPF, AF = Processor.FlagAF, ZF = Processor.FlagZF,
        SF = Processor.FlagSF, OF = Processor.FlagOF, All = Processor.ArithFlags;

    public static IReadOnlyList<UndefinedRule> Rules { get; } =
    [
        new([Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Test], RuleCondition.Always, AF, false,
            "AND/OR/XOR/TEST: \"The OF and CF flags are cleared; the SF, ZF, and PF flags are set according to the result. The state of the AF flag is undefined.\""),

        new([Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar], RuleCondition.CountNonZero, AF, false,
            "SAL/SAR/SHL/SHR: \"For a non-zero count, the AF flag is undefined.\""),
        new([Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar], RuleCondition.CountAboveOne, OF, false,
            "SAL/SAR/SHL/SHR: \"The OF flag is affected only for 1-bit shifts; otherwise, it is undefined.\""),
        new([Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr], RuleCondition.CountAtLeastWidth, CF, false,
            "SAL/SAR/SHL/SHR: CF \"is undefined for SHL and SHR instructions where the count is greater than or equal to the size (in bits) of the destination operand\" (SAL is SHL; SAR is not included)."),

        new([Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr], RuleCondition.CountAboveOne, OF, false,
            "RCL/RCR/ROL/ROR: \"The OF flag is defined only for the 1-bit rotates; it is undefined in all other cases (except RCL and RCR instructions only: a zero-bit rotate does nothing, that is affects no flags).\" ROL/ROR: \"If the masked count is 0, the flags are not affected.\""),

        new([Mnemonic.Shld, Mnemonic.Shrd], RuleCondition.CountNonZero, AF, false,
            "SHLD/SHRD: \"The AF flag is undefined\" (\"For a shift of 0 bits, the flags are not affected\")."),
        new([Mnemonic.Shld, Mnemonic.Shrd], RuleCondition.CountAboveOne, OF, false,
            "SHLD/SHRD: \"For a 1-bit shift, the OF flag is set if a sign change occurred; otherwise, it is cleared. For shifts greater than 1 bit, the OF flag is undefined.\""),
        new([Mnemonic.Shld, Mnemonic.Shrd], RuleCondition.CountAboveWidth, All, true,
            "SHLD/SHRD: \"If the count is greater than the operand size, the result is undefined\"; flags: \"If the count is greater than the operand size, the flags are undefined.\" (16-bit operands with counts 17..31)"),

        new([Mnemonic.Mul], RuleCondition.Always, SF | ZF | AF | PF, false,
            "MUL: \"The OF and CF flags are set to 0 if the upper half of the result is 0; otherwise, they are set to 1. The SF, ZF, AF, and PF flags are undefined.\""),
        new([Mnemonic.Imul], RuleCondition.Always, SF | ZF | AF | PF, false,
            "IMUL: \"For the one operand form of the instruction, the CF and OF flags are set when significant bits are carried into the upper half of the result ... The SF, ZF, AF, and PF flags are undefined.\""),
        new([Mnemonic.Div, Mnemonic.Idiv], RuleCondition.Always, All, false,
            "DIV/IDIV: \"The CF, OF, SF, ZF, AF, and PF flags are undefined.\""),

        new([Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc], RuleCondition.Always, OF | SF | AF | PF, false,
            "BT/BTS/BTR/BTC: \"The CF flag contains the value of the selected bit. The ZF flag is unaffected. The OF, SF, AF, and PF flags are undefined.\""),

        new([Mnemonic.Bsf, Mnemonic.Bsr], RuleCondition.Always, CF | OF | SF | AF | PF, false,
            "BSF/BSR: \"The ZF flag is set to 1 if the source operand is 0; otherwise, the ZF flag is cleared. The CF, OF, SF, AF, and PF flags are undefined.\""),
        new([Mnemonic.Bsf, Mnemonic.Bsr], RuleCondition.SourceZero, 0, true,
            "BSF/BSR: \"If the content of the source operand is 0, the content of the destination operand is undefined.\""),

        new([Mnemonic.Bswap], RuleCondition.WordOperand, 0, true,
            "BSWAP: \"When the BSWAP instruction references a 16-bit register, the result is undefined.\""),
    ];

    static readonly Dictionary<Mnemonic, UndefinedRule[]> byMnemonic = Rules
        .SelectMany(r => r.Mnemonics.Select(m => (m, r)))
        .GroupBy(p => p.m)
        .ToDictionary(g => g.Key, g => g.Select(p => p.r).ToArray());

    /// <summary>The rules that can apply to an instruction (for reports).</summary>
    public static IReadOnlyList<UndefinedRule> RulesFor(Mnemonic m) => byMnemonic.TryGetValue(m, out var r) ? r : [];

    /// <summary>What the comparison of <paramref name="r"/> (run through <paramref name="guest"/>) ignores.</summary>
    public static UndefinedMask For(in Instruction guest, in VectorRecord r)
    {
        var mask = default(UndefinedMask);
        Add(ref mask, guest, r);
        return mask;
    }

    /// <summary>
    /// What the comparison of a form's vector ignores: the union over its instructions. Conditions are evaluated on
    /// the vector's inputs, so sequences only put input-independent rules after their first instruction (the
    /// catalog's consumers: SETcc, CMOVcc, ADC, SBB, INC, DEC, RCL/RCR by 1, CMC). An undefined flag of the first
    /// instruction stays masked at the end, also where a later instruction would have defined it.
    /// </summary>
    public static UndefinedMask For(OracleForm form, in VectorRecord r)
    {
        var mask = default(UndefinedMask);
        foreach (var i in form.GuestSequence) Add(ref mask, i, r);
        return mask;
    }

    static void Add(ref UndefinedMask mask, in Instruction guest, in VectorRecord r)
    {
        if (!byMnemonic.TryGetValue(guest.Mnemonic, out var rules)) return;
        foreach (var rule in rules)
        {
            if (!Applies(rule.When, guest, r)) continue;
            mask.Flags |= rule.Flags;
            if (rule.Destination) MaskDestination(ref mask, guest);
        }
    }

    static bool Applies(RuleCondition when, in Instruction i, in VectorRecord r) => when switch
    {
        RuleCondition.Always => true,
        RuleCondition.CountNonZero => Operands.MaskedCount(i, r) != 0,
        RuleCondition.CountAboveOne => Operands.MaskedCount(i, r) > 1,
        RuleCondition.CountAtLeastWidth => Operands.MaskedCount(i, r) >= Operands.OperandBits(i),
        RuleCondition.CountAboveWidth => Operands.MaskedCount(i, r) > Operands.OperandBits(i),
        RuleCondition.SourceZero => Operands.ReadInput(i, 1, r) == 0,
        RuleCondition.WordOperand => Operands.OperandBits(i) == 16,
        _ => throw new ArgumentOutOfRangeException(nameof(when)),
    };

    static void MaskDestination(ref UndefinedMask mask, in Instruction i)
    {
        if (i.Op0Kind == OpKind.Register)
        {
            var (index, shift, size) = Operands.Slot(i.Op0Register);
            mask.Registers[index] |= Operands.SizeMask(size) << shift;
        }
        else
        {
            mask.MemoryBytes |= ((1u << Operands.Size(i, 0)) - 1) << VectorRecord.OperandOffset;
        }
    }

    /// <summary>"CF PF AF ZF SF OF" names of the set bits.</summary>
    public static string FlagNames(uint flags)
    {
        var names = new List<string>();
        if ((flags & CF) != 0) names.Add("CF");
        if ((flags & PF) != 0) names.Add("PF");
        if ((flags & AF) != 0) names.Add("AF");
        if ((flags & ZF) != 0) names.Add("ZF");
        if ((flags & SF) != 0) names.Add("SF");
        if ((flags & OF) != 0) names.Add("OF");
        return names.Count == 0 ? "-" : string.Join(" ", names);
    }
}
