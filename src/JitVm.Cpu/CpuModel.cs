namespace JitVm.Cpu;

/// <summary>The processor generation, where instruction-set and architectural behaviour differ.</summary>
public enum CpuGeneration
{
    I286 = 2,
    I386 = 3,
    I486 = 4,
    Pentium = 5,
    P6 = 6,
}

/// <summary>What CPUID reports (only on models that have CPUID).</summary>
public sealed record CpuidInfo(string Vendor, int Family, int Model, int Stepping, uint FeaturesEdx, uint FeaturesEcx)
{
    /// <summary>CPUID.1:EDX bits this emulator implements and may advertise.</summary>
    public const uint FeatureFpu = 1u << 0, FeatureVme = 1u << 1, FeatureDe = 1u << 2, FeaturePse = 1u << 3,
        FeatureTsc = 1u << 4, FeatureMsr = 1u << 5, FeatureMce = 1u << 7, FeatureCx8 = 1u << 8, FeatureSep = 1u << 11,
        FeaturePge = 1u << 13, FeatureMca = 1u << 14, FeatureCmov = 1u << 15, FeatureFxsr = 1u << 24;

    /// <summary>CPUID.1:ECX.SSE3 (FISTTP among others); no preset has it.</summary>
    public const uint FeatureEcxSse3 = 1u << 0;

    /// <summary>The EAX value of leaf 1: stepping, model, family.</summary>
    public uint Signature => (uint)((Family & 0xF) << 8 | (Model & 0xF) << 4 | (Stepping & 0xF));
}

/// <summary>
/// A CPU model: everything that differs between the chips whose behaviour we reproduce. Conformance vectors
/// run against the model that produced them (the 80286 vectors against <see cref="I286"/>).
/// </summary>
public sealed record CpuModel
{
    public required string Name { get; init; }
    public required CpuGeneration Generation { get; init; }

    /// <summary>Physical address lines: 24 on the 286 and 386SX-style buses, 32 otherwise.</summary>
    public uint AddressBusMask { get; init; } = 0xFFFFFFFF;

    /// <summary>Longest legal instruction; longer raises #GP(0) (286: 10 bytes, later: 15).</summary>
    public int MaxInstructionLength { get; init; } = 15;

    /// <summary>CPUID support (null: the instruction is #UD).</summary>
    public CpuidInfo? Cpuid { get; init; }

    public bool Is286 => Generation == CpuGeneration.I286;

    /// <summary>
    /// An x87 FPU is present: on CPUID models when CPUID.1:EDX.FPU says so (a 486SX is <c>486,features=-fpu</c>).
    /// The 286 and 386 presets model a board without a 287/387: the escape opcodes do nothing.
    /// </summary>
    public bool HasFpu => ((Cpuid?.FeaturesEdx ?? 0) & CpuidInfo.FeatureFpu) != 0;

    public override string ToString() => Name;

    /// <summary>The 286 ignores a LOCK prefix it does not need; the 386 and later raise #UD.</summary>
    public bool LockPrefixChecked => Generation >= CpuGeneration.I386;

    /// <summary>
    /// Real mode: vector raised for a stack-segment limit violation. The 286 reports every segment overrun
    /// (stack included) as interrupt 13; the 386 and later raise #SS (12) for stack references.
    /// </summary>
    public int RealModeStackFaultVector => Is286 ? CpuVectors.GP : CpuVectors.SS;

    /// <summary>EFLAGS bits POPF/IRET may change in real mode (before the IOPL/VM filtering of protected mode).</summary>
    public uint WritableFlags => Generation switch
    {
        CpuGeneration.I286 => 0x0FD5,                 // 286 real mode: bits 12-15 stay clear
        CpuGeneration.I386 => 0x00037FD5,             // + IOPL, NT, RF, VM
        CpuGeneration.I486 => Cpuid is null ? 0x00077FD5u : 0x00277FD5u, // + AC (+ ID when CPUID exists)
        _ => 0x003F7FD5,                               // + VIF, VIP, ID
    };

    public static readonly CpuModel I286 = new()
    {
        Name = "286", Generation = CpuGeneration.I286, AddressBusMask = 0x00FFFFFF, MaxInstructionLength = 10,
    };

    public static readonly CpuModel I386 = new() { Name = "386", Generation = CpuGeneration.I386 };

    // Presets advertise only what is implemented (no VME, MMX, MTRRs, machine checks or local APIC).

    /// <summary>A late 486DX with CPUID and its on-chip FPU (486s had no TSC or CMPXCHG8B).</summary>
    public static readonly CpuModel I486 = new()
    {
        Name = "486", Generation = CpuGeneration.I486,
        Cpuid = new CpuidInfo("GenuineIntel", 4, 8, 0, CpuidInfo.FeatureFpu, 0),
    };

    /// <summary>A Pentium (P54C): FPU, debugging extensions, 4 MiB pages, TSC, MSRs, CMPXCHG8B.</summary>
    public static readonly CpuModel Pentium = new()
    {
        Name = "pentium", Generation = CpuGeneration.Pentium,
        Cpuid = new CpuidInfo("GenuineIntel", 5, 2, 5,
            CpuidInfo.FeatureFpu | CpuidInfo.FeatureDe | CpuidInfo.FeaturePse | CpuidInfo.FeatureTsc | CpuidInfo.FeatureMsr |
            CpuidInfo.FeatureCx8, 0),
    };

