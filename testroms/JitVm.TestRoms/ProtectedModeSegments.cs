using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Protected-mode entry and segmentation: the accessed bit, base and limit of loaded segments, expand-down
/// segments, #GP/#NP with the selector error codes for bad loads, null selectors, the LDT, and the results of
/// LAR, LSL, VERR, VERW, ARPL, STR, SLDT and SGDT.
/// </summary>
public sealed class ProtectedModeSegments : ProtectedModeRom
{
    public override string Name => "pm-segments";
    public override string Description => "protected-mode entry, GDT/LDT loads, limits, expand-down, selector faults, LAR/LSL/VERR/VERW";

    const ushort Small = 0x40, ExpandDown = 0x48, Absent = 0x50, ExecOnly = 0x58;

    protected override IEnumerable<ulong> ExtraDescriptors =>
    [
        Descriptor(0x20000, 0xFFF, 0x92),                                  // 40: 4 KiB data at 20000h, not yet accessed
        Descriptor(0x30000, 0xFFF, 0x96),                                  // 48: 16-bit expand-down data, offsets 1000h-FFFFh
        Descriptor(0, 0xFFFF, 0x12),                                       // 50: not present
        Descriptor(0, 0xFFFF, 0x98),                                       // 58: execute-only code
    ];

    void CheckZf(Assembler m, string name, bool expected)
    {
        m.setz(al);
        m.movzx(eax, al);
        Kit.CheckEax(m, name, expected ? 1u : 0u);
    }

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x10);
        Kit.Print(m, "pm-segments: start\n");
        m.xor(eax, eax);
        m.mov(ax, cs);
        Kit.CheckEax(m, "cs is the ring-0 code selector", Code0);
        m.movzx(eax, __byte_ptr[Gdt + Code0 + 5]);
        Kit.CheckEax(m, "far jump set the code accessed bit", 0x9B);

        RomKit.Post(m, 0x11);
        m.mov(__dword_ptr[0x20010], 0x11223344);
        m.mov(ax, Small);
        m.mov(fs, ax);
        m.mov(eax, __dword_ptr.fs[0x10]);
        Kit.CheckEax(m, "segment base 20000h", 0x11223344);
        m.movzx(eax, __byte_ptr[Gdt + Small + 5]);
        Kit.CheckEax(m, "accessed bit written on load", 0x93);
        m.mov(eax, __dword_ptr.fs[0xFFC]);
        Kit.Print(m, "last dword inside the limit: ok\n");
        ExpectFault(m, "dword across the limit", 13, 0, a => a.mov(eax, __dword_ptr.fs[0xFFD]));

        RomKit.Post(m, 0x12);
        m.mov(ax, ExpandDown);
        m.mov(gs, ax);
        m.mov(__word_ptr.gs[0x1000], 0x5A5A);
        m.movzx(eax, __word_ptr[0x31000]);
        Kit.CheckEax(m, "expand-down lowest offset", 0x5A5A);
        m.mov(__byte_ptr.gs[0xFFFF], 0x77);
        m.movzx(eax, __byte_ptr[0x3FFFF]);
        Kit.CheckEax(m, "expand-down highest byte", 0x77);
        ExpectFault(m, "expand-down at the limit", 13, 0, a => a.mov(al, __byte_ptr.gs[0xFFF]));
        m.mov(ebx, 0xFFFF);
        ExpectFault(m, "expand-down word past 64 KiB", 13, 0, a => a.mov(ax, __word_ptr.gs[ebx]));

        RomKit.Post(m, 0x13);
        m.mov(ax, 0x203);
        ExpectFault(m, "selector beyond the GDT limit", 13, 0x200, a => a.mov(ds, ax));
        m.mov(ax, Absent);
        ExpectFault(m, "not-present segment", 11, Absent, a => a.mov(ds, ax));
        m.mov(ax, ExecOnly);
        ExpectFault(m, "execute-only code into DS", 13, ExecOnly, a => a.mov(ds, ax));
        m.mov(ax, Data3);
        ExpectFault(m, "ring-3 data into SS at ring 0", 13, Data3 & ~3u, a => a.mov(ss, ax));
        m.xor(eax, eax);
        ExpectFault(m, "null selector into SS", 13, 0, a => a.mov(ss, ax));
        m.mov(es, ax);
        Kit.Print(m, "null selector into ES: ok\n");
        ExpectFault(m, "access through a null ES", 13, 0, a => a.mov(eax, __dword_ptr.es[0]));

        RomKit.Post(m, 0x14);
        ulong local = Descriptor(0x21000, 0xFF, 0xF2);                     // LDT entry 1: ring-3 data at 21000h
        m.mov(__dword_ptr[LdtBase + 8], (uint)local);
        m.mov(__dword_ptr[LdtBase + 12], (uint)(local >> 32));
        m.mov(ax, Ldt);
        m.lldt(ax);
        m.xor(eax, eax);
        m.sldt(ax);
        Kit.CheckEax(m, "sldt", Ldt);
        m.mov(__dword_ptr[0x21020], 0xA5A5A5A5);
        m.mov(ax, 0x0C);
        m.mov(fs, ax);
        m.mov(eax, __dword_ptr.fs[0x20]);
        Kit.CheckEax(m, "local selector 0Ch reads through the LDT", 0xA5A5A5A5);
        ExpectFault(m, "local segment limit", 13, 0, a => a.mov(eax, __dword_ptr.fs[0xFE]));
        m.mov(ax, 0x14);
        ExpectFault(m, "local selector beyond the LDT limit", 13, 0x14, a => a.mov(fs, ax));

        RomKit.Post(m, 0x15);
        m.mov(eax, Small);
        m.lar(ebx, eax);
        CheckZf(m, "lar data: ZF", true);
        m.mov(eax, ebx);
        m.and(eax, 0xFFF0FFFF);                                            // bits 19:16 are undefined (SDM LAR)
        Kit.CheckEax(m, "lar data: access rights", 0x00009300);
        m.mov(eax, Small);
        m.lsl(ebx, eax);
        m.mov(eax, ebx);
        Kit.CheckEax(m, "lsl data", 0xFFF);
        m.mov(eax, Data0);
        m.lar(ebx, eax);
        m.mov(eax, ebx);
        m.and(eax, 0xFFF0FFFF);
        Kit.CheckEax(m, "lar flat data (G and B)", 0x00C09300);
        m.mov(eax, Data0);
        m.lsl(ebx, eax);
        m.mov(eax, ebx);
        Kit.CheckEax(m, "lsl 4 GiB", 0xFFFFFFFF);
        m.mov(eax, TssA);
        m.lar(ebx, eax);
        m.mov(eax, ebx);
        m.and(eax, 0xFFF0FFFF);
        Kit.CheckEax(m, "lar busy 386 TSS", 0x00008B00);
        m.mov(eax, TssA);
        m.lsl(ebx, eax);
        m.mov(eax, ebx);
        Kit.CheckEax(m, "lsl TSS", 0x2068);
        m.mov(eax, 0x203);
        m.lar(ebx, eax);
        CheckZf(m, "lar beyond the GDT: ZF", false);
        m.mov(eax, ExecOnly);
        m.verr(ax);
        CheckZf(m, "verr execute-only code", false);
        m.mov(eax, Code0);
        m.verr(ax);
        CheckZf(m, "verr readable code", true);
        m.verw(ax);
        CheckZf(m, "verw code", false);
        m.mov(eax, Data3);
        m.verw(ax);
        CheckZf(m, "verw ring-3 data", true);
        m.mov(eax, Data0 | 3);
        m.verr(ax);
        CheckZf(m, "verr ring-0 data with RPL 3", false);
        m.xor(eax, eax);
        m.str(ax);
        Kit.CheckEax(m, "str", TssA);
        m.mov(eax, 0x10);
        m.mov(bx, 3);
        m.arpl(ax, bx);
        m.setz(cl);
        Kit.CheckEax(m, "arpl raises RPL", 0x13);
        m.movzx(eax, cl);
        Kit.CheckEax(m, "arpl: ZF", 1);
        m.sgdt(__fword_ptr[Scratch]);
        m.movzx(eax, __word_ptr[Scratch]);
        Kit.CheckEax(m, "sgdt limit", 0x1FF);
        m.mov(eax, __dword_ptr[Scratch + 2]);
        Kit.CheckEax(m, "sgdt base", Gdt);

        Kit.Print(m, "pm-segments: done\n");
        RomKit.Finish(m, FinalPost);
    }
}
