namespace JitVm.Cpu.Tests;

/// <summary>CPU models the presets do not cover, for instructions gated on CPUID features.</summary>
internal static class TestModels
{
    /// <summary>A Pentium Pro-like model: CMOV, CMPXCHG8B, TSC, MSRs, debugging extensions, large pages, global pages.</summary>
    public static readonly CpuModel P6 = new()
    {
        Name = "p6", Generation = CpuGeneration.P6,
        Cpuid = new CpuidInfo("GenuineIntel", 6, 1, 9,
            CpuidInfo.FeatureVme | CpuidInfo.FeatureDe | CpuidInfo.FeaturePse | CpuidInfo.FeatureTsc | CpuidInfo.FeatureMsr |
            CpuidInfo.FeatureCx8 | CpuidInfo.FeaturePge | CpuidInfo.FeatureCmov, 0),
    };

    /// <summary>A Pentium-like model with MSRs (the 64-bit TSC write).</summary>
    public static readonly CpuModel Pentium = new()
    {
        Name = "p5", Generation = CpuGeneration.Pentium,
        Cpuid = new CpuidInfo("GenuineIntel", 5, 2, 11,
            CpuidInfo.FeatureVme | CpuidInfo.FeatureDe | CpuidInfo.FeaturePse | CpuidInfo.FeatureTsc | CpuidInfo.FeatureMsr |
            CpuidInfo.FeatureCx8, 0),
    };

    /// <summary>The P6 model with SYSENTER/SYSEXIT (CPUID.SEP), which no preset advertises yet.</summary>
    public static readonly CpuModel P6Sep = P6 with
    {
        Name = "p6+sep",
        Cpuid = P6.Cpuid! with { FeaturesEdx = P6.Cpuid.FeaturesEdx | CpuidInfo.FeatureSep },
    };
}
