using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.ProtectedModeMachine;

namespace JitVm.Cpu.Tests.ProtectedMode;

/// <summary>Segment-register loads, limit checks and the descriptor instructions in protected mode.</summary>
public class SegmentationTests
{
    [Fact]
    public void LoadingADataSegmentFillsTheCacheAndSetsTheAccessedBit()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0x40000, 0x0FFF, 0x92));           // writable data, not yet accessed
        pm.M.Memory.Write32(0x40010, 0x12345678);
        pm.Load(x => { x.mov(ax, 0x48); x.mov(ds, ax); x.mov(eax, __dword_ptr[0x10]); });
        pm.Run();
        Assert.Equal(0x12345678u, pm.Cpu.Eax);
        Assert.Equal(0x40000u, pm.Cpu.Seg[SegReg.DS].Base);
        Assert.Equal(0x0FFFu, pm.Cpu.Seg[SegReg.DS].Limit);
        Assert.Equal(0x93, pm.M.Memory.Read8(GdtBase + 0x48 + 5));      // accessed bit written back
    }

    [Fact]
    public void GranularityScalesTheLimit()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0, 0x00001, 0x93, g: true));
        pm.Load(x => { x.mov(ax, 0x48); x.mov(es, ax); });
        pm.Run();
        Assert.Equal(0x1FFFu, pm.Cpu.Seg[SegReg.ES].Limit);
    }

    [Fact]
    public void ANullSelectorLoadsButFaultsOnUseWithGpZero()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, 0); x.mov(ds, ax); x.mov(al, __byte_ptr[0]); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0u, pm.Stack32(0));                                   // error code
        Assert.Equal(5u, pm.Stack32(4));                                   // the faulting MOV AL, [0]
        Assert.Equal((uint)Code0, pm.Stack32(8));
    }

    [Fact]
    public void ANullStackSelectorIsGpZero()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, 3); x.mov(ss, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0u, pm.Stack32(0));
        Assert.Equal(Stack0, pm.Cpu.Seg[SegReg.SS].Selector);
    }

    [Fact]
    public void ASelectorBeyondTheGdtLimitIsGpWithTheSelectorAndLeavesTheRegister()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, 0x10B); x.mov(ds, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0x108u, pm.Stack32(0));                               // index and TI; RPL dropped
        Assert.Equal(Flat0, pm.Cpu.Seg[SegReg.DS].Selector);
    }

    [Fact]
    public void ALocalSelectorWithoutAnLdtIsGp()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, 0x0C); x.mov(es, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0x0Cu, pm.Stack32(0));
    }

    [Fact]
    public void TheStackSegmentMustBeWritableDataAtCpl()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, Data3); x.mov(ss, ax); });                // DPL 3 at CPL 0
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal((uint)(Data3 & ~3), pm.Stack32(0));
    }

    [Fact]
    public void ExecuteOnlyCodeCannotBeLoadedIntoADataRegister()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0, 0xFFFF, 0x98));
        pm.Load(x => { x.mov(ax, 0x48); x.mov(ds, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0x48u, pm.Stack32(0));
    }

    [Fact]
    public void DataWithDplBelowRplIsGp()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, Flat0 | 3); x.mov(ds, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal((uint)Flat0, pm.Stack32(0));
    }

    [Fact]
    public void NotPresentDataIsNpAndANotPresentStackIsSs()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0, 0xFFFF, 0x13));
        pm.Load(x => { x.mov(ax, 0x48); x.mov(ds, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.NP));
        Assert.Equal(0x48u, pm.Stack32(0));

        pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x50, Segment(0, 0xFFFF, 0x13));
        pm.Load(x => { x.mov(ax, 0x50); x.mov(ss, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.SS));
        Assert.Equal(0x50u, pm.Stack32(0));
    }

    [Fact]
    public void AnExpandDownSegmentAllowsOffsetsAboveTheLimitOnly()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0x40000, 0x0FFF, 0x97));           // expand-down, writable, 16-bit
        pm.Load(x =>
        {
            x.mov(ax, 0x48); x.mov(ds, ax);
            x.mov(__word_ptr[0x1000], 0x1234);                             // lowest valid offset
            x.mov(__word_ptr[0xFFFE], 0x5678);                             // highest valid word
            x.mov(__byte_ptr[0x0FFF], 0);                                  // at the limit: outside
        });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0u, pm.Stack32(0));
        Assert.Equal(0x1234, pm.M.Memory.Read16(0x41000));
        Assert.Equal(0x5678, pm.M.Memory.Read16(0x4FFFE));
    }

    [Fact]
    public void AWordAtTheTopOfA16BitExpandDownSegmentFaults()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0x40000, 0x0FFF, 0x97));
        pm.Load(x => { x.mov(ax, 0x48); x.mov(ds, ax); x.mov(ebx, 0xFFFF); x.mov(ax, __word_ptr[ebx]); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
    }

    [Fact]
    public void AStackReferenceBeyondTheLimitIsSsZero()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x50, Segment(Stack0Base, 0x0FFF, 0x93));
        pm.Load(x => { x.mov(ax, 0x50); x.mov(ss, ax); x.mov(sp, 0x800); x.mov(bx, 0x1000); x.mov(ax, __word_ptr.ss[bx]); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.SS));
        Assert.Equal(0u, pm.Stack32(0));
    }

    [Fact]
    public void AFourGigabyteSegmentHasNoLimitFault()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x =>
        {
            x.mov(ebx, 0xFFFFFFFC); x.mov(eax, __dword_ptr[ebx]);
            x.mov(ebx, 0xFFFFFFFE); x.mov(ax, __word_ptr[ebx]);
            x.mov(eax, __dword_ptr[ebx]);                                  // straddles FFFFFFFFh: wraps, no #GP
        });
        pm.Run();
        Assert.Equal(0, pm.M.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void WritingThroughAReadOnlySegmentIsGp()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Segment(0x40000, 0xFFFF, 0x91));
        pm.Load(x => { x.mov(ax, 0x48); x.mov(ds, ax); x.mov(al, __byte_ptr[0]); x.mov(__byte_ptr[0], al); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(8u, pm.Stack32(4));                                   // the store, after 3+2+3 bytes
    }

    [Fact]
    public void LarLslVerrVerwReportThroughZf()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, Gate(Code0, 0, 0xEE));                      // an interrupt gate: not for LAR
        pm.Load(x =>
        {
            x.mov(ax, Data3);
            x.lar(ebx, eax); x.setz(cl);
            x.lsl(edx, eax); x.setz(ch);
            x.verr(ax); x.setz(__byte_ptr[0x600]);
            x.verw(ax); x.setz(__byte_ptr[0x601]);
            x.mov(ax, Code0 | 3);
            x.verr(ax); x.setz(__byte_ptr[0x602]);                         // RPL 3 > DPL 0
            x.mov(ax, 0x48);
            x.mov(esi, 0x5A5A);
            x.lar(esi, eax); x.setz(__byte_ptr[0x603]);
            x.mov(ax, Tss);
            x.lsl(edi, eax); x.setz(__byte_ptr[0x604]);
            x.mov(ax, Code0);
            x.verw(ax); x.setz(__byte_ptr[0x605]);                         // code is never writable
            x.mov(ax, Flat0);
            x.lar(ebp, eax);
        });
        pm.Run();
        Assert.Equal(0x0000F300u, pm.Cpu.Ebx);                             // access byte F3; limit 19:16 masked out
        Assert.Equal(0x00C09300u, pm.Cpu.Ebp);                             // G and D/B of the flat segment                             // access byte F3, limit 19:16 = F, G = D = 0
        Assert.Equal(0x0101, (int)pm.Cpu.Ecx & 0xFFFF);
        Assert.Equal(0xFFFFFu, pm.Cpu.Edx);
        Assert.Equal(1, pm.M.Memory.Read8(0x600));
        Assert.Equal(1, pm.M.Memory.Read8(0x601));
        Assert.Equal(0, pm.M.Memory.Read8(0x602));
        Assert.Equal(0, pm.M.Memory.Read8(0x603));
        Assert.Equal(0x5A5Au, pm.Cpu.Esi);                                 // not written when ZF = 0
        Assert.Equal(1, pm.M.Memory.Read8(0x604));
        Assert.Equal(0x68u + 0x2000 / 8, pm.Cpu.Edi);
        Assert.Equal(0, pm.M.Memory.Read8(0x605));
    }

    [Fact]
    public void ArplRaisesTheRplOnly()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x =>
        {
            x.mov(ax, 0x1230); x.mov(bx, 0x0002); x.arpl(ax, bx); x.setz(cl);
            x.mov(dx, 0x4563); x.arpl(dx, bx); x.setz(ch);
        });
        pm.Run();
        Assert.Equal(0x1232, (int)pm.Cpu.Eax & 0xFFFF);
        Assert.Equal(0x4563, (int)pm.Cpu.Edx & 0xFFFF);
        Assert.Equal(0x0001, (int)pm.Cpu.Ecx & 0xFFFF);
    }

    [Fact]
    public void LldtLoadsTheLdtAndLocalSelectorsUseIt()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, SystemDescriptor(0x6000, 0x0F, 0x82));                // LDT with two entries
        pm.M.Memory.Poke(0x6008, BitConverter.GetBytes(Segment(0x40000, 0xFFFF, 0x92)));
        pm.M.Memory.Write32(0x40004, 0xCAFEF00D);
        pm.Load(x =>
        {
            x.mov(ax, 0x48); x.lldt(ax);
            x.mov(ax, 0x0C); x.mov(fs, ax);
            x.mov(eax, __dword_ptr.fs[4]);
            x.sldt(bx);
        });
        pm.Run();
        Assert.Equal(0xCAFEF00Du, pm.Cpu.Eax);
        Assert.Equal(0x48, (int)pm.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0x93, pm.M.Memory.Read8(0x6008 + 5));
    }

    [Fact]
    public void LtrMarksTheTssBusyAndRejectsABusyOne()
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(0x48, SystemDescriptor(Tss2Base, 0x67, 0x89));
        pm.Load(x => { x.mov(ax, 0x48); x.ltr(ax); x.str(bx); x.ltr(ax); });
        pm.Run();
        Assert.Equal(0x48, (int)pm.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0x8B, pm.M.Memory.Read8(GdtBase + 0x48 + 5));
        Assert.True(pm.InHandler(CpuVectors.GP));                           // the second LTR: busy
        Assert.Equal(0x48u, pm.Stack32(0));
    }

    [Fact]
    public void DescriptorInstructionsArePrivilegedOrUndefinedWhereTheSdmSays()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.Load(x => { x.mov(ax, 0); x.lldt(ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));

        var rm = new TestMachine();
        rm.Load(x => { x.str(ax); });
        rm.Run();
        Assert.Equal(1, rm.Exceptions(CpuVectors.UD));
    }
}
