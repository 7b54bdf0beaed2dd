using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.PagingRig;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// Running code under paging: instruction fetch rights and faults, blocks whose last instruction straddles
/// into a page that is remapped or not present, self-modifying code through an alias mapping, and REP string
/// instructions that fault part-way at a page boundary.
/// </summary>
public class PagingExecutionTests
{
    const uint Code = 0x0040_0000, CodeFrame = 0x0020_0000;
    const int PF = CpuVectors.PF;

    static PagingRig Rig(uint codeFlags = P | RW | US)
    {
        var r = new PagingRig();
        r.Map(Code, CodeFrame, codeFlags);
        r.Map(Code + 0x1000, CodeFrame + 0x1000, codeFlags);
        r.EnablePaging();
        return r;
    }

    [Fact]
    public void CodeRunsThroughPagingAndFetchesMarkThePageAccessed()
    {
        var r = Rig();
        r.LoadCode(CodeFrame, Code, a => { a.mov(eax, 0x1234); a.hlt(); });
        r.Run(Code);
        Assert.Equal(0x1234u, r.Cpu.Eax);
        Assert.Equal(A, r.Pte(Code) & (A | D));
    }

    [Fact]
    public void UserCodeCannotRunFromASupervisorPage()
    {
        var r = Rig(P | RW);
        r.LoadCode(CodeFrame, Code, a => a.nop());
        r.SetCpl(3);
        Assert.Equal((PF, Processor.PfPresent | Processor.PfUser), r.RunToException(Code, PF));
        Assert.Equal(Code, r.Cpu.Cr2);
        Assert.Equal(Code, r.Cpu.Eip);
    }

    [Fact]
    public void TheDispatcherNoticesACplChangeNobodyAnnounced()
    {
        var r = Rig();
        const uint data = 0x0050_0000;
        r.Map(data, 0x0030_0000, P | RW, P | RW | US);      // supervisor-only data
        r.LoadCode(CodeFrame, Code, a => { a.mov(eax, __dword_ptr[data]); a.hlt(); });
        r.Cpu.Seg[SegReg.CS].Selector |= 3;                  // CPL 3, written behind the processor's back
        Assert.False(r.Cpu.UserAccesses);
        Assert.Equal((PF, Processor.PfPresent | Processor.PfUser), r.RunToException(Code, PF));
        Assert.Equal(data, r.Cpu.Cr2);
    }

    [Fact]
    public void FetchingFromANotPresentPageFaultsAtTheInstruction()
    {
        var r = Rig();
        r.LoadCode(CodeFrame, Code, a => a.jmp(0x0080_0010));
        Assert.Equal((PF, 0u), r.RunToException(Code, PF));
        Assert.Equal(0x0080_0010u, r.Cpu.Cr2);
        Assert.Equal(0x0080_0010u, r.Cpu.Eip);
    }

    /// <summary>
    /// Code at the end of the first page: 'mov ebx, 7' at FF8h, then 'mov eax, imm32' at FFDh whose opcode and two
    /// low immediate bytes (CDh ABh) are on the first page and the two high ones, then HLT, on the page at
    /// <paramref name="secondFrame"/>.
    /// </summary>
    static void LoadStraddlingCode(PagingRig r, uint secondFrame, ushort high)
    {
        r.Memory.Poke(CodeFrame + 0xFF8, [0xBB, 0x07, 0x00, 0x00, 0x00, 0xB8, 0xCD, 0xAB]);
        r.Memory.Poke(secondFrame, [(byte)high, (byte)(high >> 8), 0xF4]);
    }

    [Fact]
    public void AStraddlingBlockFollowsARemappedSecondPage()
    {
        var r = Rig();
        LoadStraddlingCode(r, CodeFrame + 0x1000, 0x1111);
        LoadStraddlingCode(r, 0x0030_0000, 0x2222);          // the same first page, another second page
        r.Run(Code + 0xFF8);
        Assert.Equal(0x1111ABCDu, r.Cpu.Eax);
        r.Map(Code + 0x1000, 0x0030_0000);
        r.Cpu.InvalidatePage(Code + 0x1000);
        r.Run(Code + 0xFF8);
        Assert.Equal(0x2222ABCDu, r.Cpu.Eax);
    }

    [Fact]
    public void AnInstructionStraddlingIntoANotPresentPageFaultsAfterTheOnesBeforeIt()
    {
        var r = Rig();
        LoadStraddlingCode(r, CodeFrame + 0x1000, 0x3333);
        r.SetPteFlags(Code + 0x1000, RW | US);               // second page not present
        r.Cpu.Ebx = 0;
        Assert.Equal((PF, 0u), r.RunToException(Code + 0xFF8, PF));
        Assert.Equal(7u, r.Cpu.Ebx);                          // the instruction before ran
        Assert.Equal(Code + 0xFFD, r.Cpu.Eip);                // the fault is the straddling instruction's
        Assert.Equal(Code + 0x1000, r.Cpu.Cr2);
        // The handler makes the page present; the instruction restarts and runs (the fault was not cached).
        r.SetPteFlags(Code + 0x1000, P | RW | US);
        r.Resume();
        Assert.Equal(0x3333ABCDu, r.Cpu.Eax);
    }

    [Fact]
    public void AStraddlingBlockWhoseSecondPageVanishedFaultsOnlyAtTheStraddlingInstruction()
    {
        var r = Rig();
        LoadStraddlingCode(r, CodeFrame + 0x1000, 0x4444);
        r.Run(Code + 0xFF8);                                  // decoded and cached with both pages present
        r.SetPteFlags(Code + 0x1000, RW | US);
        r.Cpu.InvalidatePage(Code + 0x1000);
        r.Cpu.Ebx = 0;
        Assert.Equal((PF, 0u), r.RunToException(Code + 0xFF8, PF));
        Assert.Equal(7u, r.Cpu.Ebx);
        Assert.Equal(Code + 0xFFD, r.Cpu.Eip);
    }

