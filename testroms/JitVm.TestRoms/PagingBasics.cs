using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Paging: translation through 4 KiB pages, accessed and dirty flags as the processor sets them (a read sets A
/// only; the first write sets D, also after a read cached the page), CR0.WP for supervisor writes, #PF error
/// codes and CR2 for not-present and protection faults, INVLPG and CR3 reloads after a remap, and 4 MiB pages
/// (CR4.PSE) with their A and D flags in the directory entry. Then ring 3: user/supervisor and read-only
/// faults with the U/S bit in the error code, delivered through supervisor-only IDT, GDT, TSS and stack pages
/// (implicit supervisor accesses), and back to ring 0 through a call gate.
/// </summary>
public sealed class PagingBasics : PagingRom
{
    public override string Name => "paging";
    public override string Description => "4 KiB and 4 MiB pages, accessed/dirty flags, CR0.WP, #PF error codes and CR2, INVLPG, CR3 reload";

    const uint Rw = TestRegion, Ro = TestRegion + 0x1000, Absent = TestRegion + 0x2000, Alias = TestRegion + 0x3000;
    const uint RwFrame = 0x30000, RoFrame = 0x31000;
    const uint Large = 0xC00000;
    const ushort HomeGate = 0x40;
    const int Ring3 = 0x9000, Home = 0x9400;

    protected override IEnumerable<ulong> ExtraDescriptors => [Gate(Code0, Linear(Home), 0xEC)];   // 40: DPL-3 call gate to ring 0

    void CheckCr2(Assembler m, string name, uint expected)
    {
        m.mov(eax, cr2);
        Kit.CheckEax(m, name, expected);
    }

    void CheckFlags(Assembler m, string name, uint entry, uint expected)
    {
        m.mov(eax, __dword_ptr[entry]);
        m.and(eax, A | D);
        Kit.CheckEax(m, name, expected);
    }

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x40);
        Kit.Print(m, "paging: start\n");
        m.mov(__dword_ptr[RwFrame + 0x10], 0xCAFEF00D);
        m.mov(__dword_ptr[RoFrame], 0x12345678);
        EnablePaging(m);
        Map(m, Rw, RwFrame, P | RW);
        Map(m, Ro, RoFrame, P);                                            // read-only
        Map(m, Alias, RoFrame, P | RW);                                    // the same frame, writable

        RomKit.Post(m, 0x41);
        m.mov(eax, __dword_ptr[Rw + 0x10]);
        Kit.CheckEax(m, "4 KiB page translates", 0xCAFEF00D);
        CheckFlags(m, "a read sets A but not D in the PTE", Pte(Rw), A);
        CheckFlags(m, "the directory entry is accessed, never dirty", PageDirectory + (TestRegion >> 22) * 4, A);
        m.mov(__dword_ptr[Rw + 0x20], 1);
        CheckFlags(m, "a write sets D", Pte(Rw), A | D);
        m.mov(eax, __dword_ptr[Alias]);
        CheckFlags(m, "a read of a clean writable page leaves D clear", Pte(Alias), A);
        m.mov(__dword_ptr[Alias + 4], 0x5555);
        CheckFlags(m, "the first write after that read sets D", Pte(Alias), A | D);

        RomKit.Post(m, 0x42);
        m.mov(__dword_ptr[Ro + 8], 0x66);
        m.mov(eax, __dword_ptr[Alias + 8]);
        Kit.CheckEax(m, "WP = 0: a supervisor write to a read-only page succeeds", 0x66);
        CheckFlags(m, "... and sets D", Pte(Ro), A | D);
        m.mov(eax, cr0);
        m.or(eax, 0x10000);
        m.mov(cr0, eax);
        ExpectFault(m, "WP = 1: supervisor write to a read-only page", 14, 3, a => a.mov(__dword_ptr[Ro + 0x10], eax));
        CheckCr2(m, "WP = 1: CR2", Ro + 0x10);
        m.mov(eax, __dword_ptr[Alias + 0x10]);
        Kit.CheckEax(m, "WP = 1: nothing written", 0);
        m.mov(eax, cr0);
        m.and(eax, ~0x10000);
        m.mov(cr0, eax);

        RomKit.Post(m, 0x43);
        ExpectFault(m, "read of a not-present page", 14, 0, a => a.mov(eax, __dword_ptr[Absent + 4]));
        CheckCr2(m, "read of a not-present page: CR2", Absent + 4);
        ExpectFault(m, "write to a not-present page", 14, 2, a => a.mov(__dword_ptr[Absent + 8], eax));
        CheckCr2(m, "write to a not-present page: CR2", Absent + 8);
        ExpectFault(m, "dword straddling into a not-present page", 14, 2, a => a.mov(__dword_ptr[Alias + 0xFFE], eax));
        CheckCr2(m, "straddling write: CR2 is the first byte on the faulting page", Alias + 0x1000);
        m.movzx(eax, __word_ptr[RoFrame + 0xFFE]);
        Kit.CheckEax(m, "straddling write: the first page is unchanged", 0);

        RomKit.Post(m, 0x44);
        m.mov(__dword_ptr[Pte(Rw)], RoFrame | P | RW);                     // remap without telling the TLB...
        m.invlpg(__byte_ptr[Rw]);                                          // ...then invalidate
        m.mov(eax, __dword_ptr[Rw]);
        Kit.CheckEax(m, "INVLPG: the remapped page is seen", 0x12345678);
        m.mov(__dword_ptr[Pte(Rw)], RwFrame | P | RW);
        m.mov(eax, cr3);
        m.mov(cr3, eax);
        m.mov(eax, __dword_ptr[Rw + 0x10]);
        Kit.CheckEax(m, "CR3 reload: the page is mapped back", 0xCAFEF00D);

        RomKit.Post(m, 0x45);
        m.mov(eax, cr4);
        m.or(eax, 0x10);                                                   // PSE
        m.mov(cr4, eax);
        m.mov(__dword_ptr[PageDirectory + (Large >> 22) * 4], 0u | P | RW | PS);   // linear C00000h-FFFFFFh -> physical 0-3FFFFFh
        m.mov(__dword_ptr[Large + Scratch + 0x40], 0xA5A5A5A5);
        m.mov(eax, __dword_ptr[Scratch + 0x40]);
        Kit.CheckEax(m, "4 MiB page: linear C00640h is physical 640h", 0xA5A5A5A5);
        m.mov(eax, __dword_ptr[Large + RoFrame]);
        Kit.CheckEax(m, "4 MiB page: beyond its first 4 KiB", 0x12345678);
        CheckFlags(m, "4 MiB page: A and D in the directory entry", PageDirectory + (Large >> 22) * 4, A | D);
        m.mov(__dword_ptr[PageDirectory + (Large >> 22) * 4], 0u | RW | PS);
        m.invlpg(__byte_ptr[Large + 0x123456]);
        ExpectFault(m, "4 MiB page: not present", 14, 0, a => a.mov(eax, __dword_ptr[Large + 0x123456]));
        CheckCr2(m, "4 MiB page: CR2", Large + 0x123456);

        RomKit.Post(m, 0x46);
        // Ring 3 may use the fault record page, its stack page, the ROM and the test region; the GDT, IDT, TSS and
        // ring-0 stacks stay supervisor-only.
        var user = m.CreateLabel();
        m.or(__dword_ptr[PageDirectory], US);
        m.or(__dword_ptr[PageDirectory + (TestRegion >> 22) * 4], US);
        m.or(__dword_ptr[IdentityTable + 0 * 4], US);
        m.or(__dword_ptr[IdentityTable + (Stack3Top - 0x1000) / 0x1000 * 4], US);
        m.mov(ecx, 16);
        m.mov(edi, IdentityTable + (RomBuilder.RomLinearBase >> 12) * 4);
        m.Label(ref user);
        m.or(__dword_ptr[edi], US);
        m.add(edi, 4);
        m.loop(user);
        m.mov(__dword_ptr[Pte(Rw)], RwFrame | P | RW | US);
        m.mov(__dword_ptr[Pte(Ro)], RoFrame | P | US);
        m.mov(__dword_ptr[Pte(Alias)], RoFrame | P | RW);                  // supervisor-only
        m.mov(eax, cr3);
        m.mov(cr3, eax);
        m.push((uint)Data3);                                               // SS
        m.push(Stack3Top);                                                 // ESP
        m.push(0x00000002u);                                               // EFLAGS
        m.push((uint)Code3);                                               // CS
        m.push(Linear(Ring3));                                             // EIP
        m.iretd();
    }

    protected override void Sections(RomBuilder rom)
    {
        var r = rom.AddSection(32, Ring3, "ring3");
        r.mov(ax, Data3);                                                  // reads and marks a supervisor-only GDT
        r.mov(ds, ax);
        r.mov(es, ax);
        r.mov(eax, __dword_ptr[Rw + 0x10]);
        Kit.CheckEax(r, "ring 3: a user page is readable", 0xCAFEF00D);
        r.mov(__dword_ptr[Rw + 0x30], 3);
        Kit.Print(r, "ring 3: a user read/write page is writable: ok\n");
        ExpectFault(r, "ring 3: read of a supervisor page", 14, 5, a => a.mov(eax, __dword_ptr[Alias]), data: Data3);
        ExpectFault(r, "ring 3: write to a read-only page", 14, 7, a => a.mov(__dword_ptr[Ro + 0x20], eax), data: Data3);
        ExpectFault(r, "ring 3: read of a not-present page", 14, 4, a => a.mov(eax, __dword_ptr[Absent + 0x30]), data: Data3);
        r.call(HomeGate | 3, 0);
        Kit.EmitRoutines(r);

        var home = rom.AddSection(32, Home, "home");
        home.mov(ax, Data0);
        home.mov(ds, ax);
        home.mov(es, ax);
        home.xor(eax, eax);
        home.mov(ax, cs);
        Kit.CheckEax(home, "back at ring 0 through a call gate (supervisor-only stack)", Code0);
        home.mov(eax, cr2);
        Kit.CheckEax(home, "CR2 of the last ring-3 fault", Absent + 0x30);
        Kit.Print(home, "paging: done\n");
        RomKit.Finish(home, FinalPost);
        Kit.EmitRoutines(home);
    }
}
