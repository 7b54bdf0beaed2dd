using static JitVm.Cpu.Tests.PagingRig;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// 32-bit paging (SDM vol. 3, chapter 4): translation through both levels, 4 MiB pages, accessed and dirty flags
/// as hardware writes them, access rights at both levels, CR0.WP, #PF error codes and CR2, implicit supervisor
/// accesses, and page-crossing accesses.
/// </summary>
public class PagingTests
{
    const uint Lin = 0x0040_3000, Phys = 0x0020_5000;
    const int PF = CpuVectors.PF;

    static PagingRig Rig(CpuModel? model = null)
    {
        var r = new PagingRig(model);
        r.Map(Lin, Phys);
        r.EnablePaging();
        return r;
    }

    // ---- translation, accessed and dirty flags ----

    [Fact]
    public void AReadTranslatesThroughBothLevelsAndSetsAccessedButNotDirty()
    {
        var r = Rig();
        r.Poke32(Phys + 0x124, 0xCAFEF00D);
        Assert.Equal(0xCAFEF00Du, r.Cpu.ReadLin32(Lin + 0x124));
        Assert.Equal(A, r.Pde(Lin) & (A | D));
        Assert.Equal(A, r.Pte(Lin) & (A | D));
    }

    [Fact]
    public void AWriteSetsDirtyInThePteOnly()
    {
        var r = Rig();
        r.Cpu.WriteLin16(Lin + 0x10, 0xBEEF);
        Assert.Equal(0xBEEF, r.Memory.Read16(Phys + 0x10));
        Assert.Equal(A | D, r.Pte(Lin) & (A | D));
        Assert.Equal(A, r.Pde(Lin) & (A | D));            // a PDE that points to a page table has no dirty flag
    }

    [Fact]
    public void TheFirstWriteThroughAReadCachedEntrySetsDirty()
    {
        var r = Rig();
        r.Cpu.ReadLin8(Lin);                               // caches the page for reading; D is still clear
        Assert.Equal(0u, r.Pte(Lin) & D);
        r.Cpu.WriteLin8(Lin + 1, 0x5A);
        Assert.Equal(D, r.Pte(Lin) & D);
        Assert.Equal(0x5A, r.Memory.Read8(Phys + 1));
    }

    [Fact]
    public void AReadOfADirtyWritablePageCachesItForWriting()
    {
        var r = Rig();
        r.SetPteFlags(Lin, P | RW | US | D);
        r.Cpu.ReadLin8(Lin);
        Assert.Contains(r.Cpu.Tlb, e => e.WriteTag == Lin);
    }

    [Fact]
    public void AReadOfACleanPageIsNotCachedForWriting()
    {
        var r = Rig();
        r.Cpu.ReadLin8(Lin);
        Assert.Contains(r.Cpu.Tlb, e => e.ReadTag == Lin);
        Assert.DoesNotContain(r.Cpu.Tlb, e => e.WriteTag == Lin);
    }

    [Fact]
    public void AccessedAndDirtyAreWrittenOnlyWhenTheyChange()
    {
        var r = Rig();
        r.Cpu.WriteLin8(Lin, 1);
        // The software clears the flags; with the translation still cached nothing sets them again (as a
        // hardware TLB), until the page is invalidated.
        r.SetPteFlags(Lin, P | RW | US);
        r.Cpu.WriteLin8(Lin, 2);
        Assert.Equal(0u, r.Pte(Lin) & (A | D));
        r.Cpu.InvalidatePage(Lin);
        r.Cpu.WriteLin8(Lin, 3);
        Assert.Equal(A | D, r.Pte(Lin) & (A | D));
    }

    // ---- not-present entries: error code and CR2 ----

    [Fact]
    public void ANotPresentPdeFaultsWithoutTouchingIt()
    {
        var r = Rig();
        const uint lin = 0x0080_1234;
        Assert.Equal((PF, 0u), r.Fault(() => r.Cpu.ReadLin32(lin)));
        Assert.Equal(lin, r.Cpu.Cr2);
        Assert.Equal(0u, r.Pde(lin));
    }

