using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Hardware task switches between 386 TSSs: CALL (nested: back-link, NT, both tasks busy) and IRET back, JMP
/// (not nested: the old task is no longer busy) and JMP back, INT through a task gate, CALL to a busy task
/// (#GP), and #GP handled by a task through a task gate with its error code on the handler task's stack.
/// </summary>
public sealed class ProtectedModeTasks : ProtectedModeRom
{
    public override string Name => "pm-tasks";
    public override string Description => "task switches by CALL/JMP/IRET/task gates, busy bits, back-link, NT, exception task";

    const ushort TssB = 0x40, TssC = 0x48, GateB = 0x50, TssD = 0x58;
    const uint BaseB = 0x5000, BaseC = 0x5100, BaseD = 0x5200;
    const int CodeB = 0xA000, CodeC = 0xA100, CodeD = 0xA200;

    protected override IEnumerable<ulong> ExtraDescriptors =>
    [
        Descriptor(BaseB, 0x67, 0x89),
        Descriptor(BaseC, 0x67, 0x89),
        Gate(TssB, 0, 0x85),
        Descriptor(BaseD, 0x67, 0x89),
    ];

    /// <summary>A ring-0 task starting at <paramref name="eip"/> with its own ESP, flat data and the ring-0 stack segment.</summary>
    static void InitTss(Assembler m, uint tss, uint eip, uint esp)
    {
        m.mov(__dword_ptr[tss + 0x20], eip);
        m.mov(__dword_ptr[tss + 0x24], 2u);
        m.mov(__dword_ptr[tss + 0x38], esp);
        m.mov(__dword_ptr[tss + 0x48], (uint)Data0);                      // ES
        m.mov(__dword_ptr[tss + 0x4C], (uint)Code0);                      // CS
        m.mov(__dword_ptr[tss + 0x50], (uint)Stack0);                     // SS
        m.mov(__dword_ptr[tss + 0x54], (uint)Data0);                      // DS
    }

