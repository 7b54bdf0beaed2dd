using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class SystemTests
{
    static string Vendor(uint ebx, uint edx, uint ecx)
    {
        var b = new byte[12];
        BitConverter.GetBytes(ebx).CopyTo(b, 0);
        BitConverter.GetBytes(edx).CopyTo(b, 4);
        BitConverter.GetBytes(ecx).CopyTo(b, 8);
        return System.Text.Encoding.ASCII.GetString(b);
    }

    // ---- CPUID ----

    [Fact]
    public void CpuidLeafZeroGivesMaximumLeafAndVendor()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.xor(eax, eax); x.cpuid(); });
        m.Run();
        Assert.Equal(1u, m.Cpu.Eax);
        Assert.Equal("GenuineIntel", Vendor(m.Cpu.Ebx, m.Cpu.Edx, m.Cpu.Ecx));
    }

    [Fact]
    public void CpuidLeafOneGivesSignatureAndFeatures()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(eax, 1); x.cpuid(); });
        m.Run();
        var id = CpuModel.I486.Cpuid!;
        Assert.Equal(0x480u, m.Cpu.Eax);
        Assert.Equal(id.FeaturesEdx, m.Cpu.Edx);
        Assert.Equal(id.FeaturesEcx, m.Cpu.Ecx);
        Assert.Equal(0u, m.Cpu.Ebx);
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(0x80000000u)]
    [InlineData(0xFFFFFFFFu)]
    public void CpuidAboveTheMaximumReturnsTheHighestBasicLeaf(uint leaf)
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(eax, leaf); x.cpuid(); });
        m.Run();
        Assert.Equal(0x480u, m.Cpu.Eax);
        Assert.Equal(CpuModel.I486.Cpuid!.FeaturesEdx, m.Cpu.Edx);
    }

    [Fact]
    public void CpuidIsUndefinedOnThe386()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.xor(eax, eax); x.cpuid(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
        Assert.Equal(0u, m.Cpu.Eax);
    }

    // ---- time-stamp counter ----

    [Fact]
    public void RdtscIncreasesBetweenReads()
    {
        var m = new TestMachine(CpuModel.Pentium);
        m.Load(x =>
        {
            x.rdtsc(); x.mov(esi, eax); x.mov(edi, edx);
            x.rdtsc(); x.mov(ebx, eax); x.mov(ebp, edx);     // back to back
            x.mov(cx, 100);
            var loop = x.CreateLabel(); x.Label(ref loop); x.loop(loop);
            x.rdtsc();
        });
        m.Run();
        ulong t0 = (ulong)m.Cpu.Edi << 32 | m.Cpu.Esi, t1 = (ulong)m.Cpu.Ebp << 32 | m.Cpu.Ebx, t2 = (ulong)m.Cpu.Edx << 32 | m.Cpu.Eax;
        Assert.True(t1 > t0, $"{t1} > {t0}");
        Assert.True(t2 >= t1 + 100, $"{t2} >= {t1} + 100");
    }

    [Fact]
    public void RdtscStartsFromZeroAtResetAndCanBeWrittenThroughTheMsr()
    {
        var m = new TestMachine(TestModels.Pentium);
        m.Cpu.InstructionCount = 1_000_000;
        m.Cpu.Reset();
        Assert.Equal(0ul, m.Cpu.TimeStampCounter);
        m = new TestMachine(TestModels.Pentium);
        m.Load(x => { x.mov(ecx, 0x10); x.mov(edx, 0x12); x.mov(eax, 0x34567890); x.wrmsr(); x.rdmsr(); });
        m.Run();
        Assert.Equal(0x12u, m.Cpu.Edx);
        Assert.InRange(m.Cpu.Eax, 0x34567890u, 0x34567890u + 16);
    }

    [Fact]
    public void P6WritesOnlyTheLowHalfOfTheTsc()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x => { x.mov(ecx, 0x10); x.mov(edx, 0x12); x.mov(eax, 0x100); x.wrmsr(); x.rdtsc(); });
        m.Run();
        Assert.Equal(0u, m.Cpu.Edx);
    }

    [Fact]
    public void P6PerformanceCountersHoldWhatIsWrittenSignExtendedTo40Bits()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x =>
        {
            // PerfCtr1 = 0x8000_1234 (bit 31 set: sign-extended into bits 32-39); read back through RDMSR and RDPMC.
            x.mov(ecx, 0xC2); x.mov(edx, 0x77); x.mov(eax, 0x80001234); x.wrmsr();
            x.xor(eax, eax); x.xor(edx, edx); x.rdmsr(); x.mov(esi, eax); x.mov(edi, edx);
            x.mov(ecx, 1); x.rdpmc(); x.mov(ebx, edx);
            // PerfEvtSel0 keeps its bits.
            x.mov(ecx, 0x186); x.mov(edx, 0); x.mov(eax, 0x0043_00C0); x.wrmsr(); x.xor(eax, eax); x.rdmsr();
        });
        m.Run();
        Assert.Equal(0x80001234u, m.Cpu.Esi);
        Assert.Equal(0xFFu, m.Cpu.Edi);
        Assert.Equal(0xFFu, m.Cpu.Ebx);
        Assert.Equal(0x0043_00C0u, m.Cpu.Eax);
        Assert.Equal(0, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void P6MachineCheckArchitectureHasFiveQuietBanks()
    {
        var m = new TestMachine(CpuModel.P6);
        m.Load(x =>
        {
            x.mov(ecx, 0x179); x.rdmsr(); x.mov(esi, eax);                       // MCG_CAP
            x.mov(ecx, 0x410); x.mov(edx, 0); x.mov(eax, 0xFFFFFFFF); x.wrmsr(); // MC4_CTL
            x.xor(eax, eax); x.rdmsr(); x.mov(edi, eax);
            x.mov(ecx, 0x411); x.xor(eax, eax); x.wrmsr();                       // MC4_STATUS: clearing is allowed
            x.rdmsr(); x.mov(ebx, eax);
            x.mov(eax, Processor.Cr4MCE); x.mov(cr4, eax);                       // CR4.MCE exists with CPUID.MCE
        });
        m.Run();
        Assert.Equal(0x105u, m.Cpu.Esi);
        Assert.Equal(0xFFFFFFFFu, m.Cpu.Edi);
        Assert.Equal(0u, m.Cpu.Ebx);
        Assert.Equal(Processor.Cr4MCE, m.Cpu.Cr4);
        Assert.Equal(0, m.Exceptions(CpuVectors.GP));
    }

    [Theory]
    [InlineData(0x401u)]    // MC0_STATUS
    [InlineData(0x17Au)]    // MCG_STATUS
    [InlineData(0x414u)]    // MC5_CTL: past the last bank
    public void MachineCheckStatusTakesOnlyZerosAndBanksEndAtFive(uint msr)
    {
        var m = new TestMachine(CpuModel.P6);
        m.Load(x => { x.mov(ecx, msr); x.mov(edx, 0); x.mov(eax, 1); x.wrmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Theory]
    [InlineData(0x186u, 0u, 0x0020_0000u)]     // PerfEvtSel bit 21 is reserved
    [InlineData(0x187u, 1u, 0u)]               // and so is its high half
    public void P6PerfEvtSelReservedBitsRaiseGeneralProtection(uint msr, uint high, uint low)
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x => { x.mov(ecx, msr); x.mov(edx, high); x.mov(eax, low); x.wrmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void RdpmcTakesOnlyCounters0And1()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x => { x.mov(ecx, 2); x.rdpmc(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void ThePentiumHasNoP6PerformanceCounters()
    {
        var m = new TestMachine(CpuModel.Parse("pentium"));
        m.Load(x => { x.mov(ecx, 0x186); x.rdmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void OtherMsrsRaiseGeneralProtection()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x => { x.mov(ecx, 0x1234); x.rdmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void MsrInstructionsNeedTheMsrFeature()
    {
        var m = new TestMachine(CpuModel.Parse("486,features=+tsc"));   // TSC but not MSR
        m.Load(x => { x.mov(ecx, 0x10); x.rdmsr(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void RdtscNeedsTheTscFeature()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => x.rdtsc());
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void RdtscIsAllowedAtCplZeroWithTsd()
    {
        var m = new TestMachine(CpuModel.Pentium);
        m.Load(x => { x.mov(eax, Processor.Cr4TSD); x.mov(cr4, eax); x.rdtsc(); });
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(Processor.Cr4TSD, m.Cpu.Cr4);
    }

    // ---- MSW, CR0 ----

    [Fact]
    public void LmswSetsPeButNeverClearsIt()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(ax, 1); x.lmsw(ax); x.xor(ax, ax); x.lmsw(ax); x.smsw(bx); });
        m.Run();
        Assert.Equal(1u, m.Cpu.Ebx & 1);
        Assert.True(m.Cpu.ProtectedMode);
    }

    [Fact]
    public void LmswLoadsOnlyTheLowFourBits()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(ax, 0xFFFE); x.lmsw(ax); x.mov(eax, cr0); });
        m.Run();
        Assert.Equal(0x6000001Eu, m.Cpu.Eax);            // reset value 60000010 plus MP EM TS; PE stays 0
    }

    [Fact]
    public void The286MswReadsUnusedBitsAsOnes()
    {
        var m = new TestMachine(CpuModel.I286);
        m.Load(x => { x.smsw(ax); x.mov(cx, 8); x.lmsw(cx); x.smsw(__word_ptr[0x7000]); x.clts(); x.smsw(dx); });
        m.Run();
        Assert.Equal(0xFFF0u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xFFF8, m.Read16(0x7000));
        Assert.Equal(0xFFF0u, m.Cpu.Edx & 0xFFFF);      // CLTS cleared TS
    }

    [Fact]
    public void SmswToA32BitRegisterGivesAllOfCr0()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(ebx, 0xFFFFFFFF); x.smsw(ebx); });
        m.Run();
        Assert.Equal(0x60000010u, m.Cpu.Ebx);
    }

    [Fact]
    public void MovCr0RejectsPagingWithoutProtection()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(eax, 0x80000000); x.mov(cr0, eax); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(0x60000010u, m.Cpu.Cr0);
    }

    [Fact]
    public void MovCr0RejectsNotWriteThroughWithoutCacheDisableOn486()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(eax, 0x20000010); x.mov(cr0, eax); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void MovCr0IgnoresReservedBitsAndKeepsEtOn486()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(eax, 0x0000FFE2); x.mov(cr0, eax); x.mov(ebx, cr0); });
        m.Run();
        Assert.Equal(0x00000032u, m.Cpu.Ebx);            // MP NE kept, ET forced, reserved bits 6-15 dropped
    }

    [Fact]
    public void MovCr3SetsTheRegisterAndFlushesTheTlb()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => x.mov(al, __byte_ptr[0x7000]));
        m.Run();
        Assert.Contains(m.Cpu.Tlb, e => e.ReadTag == 0x7000);
        m.Cpu.Halted = false;
        m.Cpu.Eip = 0;
        m.Load(x => { x.mov(eax, 0x00123000); x.mov(cr3, eax); });
        m.Run();
        Assert.Equal(0x00123000u, m.Cpu.Cr3);
        Assert.All(m.Cpu.Tlb, e => Assert.True((e.ReadTag & 1) != 0));
    }

    [Fact]
    public void InvlpgDropsTheTranslationOfItsOperand()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(al, __byte_ptr[0x7000]); x.invlpg(__byte_ptr[0x7000]); });
        m.Run();
        Assert.All(m.Cpu.Tlb, e => Assert.True((e.ReadTag & 1) != 0));
    }

    [Fact]
    public void Cr4ExistsOnlyOnModelsWithCpuid()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => x.mov(eax, cr4));
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void Cr4BitsOfFeaturesTheModelLacksAreReserved()
    {
        var m = new TestMachine(CpuModel.I486);          // no PSE
        m.Load(x => { x.mov(eax, Processor.Cr4PSE); x.mov(cr4, eax); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(0u, m.Cpu.Cr4);
    }

    [Fact]
    public void NonexistentControlRegistersAreUndefined()
    {
        var m = new TestMachine(CpuModel.I386);
        m.LoadBytes(0x0F, 0x20, 0xC8);                   // mov eax, cr1
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    // ---- debug registers ----

    [Fact]
    public void DebugRegistersKeepTheirReservedBits()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x =>
        {
            x.xor(eax, eax); x.mov(dr6, eax); x.mov(dr7, eax); x.mov(ebx, dr6); x.mov(ecx, dr7);
            x.mov(eax, 0x12345678); x.mov(dr0, eax); x.mov(edx, dr0);
        });
        m.Run();
        Assert.Equal(0xFFFF0FF0u, m.Cpu.Ebx);
        Assert.Equal(0x00000400u, m.Cpu.Ecx);
        Assert.Equal(0x12345678u, m.Cpu.Edx);
    }

    [Fact]
    public void Dr4AliasesDr6WithoutDebugExtensions()
    {
        var m = new TestMachine(CpuModel.I386);
        m.LoadBytes(0x0F, 0x21, 0xE0);                   // mov eax, dr4
        m.Run();
        Assert.Equal(0xFFFF0FF0u, m.Cpu.Eax);
    }

    [Fact]
    public void Dr4IsUndefinedWithDebugExtensions()
    {
        var m = new TestMachine(TestModels.P6);
        m.Cpu.Cr4 = Processor.Cr4DE;
        m.LoadBytes(0x0F, 0x21, 0xE0);                   // mov eax, dr4
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void GeneralDetectRaisesDebugFaultOnTheNextAccess()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(eax, 0x2000); x.mov(dr7, eax); x.mov(ebx, 0x1111); x.mov(ebx, dr0); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.DB));
        Assert.Equal(0x1111u, m.Cpu.Ebx);
        Assert.True((m.Cpu.Dr[6] & 0x2000) != 0);        // BD
        Assert.True((m.Cpu.Dr[7] & 0x2000) == 0);        // GD cleared for the handler
    }

    // ---- descriptor-table registers ----

    [Theory]
    [InlineData("286", 0xFF)]
    [InlineData("386", 0x00)]
    [InlineData("486", 0x00)]
    public void SixteenBitSidtStoresA24BitBaseAndAModelSpecificTopByte(string model, int top)
    {
        var m = new TestMachine(CpuModel.FromName(model));
        m.Load(x => x.sidt(__fword_ptr[0x7000]));
        m.Run();
        Assert.Equal(new byte[] { 0xFF, 0x03, 0x00, 0x00, 0x00, (byte)top }, Bytes(m, 0x7000, 6));
    }

    [Theory]
    [InlineData("286", 0xFF)]
    [InlineData("386", 0x00)]
    public void SixteenBitLgdtLoadsA24BitBase(string model, int top)
    {
        var m = new TestMachine(CpuModel.FromName(model));
        m.Memory.Poke(0x7000, [0x34, 0x12, 0x78, 0x56, 0x34, 0x12]);
        m.Load(x => { x.lgdt(__fword_ptr[0x7000]); x.sgdt(__fword_ptr[0x7010]); });
        m.Run();
        Assert.Equal(0x345678u, m.Cpu.Gdtr.Base);
        Assert.Equal(0x1234, m.Cpu.Gdtr.Limit);
        Assert.Equal(new byte[] { 0x34, 0x12, 0x78, 0x56, 0x34, (byte)top }, Bytes(m, 0x7010, 6));
    }

    [Fact]
    public void ThirtyTwoBitLgdtAndSgdtUseTheFullBase()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Memory.Poke(0x7000, [0x34, 0x12, 0x78, 0x56, 0x34, 0x12]);
        // o32 lgdt [7000h]; o32 sgdt [7010h]
        m.LoadBytes(0x66, 0x0F, 0x01, 0x16, 0x00, 0x70, 0x66, 0x0F, 0x01, 0x06, 0x10, 0x70);
        m.Run();
        Assert.Equal(0x12345678u, m.Cpu.Gdtr.Base);
        Assert.Equal(new byte[] { 0x34, 0x12, 0x78, 0x56, 0x34, 0x12 }, Bytes(m, 0x7010, 6));
    }

    [Fact]
    public void SgdtThatFaultsStoresNothing()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Memory.Poke(0xFFFC, [0xAA, 0xAA]);
        // The limit fits at FFFC, the base at FFFE does not: #GP before anything is written.
        m.Load(x => x.sgdt(__fword_ptr[0xFFFC]));
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(0xAAAA, m.Read16(0xFFFC));
    }

    [Fact]
    public void LidtChangesWhereRealModeInterruptsAreFound()
    {
        var m = new TestMachine(CpuModel.I286);
        // A table at 7000h whose entry 3 points at 0050:0000 (the HLT); INT 3 uses it.
        m.Memory.Poke(0x700C, [0x00, 0x00, 0x50, 0x00]);
        m.Memory.Poke(0x7100, [0xFF, 0x03, 0x00, 0x70, 0x00, 0x00]);
        m.Load(x => { x.lidt(__fword_ptr[0x7100]); x.int3(); });
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(0x7000u, m.Cpu.Idtr.Base);
    }

    static byte[] Bytes(TestMachine m, uint addr, int n)
    {
        var b = new byte[n];
        for (int k = 0; k < n; k++) b[k] = m.Memory.Read8(addr + (uint)k);
        return b;
    }

    // ---- the rest ----

    [Fact]
    public void Ud2RaisesInvalidOpcode()
    {
        var m = new TestMachine(CpuModel.I286);
        m.Load(x => x.ud2());
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Theory]
    [InlineData(new byte[] { 0x0F, 0x00, 0xC0 })]     // sldt ax
    [InlineData(new byte[] { 0x0F, 0x00, 0xC8 })]     // str ax
    [InlineData(new byte[] { 0x0F, 0x00, 0x17 })]     // lldt [bx]
    [InlineData(new byte[] { 0x0F, 0x00, 0xD8 })]     // ltr ax
    [InlineData(new byte[] { 0x0F, 0x00, 0xE0 })]     // verr ax
    [InlineData(new byte[] { 0x0F, 0x00, 0xE8 })]     // verw ax
    [InlineData(new byte[] { 0x0F, 0x02, 0xC3 })]     // lar ax, bx
    [InlineData(new byte[] { 0x0F, 0x03, 0xC3 })]     // lsl ax, bx
    [InlineData(new byte[] { 0x63, 0xD8 })]           // arpl ax, bx
    public void ProtectedModeInstructionsAreUndefinedInRealMode(byte[] code)
    {
        foreach (var model in new[] { CpuModel.I286, CpuModel.I386, CpuModel.I486 })
        {
            var m = new TestMachine(model);
            m.LoadBytes(code);
            m.Run();
            Assert.Equal(1, m.Exceptions(CpuVectors.UD));
        }
    }

    [Fact]
    public void CacheInstructionsAre486AndLater()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.invd(); x.wbinvd(); x.mov(ax, 1); });
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(1u, m.Cpu.Eax & 0xFFFF);
        m = new TestMachine(CpuModel.I386);
        m.Load(x => x.wbinvd());
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }
}
