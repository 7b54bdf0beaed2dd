using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>Every legacy integer instruction of the 8086 through the 486 (and the P6 additions we model) has a handler.</summary>
public class CoverageTests
{
    static readonly HashSet<CpuidFeature> Modelled =
    [
        CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486,
        CpuidFeature.CPUID, CpuidFeature.TSC, CpuidFeature.MSR, CpuidFeature.CMOV, CpuidFeature.CX8,
    ];

    // Deliberately without a handler, so they raise #UD: reserved-undefined opcodes (UD0/UD1 are #UD by
    // definition), assembler pseudo-codes, and stepping- or chip-specific encodings no preset models.
    static readonly HashSet<Code> Excluded =
    [
        Code.Ud0, Code.Ud0_r16_rm16, Code.Ud0_r32_rm32, Code.Ud1_r16_rm16, Code.Ud1_r32_rm32,
        Code.DeclareByte, Code.DeclareWord, Code.DeclareDword, Code.DeclareQword, Code.Zero_bytes,
        Code.Popw_CS, Code.Storeall, Code.Loadall286, Code.Loadall386,
        Code.Xbts_r16_rm16, Code.Xbts_r32_rm32, Code.Ibts_rm16_r16, Code.Ibts_rm32_r32,
        Code.Cmpxchg486_rm8_r8, Code.Cmpxchg486_rm16_r16, Code.Cmpxchg486_rm32_r32,
    ];

    [Fact]
    public void EveryModelledLegacyInstructionHasAHandler()
    {
        var missing = new List<string>();
        foreach (Code c in Enum.GetValues<Code>())
        {
            if (c == Code.INVALID || Excluded.Contains(c)) continue;
            var op = c.ToOpCode();
            if (op.Encoding != EncodingKind.Legacy || !(op.Mode16 || op.Mode32)) continue;
            if (!c.CpuidFeatures().All(Modelled.Contains)) continue;
            if (!HandlerTable.Default[c].IsDefined) missing.Add(c.ToString());
        }
        Assert.True(missing.Count == 0, "no handler for: " + string.Join(", ", missing));
    }
}