    [Fact]
    public void AWriteThroughAnAliasInvalidatesCodeFetchedThroughTheOtherMapping()
    {
        var r = Rig();
        const uint alias = 0x0070_0000;
        r.Map(alias, CodeFrame);
        // A loop that runs 'add ebx, imm8' and then patches its immediate through the alias: 1, then 5, 5.
        r.LoadCode(CodeFrame, Code, a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 3);
            a.xor(ebx, ebx);
            a.Label(ref top);
            a.add(ebx, 1);                                    // 83 C3 01 at offset 7: immediate at Code + 9
            a.mov(__byte_ptr[alias + 9], 5);
            a.loop(top);
            a.hlt();
        });
        Assert.Equal(0x01, r.Memory.Read8(CodeFrame + 9));
        r.Run(Code);
        Assert.Equal(1u + 5 + 5, r.Cpu.Ebx);
        Assert.True(r.Engine.Blocks.InvalidatedBlocks > 0);
    }

    [Fact]
    public void AWriteThroughAnAliasCachedBeforeTheCodeWasDecodedStillInvalidatesIt()
    {
        var r = Rig();
        const uint alias = 0x0070_0000;
        r.Map(alias, CodeFrame, P | RW | US | D);
        r.Cpu.WriteLin8(alias + 0x800, 0);                    // a writable TLB entry for the alias, before any code exists
        r.LoadCode(CodeFrame, Code, a =>
        {
            a.mov(__byte_ptr[alias + 0x0C], 42);              // C6 05 disp32 imm8: 7 bytes
            a.mov(eax, 0);                                    // B8 imm32 at offset 7: first immediate byte at 8
            a.hlt();
        });
        r.Memory.Poke(CodeFrame + 2, BitConverter.GetBytes(alias + 8));
        r.Run(Code);
        Assert.Equal(42u, r.Cpu.Eax);
    }

    // ---- REP string instructions at a page boundary ----

    const uint Src = 0x0050_0000, Dst = 0x0060_0000;

    static PagingRig StringRig()
    {
        var r = Rig();
        r.Map(Src, 0x0030_0000);
        r.Map(Dst, 0x0031_0000);
        r.Map(Dst + 0x1000, 0x0032_0000, RW | US);           // not present (yet)
        for (uint k = 0; k < 0x200; k += 4) r.Poke32(0x0030_0000 + k, 0xA0000000 + k);
        return r;
    }

    [Fact]
    public void RepMovsFaultingPartWayLeavesRestartableRegisters()
    {
        var r = StringRig();
        r.LoadCode(CodeFrame, Code, a =>
        {
            a.cld();
            a.mov(esi, Src);
            a.mov(edi, Dst + 0xF00);
            a.mov(ecx, 0x80);                                 // 0x200 bytes: 0x100 fit before the boundary
            a.rep.movsd();
            a.hlt();
        });
        uint movs = Code + 1 + 5 + 5 + 5;
        Assert.Equal((PF, 2u), r.RunToException(Code, PF));
        Assert.Equal(movs, r.Cpu.Eip);
        Assert.Equal(Dst + 0x1000, r.Cpu.Cr2);
        Assert.Equal(0x40u, r.Cpu.Ecx);
        Assert.Equal(Src + 0x100, r.Cpu.Esi);
        Assert.Equal(Dst + 0x1000, r.Cpu.Edi);
        Assert.Equal(0xA00000FCu, r.Memory.Read32(0x0031_0FFC));

        r.SetPteFlags(Dst + 0x1000, P | RW | US);
        r.Resume();
        Assert.Equal(0u, r.Cpu.Ecx);
        Assert.Equal(Dst + 0x1100, r.Cpu.Edi);
        Assert.Equal(0xA00001FCu, r.Memory.Read32(0x0032_00FC));
    }

    [Fact]
    public void ARepMovsElementStraddlingIntoANotPresentPageWritesNothingOfIt()
    {
        var r = StringRig();
        r.Poke32(0x0031_0FFC, 0x55555555);
        r.LoadCode(CodeFrame, Code, a =>
        {
            a.cld();
            a.mov(esi, Src);
            a.mov(edi, Dst + 0xFF6);
            a.mov(ecx, 4);
            a.rep.movsd();                                    // elements at FF6, FFA, then FFE straddles
            a.hlt();
        });
        Assert.Equal((PF, 2u), r.RunToException(Code, PF));
        Assert.Equal(2u, r.Cpu.Ecx);
        Assert.Equal(Dst + 0xFFE, r.Cpu.Edi);
        Assert.Equal(Dst + 0x1000, r.Cpu.Cr2);
        Assert.Equal(0x5555u, r.Memory.Read16(0x0031_0FFE));
    }

    [Fact]
    public void RepStosFaultingOnAReadOnlyPageAtCpl3ReportsAUserWrite()
    {
        var r = StringRig();
        r.SetPteFlags(Dst + 0x1000, P | US);                  // present, read-only
        r.LoadCode(CodeFrame, Code, a =>
        {
            a.cld();
            a.mov(edi, Dst + 0xFF0);
            a.mov(ecx, 8);
            a.mov(eax, 0x01010101);
            a.rep.stosd();
            a.hlt();
        });
        r.SetCpl(3);
        Assert.Equal((PF, 7u), r.RunToException(Code, PF));
        Assert.Equal(4u, r.Cpu.Ecx);
        Assert.Equal(Dst + 0x1000, r.Cpu.Edi);
    }
}
