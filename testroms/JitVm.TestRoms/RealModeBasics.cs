using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Real mode: segment arithmetic and 64 KiB offset wrap, the A20 gate (port 92h), the IVT with a software
/// interrupt and a fault (#UD returns to the faulting instruction), far calls, the stack, and 32-bit registers.
/// </summary>
public sealed class RealModeBasics : TestRom
{
    public override string Name => "realmode";
    public override string Description => "segments, A20 wrap, IVT interrupts and faults, far calls, 32-bit registers in real mode";

    public override byte[] Build()
    {
        var rom = new RomBuilder();
        var kit = new RomKit(rom);
        var a = rom.Code;
        var ud = rom.AddSection(16, 0x8000, "ud-handler");
        var far = rom.AddSection(16, 0x8100, "far-routine");

        a.cli();
        RomKit.Post(a, 0x01);
        a.xor(ax, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7000);
        a.mov(es, ax);
        a.mov(ax, RomBuilder.RomSegment);
        a.mov(ds, ax);
        kit.Print(a, "realmode: start\n");

        // 1. Segment:offset arithmetic: 1234:0010 and 1235:0000 are the same byte.
        RomKit.Post(a, 0x02);
        a.mov(ax, 0x1234);
        a.mov(fs, ax);
        a.mov(ax, 0x1235);
        a.mov(gs, ax);
        a.mov(__byte_ptr.fs[0x10], 0x5A);
        a.movzx(eax, __byte_ptr.gs[0]);
        kit.CheckEax(a, "segment arithmetic", 0x5A);

        // 2. A20: with the gate off, FFFF:0010 is linear 0; with it on, 1 MiB.
        RomKit.Post(a, 0x03);
        a.mov(__byte_ptr.es[0], 0x11);
        a.mov(ax, 0xFFFF);
        a.mov(fs, ax);
        a.@in(al, 0x92);
        a.or(al, 2);
        a.@out(0x92, al);                            // A20 on
        a.mov(__byte_ptr.fs[0x10], 0x22);            // linear 100000h
        a.movzx(eax, __byte_ptr.es[0]);
        kit.CheckEax(a, "A20 on: 1 MiB is separate", 0x11);
        a.@in(al, 0x92);
        a.and(al, 0xFD);
        a.@out(0x92, al);                            // A20 off
        a.movzx(eax, __byte_ptr.fs[0x10]);           // wraps to linear 0
        kit.CheckEax(a, "A20 off: 1 MiB wraps to 0", 0x11);

        // 3. INT n through the IVT: vector 61h points at the far routine, which returns with RETF... via IRET.
        RomKit.Post(a, 0x04);
        a.mov(__word_ptr.es[0x61 * 4], 0x0100);      // offset 100h in segment F800 = ROM offset 8100h
        a.mov(__word_ptr.es[0x61 * 4 + 2], 0xF800);
        a.mov(eax, 0x1000);
        a.@int(0x61);
        kit.CheckEax(a, "int 61h handler ran", 0x1001);

        // 4. #UD: the handler sees the faulting IP, steps over the 2-byte UD2 and returns.
        RomKit.Post(a, 0x05);
        a.mov(__word_ptr.es[6 * 4], 0x0000);         // F800:0000 = ROM offset 8000h
        a.mov(__word_ptr.es[6 * 4 + 2], 0xF800);
        a.xor(ebx, ebx);
        a.ud2();
        a.mov(eax, ebx);
        kit.CheckEax(a, "#UD delivered and resumed", 1);

        // 5. Far call into another segment and back.
        RomKit.Post(a, 0x06);
        a.mov(eax, 0x1000);
        a.call(0xF800, 0x0104);
        kit.CheckEax(a, "far call", 0x1002);

        // 6. 32-bit arithmetic and the stack.
        RomKit.Post(a, 0x07);
        a.mov(eax, 0x89ABCDEF);
        a.push(eax);
        a.pop(edx);
        a.ror(edx, 8);
        a.mov(eax, edx);
        kit.CheckEax(a, "32-bit registers", 0xEF89ABCD);
        a.mov(ax, sp);
        a.movzx(eax, ax);
        kit.CheckEax(a, "stack balanced", 0x7000);

        kit.Print(a, "realmode: done\n");
        RomKit.Finish(a, FinalPost);
        kit.EmitRoutines(a);

        // #UD handler at F800:0000: count in EBX, step the saved IP over the 2-byte UD2.
        ud.push(bp);
        ud.mov(bp, sp);
        ud.inc(ebx);
        ud.add(__word_ptr[bp + 2], 2);
        ud.pop(bp);
        ud.iret();

        // F800:0100: INT 61h handler (inc eax; iret); F800:0104: far routine (add eax, 2; retf).
        far.inc(eax);                                // 66 40
        far.iret();                                  // CF
        far.nop();                                   // pad to 0104h
        far.add(eax, 2);
        far.retf();
        return rom.Build();
    }
}
