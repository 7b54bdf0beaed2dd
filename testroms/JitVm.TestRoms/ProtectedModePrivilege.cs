using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Privilege transitions: ring 0 to ring 3 by IRETD, the I/O bitmap and IOPL rules at ring 3, a 386 call gate to
/// ring 0 with a stack switch and parameter copy, RETF back (with DS nulled), INT through a DPL-3 gate with the
/// stack switch, #GP for a DPL-0 gate, for RETF and JMP to ring 0, and the way back to ring 0 through a call gate.
/// </summary>
public sealed class ProtectedModePrivilege : ProtectedModeRom
{
    public override string Name => "pm-privilege";
    public override string Description => "IRETD to ring 3, call gates with parameters, RETF to an outer level, INT with DPL-3 gates, IOPL and the I/O bitmap";

    const ushort CallGate = 0x40, HomeGate = 0x48;
    const int GateRoutine = 0x9000, IntHandler = 0x9100, Home = 0x9200, Ring3 = 0x9400;

    protected override IEnumerable<ulong> ExtraDescriptors =>
    [
        Gate(Code0, Linear(GateRoutine), 0xEC, paramCount: 2),            // 40: 386 call gate, DPL 3, 2 dwords
        Gate(Code0, Linear(Home), 0xEC),                                   // 48: 386 call gate back to ring 0 for good
    ];

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x20);
        Kit.Print(m, "pm-privilege: start\n");
        SetGate(m, 0x40, Code0, Linear(IntHandler), 0xEE);                // DPL-3 interrupt gate
        m.push((uint)Data3);                                               // SS
        m.push(Stack3Top);                                                 // ESP
        m.push(0x00000002u);                                               // EFLAGS: IOPL 0, IF 0
        m.push((uint)Code3);                                               // CS
        m.push(Linear(Ring3));                                             // EIP
        m.iretd();
    }

    protected override void Sections(RomBuilder rom)
    {
        // ---- ring 3 ----
        var r = rom.AddSection(32, Ring3, "ring3");
        r.mov(ax, Data3);
        r.mov(ds, ax);
        r.mov(es, ax);
        RomKit.Post(r, 0x21);                                             // port 80h: allowed by the bitmap
        r.xor(eax, eax);
        r.mov(ax, cs);
        r.and(eax, 3);
        Kit.CheckEax(r, "IRETD to ring 3: CPL", 3);
        r.xor(eax, eax);
        r.mov(ax, ss);
        Kit.CheckEax(r, "ring-3 SS", Data3);
        r.mov(eax, esp);
        Kit.CheckEax(r, "ring-3 ESP", Stack3Top);

        RomKit.Post(r, 0x22);
        ExpectFault(r, "IN from a port the bitmap denies", 13, 0, a => a.@in(al, 0x61), data: Data3);
        ExpectFault(r, "CLI at CPL 3 with IOPL 0", 13, 0, a => a.cli(), data: Data3);
        r.pushfd();
        r.pop(eax);
        r.or(eax, 0x3200);
        r.push(eax);
        r.popfd();
        r.pushfd();
        r.pop(eax);
        r.and(eax, 0x3200);
        Kit.CheckEax(r, "POPFD at CPL 3 keeps IF and IOPL", 0);

        RomKit.Post(r, 0x23);
        r.push(0x11111111);
        r.push(0x22222222);
        r.call(CallGate | 3, 0);
        r.xor(ebx, ebx);
        r.mov(bx, ds);
        r.mov(ax, Data3);
        r.mov(ds, ax);
        r.mov(eax, ebx);
        Kit.CheckEax(r, "RETF to ring 3 nulled DS (DPL 0)", 0);
        r.mov(eax, esp);
        Kit.CheckEax(r, "RETF 8 released the parameters", Stack3Top);
        r.mov(eax, __dword_ptr[Scratch + 0x00]);
        Kit.CheckEax(r, "call gate: CPL in the routine", 0);
        r.mov(eax, __dword_ptr[Scratch + 0x04]);
        Kit.CheckEax(r, "call gate: SS from the TSS", Stack0);
        r.mov(eax, __dword_ptr[Scratch + 0x08]);
        Kit.CheckEax(r, "call gate: ESP from the TSS less the frame", InnerStackTop - 24);
        r.mov(eax, __dword_ptr[Scratch + 0x0C]);
        r.and(eax, 0xFFFF);                                                // a pushed selector: the upper word is padding
        Kit.CheckEax(r, "call gate: return CS", Code3);
        r.mov(eax, __dword_ptr[Scratch + 0x10]);
        Kit.CheckEax(r, "call gate: parameter 1 copied", 0x22222222);
        r.mov(eax, __dword_ptr[Scratch + 0x14]);
        Kit.CheckEax(r, "call gate: parameter 2 copied", 0x11111111);
        r.mov(eax, __dword_ptr[Scratch + 0x18]);
        Kit.CheckEax(r, "call gate: caller ESP", Stack3Top - 8);
        r.mov(eax, __dword_ptr[Scratch + 0x1C]);
        r.and(eax, 0xFFFF);                                                // a pushed selector: the upper word is padding
        Kit.CheckEax(r, "call gate: caller SS", Data3);

        RomKit.Post(r, 0x24);
        r.@int(0x40);
        r.mov(eax, __dword_ptr[Scratch + 0x40]);
        Kit.CheckEax(r, "INT 40h: handler ESP", InnerStackTop - 20);
        r.mov(eax, __dword_ptr[Scratch + 0x48]);
        r.and(eax, 0xFFFF);                                                // a pushed selector: the upper word is padding
        Kit.CheckEax(r, "INT 40h: pushed CS", Code3);
        r.mov(eax, __dword_ptr[Scratch + 0x50]);
        Kit.CheckEax(r, "INT 40h: pushed ESP", Stack3Top);
        r.mov(eax, __dword_ptr[Scratch + 0x54]);
        r.and(eax, 0xFFFF);                                                // a pushed selector: the upper word is padding
        Kit.CheckEax(r, "INT 40h: pushed SS", Data3);
        r.mov(eax, __dword_ptr[Scratch + 0x58]);
        Kit.CheckEax(r, "INT 40h: handler CPL", 0);
        ExpectFault(r, "INT 41h through a DPL-0 gate", 13, 0x41 * 8 + 2, a => a.@int(0x41), data: Data3);
        ExpectFault(r, "INT3 through a DPL-0 gate", 13, 3 * 8 + 2, a => a.int3(), data: Data3);

        RomKit.Post(r, 0x25);
        r.push((uint)Code0);
        r.push(Linear(Home));
        ExpectFault(r, "RETF to ring 0", 13, Code0, a => a.retf(), data: Data3);
        r.add(esp, 8);
        ExpectFault(r, "far JMP to ring-0 code", 13, Code0, a => a.jmp(Code0, Linear(Home)), data: Data3);
        ExpectFault(r, "far CALL to ring-0 code", 13, Code0, a => a.call(Code0, Linear(Home)), data: Data3);
        r.mov(eax, esp);
        Kit.CheckEax(r, "faulting CALL left ESP alone", Stack3Top);
        r.call(HomeGate | 3, 0);
        Kit.EmitRoutines(r);

        // ---- ring 0: the call-gate routine records what it sees, loads DS with DPL-0 data and returns ----
        var g = rom.AddSection(32, GateRoutine, "gate-routine");
        g.xor(eax, eax);
        g.mov(ax, cs);
        g.and(eax, 3);
        g.mov(__dword_ptr.ss[Scratch + 0x00], eax);
        g.xor(eax, eax);
        g.mov(ax, ss);
        g.mov(__dword_ptr.ss[Scratch + 0x04], eax);
        g.mov(__dword_ptr.ss[Scratch + 0x08], esp);
        for (int k = 1; k <= 5; k++)
        {
            g.mov(eax, __dword_ptr[esp + 4 * k]);                         // CS, param 1, param 2, ESP, SS
            g.mov(__dword_ptr.ss[Scratch + 0x08 + 4 * (uint)k], eax);
        }
        g.mov(ax, Data0);
        g.mov(ds, ax);
        g.retf(8);

        // ---- ring 0: INT 40h handler ----
        var h = rom.AddSection(32, IntHandler, "int40");
        h.mov(__dword_ptr.ss[Scratch + 0x40], esp);
        h.push(eax);
        for (int k = 0; k < 5; k++)
        {
            h.mov(eax, __dword_ptr[esp + 4 + 4 * k]);                     // EIP CS EFLAGS ESP SS
            h.mov(__dword_ptr.ss[Scratch + 0x44 + 4 * (uint)k], eax);
        }
        h.xor(eax, eax);
        h.mov(ax, cs);
        h.and(eax, 3);
        h.mov(__dword_ptr.ss[Scratch + 0x58], eax);
        h.pop(eax);
        h.iretd();

        // ---- ring 0 again through the home gate ----
        var home = rom.AddSection(32, Home, "home");
        home.mov(ax, Data0);
        home.mov(ds, ax);
        home.mov(es, ax);
        RomKit.Post(home, 0x26);
        home.xor(eax, eax);
        home.mov(ax, cs);
        Kit.CheckEax(home, "back at ring 0 through a call gate", Code0);
        home.mov(eax, esp);
        Kit.CheckEax(home, "ring-0 stack from the TSS", InnerStackTop - 16);   // SS ESP CS EIP
        Kit.Print(home, "pm-privilege: done\n");
        RomKit.Finish(home, FinalPost);
        Kit.EmitRoutines(home);
    }
}
