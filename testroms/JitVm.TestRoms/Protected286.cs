using Iced.Intel;
using JitVm.Cpu;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// The 80286's protected mode, in 16-bit code only (the 286 has no 32-bit registers, so this ROM carries its own
/// word-sized print and check routines): entry by LMSW, 286 descriptors (their last word ignored), a 286 trap
/// gate, #GP and #SS with error codes through 286 interrupt gates, IRET to ring 3, the IOPL rules without an I/O
/// bitmap, a 286 call gate back to ring 0 with a word parameter and the SS0:SP0 of a 286 TSS, a CALL/IRET task
/// switch between 286 TSSs, and a 386 gate type rejected.
/// </summary>
public sealed class Protected286 : TestRom
{
    public override string Name => "pm286";
    public override string Description => "80286 protected mode: LMSW entry, 286 gates and TSS, ring 3, call gate, task switch";
    public override CpuModel Model => CpuModel.I286;

    // Selectors.
    const ushort Code0 = 0x08, Ram0 = 0x10, Stack0 = 0x18, Rom0 = 0x20, Tss = 0x28, Code3 = 0x33, Rom3 = 0x3B,
        Stack3 = 0x43, HomeGate = 0x48, Ram3 = 0x53, Tss2 = 0x58, Gate386 = 0x60, Wide = 0x68;
    // RAM (Ram0/Ram3 segments have base 0).
    const ushort Gdt = 0x1000, Idt = 0x2000, TssBase = 0x3000, Tss2Base = 0x3100;
    const ushort RecVector = 0x500, RecError = 0x504, RecIp = 0x508, RecResume = 0x510, RecExpected = 0x514, Scratch = 0x600;
    // ROM offsets (= offsets in the code segments, whose base is F0000h).
    const int Main = 0x1000, Stubs = 0x3000, Common = 0x3100, Ring3 = 0x3400, Home = 0x3800, Task2 = 0x3C00, TrapHandler = 0x3E00;
    const ushort GdtTemplate = 0xC000, Pointers = 0xBF00;

    static ulong D(uint @base, uint limit, byte access) => (limit & 0xFFFF) | ((ulong)(@base & 0xFFFFFF) << 16) | ((ulong)access << 40);
    static ulong G(ushort sel, uint off, byte access, int words = 0) => (off & 0xFFFF) | ((ulong)sel << 16) | ((ulong)words << 32) | ((ulong)access << 40);

    RomBuilder rom = null!;
    readonly Dictionary<Assembler, (Label Print, Label Hex)> routines = new();

    (Label Print, Label Hex) For(Assembler a)
    {
        if (!routines.TryGetValue(a, out var r)) routines[a] = r = (a.CreateLabel(), a.CreateLabel());
        return r;
    }

    /// <summary>Prints a ROM string: DS must be a ROM data segment (base F0000h). Clobbers SI.</summary>
    void Print(Assembler a, string text)
    {
        a.mov(si, rom.Str(text));
        a.call(For(a).Print);
    }

    /// <summary>"name: ok" when AX equals <paramref name="expected"/>, else "name: FAIL" and AX in hex.</summary>
    void CheckAx(Assembler a, string name, ushort expected)
    {
        var ok = a.CreateLabel();
        var done = a.CreateLabel();
        a.cmp(ax, expected);
        a.je(ok);
        Print(a, name + ": FAIL ");
        a.call(For(a).Hex);
        Print(a, "\n");
        a.jmp(done);
        a.Label(ref ok);
        Print(a, name + ": ok\n");
        a.Label(ref done);
    }

    void EmitRoutines(Assembler a)
    {
        var (print, hex) = For(a);
        var loop = a.CreateLabel();
        var end = a.CreateLabel();
        a.Label(ref print);
        a.push(ax);
        a.Label(ref loop);
        a.lodsb();
        a.test(al, al);
        a.jz(end);
        a.@out(0xE9, al);
        a.jmp(loop);
        a.Label(ref end);
        a.pop(ax);
        a.ret();
        var digit = a.CreateLabel();
        var dec = a.CreateLabel();
        a.Label(ref hex);
        a.push(ax);
        a.push(cx);
        a.push(dx);
        a.mov(dx, ax);
        a.mov(cx, 4);
        a.Label(ref digit);
        a.rol(dx, 4);
        a.mov(al, dl);
        a.and(al, 0x0F);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(dec);
        a.add(al, 7);
        a.Label(ref dec);
        a.@out(0xE9, al);
        a.dec(cx);
        a.jnz(digit);
        a.pop(dx);
        a.pop(cx);
        a.pop(ax);
        a.ret();
    }

    static void Post(Assembler a, byte code)
    {
        a.mov(al, code);
        a.@out(0x80, al);
    }

