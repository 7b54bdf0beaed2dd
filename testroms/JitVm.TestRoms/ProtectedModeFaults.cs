using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Exceptions in protected mode, each with its vector, error code and return address: #DE #UD #BR, the traps
/// #BP and #OF, #NP #SS #GP #TS with selector error codes, the EXT and IDT bits of a not-present gate, a vector
/// beyond the IDT limit, and a double fault (#NP while delivering #NP).
/// </summary>
public sealed class ProtectedModeFaults : ProtectedModeRom
{
    public override string Name => "pm-faults";
    public override string Description => "protected-mode exceptions with error codes and return addresses, EXT/IDT bits, double fault";

    const ushort Absent = 0x40, AbsentStack = 0x48, ShortTss = 0x50;

    protected override IEnumerable<ulong> ExtraDescriptors =>
    [
        Descriptor(0, 0xFFFF, 0x12),                                       // 40: data, not present
        Descriptor(0, 0xFFFF, 0x12),                                       // 48: writable data, not present (for SS)
        Descriptor(0x5000, 0x50, 0x89),                                    // 50: 386 TSS with a limit below 67h
    ];

    static void RestoreGate(Assembler m, int vector) => SetGate(m, vector, Code0, Linear(StubOffset + vector * StubSize), 0x8E);

    protected override void Body(Assembler m)
    {
        RomKit.Post(m, 0x30);
        Kit.Print(m, "pm-faults: start\n");

        m.mov(eax, 1);
        m.xor(edx, edx);
        m.xor(ecx, ecx);
        ExpectFault(m, "#DE divide by zero", 0, 0, a => a.div(ecx));
        ExpectFault(m, "#UD ud2", 6, 0, a => a.ud2());
        m.mov(eax, __dword_ptr[RecFlags]);
        m.and(eax, 0x10000);
        Kit.CheckEax(m, "#UD (a fault) pushed EFLAGS with RF set", 0x10000);
        m.mov(__dword_ptr[Scratch], 0x10);
        m.mov(__dword_ptr[Scratch + 4], 0x20);
        m.mov(eax, 0x30);
        ExpectFault(m, "#BR bound", 5, 0, a => a.bound(eax, __qword_ptr[Scratch]));
        ExpectFault(m, "#BP int3 (trap)", 3, 0, a => a.int3(), trap: true);
        m.mov(eax, __dword_ptr[RecFlags]);
        m.and(eax, 0x10000);
        Kit.CheckEax(m, "#BP (a trap) pushed EFLAGS with RF clear", 0);
        m.mov(al, 0x7F);
        m.add(al, 1);                                                      // OF = 1
        ExpectFault(m, "#OF into (trap)", 4, 0, a => a.into(), trap: true);

        RomKit.Post(m, 0x31);
        m.mov(ax, Absent);
        ExpectFault(m, "#NP not-present data segment", 11, Absent, a => a.mov(ds, ax));
        m.mov(ax, AbsentStack);
        ExpectFault(m, "#SS not-present stack segment", 12, AbsentStack, a => a.mov(ss, ax));
        ExpectFault(m, "#SS beyond the stack limit", 12, 0, a => a.mov(eax, __dword_ptr.ss[0x200000]));
        ExpectFault(m, "#GP write through CS", 13, 0, a => a.mov(__dword_ptr.cs[Scratch], eax));
        ExpectFault(m, "#TS TSS limit below 67h", 10, ShortTss, a => a.jmp(ShortTss, 0));
        m.movzx(eax, __byte_ptr[Gdt + TssA + 5]);
        Kit.CheckEax(m, "current task still busy after #TS", 0x8B);

        RomKit.Post(m, 0x32);
        SetGate(m, 0x60, Code0, Linear(StubOffset), 0x0E);                // not present
        ExpectFault(m, "#NP not-present gate for INT 60h", 11, 0x60 * 8 + 2, a => a.@int(0x60));
        SetGate(m, 6, Code0, Linear(StubOffset + 6 * StubSize), 0x0E);
        ExpectFault(m, "#NP not-present gate for #UD (EXT)", 11, 6 * 8 + 2 + 1, a => a.ud2());
        RestoreGate(m, 6);
        m.mov(__word_ptr[Scratch], 0x70 * 8 - 1);
        m.mov(__dword_ptr[Scratch + 2], Idt);
        m.lidt(__fword_ptr[Scratch]);
        ExpectFault(m, "#GP vector beyond the IDT limit", 13, 0x70 * 8 + 2, a => a.@int(0x70));
        m.mov(__word_ptr[Scratch], 0x7FF);
        m.lidt(__fword_ptr[Scratch]);

        RomKit.Post(m, 0x33);
        SetGate(m, 11, Code0, Linear(StubOffset + 11 * StubSize), 0x0E);
        m.mov(ax, Absent);
        ExpectFault(m, "#DF: #NP while delivering #NP", 8, 0, a => a.mov(ds, ax));
        RestoreGate(m, 11);
        m.mov(ax, Absent);
        ExpectFault(m, "#NP delivered again after the gate is back", 11, Absent, a => a.mov(es, ax));

        Kit.Print(m, "pm-faults: done\n");
        RomKit.Finish(m, FinalPost);
    }
}
