using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// String instructions running into a not-present page part-way. A #PF handler records CR2, the error code and
/// ECX/ESI/EDI as the fault left them, makes the page present and returns to the faulting instruction, which
/// then finishes: REP MOVSD forward into a missing destination page, an element straddling the boundary (nothing
/// of it written before the fault), REP STOSB backward (DF = 1) into the page below, REPE CMPSB whose source
/// runs into a missing page, and REP LODSD reading across.
/// </summary>
public sealed class PagingStrings : PagingRom
{
    public override string Name => "paging-strings";
    public override string Description => "REP string instructions faulting at a page boundary and restarting where they stopped";

    const int HandlerOffset = 0x9000;
    // The handler's record, in the scratch area.
    const uint RecCr2 = Scratch + 0x20, RecErr = Scratch + 0x24, RecEcx = Scratch + 0x28, RecEsi = Scratch + 0x2C,
        RecEdi = Scratch + 0x30, RecCount = Scratch + 0x34, RecWord = Scratch + 0x38;

    // Test pages: source 800000h-801FFFh, destination 900000h-902FFFh (frames 30000h...).
    const uint Src = TestRegion, Dst = TestRegion + 0x100000;

    void Expect(Assembler m, string name, uint address, uint expected)
    {
        m.mov(eax, __dword_ptr[address]);
        Kit.CheckEax(m, name, expected);
    }

    /// <summary>Checks a register (not EAX or ESI, which the checks themselves use).</summary>
    void ExpectReg(Assembler m, string name, AssemblerRegister32 reg, uint expected)
    {
        m.mov(eax, reg);
        Kit.CheckEax(m, name, expected);
    }

    /// <summary>Clears the handler's record and makes <paramref name="lin"/>'s page not present.</summary>
    static void Arm(Assembler m, uint lin, uint frame)
    {
        m.mov(__dword_ptr[RecCount], 0);
        Map(m, lin, frame, RW);
    }