    /// <summary>
    /// A P6-family CPU (Pentium II "Deschutes", family 6 model 5): the Pentium's features plus SYSENTER/SYSEXIT,
    /// global pages, CMOVcc/FCMOVcc/FCOMI and FXSAVE/FXRSTOR, and the machine-check architecture (its MSRs; no
    /// hardware error is ever reported). Its MMX, MTRRs, PAT, PSE-36 and local APIC are not modelled, so not advertised.
    /// </summary>
    public static readonly CpuModel P6 = new()
    {
        Name = "p6", Generation = CpuGeneration.P6,
        Cpuid = new CpuidInfo("GenuineIntel", 6, 5, 2,
            CpuidInfo.FeatureFpu | CpuidInfo.FeatureDe | CpuidInfo.FeaturePse | CpuidInfo.FeatureTsc | CpuidInfo.FeatureMsr |
            CpuidInfo.FeatureCx8 | CpuidInfo.FeatureSep | CpuidInfo.FeaturePge | CpuidInfo.FeatureCmov | CpuidInfo.FeatureFxsr |
            CpuidInfo.FeatureMce | CpuidInfo.FeatureMca, 0),
    };

    public static IReadOnlyList<CpuModel> Presets { get; } = [I286, I386, I486, Pentium, P6];

    /// <summary>CPUID.1:EDX features <see cref="Parse"/> can switch: the ones the emulator implements.</summary>
    public static IReadOnlyDictionary<string, uint> FeatureNames { get; } = new Dictionary<string, uint>(StringComparer.OrdinalIgnoreCase)
    {
        ["fpu"] = CpuidInfo.FeatureFpu, ["de"] = CpuidInfo.FeatureDe, ["pse"] = CpuidInfo.FeaturePse, ["tsc"] = CpuidInfo.FeatureTsc, ["msr"] = CpuidInfo.FeatureMsr,
        ["cx8"] = CpuidInfo.FeatureCx8, ["sep"] = CpuidInfo.FeatureSep, ["pge"] = CpuidInfo.FeaturePge, ["cmov"] = CpuidInfo.FeatureCmov,
        ["fxsr"] = CpuidInfo.FeatureFxsr, ["mce"] = CpuidInfo.FeatureMce, ["mca"] = CpuidInfo.FeatureMca,
    };

    /// <summary>
    /// Parses a model specification like QEMU's <c>-cpu</c>: a preset name, then optional comma-separated
    /// overrides of what CPUID reports: <c>vendor=GenuineIntel</c>, <c>family=</c>, <c>model=</c>, <c>stepping=</c>,
    /// <c>features=+tsc-vme</c>. Example: <c>486,vendor=AuthenticAMD,model=3,features=+tsc</c>.
    /// </summary>
    /// <exception cref="FormatException">Unknown preset or key, bad value, or CPUID settings on a CPU without CPUID.</exception>
    public static CpuModel Parse(string spec)
    {
        var parts = spec.Split(',', StringSplitOptions.TrimEntries);
        var model = FromName(parts[0]) ?? throw new FormatException(
            $"unknown CPU model '{parts[0]}' (known: {string.Join(", ", Presets.Select(p => p.Name))})");
        if (parts.Length == 1) return model;
        var id = model.Cpuid ?? throw new FormatException($"the {model.Name} has no CPUID; it cannot take CPUID settings");
        foreach (var part in parts.Skip(1))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new FormatException($"expected key=value in CPU option '{part}'");
            string key = part[..eq].ToLowerInvariant(), value = part[(eq + 1)..];
            id = key switch
            {
                "vendor" => value.Length == 12 && value.All(c => c is >= ' ' and <= '~') ? id with { Vendor = value }
                    : throw new FormatException("vendor must be 12 printable ASCII characters"),
                "family" => id with { Family = Nibble(key, value) },
                "model" => id with { Model = Nibble(key, value) },
                "stepping" => id with { Stepping = Nibble(key, value) },
                "features" => id with { FeaturesEdx = ApplyFeatures(id.FeaturesEdx, value) },
                _ => throw new FormatException($"unknown CPU option '{key}' (vendor, family, model, stepping, features)"),
            };
        }
        return model with { Name = spec, Cpuid = id };
    }

    static int Nibble(string key, string value) =>
        int.TryParse(value, out int n) && n is >= 0 and <= 15 ? n : throw new FormatException($"{key} must be 0..15");

    static uint ApplyFeatures(uint edx, string list)
    {
        int i = 0;
        while (i < list.Length)
        {
            char sign = list[i];
            if (sign is not ('+' or '-')) throw new FormatException($"features: expected +name or -name at '{list[i..]}'");
            int end = list.IndexOfAny(['+', '-'], i + 1);
            if (end < 0) end = list.Length;
            string name = list[(i + 1)..end];
            if (!FeatureNames.TryGetValue(name, out uint bit))
                throw new FormatException($"unknown feature '{name}' (known: {string.Join(", ", FeatureNames.Keys)})");
            edx = sign == '+' ? edx | bit : edx & ~bit;
            i = end;
        }
        return edx;
    }

    /// <summary>Finds a preset by name ("286", "386", "486", "pentium", "p6").</summary>
    public static CpuModel? FromName(string name) =>
        Presets.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
}