    /// <summary>
    /// Runs <paramref name="faulting"/> expecting <paramref name="vector"/> with <paramref name="error"/> at its
    /// first instruction; ES must address RAM (the record), DS a ROM data segment (printing).
    /// </summary>
    void ExpectFault(Assembler a, string name, ushort vector, ushort error, Action<Assembler> faulting)
    {
        EmitFaultProbe(a, faulting);
        a.mov(ax, __word_ptr.es[RecVector]);
        CheckAx(a, name + ": vector", vector);
        a.mov(ax, __word_ptr.es[RecError]);
        CheckAx(a, name + ": error code", error);
        a.mov(ax, __word_ptr.es[RecIp]);
        a.sub(ax, __word_ptr.es[RecExpected]);
        CheckAx(a, name + ": return address", 0);
    }

    public override byte[] Build()
    {
        rom = new RomBuilder();
        var gdt = new ulong[]
        {
            0,
            D(0xF0000, 0xFFFF, 0x9A),                                      // 08 ring-0 code = the ROM
            D(0, 0xFFFF, 0x92),                                            // 10 ring-0 data: RAM 0-FFFFh
            D(0x20000, 0x0FFF, 0x92),                                      // 18 ring-0 stack, 4 KiB
            D(0xF0000, 0xFFFF, 0x90),                                      // 20 ring-0 read-only data: the ROM
            D(TssBase, 0x2B, 0x81),                                        // 28 286 TSS (available)
            D(0xF0000, 0xFFFF, 0xFA),                                      // 30 ring-3 code
            D(0xF0000, 0xFFFF, 0xF0),                                      // 38 ring-3 ROM data
            D(0x30000, 0xFFFF, 0xF2),                                      // 40 ring-3 stack
            G(Code0, Home, 0xE4, words: 1),                                // 48 286 call gate, DPL 3, one word
            D(0, 0xFFFF, 0xF2),                                            // 50 ring-3 RAM data
            D(Tss2Base, 0x2B, 0x81),                                       // 58 second 286 TSS
            G(Code0, Home, 0xEC),                                          // 60 a 386 call gate: invalid on the 286
            D(0x40000, 0x0FFF, 0x92) | (0xFFCFUL << 48),                   // 68 bytes 6-7 set: ignored by the 286
        };
        var bytes = new byte[gdt.Length * 8];
        for (int n = 0; n < gdt.Length; n++) BitConverter.GetBytes(gdt[n]).CopyTo(bytes, n * 8);
        rom.Data(GdtTemplate, bytes);
        rom.Data(Pointers, [0x7F, 0x00, 0x00, 0x10, 0x00, 0x00, 0, 0, 0x07, 0x01, 0x00, 0x20, 0x00, 0x00]);   // GDT 80h bytes, IDT vectors 0-20h

        var a = rom.Code;
        a.cli();
        Post(a, 0x01);
        a.xor(ax, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7000);
        a.mov(es, ax);
        a.mov(ax, RomBuilder.RomSegment);
        a.mov(ds, ax);
        a.cld();
        a.mov(si, GdtTemplate);
        a.mov(di, Gdt);
        a.mov(cx, (ushort)bytes.Length);
        a.rep.movsb();
        a.lgdt(__fword_ptr[Pointers]);
        a.lidt(__fword_ptr[Pointers + 8]);
        a.smsw(ax);
        a.or(ax, 1);
        a.lmsw(ax);                                                        // the 286 way into protected mode
        a.jmp(Code0, Main);

        var m = rom.AddSection(16, Main, "main");
        m.mov(ax, Rom0);
        m.mov(ds, ax);
        m.mov(ax, Ram0);
        m.mov(es, ax);
        m.mov(ax, Stack0);
        m.mov(ss, ax);
        m.mov(sp, 0x0F00);
        Post(m, 0x02);
        Print(m, "pm286: start\n");
        // IDT: 33 entries; #TS, #NP, #SS and #GP go to recording stubs, 20h is a 286 trap gate.
        m.xor(ax, ax);
        m.mov(di, Idt);
        m.mov(cx, 0x84);
        m.rep.stosw();
        foreach (int v in new[] { 10, 11, 12, 13 })
        {
            m.mov(__word_ptr.es[Idt + v * 8], (ushort)(Stubs + (v - 10) * 0x10));
            m.mov(__word_ptr.es[Idt + v * 8 + 2], Code0);
            m.mov(__word_ptr.es[Idt + v * 8 + 4], 0x8600);
        }
        m.mov(__word_ptr.es[Idt + 0x20 * 8], (ushort)TrapHandler);
        m.mov(__word_ptr.es[Idt + 0x20 * 8 + 2], Code0);
        m.mov(__word_ptr.es[Idt + 0x20 * 8 + 4], 0x8700);                 // 286 trap gate, DPL 0
        // TSS: SS0:SP0 for ring 0; the second task starts at Task2 with its own stack.
        m.mov(__word_ptr.es[TssBase + 2], 0x0E00);
        m.mov(__word_ptr.es[TssBase + 4], Stack0);
        m.mov(__word_ptr.es[Tss2Base + 0x0E], (ushort)Task2);
        m.mov(__word_ptr.es[Tss2Base + 0x10], 0x0002);
        m.mov(__word_ptr.es[Tss2Base + 0x1A], 0x0C00);                    // SP
        m.mov(__word_ptr.es[Tss2Base + 0x22], Ram0);                      // ES
        m.mov(__word_ptr.es[Tss2Base + 0x24], Code0);                     // CS
        m.mov(__word_ptr.es[Tss2Base + 0x26], Stack0);                    // SS
        m.mov(__word_ptr.es[Tss2Base + 0x28], Rom0);                      // DS
        m.mov(ax, Tss);
        m.ltr(ax);

        Post(m, 0x03);
        m.smsw(ax);
        CheckAx(m, "LMSW set PE (reserved MSW bits read 1)", 0xFFF1);
        m.mov(ax, Wide);
        m.lsl(bx, ax);
        m.mov(ax, bx);
        CheckAx(m, "descriptor bytes 6-7 ignored: limit", 0x0FFF);
        m.mov(ax, Wide);
        m.lar(bx, ax);
        m.mov(ax, bx);
        CheckAx(m, "lar: access byte only", 0x9200);

        Post(m, 0x04);
        m.mov(bx, 0x1000);
        ExpectFault(m, "stack segment limit", 12, 0, x => x.mov(ax, __word_ptr.ss[bx]));
        m.mov(ax, 0x83);
        ExpectFault(m, "selector beyond the GDT limit", 13, 0x80, x => x.mov(ds, ax));
        m.mov(ax, Code3);
        ExpectFault(m, "ring-3 code into SS", 13, Code3 & ~3, x => x.mov(ss, ax));
        m.mov(ax, 0x70);
        ExpectFault(m, "empty descriptor (system type 0) into DS", 13, 0x70, x => x.mov(ds, ax));
        ExpectFault(m, "386 call gate on the 286", 13, Gate386, x => x.call(Gate386, 0));
        m.mov(__word_ptr.es[Scratch], 0);
        m.mov(dx, sp);
        m.@int(0x20);
        m.mov(ax, __word_ptr.es[Scratch]);
        CheckAx(m, "INT 20h through a 286 trap gate", 0x2020);
        m.mov(ax, sp);
        m.sub(ax, dx);
        CheckAx(m, "IRET popped the word frame", 0);

        Post(m, 0x05);
        m.call(Tss2, 0);
        m.mov(ax, __word_ptr.es[Scratch + 2]);
        m.and(ax, 0x4000);
        CheckAx(m, "CALL to a 286 TSS: NT in the new task", 0x4000);
        m.mov(ax, __word_ptr.es[Scratch + 4]);
        CheckAx(m, "CALL to a 286 TSS: TR", Tss2);
        m.mov(ax, __word_ptr.es[Tss2Base]);
        CheckAx(m, "286 TSS back-link", Tss);
        m.mov(al, __byte_ptr.es[Gdt + Tss2 + 5]);
        m.xor(ah, ah);
        CheckAx(m, "IRET left the 286 TSS not busy", 0x81);
        m.str(ax);
        CheckAx(m, "back in the first task", Tss);

        Post(m, 0x06);
        m.push(Stack3);
        m.push(0x0FF0);
        m.push(0x0002);                                                    // IOPL 0
        m.push(Code3);
        m.push((ushort)Ring3);
        m.iret();
        EmitRoutines(m);

        // Recording stubs for #TS #NP #SS #GP and the common handler (word frames).
        foreach (int v in new[] { 10, 11, 12, 13 })
        {
            var st = rom.AddSection(16, Stubs + (v - 10) * 0x10, $"stub{v}");
            st.push(ax);
            st.mov(ax, (ushort)v);
            st.jmp((ulong)Common);
        }
        var c = rom.AddSection(16, Common, "common");
        c.push(bp);
        c.mov(bp, sp);                                                     // [bp+2] AX, [bp+4] error, [bp+6] IP
        c.push(ds);
        c.push(ax);
        c.mov(ax, Ram0);
        c.mov(ds, ax);
        c.pop(ax);
        c.mov(__word_ptr[RecVector], ax);
        c.mov(ax, __word_ptr[bp + 4]);
        c.mov(__word_ptr[RecError], ax);
        c.mov(ax, __word_ptr[bp + 6]);
        c.mov(__word_ptr[RecIp], ax);
        c.mov(ax, __word_ptr[RecResume]);
        c.mov(__word_ptr[bp + 6], ax);
        c.pop(ds);
        c.pop(bp);
        c.pop(ax);
        c.add(sp, 2);
        c.iret();

        var t = rom.AddSection(16, TrapHandler, "int20");
        t.mov(__word_ptr.es[Scratch], 0x2020);
        t.iret();

        var k = rom.AddSection(16, Task2, "task2");
        k.pushf();
        k.pop(ax);
        k.mov(__word_ptr.es[Scratch + 2], ax);
        k.str(ax);
        k.mov(__word_ptr.es[Scratch + 4], ax);
        k.iret();

        // Ring 3: no printing (IOPL 0 and no I/O bitmap); results go to RAM for ring 0 to check.
        var r = rom.AddSection(16, Ring3, "ring3");
        r.mov(ax, Rom3);
        r.mov(ds, ax);
        r.mov(ax, Ram3);
        r.mov(es, ax);
        r.mov(ax, cs);
        r.and(ax, 3);
        r.mov(__word_ptr.es[Scratch + 0x10], ax);
        Capture(r, Scratch + 0x20, x => x.cli());
        Capture(r, Scratch + 0x30, x => x.@in(al, 0x61));
        r.push(0x5A5A);
        r.call(HomeGate, 0);

        var h = rom.AddSection(16, Home, "home");
        h.mov(bp, sp);
        h.mov(ax, Rom0);
        h.mov(ds, ax);
        h.mov(ax, Ram0);
        h.mov(es, ax);
        Post(h, 0x07);
        h.mov(ax, __word_ptr.es[Scratch + 0x10]);
        CheckAx(h, "IRET to ring 3: CPL", 3);
        foreach (var (slot, what) in new[] { (Scratch + 0x20, "CLI at ring 3 with IOPL 0"), (Scratch + 0x30, "IN at ring 3 (no I/O bitmap on the 286)") })
        {
            h.mov(ax, __word_ptr.es[slot]);
            CheckAx(h, what + ": vector", 13);
            h.mov(ax, __word_ptr.es[slot + 2]);
            CheckAx(h, what + ": error code", 0);
            h.mov(ax, __word_ptr.es[slot + 4]);
            CheckAx(h, what + ": return address", 0);
        }
        h.mov(ax, ss);
        CheckAx(h, "call gate: SS0 from the 286 TSS", Stack0);
        h.mov(ax, sp);
        CheckAx(h, "call gate: SP0 less the word frame", 0x0E00 - 10);
        h.mov(ax, __word_ptr[bp + 4]);
        CheckAx(h, "call gate: word parameter copied", 0x5A5A);
        h.mov(ax, __word_ptr[bp + 2]);
        CheckAx(h, "call gate: return CS", Code3);
        h.mov(ax, __word_ptr[bp + 6]);
        CheckAx(h, "call gate: caller SP", 0x0FEE);
        h.mov(ax, __word_ptr[bp + 8]);
        CheckAx(h, "call gate: caller SS", Stack3);
        Print(h, "pm286: done\n");
        Post(h, FinalPost);
        var stop = h.CreateLabel();
        h.Label(ref stop);
        h.cli();
        h.hlt();
        h.jmp(stop);
        EmitRoutines(h);
        return rom.Build();
    }