    [Theory]
    [InlineData(false, false, 0u)]
    [InlineData(true, false, 2u)]
    [InlineData(false, true, 4u)]
    [InlineData(true, true, 6u)]
    public void ANotPresentPteFaultsWithWriteAndUserBits(bool write, bool user, uint error)
    {
        var r = Rig();
        r.SetPteFlags(Lin, RW | US);                        // P = 0
        if (user) r.SetCpl(3);
        var f = r.Fault(() => { if (write) r.Cpu.WriteLin32(Lin + 8, 1); else r.Cpu.ReadLin32(Lin + 8); });
        Assert.Equal((PF, error), f);
        Assert.Equal(Lin + 8, r.Cpu.Cr2);
        Assert.Equal(0u, r.Pte(Lin) & A);
        // The PDE located the page table, so it counts as accessed (the SDM's #PF note).
        Assert.Equal(A, r.Pde(Lin) & A);
    }

    // ---- access rights ----

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void UserAccessesNeedUserAtBothLevels(bool pdeUser, bool pteUser)
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | RW | (pteUser ? US : 0), P | RW | (pdeUser ? US : 0));
        r.EnablePaging();
        r.Cpu.ReadLin8(Lin);                                // supervisor: always allowed
        r.SetCpl(3);
        if (pdeUser && pteUser)
        {
            r.Cpu.WriteLin8(Lin, 1);
            return;
        }
        Assert.Equal((PF, PfPresentUser), r.Fault(() => r.Cpu.ReadLin8(Lin + 5)));
        Assert.Equal(Lin + 5, r.Cpu.Cr2);
    }

    const uint PfPresentUser = Processor.PfPresent | Processor.PfUser;

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void UserWritesNeedWritableAtBothLevels(bool pdeRw, bool pteRw)
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | US | (pteRw ? RW : 0), P | US | (pdeRw ? RW : 0));
        r.EnablePaging();
        r.SetCpl(3);
        r.Cpu.ReadLin8(Lin);
        if (pdeRw && pteRw)
        {
            r.Cpu.WriteLin8(Lin, 1);
            Assert.Equal(D, r.Pte(Lin) & D);
            return;
        }
        Assert.Equal((PF, 7u), r.Fault(() => r.Cpu.WriteLin8(Lin, 1)));
        Assert.Equal(0u, r.Pte(Lin) & D);
        Assert.Equal(0, r.Memory.Read8(Phys));
    }

    [Fact]
    public void SupervisorWritesToReadOnlyPagesSucceedWithoutWp()
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | US, P | US);
        r.EnablePaging(wp: false);
        r.Cpu.WriteLin32(Lin, 0x11223344);
        Assert.Equal(0x11223344u, r.Memory.Read32(Phys));
        Assert.Equal(A | D, r.Pte(Lin) & (A | D));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void SupervisorWritesToReadOnlyPagesFaultWithWp(bool pdeRw, bool pteRw)
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | (pteRw ? RW : 0), P | (pdeRw ? RW : 0));
        r.EnablePaging(wp: true);
        Assert.Equal((PF, 3u), r.Fault(() => r.Cpu.WriteLin32(Lin, 1)));
        Assert.Equal(0u, r.Memory.Read32(Phys));
        Assert.Equal(0u, r.Pte(Lin) & D);
    }

    [Fact]
    public void The386HasNoWriteProtect()
    {
        var r = new PagingRig(CpuModel.I386);
        r.Map(Lin, Phys, P, P);
        r.EnablePaging(wp: true);                          // WP in CR0 anyway: the 386 ignores it
        r.Cpu.WriteLin8(Lin, 0x42);
        Assert.Equal(0x42, r.Memory.Read8(Phys));
    }

    [Fact]
    public void ImplicitSupervisorAccessesUseSupervisorRightsAtCpl3()
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P, P);                             // supervisor-only, read-only
        r.EnablePaging(wp: false);
        r.Poke32(Phys, 0x12345678);
        r.SetCpl(3);
        Assert.Equal((PF, PfPresentUser), r.Fault(() => r.Cpu.ReadLin32(Lin)));
        Assert.Equal(0x12345678u, r.Cpu.ReadSys32(Lin));
        r.Cpu.WriteSys16(Lin + 4, 0xABCD);                  // e.g. setting a descriptor's busy bit
        Assert.Equal(0xABCD, r.Memory.Read16(Phys + 4));
        Assert.Equal(A | D, r.Pte(Lin) & (A | D));
    }

    [Fact]
    public void ImplicitSupervisorWritesHonourWp()
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | US, P | US);
        r.EnablePaging(wp: true);
        r.SetCpl(3);
        Assert.Equal((PF, 3u), r.Fault(() => r.Cpu.WriteSys32(Lin, 1)));   // U/S clear in the error code
    }

    [Fact]
    public void CachedSupervisorRightsDoNotLeakToUserMode()
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | RW, P | RW | US);
        r.EnablePaging();
        r.Cpu.WriteLin32(Lin, 7);                           // cached for supervisor reads and writes
        r.SetCpl(3);
        Assert.True(r.Cpu.UserAccesses);
        Assert.Equal((PF, 7u), r.Fault(() => r.Cpu.WriteLin32(Lin, 8)));
        Assert.Equal((PF, PfPresentUser), r.Fault(() => r.Cpu.ReadLin32(Lin)));
        r.SetCpl(0);
        Assert.Contains(r.Cpu.Tlb, e => e.WriteTag == Lin);  // the supervisor entry survived the round trip
        Assert.Equal(7u, r.Cpu.ReadLin32(Lin));
    }

    [Fact]
    public void V86ModeAccessesAreUserAccesses()
    {
        var r = new PagingRig();
        r.Map(Lin, Phys, P | RW, P | RW | US);
        r.EnablePaging();
        r.Cpu.SetEflags(r.Cpu.GetEflags() | Processor.FlagVM);
        Assert.True(r.Cpu.UserAccesses);
        Assert.Equal((PF, PfPresentUser), r.Fault(() => r.Cpu.ReadLin8(Lin)));
    }

    // ---- 4 MiB pages ----

    [Fact]
    public void FourMiBPagesTranslateWithThePdeAlone()
    {
        var r = new PagingRig();
        r.MapLarge(0x0080_0000, 0x0040_0000);
        r.EnablePaging(cr4: Processor.Cr4PSE);
        r.Cpu.WriteLin32(0x0093_4560, 0x600DF00D);
        Assert.Equal(0x600DF00Du, r.Memory.Read32(0x0053_4560));
        Assert.Equal(A | D, r.Pde(0x0080_0000) & (A | D));    // the dirty flag lives in the PDE of a large page
        Assert.Equal(0x600DF00Du, r.Cpu.ReadLin32(0x0093_4560));
    }

    [Fact]
    public void APageSizeBitIsIgnoredWithoutCr4Pse()
    {
        var r = new PagingRig();
        r.Map(Lin, Phys);
        r.SetPdeFlags(Lin, P | RW | US | PS);
        r.EnablePaging(cr4: 0);
        r.Poke32(Phys + 0x40, 0x0BADCAFE);
        Assert.Equal(0x0BADCAFEu, r.Cpu.ReadLin32(Lin + 0x40));   // still a 4 KiB walk through the page table
    }

    [Fact]
    public void LargePageUserAndWriteRightsComeFromThePde()
    {
        var r = new PagingRig();
        r.MapLarge(0x0080_0000, 0x0040_0000, P | US | PS);     // read-only user page
        r.EnablePaging(wp: true, cr4: Processor.Cr4PSE);
        r.SetCpl(3);
        Assert.Equal(0u, r.Cpu.ReadLin32(0x0080_0000));
        Assert.Equal((PF, 7u), r.Fault(() => r.Cpu.WriteLin32(0x0080_1000, 1)));
        Assert.Equal(0x0080_1000u, r.Cpu.Cr2);
        Assert.Equal(A, r.Pde(0x0080_0000) & (A | D));
    }

    [Fact]
    public void LargePageReservedBitsFaultOnTheP6()
    {
        var r = new PagingRig(TestModels.P6);
        r.MapLarge(0x0080_0000, 0x0040_0000, P | RW | PS | 0x2000);
        r.EnablePaging(cr4: Processor.Cr4PSE);
        Assert.Equal((PF, Processor.PfPresent | Processor.PfReserved), r.Fault(() => r.Cpu.ReadLin8(0x0080_0010)));
        Assert.Equal(0u, r.Pde(0x0080_0000) & A);
    }

    [Fact]
    public void LargePageReservedBitsAreIgnoredOnThePentium()
    {
        var r = new PagingRig(TestModels.Pentium);
        r.MapLarge(0x0080_0000, 0x0040_0000, P | RW | PS | 0x2000);
        r.EnablePaging(cr4: Processor.Cr4PSE);
        r.Memory.Poke(0x0040_0010, [0x77]);
        Assert.Equal(0x77, r.Cpu.ReadLin8(0x0080_0010));
    }

    // ---- page-crossing accesses ----

    [Fact]
    public void AStraddlingWriteFaultingOnTheSecondPageLeavesTheFirstUnchanged()
    {
        var r = Rig();
        r.Map(Lin + 0x1000, Phys + 0x1000, RW | US);         // next page not present
        r.Poke32(Phys + 0xFFC, 0xA1A2A3A4);
        Assert.Equal((PF, 2u), r.Fault(() => r.Cpu.WriteLin32(Lin + 0xFFE, 0xDDCCBBAA)));
        Assert.Equal(Lin + 0x1000, r.Cpu.Cr2);               // the first byte on the faulting page
        Assert.Equal(0xA1A2A3A4u, r.Memory.Read32(Phys + 0xFFC));
        Assert.Equal(0u, r.Pte(Lin) & D);                    // nothing was written, nothing is dirty
    }

    [Fact]
    public void AStraddlingWriteReportsTheFirstPageWhenBothFault()
    {
        var r = Rig();
        r.SetPteFlags(Lin, P | US);                          // read-only
        r.SetCpl(3);
        Assert.Equal((PF, 7u), r.Fault(() => r.Cpu.WriteLin16(Lin + 0xFFF, 0)));
        Assert.Equal(Lin + 0xFFF, r.Cpu.Cr2);
    }

    [Fact]
    public void AStraddlingWriteWritesBothPagesThroughTheirOwnFrames()
    {
        var r = Rig();
        r.Map(Lin + 0x1000, 0x0030_0000);                    // physically far apart
        r.Cpu.WriteLin32(Lin + 0xFFD, 0x44332211);
        Assert.Equal(0x11, r.Memory.Read8(Phys + 0xFFD));
        Assert.Equal(0x33, r.Memory.Read8(Phys + 0xFFF));
        Assert.Equal(0x44, r.Memory.Read8(0x0030_0000));
        Assert.Equal(0x44332211u, r.Cpu.ReadLin32(Lin + 0xFFD));
        Assert.Equal(D, r.Pte(Lin) & D);
        Assert.Equal(D, r.Pte(Lin + 0x1000) & D);
    }

    [Fact]
    public void AStraddlingReadFaultReportsTheSecondPage()
    {
        var r = Rig();
        Assert.Equal((PF, 0u), r.Fault(() => r.Cpu.ReadLin16(Lin + 0xFFF)));
        Assert.Equal(Lin + 0x1000, r.Cpu.Cr2);
    }

    [Fact]
    public void PagingTranslatesThroughTheA20Mask()
    {
        var r = Rig();
        r.Map(Lin, 0x0010_0000);
        r.Memory.Poke(0x0000_0020, [0x99]);
        r.Cpu.A20Enabled = false;
        Assert.Equal(0x99, r.Cpu.ReadLin8(Lin + 0x20));
    }
}