    void CheckRecord(Assembler m, string name, uint error, uint cr2, uint ecx, uint? esi, uint? edi)
    {
        Expect(m, name + ": one page fault", RecCount, 1);
        Expect(m, name + ": error code", RecErr, error);
        Expect(m, name + ": CR2", RecCr2, cr2);
        Expect(m, name + ": ECX at the fault", RecEcx, ecx);
        if (esi is { } s) Expect(m, name + ": ESI at the fault", RecEsi, s);
        if (edi is { } d) Expect(m, name + ": EDI at the fault", RecEdi, d);
    }

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x50);
        Kit.Print(m, "paging-strings: start\n");
        EnablePaging(m);
        SetGate(m, 14, Code0, Linear(HandlerOffset), 0x8E);
        Map(m, Src, 0x30000, P | RW);
        Map(m, Src + 0x1000, 0x31000, P | RW);
        Map(m, Dst, 0x40000, P | RW);
        Map(m, Dst + 0x1000, 0x41000, P | RW);
        Map(m, Dst + 0x2000, 0x42000, P | RW);
        // Source: dword k = 1000h + k across both source pages.
        var fill = m.CreateLabel();
        m.cld();
        m.mov(edi, Src);
        m.mov(eax, 0x1000);
        m.mov(ecx, 0x800);
        m.Label(ref fill);
        m.stosd();
        m.inc(eax);
        m.loop(fill);

        RomKit.Post(m, 0x51);
        Arm(m, Dst + 0x1000, 0x41000);
        m.mov(esi, Src);
        m.mov(edi, Dst + 0xF00);
        m.mov(ecx, 0x80);                                                  // 40h dwords fit before the boundary
        m.rep.movsd();
        CheckRecord(m, "REP MOVSD", 2, Dst + 0x1000, 0x40, Src + 0x100, Dst + 0x1000);
        ExpectReg(m, "REP MOVSD: ECX after restart", ecx, 0);
        ExpectReg(m, "REP MOVSD: EDI after restart", edi, Dst + 0x1100);
        Expect(m, "REP MOVSD: last element before the boundary", Dst + 0xFFC, 0x103F);
        Expect(m, "REP MOVSD: last element", Dst + 0x10FC, 0x107F);

        RomKit.Post(m, 0x52);
        m.mov(__dword_ptr[Dst + 0xFFC], 0x77777777);
        Arm(m, Dst + 0x1000, 0x41000);
        m.mov(esi, Src);
        m.mov(edi, Dst + 0xFFE);
        m.mov(ecx, 2);
        m.rep.movsd();                                                     // the first element straddles
        CheckRecord(m, "straddling MOVSD element", 2, Dst + 0x1000, 2, Src, Dst + 0xFFE);
        Expect(m, "straddling MOVSD element: its first half was not written before the fault", RecWord, 0x7777);
        ExpectReg(m, "straddling MOVSD element: ECX after restart", ecx, 0);
        Expect(m, "straddling MOVSD element: written after restart", Dst + 0xFFE, 0x1000);

        RomKit.Post(m, 0x53);
        Arm(m, Dst + 0x1000, 0x41000);
        m.std();
        m.mov(edi, Dst + 0x2003);
        m.mov(ecx, 8);
        m.mov(al, 0x5A);
        m.rep.stosb();
        m.cld();
        CheckRecord(m, "REP STOSB downward", 2, Dst + 0x1FFF, 4, null, Dst + 0x1FFF);
        ExpectReg(m, "REP STOSB downward: EDI after restart", edi, Dst + 0x1FFB);
        Expect(m, "REP STOSB downward: bytes on both pages", Dst + 0x1FFE, 0x5A5A5A5A);

        RomKit.Post(m, 0x54);
        // Destination copy of the source around the source page boundary, so REPE CMPSB keeps going.
        m.mov(esi, Src + 0xFF8);
        m.mov(edi, Dst + 0x100);
        m.mov(ecx, 4);
        m.rep.movsd();
        Arm(m, Src + 0x1000, 0x31000);
        m.mov(esi, Src + 0xFF8);
        m.mov(edi, Dst + 0x100);
        m.mov(ecx, 16);
        m.repe.cmpsb();
        m.setz(bl);
        CheckRecord(m, "REPE CMPSB", 0, Src + 0x1000, 8, Src + 0x1000, Dst + 0x108);
        ExpectReg(m, "REPE CMPSB: ECX after restart", ecx, 0);
        m.movzx(eax, bl);
        Kit.CheckEax(m, "REPE CMPSB: all equal", 1);

        RomKit.Post(m, 0x55);
        Arm(m, Src + 0x1000, 0x31000);
        m.mov(esi, Src + 0xFF0);
        m.mov(ecx, 8);
        m.rep.lodsd();
        m.mov(ebp, eax);
        CheckRecord(m, "REP LODSD", 0, Src + 0x1000, 4, Src + 0x1000, null);
        ExpectReg(m, "REP LODSD: EAX is the last element", ebp, 0x1403);

        Kit.Print(m, "paging-strings: done\n");
        RomKit.Finish(m, FinalPost);
    }

    protected override void Sections(RomBuilder rom)
    {
        // #PF handler: record, make the faulting page present, return to the faulting instruction.
        var h = rom.AddSection(32, HandlerOffset, "pf-handler");
        h.push(eax);
        h.push(ebx);
        h.mov(eax, cr2);
        h.mov(__dword_ptr[RecCr2], eax);
        h.mov(ebx, __dword_ptr[esp + 8]);
        h.mov(__dword_ptr[RecErr], ebx);
        h.mov(__dword_ptr[RecEcx], ecx);
        h.mov(__dword_ptr[RecEsi], esi);
        h.mov(__dword_ptr[RecEdi], edi);
        h.inc(__dword_ptr[RecCount]);
        h.movzx(ebx, __word_ptr[Dst + 0xFFE]);
        h.mov(__dword_ptr[RecWord], ebx);
        h.shr(eax, 12);
        h.and(eax, 0x3FF);
        h.or(__dword_ptr[eax * 4 + TestTable], P);
        h.pop(ebx);
        h.pop(eax);
        h.add(esp, 4);                                                     // the error code
        h.iretd();
    }
}
