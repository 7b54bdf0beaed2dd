using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.PagingRig;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// SYSENTER/SYSEXIT and the MSRs behind them, on a model that advertises SEP. The CPU state is set up directly
/// (flat segment caches, page tables); SYSENTER and SYSEXIT read no descriptors, so no GDT is needed.
/// </summary>
public class SysenterTests
{
    const uint UserCode = 0x0040_0000, KernelCode = 0x0080_0000, KernelStack = 0x0090_0000, UserStack = 0x0050_0000;
    const ushort KernelCs = 0x10;

    /// <summary>User code and stack (U/S = 1), kernel code and stack (supervisor-only), paging on, SYSENTER MSRs set.</summary>
    static PagingRig Rig()
    {
        var r = new PagingRig(TestModels.P6Sep);
        r.Map(UserCode, 0x0020_0000);
        r.Map(UserStack - 0x1000, 0x0021_0000);
        r.Map(KernelCode, 0x0030_0000, P | RW, P | RW);
        r.Map(KernelStack, 0x0031_0000, P | RW, P | RW);
        r.EnablePaging(wp: true);
        r.Cpu.SysenterCs = KernelCs;
        r.Cpu.SysenterEsp = KernelStack + 0x1000;
        r.Cpu.SysenterEip = KernelCode;
        return r;
    }

    static void AssertFlat(Processor cpu, int seg, ushort selector, int dpl, bool code)
    {
        ref Segment s = ref cpu.Seg[seg];
        Assert.Equal(selector, s.Selector);
        Assert.Equal(0u, s.Base);
        Assert.Equal(0xFFFFFFFFu, s.Limit);
        Assert.Equal(dpl, s.Dpl);
        Assert.True(s.Big);
        Assert.True((s.Attributes & Segment.AttrPresent) != 0);
        Assert.Equal(code, (s.Attributes & Segment.AttrCode) != 0);
    }

    [Fact]
    public void SysenterEntersFlatRingZeroAtTheConfiguredStackAndEntry()
    {
        var r = Rig();
        r.LoadCode(0x0020_0000, UserCode, a => a.sysenter());
        r.LoadCode(0x0030_0000, KernelCode, a => { a.push(0x1234); a.hlt(); });
        r.SetCpl(3);
        r.Cpu.SetEflags(0x2 | Processor.FlagIF | Processor.FlagRF);
        r.Run(UserCode);                                   // HLT runs only at CPL 0
        AssertFlat(r.Cpu, SegReg.CS, KernelCs, 0, code: true);
        AssertFlat(r.Cpu, SegReg.SS, KernelCs + 8, 0, code: false);
        Assert.Equal(0, r.Cpu.Cpl);
        Assert.True(r.Cpu.Code32);
        Assert.False(r.Cpu.UserAccesses);
        Assert.Equal(KernelStack + 0xFFC, r.Cpu.Esp);
        Assert.Equal(0x1234u, r.Memory.Read32(0x0031_0FFC)); // the supervisor-only stack was writable
        Assert.Equal(0u, r.Cpu.GetEflags() & (Processor.FlagIF | Processor.FlagRF));
    }

    [Fact]
    public void SysexitReturnsToFlatRingThreeAtEdxWithTheStackAtEcx()
    {
        var r = Rig();
        r.LoadCode(0x0030_0000, KernelCode, a =>
        {
            a.mov(ecx, UserStack);
            a.mov(edx, UserCode);
            a.sysexit();
        });
        r.LoadCode(0x0020_0000, UserCode, a => { a.push(0x5678); a.hlt(); });
        Assert.Equal((CpuVectors.GP, 0u), r.RunToException(KernelCode, CpuVectors.GP));   // the user-mode HLT
        AssertFlat(r.Cpu, SegReg.CS, (KernelCs + 16) | 3, 3, code: true);
        AssertFlat(r.Cpu, SegReg.SS, (KernelCs + 24) | 3, 3, code: false);
        Assert.Equal(3, r.Cpu.Cpl);
        Assert.True(r.Cpu.UserAccesses);
        Assert.Equal(UserCode + 5, r.Cpu.Eip);
        Assert.Equal(UserStack - 4, r.Cpu.Esp);
        Assert.Equal(0x5678u, r.Memory.Read32(0x0021_0FFC));
    }

    [Fact]
    public void ASystemCallRoundTrip()
    {
        var r = Rig();
        r.LoadCode(0x0020_0000, UserCode, a =>
        {
            a.mov(eax, 5);
            a.mov(ecx, UserStack);
            a.mov(edx, UserCode + 0x20);
            a.sysenter();
            a.hlt();
        });
        r.Memory.Poke(0x0020_0020, [0x40, 0xF4]);          // inc eax; hlt
        r.LoadCode(0x0030_0000, KernelCode, a => { a.shl(eax, 4); a.sysexit(); });
        r.SetCpl(3);
        r.RunToException(UserCode, CpuVectors.GP);
        Assert.Equal(0x51u, r.Cpu.Eax);
        Assert.Equal(UserCode + 0x21, r.Cpu.Eip);
    }