    static void Busy(Assembler m, ushort sel) => m.movzx(eax, __byte_ptr[Gdt + sel + 5]);

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x40);
        Kit.Print(m, "pm-tasks: start\n");
        InitTss(m, BaseB, Linear(CodeB), 0x7800);
        InitTss(m, BaseC, Linear(CodeC), 0x7600);
        InitTss(m, BaseD, Linear(CodeD), 0x7400);

        RomKit.Post(m, 0x41);
        m.mov(eax, 0x12345678);
        m.call(TssB, 0);
        Kit.CheckEax(m, "CALL/IRET: registers restored from TSS A", 0x12345678);
        m.mov(eax, __dword_ptr[Scratch + 0x00]);
        m.and(eax, 0x4000);
        Kit.CheckEax(m, "NT set in the called task", 0x4000);
        m.mov(eax, __dword_ptr[Scratch + 0x04]);
        Kit.CheckEax(m, "TR in the called task", TssB);
        m.movzx(eax, __word_ptr[BaseB]);
        Kit.CheckEax(m, "back-link in TSS B", TssA);
        m.mov(eax, __dword_ptr[Scratch + 0x0C]);
        Kit.CheckEax(m, "TSS A busy while B ran", 0x8B);
        m.pushfd();
        m.pop(eax);
        m.and(eax, 0x4000);
        Kit.CheckEax(m, "NT clear after the IRET", 0);
        Busy(m, TssB);
        Kit.CheckEax(m, "TSS B not busy after its IRET", 0x89);
        m.xor(eax, eax);
        m.str(ax);
        Kit.CheckEax(m, "TR back to TSS A", TssA);
        m.mov(eax, cr0);
        m.and(eax, 8);
        Kit.CheckEax(m, "task switch set CR0.TS", 8);
        m.clts();

        RomKit.Post(m, 0x42);
        m.jmp(TssC, 0);
        m.mov(eax, __dword_ptr[Scratch + 0x14]);
        Kit.CheckEax(m, "JMP: TSS A not busy while C ran", 0x89);
        m.mov(eax, __dword_ptr[Scratch + 0x10]);
        m.and(eax, 0x4000);
        Kit.CheckEax(m, "JMP: no NT in the new task", 0);
        m.mov(eax, __dword_ptr[Scratch + 0x18]);
        Kit.CheckEax(m, "JMP: no back-link written", 0);
        Busy(m, TssC);
        Kit.CheckEax(m, "TSS C not busy after jumping away", 0x89);
        Busy(m, TssA);
        Kit.CheckEax(m, "TSS A busy again", 0x8B);

        RomKit.Post(m, 0x43);
        SetGate(m, 0x50, TssB, 0, 0x85);
        m.@int(0x50);
        m.mov(eax, __dword_ptr[Scratch + 0x08]);
        Kit.CheckEax(m, "INT 50h ran task B again through a task gate", 2);
        m.mov(eax, __dword_ptr[Scratch + 0x00]);
        m.and(eax, 0x4000);
        Kit.CheckEax(m, "task gate: NT set", 0x4000);
        m.call(GateB, 0);
        m.mov(eax, __dword_ptr[Scratch + 0x08]);
        Kit.CheckEax(m, "CALL through a GDT task gate", 3);
        ExpectFault(m, "CALL to the busy current task", 13, TssA, a => a.call(TssA, 0));

        RomKit.Post(m, 0x44);
        SetGate(m, 13, TssD, 0, 0x85);
        m.mov(ax, 0x203);
        ExpectFault(m, "#GP handled by a task", 13, 0x200, a => a.mov(ds, ax));
        m.movzx(eax, __word_ptr[BaseD]);
        Kit.CheckEax(m, "exception task back-link", TssA);
        m.mov(eax, __dword_ptr[Scratch + 0x20]);
        Kit.CheckEax(m, "exception task ESP after popping the error code", 0x7400);
        SetGate(m, 13, Code0, Linear(StubOffset + 13 * StubSize), 0x8E);

        Kit.Print(m, "pm-tasks: done\n");
        RomKit.Finish(m, FinalPost);
    }

    protected override void Sections(RomBuilder rom)
    {
        // Task B: record EFLAGS, TR, a run count and A's busy byte; IRET; run again from the top next time.
        var b = rom.AddSection(32, CodeB, "task-b");
        var top = b.CreateLabel();
        b.Label(ref top);
        b.pushfd();
        b.pop(__dword_ptr.ss[Scratch + 0x00]);
        b.xor(eax, eax);
        b.str(ax);
        b.mov(__dword_ptr.ss[Scratch + 0x04], eax);
        b.inc(__dword_ptr.ss[Scratch + 0x08]);
        b.movzx(eax, __byte_ptr.ss[Gdt + TssA + 5]);
        b.mov(__dword_ptr.ss[Scratch + 0x0C], eax);
        b.xor(eax, eax);                                                   // a value that must not leak into task A
        b.iretd();
        b.jmp(top);

        // Task C: record EFLAGS, A's busy byte and C's back-link, then JMP back to A.
        var c = rom.AddSection(32, CodeC, "task-c");
        c.pushfd();
        c.pop(__dword_ptr.ss[Scratch + 0x10]);
        c.movzx(eax, __byte_ptr.ss[Gdt + TssA + 5]);
        c.mov(__dword_ptr.ss[Scratch + 0x14], eax);
        c.movzx(eax, __word_ptr.ss[BaseC]);
        c.mov(__dword_ptr.ss[Scratch + 0x18], eax);
        c.jmp(TssA, 0);

        // Task D (#GP through a task gate): record like the stubs, move A's saved EIP to the resume address, IRET.
        var d = rom.AddSection(32, CodeD, "task-d");
        var dtop = d.CreateLabel();
        d.Label(ref dtop);
        d.mov(__dword_ptr.ss[RecVector], 13u);
        d.pop(__dword_ptr.ss[RecError]);
        d.mov(__dword_ptr.ss[Scratch + 0x20], esp);
        d.mov(eax, __dword_ptr.ss[TssABase + 0x20]);
        d.mov(__dword_ptr.ss[RecEip], eax);
        d.mov(eax, __dword_ptr.ss[RecResume]);
        d.mov(__dword_ptr.ss[TssABase + 0x20], eax);
        d.iretd();
        d.jmp(dtop);
    }
}
