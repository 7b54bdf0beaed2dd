using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>The P6 preset, which presets have an FPU, and the time-stamp counter on the machine's clock.</summary>
public class P6ModelTests
{
    [Fact]
    public void P6PresetIsAFamilySixIntelWithTheImplementedFeatures()
    {
        Assert.Same(CpuModel.P6, CpuModel.Parse("p6"));
        var m = new TestMachine(CpuModel.P6);
        m.Load(x => { x.mov(eax, 1); x.cpuid(); });
        m.Run();
        Assert.Equal(0x652u, m.Cpu.Eax);
        uint expected = CpuidInfo.FeatureFpu | CpuidInfo.FeatureDe | CpuidInfo.FeaturePse | CpuidInfo.FeatureTsc | CpuidInfo.FeatureMsr |
            CpuidInfo.FeatureCx8 | CpuidInfo.FeatureSep | CpuidInfo.FeaturePge | CpuidInfo.FeatureCmov | CpuidInfo.FeatureFxsr |
            CpuidInfo.FeatureMce | CpuidInfo.FeatureMca;
        Assert.Equal(expected, m.Cpu.Edx);
        Assert.Equal(0u, m.Cpu.Edx & (1u << 9));          // no local APIC
        Assert.Equal(0u, m.Cpu.Ecx);
    }

    [Theory]
    [InlineData("286", false)]
    [InlineData("386", false)]
    [InlineData("486", true)]
    [InlineData("486,features=-fpu", false)]
    [InlineData("pentium", true)]
    [InlineData("p6", true)]
    [InlineData("p6,features=-fxsr", true)]
    public void WhichModelsHaveAnFpu(string spec, bool fpu)
    {
        var model = CpuModel.Parse(spec);
        Assert.Equal(fpu, model.HasFpu);
        Assert.Equal(fpu, new TestMachine(model).Cpu.HasFpu);
    }

    [Fact]
    public void FxsaveFollowsTheFxsrFeature()
    {
        var m = new TestMachine(CpuModel.Parse("p6,features=-fxsr"));
        m.Load(x => x.fxsave(__[0x7400]));
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void Cr4OsfxsrExistsWithFxsr()
    {
        var m = new TestMachine(CpuModel.P6);
        m.Load(x => { x.mov(eax, Processor.Cr4OSFXSR); x.mov(cr4, eax); x.mov(ebx, cr4); });
        m.Run();
        Assert.Equal(Processor.Cr4OSFXSR, m.Cpu.Ebx);
        m = new TestMachine(CpuModel.Pentium);
        m.Load(x => { x.mov(eax, Processor.Cr4OSFXSR); x.mov(cr4, eax); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void TimeStampCounterRunsAt200MHzOfGuestTimeWhenTheMachineHasAClock()
    {
        var m = new TestMachine(CpuModel.P6);
        long now = 0;
        m.Cpu.GuestTimeNs = () => now;
        now = 1_000_000;                                    // 1 ms
        Assert.Equal(200_000ul, m.Cpu.TimeStampCounter);
        m.Cpu.TimeStampCounter = 5;
        now += 500;
        Assert.Equal(105ul, m.Cpu.TimeStampCounter);
        m.Load(x => x.rdtsc());
        m.Run();
        Assert.Equal((105u, 0u), (m.Cpu.Eax, m.Cpu.Edx));
    }

    [Fact]
    public void WithoutAClockTheTimeStampCounterCountsInstructions()
    {
        var m = new TestMachine(CpuModel.P6);
        m.Load(x => { var next = x.CreateLabel(); x.nop(); x.nop(); x.jmp(next); x.Label(ref next); x.rdtsc(); });
        m.Run();
        Assert.Equal(3u * Processor.TscTicksPerInstruction, m.Cpu.Eax);   // counted per block: NOP, NOP, JMP
    }
}
