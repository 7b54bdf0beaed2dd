using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Virtual-8086 mode: entered by IRETD at ring 0 with VM set, real-mode segment arithmetic, a ring-0 monitor that
/// receives the IOPL-sensitive instructions as #GP(0) at IOPL 0 and emulates or skips them, IOPL 3 set by the
/// monitor (CLI/STI/PUSHF allowed, POPF cannot change IOPL), the I/O bitmap whatever IOPL, INT n through a
/// DPL-3 gate straight to a ring-0 handler with the V86 frame (GS FS DS ES SS ESP EFLAGS CS EIP) and the data
/// segment registers cleared, and the way out of V86 mode.
/// </summary>
public sealed class VirtualEightySix : ProtectedModeRom
{
    public override string Name => "v86";
    public override string Description => "V86 entry by IRETD, monitor for IOPL-sensitive instructions, V86 interrupt frame, I/O bitmap, exit";

    const int V86Code = 0xB000, Monitor = 0x9000, Int30 = 0x9200, After = 0x9400;
    const ushort V86Ss = 0x3000, V86Es = 0x2000;

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x50);
        Kit.Print(m, "v86: start\n");
        SetGate(m, 13, Code0, Linear(Monitor), 0x8E);
        SetGate(m, 0x30, Code0, Linear(Int30), 0xEE);
        m.mov(__dword_ptr[Scratch], 0u);
        foreach (uint v in new uint[] { 0, 0, RomBuilder.RomSegment, V86Es, V86Ss, 0xFFF0, 0x00020002, RomBuilder.RomSegment, V86Code })
            m.push(v);                                                     // GS FS DS ES SS ESP EFLAGS(VM, IOPL 0) CS EIP
        m.iretd();
    }

    protected override void Sections(RomBuilder rom)
    {
        // ---- V86 code at F000:B000 (DS = F000 for printing, GS = 0 to read the monitor's records) ----
        var v = rom.AddSection(16, V86Code, "v86-code");
        RomKit.Post(v, 0x51);
        v.xor(eax, eax);
        v.mov(ax, cs);
        Kit.CheckEax(v, "IRETD entered V86 mode at F000", RomBuilder.RomSegment);
        v.mov(__word_ptr.es[0x10], 0x1234);                                // 2000:0010 = linear 20010h
        v.mov(ax, 0x2001);
        v.mov(fs, ax);
        v.movzx(eax, __word_ptr.fs[0]);                                    // 2001:0000 = the same byte
        Kit.CheckEax(v, "segment arithmetic in V86 mode", 0x1234);

        RomKit.Post(v, 0x52);
        v.xor(edx, edx);
        v.@int(0x21);
        v.mov(eax, edx);
        Kit.CheckEax(v, "INT 21h at IOPL 0 went to the monitor and was emulated", 0x2121);
        v.mov(eax, __dword_ptr.gs[RecError]);
        Kit.CheckEax(v, "the monitor's #GP error code", 0);
        v.cli();
        v.mov(eax, __dword_ptr.gs[Scratch]);
        Kit.CheckEax(v, "CLI at IOPL 0 trapped", 2);
        v.mov(eax, __dword_ptr.gs[Scratch + 4]);
        Kit.CheckEax(v, "monitor saw the CLI opcode", 0xFA);
        v.pushf();
        v.popf();
        v.mov(eax, __dword_ptr.gs[Scratch]);
        Kit.CheckEax(v, "PUSHF and POPF at IOPL 0 trapped", 4);

        RomKit.Post(v, 0x53);
        v.@int(0x23);                                                      // the monitor raises IOPL to 3
        v.cli();
        v.sti();
        v.pushf();
        v.pop(ax);
        v.and(eax, 0x3000);
        Kit.CheckEax(v, "PUSHF at IOPL 3 shows IOPL 3", 0x3000);
        v.push(0);
        v.popf();
        v.pushf();
        v.pop(ax);
        v.and(eax, 0x3000);
        Kit.CheckEax(v, "POPF cannot change IOPL in V86 mode", 0x3000);
        v.mov(eax, __dword_ptr.gs[Scratch]);
        Kit.CheckEax(v, "CLI STI PUSHF POPF at IOPL 3 did not trap", 5);
        v.@in(al, 0x61);
        v.mov(eax, __dword_ptr.gs[Scratch + 4]);
        Kit.CheckEax(v, "IN from a denied port trapped at IOPL 3", 0xE4);

        RomKit.Post(v, 0x54);
        v.@int(0x30);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x40]);
        Kit.CheckEax(v, "INT 30h: ring-0 ESP holds the 9-dword V86 frame", InnerStackTop - 36);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x48]);
        v.and(eax, 0xFFFF);                                                // selector slot: upper word is padding
        Kit.CheckEax(v, "INT 30h: pushed CS", RomBuilder.RomSegment);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x4C]);
        v.and(eax, 0x23000);
        Kit.CheckEax(v, "INT 30h: pushed EFLAGS has VM and IOPL 3", 0x23000);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x54]);
        v.and(eax, 0xFFFF);                                                // selector slot: upper word is padding
        Kit.CheckEax(v, "INT 30h: pushed SS", V86Ss);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x58]);
        v.and(eax, 0xFFFF);                                                // selector slot: upper word is padding
        Kit.CheckEax(v, "INT 30h: pushed ES", V86Es);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x5C]);
        v.and(eax, 0xFFFF);                                                // selector slot: upper word is padding
        Kit.CheckEax(v, "INT 30h: pushed DS", RomBuilder.RomSegment);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x60]);
        v.and(eax, 0xFFFF);                                                // selector slot: upper word is padding
        Kit.CheckEax(v, "INT 30h: pushed FS", 0x2001);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x64]);
        v.and(eax, 0xFFFF);                                                // selector slot: upper word is padding
        Kit.CheckEax(v, "INT 30h: pushed GS", 0);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x68]);
        Kit.CheckEax(v, "INT 30h: DS and FS cleared in the handler", 0);
        v.mov(eax, __dword_ptr.gs[Scratch + 0x6C]);
        Kit.CheckEax(v, "INT 30h: handler ran with VM clear at CPL 0", 0);
        v.@int(0x22);                                                      // DPL-0 gate at IOPL 3: #GP, the monitor leaves V86
        Kit.EmitRoutines(v);

        // ---- the V86 monitor: #GP handler ----
        var mon = rom.AddSection(32, Monitor, "monitor");
        var notInt = mon.CreateLabel();
        var not21 = mon.CreateLabel();
        var not23 = mon.CreateLabel();
        var skip1 = mon.CreateLabel();
        var done = mon.CreateLabel();
        mon.pop(__dword_ptr.ss[RecError]);
        mon.push(eax);
        mon.push(ebx);
        mon.push(ecx);                                                     // frame: EIP at ESP+12, CS +16, EFLAGS +20
        mon.inc(__dword_ptr.ss[Scratch]);
        mon.movzx(eax, __word_ptr[esp + 16]);
        mon.shl(eax, 4);
        mon.movzx(ebx, __word_ptr[esp + 12]);
        mon.add(eax, ebx);
        mon.movzx(ebx, __byte_ptr.ss[eax]);
        mon.movzx(ecx, __byte_ptr.ss[eax + 1]);
        mon.mov(__dword_ptr.ss[Scratch + 4], ebx);
        mon.cmp(bl, 0xCD);
        mon.jne(notInt);
        mon.cmp(cl, 0x21);
        mon.jne(not21);
        mon.mov(edx, 0x2121);                                              // "emulate" INT 21h: a result in EDX
        mon.add(__word_ptr[esp + 12], 2);
        mon.jmp(done);
        mon.Label(ref not21);
        mon.cmp(cl, 0x23);
        mon.jne(not23);
        mon.or(__dword_ptr[esp + 20], 0x3000);                             // IOPL 3 for the V86 task
        mon.add(__word_ptr[esp + 12], 2);
        mon.jmp(done);
        mon.Label(ref not23);
        mon.jmp(Linear(After));                                            // any other INT: leave V86 mode
        mon.Label(ref notInt);
        mon.cmp(bl, 0xE4);
        mon.jne(skip1);
        mon.add(__word_ptr[esp + 12], 2);                                  // IN AL, imm8
        mon.jmp(done);
        mon.Label(ref skip1);
        mon.add(__word_ptr[esp + 12], 1);                                  // CLI STI PUSHF POPF
        mon.Label(ref done);
        mon.pop(ecx);
        mon.pop(ebx);
        mon.pop(eax);
        mon.iretd();

        // ---- INT 30h handler (DPL-3 gate): record the frame and the segment registers, IRETD ----
        var h = rom.AddSection(32, Int30, "int30");
        h.mov(__dword_ptr.ss[Scratch + 0x40], esp);
        h.push(eax);
        for (int k = 0; k < 9; k++)
        {
            h.mov(eax, __dword_ptr[esp + 4 + 4 * k]);                     // EIP CS EFLAGS ESP SS ES DS FS GS
            h.mov(__dword_ptr.ss[Scratch + 0x44 + 4 * (uint)k], eax);
        }
        h.xor(eax, eax);
        h.mov(ax, ds);
        h.mov(__dword_ptr.ss[Scratch + 0x68], eax);
        h.mov(ax, fs);
        h.or(__dword_ptr.ss[Scratch + 0x68], eax);
        h.pushfd();
        h.pop(eax);
        h.and(eax, 0x20000);
        h.mov(__dword_ptr.ss[Scratch + 0x6C], eax);
        h.xor(eax, eax);
        h.mov(ax, cs);
        h.and(eax, 3);
        h.or(__dword_ptr.ss[Scratch + 0x6C], eax);
        h.pop(eax);
        h.iretd();

        // ---- back in protected mode at ring 0 ----
        var after = rom.AddSection(32, After, "after");
        after.mov(ax, Data0);
        after.mov(ds, ax);
        after.mov(es, ax);
        after.mov(esp, Stack0Top);
        RomKit.Post(after, 0x55);
        after.mov(eax, __dword_ptr[RecError]);
        Kit.CheckEax(after, "INT 22h at IOPL 3 through a DPL-0 gate: #GP error code", 0x22 * 8 + 2);
        after.pushfd();
        after.pop(eax);
        after.and(eax, 0x20000);
        Kit.CheckEax(after, "left V86 mode", 0);
        Kit.Print(after, "v86: done\n");
        RomKit.Finish(after, FinalPost);
        Kit.EmitRoutines(after);
    }
}