    /// <summary>Like <see cref="ExpectFault"/> without printing: vector, error code and IP offset go to ES:slot.</summary>
    static void Capture(Assembler a, ushort slot, Action<Assembler> faulting)
    {
        EmitFaultProbe(a, faulting);
        a.mov(ax, __word_ptr.es[RecVector]);
        a.mov(__word_ptr.es[slot], ax);
        a.mov(ax, __word_ptr.es[RecError]);
        a.mov(__word_ptr.es[slot + 2], ax);
        a.mov(ax, __word_ptr.es[RecIp]);
        a.sub(ax, __word_ptr.es[RecExpected]);
        a.mov(__word_ptr.es[slot + 4], ax);
    }

    /// <summary>
    /// Runs <paramref name="faulting"/> with the fault handler primed: RecResume gets the address to continue at,
    /// RecExpected the address of the faulting code, and the handler fills RecVector/RecError/RecIp. Falls through
    /// (after the fault or without one) with the record filled in.
    /// </summary>
    static void EmitFaultProbe(Assembler a, Action<Assembler> faulting)
    {
        var setResume = a.CreateLabel();
        var setFault = a.CreateLabel();
        var at = a.CreateLabel();
        var resume = a.CreateLabel();
        a.mov(__word_ptr.es[RecVector], 0xEEEE);
        a.call(setResume);
        a.jmp(resume);
        a.Label(ref setResume);
        a.pop(__word_ptr.es[RecResume]);
        a.call(setFault);
        a.Label(ref at);
        faulting(a);
        a.jmp(resume);
        a.Label(ref setFault);
        a.pop(__word_ptr.es[RecExpected]);
        a.jmp(at);
        a.Label(ref resume);
    }
}