    [Fact]
    public void SysenterLeavesV86Mode()
    {
        var r = Rig();
        r.Map(0x2000, 0x0022_0000);
        r.Memory.Poke(0x0022_0000, [0x0F, 0x34]);          // sysenter
        r.LoadCode(0x0030_0000, KernelCode, a => a.hlt());
        r.Cpu.SetEflags(0x2 | Processor.FlagVM);
        r.Run(0x2000);
        Assert.Equal(0u, r.Cpu.GetEflags() & Processor.FlagVM);
        Assert.Equal(0, r.Cpu.Cpl);
        Assert.Equal(KernelCode + 1, r.Cpu.Eip);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]                                        // bits 15:2 zero: still a null selector
    public void SysenterWithANullSelectorRaisesGeneralProtection(int cs)
    {
        var r = Rig();
        r.Cpu.SysenterCs = (uint)cs;
        r.LoadCode(0x0020_0000, UserCode, a => a.sysenter());
        r.SetCpl(3);
        Assert.Equal((CpuVectors.GP, 0u), r.RunToException(UserCode, CpuVectors.GP));
        Assert.Equal(UserCode, r.Cpu.Eip);
        Assert.Equal(3, r.Cpu.Cpl);
    }

    [Fact]
    public void SysexitOutsideRingZeroRaisesGeneralProtection()
    {
        var r = Rig();
        r.LoadCode(0x0020_0000, UserCode, a => a.sysexit());
        r.SetCpl(3);
        Assert.Equal((CpuVectors.GP, 0u), r.RunToException(UserCode, CpuVectors.GP));
        Assert.Equal(UserCode, r.Cpu.Eip);
    }

    [Fact]
    public void SysenterInRealModeRaisesGeneralProtection()
    {
        var m = new TestMachine(TestModels.P6Sep);
        m.Cpu.SysenterCs = KernelCs;
        m.LoadBytes(0x0F, 0x34);
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void WithoutSepTheInstructionsAreUndefined()
    {
        var m = new TestMachine(TestModels.P6);
        m.LoadBytes(0x0F, 0x34);
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    // ---- MSRs ----

    [Fact]
    public void SysenterMsrsAreReadAndWrittenWithTheHighHalfIgnored()
    {
        var m = new TestMachine(TestModels.P6Sep);
        m.Load(x =>
        {
            x.mov(ecx, Processor.MsrSysenterCs); x.mov(eax, 0x0008); x.mov(edx, 1); x.wrmsr();
            x.mov(ecx, Processor.MsrSysenterEsp); x.mov(eax, 0x12345678); x.wrmsr();
            x.mov(ecx, Processor.MsrSysenterEip); x.mov(eax, 0x9ABCDEF0); x.wrmsr();
            x.mov(ecx, Processor.MsrSysenterCs); x.rdmsr(); x.mov(esi, eax); x.mov(edi, edx);
        });
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal((8u, 0x12345678u, 0x9ABCDEF0u), (m.Cpu.SysenterCs, m.Cpu.SysenterEsp, m.Cpu.SysenterEip));
        Assert.Equal((8u, 0u), (m.Cpu.Esi, m.Cpu.Edi));
    }

    [Fact]
    public void SysenterMsrsDoNotExistWithoutSep()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x => { x.mov(ecx, Processor.MsrSysenterEip); x.rdmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void ApicBaseResetsToTheDefaultBaseAsBootstrapProcessor()
    {
        var withApic = TestModels.P6 with { Cpuid = TestModels.P6.Cpuid! with { FeaturesEdx = TestModels.P6.Cpuid.FeaturesEdx | (1u << 9) } };
        foreach (var (model, expected) in new[] { (TestModels.P6, 0xFEE00100u), (withApic, 0xFEE00900u) })
        {
            var m = new TestMachine(model);
            m.Load(x => { x.mov(ecx, Processor.MsrApicBase); x.rdmsr(); });
            m.Run();
            Assert.Equal((expected, 0u), (m.Cpu.Eax, m.Cpu.Edx));
        }
    }

    [Fact]
    public void ApicBaseKeepsBspAndRejectsReservedBits()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x =>
        {
            x.mov(ecx, Processor.MsrApicBase); x.xor(edx, edx); x.mov(eax, 0xFEF00800); x.wrmsr();
            x.rdmsr(); x.mov(esi, eax);
            x.mov(eax, 0xFEF00801); x.wrmsr();             // bit 0 is reserved
        });
        m.Run();
        Assert.Equal(0xFEF00900u, m.Cpu.Esi);
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void ThePentiumHasNoApicBaseMsr()
    {
        var m = new TestMachine(CpuModel.Pentium);
        m.Load(x => { x.mov(ecx, Processor.MsrApicBase); x.rdmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }
}
