using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.PagingRig;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// The dispatcher follows a block's successor link (where it went last time) instead of looking the next block up,
/// for interpreted blocks as for translated ones. A link must not be followed once its block is stale: overwritten,
/// or reached through a mapping that a TLB flush has since changed.
/// </summary>
public class SuccessorLinkTests
{
    /// <summary>
    /// Real mode: a loop reaches the block at 0x20 through the block at 0x0E (a lone JMP) on every pass but one; on that
    /// pass (CX = 5) it first patches the block's MOV AL,1 into MOV AL,2. The JMP's link still points at the old block.
    /// </summary>
    [Fact]
    public void ALinkIsNotFollowedToOverwrittenCode()
    {
        var m = new TestMachine();
        m.LoadBytes(
            0x49,                                 // 00: dec cx
            0x74, 0x0E,                           // 01: jz 11
            0x83, 0xF9, 0x05,                     // 03: cmp cx, 5
            0x75, 0x06,                           // 06: jne 0E
            0x2E, 0xC6, 0x06, 0x21, 0x00, 0x02,   // 08: mov byte [cs:0021], 2
            0xE9, 0x0F, 0x00,                     // 0E: jmp 20
            0xF4,                                 // 11: hlt
            0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
            0xB0, 0x01,                           // 20: mov al, 1
            0x00, 0xC3,                           // 22: add bl, al
            0xEB, 0xDA);                          // 24: jmp 00
        m.Cpu.Ecx = 10;
        m.Run();
        // Passes with CX = 9..6 add 1, CX = 5..1 add 2 (a stale block would add 1 on CX = 4..1: 10).
        Assert.Equal(14u, m.Cpu.Ebx & 0xFF);
        Assert.Equal(0x12u, m.Cpu.Eip);                   // after the HLT at 11
        Assert.True(m.Engine.LinkedDispatches > 0);
    }

    /// <summary>
    /// Paging: the same CALL reaches the subroutine page twice; between the calls the page is remapped to another frame
    /// (PTE write and INVLPG). The call's link names the old frame's block, which is still valid but no longer mapped there.
    /// </summary>
    [Fact]
    public void ALinkIsNotFollowedAcrossATlbFlushThatRemappedItsTarget()
    {
        const uint Code = 0x0040_0000, Sub = 0x0040_1000, CodeFrame = 0x0020_0000, First = 0x0021_0000, Second = 0x0022_0000;
        var r = new PagingRig();
        r.Map(Code, CodeFrame);
        r.Map(Sub, First);
        r.Map(0x0030_0000, 0x0030_0000);                  // the stack
        uint pte = r.PteAddress(Sub);
        r.Map(pte & ~0xFFFu, pte & ~0xFFFu);              // the page table, to rewrite the PTE
        r.LoadCode(First, Sub, a => { a.mov(eax, 1); a.ret(); });
        r.LoadCode(Second, Sub, a => { a.mov(eax, 2); a.ret(); });
        r.LoadCode(CodeFrame, Code, a =>
        {
            var loop = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(ecx, 2);
            a.xor(esi, esi);
            a.jmp(loop);                                  // both passes reach the CALL as a block of its own
            a.Label(ref loop);
            a.call(Sub);
            a.add(esi, eax);
            a.dec(ecx);
            a.jz(done);
            a.mov(__dword_ptr[(int)pte], (int)(Second | P | RW | US));
            a.invlpg(__byte_ptr[(int)Sub]);
            a.jmp(loop);
            a.Label(ref done);
            a.hlt();
        });
        r.EnablePaging();
        r.Cpu.Esp = 0x0030_0FF0;
        r.Run(Code);
        Assert.Equal(3u, r.Cpu.Esi);                      // 1 from the first frame, then 2 from the second (a stale link: 2)
    }
}
