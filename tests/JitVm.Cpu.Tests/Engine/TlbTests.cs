using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.PagingRig;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// The software TLB under paging: what survives CR3 writes (global pages), what INVLPG drops (one page, or a whole
/// 4 MiB page), which control-register changes flush everything, and that permissions cached for one privilege
/// never serve the other. Each test caches a translation, changes the page tables behind the TLB's back (as
/// hardware allows) and checks whether the old translation is still used.
/// </summary>
public class TlbTests
{
    const uint Global = 0x0040_0000, Local = 0x0040_1000;
    const uint OldFrame = 0x0020_0000, NewFrame = 0x0030_0000;

    /// <summary>Two pages, one global, each reading 1 from its old frame and 2 from the frame it will be moved to.</summary>
    static PagingRig TwoPages(bool pge)
    {
        var r = new PagingRig();
        r.Map(Global, OldFrame, P | RW | US | G);
        r.Map(Local, OldFrame + 0x1000);
        r.Poke32(OldFrame, 1);
        r.Poke32(OldFrame + 0x1000, 1);
        r.Poke32(NewFrame, 2);
        r.Poke32(NewFrame + 0x1000, 2);
        r.EnablePaging(cr4: pge ? Processor.Cr4PGE : 0);
        Assert.Equal(1u, r.Cpu.ReadLin32(Global));
        Assert.Equal(1u, r.Cpu.ReadLin32(Local));
        r.Map(Global, NewFrame, P | RW | US | G);
        r.Map(Local, NewFrame + 0x1000);
        return r;
    }

    [Fact]
    public void ACr3WriteKeepsGlobalTranslations()
    {
        var r = TwoPages(pge: true);
        r.Cpu.FlushTlbNonGlobal();
        Assert.Equal(1u, r.Cpu.ReadLin32(Global));
        Assert.Equal(2u, r.Cpu.ReadLin32(Local));
    }

    [Fact]
    public void WithoutCr4PgeTheGlobalBitIsIgnored()
    {
        var r = TwoPages(pge: false);
        r.Cpu.FlushTlbNonGlobal();
        Assert.Equal(2u, r.Cpu.ReadLin32(Global));
    }

    [Fact]
    public void MovCr3KeepsGlobalTranslations()
    {
        var r = TwoPages(pge: true);
        const uint code = 0x0050_0000;
        r.Map(code, 0x0060_0000, P | RW | US | G);
        r.LoadCode(0x0060_0000, code, a =>
        {
            a.mov(eax, PageDirectory);
            a.mov(cr3, eax);
            a.mov(ebx, __dword_ptr[Global]);
            a.mov(ecx, __dword_ptr[Local]);
            a.hlt();
        });
        r.Run(code);
        Assert.Equal(1u, r.Cpu.Ebx);
        Assert.Equal(2u, r.Cpu.Ecx);
    }

    [Fact]
    public void InvlpgDropsOnePageGlobalOrNot()
    {
        var r = TwoPages(pge: true);
        r.Cpu.InvalidatePage(Global + 0x123);
        Assert.Equal(2u, r.Cpu.ReadLin32(Global));
        Assert.Equal(1u, r.Cpu.ReadLin32(Local));
    }

    [Fact]
    public void InvlpgInstructionDropsThePageOfItsOperand()
    {
        var r = TwoPages(pge: false);
        const uint code = 0x0050_0000;
        r.Map(code, 0x0060_0000);
        r.LoadCode(0x0060_0000, code, a =>
        {
            a.invlpg(__byte_ptr[Local + 0x800]);
            a.mov(ebx, __dword_ptr[Local]);
            a.mov(ecx, __dword_ptr[Global]);
            a.hlt();
        });
        r.Run(code);
        Assert.Equal(2u, r.Cpu.Ebx);
        Assert.Equal(1u, r.Cpu.Ecx);
    }

    [Fact]
    public void InvlpgOfAnyPartOfALargePageDropsAllOfIt()
    {
        var r = new PagingRig();
        const uint big = 0x0080_0000;
        r.MapLarge(big, 0x0040_0000);
        r.Poke32(0x0040_0000 + 0x5000, 1);
        r.Poke32(0x0080_0000 + 0x5000, 2);
        r.EnablePaging(cr4: Processor.Cr4PSE);
        Assert.Equal(1u, r.Cpu.ReadLin32(big + 0x5000));
        r.MapLarge(big, 0x0080_0000);
        r.Cpu.InvalidatePage(big + 0x3F_F000);               // another 4 KiB piece of the same 4 MiB page
        Assert.Equal(2u, r.Cpu.ReadLin32(big + 0x5000));
    }

    [Fact]
    public void ChangingCr4PgeFlushesGlobalTranslations()
    {
        var r = TwoPages(pge: true);
        const uint code = 0x0050_0000;
        r.Map(code, 0x0060_0000);
        r.LoadCode(0x0060_0000, code, a =>
        {
            a.xor(eax, eax);
            a.mov(cr4, eax);
            a.mov(ebx, __dword_ptr[Global]);
            a.hlt();
        });
        r.Run(code);
        Assert.Equal(2u, r.Cpu.Ebx);
    }

    [Fact]
    public void ChangingCr0WpFlushesCachedWriteRights()
    {
        var r = new PagingRig();
        r.Map(Local, OldFrame, P | D);                       // read-only, already dirty
        r.EnablePaging(wp: false);
        r.Cpu.WriteLin8(Local, 1);                           // cached as writable for the supervisor
        Assert.Contains(r.Cpu.Tlb, e => e.WriteTag == Local);
        r.Cpu.WriteCr0(r.Cpu.Cr0 | Processor.Cr0WP);
        Assert.Equal((CpuVectors.PF, 3u), r.Fault(() => r.Cpu.WriteLin8(Local, 2)));
    }

    [Fact]
    public void UserAndSupervisorTranslationsAreCachedSeparately()
    {
        var r = new PagingRig();
        r.Map(Local, OldFrame, P | RW | US | D);
        r.EnablePaging();
        r.Cpu.WriteLin8(Local, 1);
        Assert.Contains(r.Cpu.SupervisorTlb, e => e.WriteTag == Local);
        Assert.DoesNotContain(r.Cpu.UserTlb, e => e.ReadTag == Local);
        r.SetCpl(3);
        r.Cpu.WriteLin8(Local, 2);
        Assert.Contains(r.Cpu.UserTlb, e => e.WriteTag == Local);
        r.Cpu.FlushTlbNonGlobal();
        Assert.DoesNotContain(r.Cpu.UserTlb, e => e.ReadTag == Local);
        Assert.DoesNotContain(r.Cpu.SupervisorTlb, e => e.ReadTag == Local);
    }

    [Fact]
    public void PagesHoldingCodeAreNeverCachedForWriting()
    {
        var r = new PagingRig();
        const uint code = 0x0050_0000, alias = 0x0070_0000;
        r.Map(code, 0x0060_0000, P | RW | US | D);
        r.Map(alias, 0x0060_0000, P | RW | US | D);
        r.EnablePaging();
        r.LoadCode(0x0060_0000, code, a =>
        {
            a.mov(__byte_ptr[alias + 0x800], 1);              // same physical page as the running code
            a.hlt();
        });
        r.Run(code);
        Assert.DoesNotContain(r.Cpu.Tlb, e => e.WriteTag == alias);
        Assert.Contains(r.Cpu.Tlb, e => e.ReadTag == alias);
    }
}
