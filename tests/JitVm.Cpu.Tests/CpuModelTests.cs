namespace JitVm.Cpu.Tests;

public class CpuModelTests
{
    [Fact]
    public void ParsesPresetsAndCpuidOverrides()
    {
        var m = CpuModel.Parse("486,vendor=AuthenticAMD,family=4,model=3,stepping=2,features=+tsc+cx8");
        Assert.Equal(CpuGeneration.I486, m.Generation);
        Assert.Equal("AuthenticAMD", m.Cpuid!.Vendor);
        Assert.Equal(0x432u, m.Cpuid.Signature);
        Assert.Equal(CpuidInfo.FeatureFpu | CpuidInfo.FeatureTsc | CpuidInfo.FeatureCx8, m.Cpuid.FeaturesEdx);
        var p = CpuModel.Parse("pentium,features=-tsc");
        Assert.Equal(0u, p.Cpuid!.FeaturesEdx & CpuidInfo.FeatureTsc);
        Assert.Same(CpuModel.I286, CpuModel.Parse("286"));
        var g = CpuModel.Parse("pentium,features=+pge");
        Assert.Equal(CpuidInfo.FeaturePse | CpuidInfo.FeaturePge, g.Cpuid!.FeaturesEdx & (CpuidInfo.FeaturePse | CpuidInfo.FeaturePge));
    }

    [Theory]
    [InlineData("8086")]
    [InlineData("386,vendor=GenuineIntel")]        // no CPUID on the 386
    [InlineData("486,vendor=short")]
    [InlineData("486,family=16")]
    [InlineData("486,features=+avx")]
    [InlineData("486,features=tsc")]
    [InlineData("486,colour=blue")]
    [InlineData("486,novalue")]
    public void RejectsBadSpecifications(string spec) => Assert.Throws<FormatException>(() => CpuModel.Parse(spec));

    [Fact]
    public void CpuidReportsTheConfiguredVendorAndSignature()
    {
        var m = new TestMachine(CpuModel.Parse("486,vendor=CyrixInstead,model=9"));
        m.LoadBytes(0x66, 0x31, 0xC0, 0x0F, 0xA2, 0x66, 0x89, 0xDE, 0x66, 0x89, 0xD5, 0x66, 0x89, 0xCF,   // xor eax,eax; cpuid; esi=ebx ebp=edx edi=ecx
            0x66, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0xA2);                                              // mov eax,1; cpuid
        m.Run();
        string vendor = string.Concat(new[] { m.Cpu.Esi, m.Cpu.Ebp, m.Cpu.Edi }.Select(v => System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(v))));
        Assert.Equal("CyrixInstead", vendor);
        Assert.Equal(0x490u, m.Cpu.Eax & 0xFFF);
    }
}
