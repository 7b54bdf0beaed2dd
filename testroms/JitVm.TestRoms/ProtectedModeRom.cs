using Iced.Intel;
using JitVm.Cpu;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Shared layout of the protected-mode test ROMs. The 16-bit entry copies a GDT template into RAM (so accessed
/// and busy bits can be written), loads GDTR/IDTR, sets CR0.PE and jumps to the 32-bit main section; that fills
/// the IDT (every vector an interrupt gate to a recording stub), builds TSS A with an I/O bitmap that allows only
/// the debug ports, and loads TR. Faults are checked with <see cref="ExpectFault"/>: the stub records vector,
/// error code and return address, and the common handler resumes at an address the test left behind.
/// </summary>
public abstract class ProtectedModeRom : TestRom
{
    // Selectors of the fixed GDT entries.
    public const ushort Code0 = 0x08, Data0 = 0x10, Stack0 = 0x18, Code3 = 0x23, TssA = 0x28, Data3 = 0x33, Ldt = 0x38;
    /// <summary>First GDT slot for a ROM's own descriptors (up to 0x1F8).</summary>
    public const ushort FirstFree = 0x40;

    // RAM layout (linear = physical).
    public const uint Gdt = 0x1000, Idt = 0x2000, LdtBase = 0x4000, Stack0Top = 0x9000, InnerStackTop = 0x8000,
        Stack3Top = 0xA000, TssABase = 0x10000, IoBitmap = TssABase + 0x68;
    /// <summary>Fault record: vector, error code, return EIP, return CS, resume address, expected fault address, pushed EFLAGS.</summary>
    public const uint RecVector = 0x500, RecError = 0x504, RecEip = 0x508, RecCs = 0x50C, RecResume = 0x510, RecExpected = 0x514,
        RecFlags = 0x518;
    /// <summary>Scratch words a ROM may use.</summary>
    public const uint Scratch = 0x600;

    // ROM layout: 32-bit main at offset 1000h, stubs at 8000h (32 bytes per vector), common handler at 8500h.
    public const int MainOffset = 0x1000, StubOffset = 0x8000, StubSize = 32, CommonOffset = 0x8500, GdtTemplate = 0xC000, Pointers = 0xBF00;
    public static uint Linear(int romOffset) => RomBuilder.RomLinearBase + (uint)romOffset;

    /// <summary>Value left in the vector record when no exception happened.</summary>
    public const uint NoException = 0xEEEE;

    protected RomBuilder Rom { get; private set; } = null!;
    protected RomKit Kit { get; private set; } = null!;

    public override CpuModel Model => CpuModel.Pentium;

    /// <summary>The GDT entries after the fixed ones (at <see cref="FirstFree"/> and up).</summary>
    protected virtual IEnumerable<ulong> ExtraDescriptors => [];

    public static ulong Descriptor(uint @base, uint limit, byte access, bool g = false, bool big = false) =>
        (limit & 0xFFFF) | ((ulong)(@base & 0xFFFFFF) << 16) | ((ulong)access << 40) | ((ulong)((limit >> 16) & 0xF) << 48) |
        ((ulong)((big ? 0x4 : 0) | (g ? 0x8 : 0)) << 52) | ((ulong)(@base >> 24) << 56);

    public static ulong Gate(ushort selector, uint offset, byte access, int paramCount = 0) =>
        (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(paramCount & 0x1F) << 32) | ((ulong)access << 40) |
        ((ulong)(offset >> 16) << 48);

    public override byte[] Build()
    {
        Rom = new RomBuilder();
        Kit = new RomKit(Rom);
        var gdt = new List<ulong>
        {
            0,
            Descriptor(0, 0xFFFFF, 0x9A, g: true, big: true),              // 08: ring-0 flat code (accessed bit clear)
            Descriptor(0, 0xFFFFF, 0x92, g: true, big: true),              // 10: ring-0 flat data
            Descriptor(0, 0xFFFFF, 0x93, big: true),                       // 18: ring-0 stack, 1 MiB byte-granular
            Descriptor(0, 0xFFFFF, 0xFB, g: true, big: true),              // 20: ring-3 flat code
            Descriptor(TssABase, 0x68 + 0x2000, 0x89),                     // 28: TSS A with a full I/O bitmap
            Descriptor(0, 0xFFFFF, 0xF3, g: true, big: true),              // 30: ring-3 flat data
            Descriptor(LdtBase, 0x0F, 0x82),                               // 38: LDT (two entries)
        };
        gdt.AddRange(ExtraDescriptors);
        if (gdt.Count > 64) throw new InvalidOperationException("GDT template too large");
        var gdtBytes = new byte[gdt.Count * 8];
        for (int k = 0; k < gdt.Count; k++) BitConverter.GetBytes(gdt[k]).CopyTo(gdtBytes, k * 8);
        Rom.Data(GdtTemplate, gdtBytes);
        // GDTR (limit 1FFh, base 1000h) and IDTR (limit 7FFh, base 2000h) images.
        Rom.Data(Pointers, [0xFF, 0x01, 0x00, 0x10, 0x00, 0x00, 0, 0, 0xFF, 0x07, 0x00, 0x20, 0x00, 0x00]);

        var a = Rom.Code;
        a.cli();
        RomKit.Post(a, 0x01);
        a.xor(ax, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7000);
        a.mov(es, ax);
        a.mov(ax, RomBuilder.RomSegment);
        a.mov(ds, ax);
        a.cld();
        a.xor(al, al);                                                     // clear GDT, IDT area (1000h-2FFFh)
        a.mov(di, (ushort)Gdt);
        a.mov(cx, 0x2000);
        a.rep.stosb();
        a.mov(si, (ushort)GdtTemplate);
        a.mov(di, (ushort)Gdt);
        a.mov(cx, (ushort)gdtBytes.Length);
        a.rep.movsb();
        a.lgdt(__fword_ptr[Pointers]);
        a.lidt(__fword_ptr[Pointers + 8]);
        a.mov(eax, cr0);
        a.or(eax, 1);
        a.mov(cr0, eax);
        uint main = Linear(MainOffset);
        a.db(0x66, 0xEA, (byte)main, (byte)(main >> 8), (byte)(main >> 16), (byte)(main >> 24), (byte)Code0, 0);   // jmp dword 08:main

        var m = Rom.AddSection(32, MainOffset, "main");
        m.mov(ax, Data0);
        m.mov(ds, ax);
        m.mov(es, ax);
        m.mov(fs, ax);
        m.mov(gs, ax);
        m.mov(ax, Stack0);
        m.mov(ss, ax);
        m.mov(esp, Stack0Top);
        RomKit.Post(m, 0x02);
        // IDT: vectors 0-31 to their stubs, the rest to stub 32 (which records vector FFh).
        var fill = m.CreateLabel();
        var low = m.CreateLabel();
        m.mov(edi, Idt);
        m.xor(ecx, ecx);
        m.Label(ref fill);
        m.mov(eax, ecx);
        m.cmp(eax, 32);
        m.jb(low);
        m.mov(eax, 32);
        m.Label(ref low);
        m.shl(eax, 5);
        m.add(eax, Linear(StubOffset));
        m.mov(__word_ptr[edi], ax);
        m.mov(__word_ptr[edi + 2], Code0);
        m.mov(__word_ptr[edi + 4], 0x8E00);
        m.shr(eax, 16);
        m.mov(__word_ptr[edi + 6], ax);
        m.add(edi, 8);
        m.inc(ecx);
        m.cmp(ecx, 256);
        m.jb(fill);
        // TSS A: SS0:ESP0 for ring 0, I/O bitmap at 68h denying everything but ports 80h and E9h.
        m.xor(eax, eax);
        m.mov(edi, TssABase);
        m.mov(ecx, 0x68 / 4);
        m.rep.stosd();
        m.mov(__dword_ptr[TssABase + 4], InnerStackTop);
        m.mov(__dword_ptr[TssABase + 8], (uint)Stack0);
        m.mov(__word_ptr[TssABase + 0x66], 0x68);
        m.mov(al, 0xFF);
        m.mov(edi, IoBitmap);
        m.mov(ecx, 0x2001);
        m.rep.stosb();
        m.and(__byte_ptr[IoBitmap + 0x80 / 8], unchecked((byte)~1));
        m.and(__byte_ptr[IoBitmap + 0xE9 / 8], unchecked((byte)~(1 << (0xE9 & 7))));
        m.mov(ax, TssA);
        m.ltr(ax);
        Body(m);
        Kit.EmitRoutines(m);

        for (int v = 0; v <= 32; v++)
        {
            var s = Rom.AddSection(32, StubOffset + v * StubSize, $"stub{v}");
            s.mov(__dword_ptr.ss[RecVector], v == 32 ? 0xFFu : (uint)v);
            if (v is 8 or 10 or 11 or 12 or 13 or 14 or 17) s.pop(__dword_ptr.ss[RecError]);
            else s.mov(__dword_ptr.ss[RecError], 0xFFFFFFFF);
            s.jmp(Linear(CommonOffset));
        }
        // Common handler: record the return CS:EIP, replace EIP by the resume address, IRETD.
        var c = Rom.AddSection(32, CommonOffset, "common");
        c.push(eax);
        c.mov(eax, __dword_ptr[esp + 4]);
        c.mov(__dword_ptr.ss[RecEip], eax);
        c.mov(eax, __dword_ptr[esp + 8]);
        c.mov(__dword_ptr.ss[RecCs], eax);
        c.mov(eax, __dword_ptr[esp + 12]);
        c.mov(__dword_ptr.ss[RecFlags], eax);
        c.mov(eax, __dword_ptr.ss[RecResume]);
        c.mov(__dword_ptr[esp + 4], eax);
        c.pop(eax);
        c.iretd();
        Sections(Rom);
        return Rom.Build();
    }

    /// <summary>The ROM's checks, in the 32-bit main section at ring 0 with flat DS/ES and TR = TSS A.</summary>
    protected abstract void Body(Assembler m);

    /// <summary>Further sections a ROM needs (handlers, other tasks, V86 code) at fixed offsets.</summary>
    protected virtual void Sections(RomBuilder rom) { }

    /// <summary>Writes IDT entry <paramref name="vector"/> at run time.</summary>
    protected static void SetGate(Assembler a, int vector, ushort selector, uint offset, byte access)
    {
        ulong g = Gate(selector, offset, access);
        a.mov(__dword_ptr.ss[Idt + (uint)vector * 8], (uint)g);
        a.mov(__dword_ptr.ss[Idt + (uint)vector * 8 + 4], (uint)(g >> 32));
    }

    static bool HasErrorCode(int v) => v is 8 or 10 or 11 or 12 or 13 or 14 or 17;

    /// <summary>
    /// Runs <paramref name="faulting"/> (its first instruction should raise <paramref name="vector"/>; for a trap
    /// the whole block is expected to complete first) and prints a line each for the vector, the error code (for
    /// vectors that push one) and the return address: the faulting instruction for a fault, the end of the
    /// block for a trap, not checked for #DF (undefined by the SDM). Afterwards DS and ES hold
    /// <paramref name="data"/>. 32-bit code only; works at ring 0 and ring 3 (the record is written through SS).
    /// </summary>
    protected void ExpectFault(Assembler a, string name, int vector, uint error, Action<Assembler> faulting, bool trap = false, ushort data = Data0)
    {
        var setResume = a.CreateLabel();
        var resumeJump = a.CreateLabel();
        var setFault = a.CreateLabel();
        var at = a.CreateLabel();
        var resume = a.CreateLabel();
        a.mov(__dword_ptr.ss[RecVector], NoException);
        a.call(setResume);
        a.Label(ref resumeJump);
        a.jmp(resume);
        a.Label(ref setResume);
        a.pop(__dword_ptr.ss[RecResume]);                                  // the handler returns to resumeJump
        a.call(setFault);
        a.Label(ref at);
        faulting(a);
        a.jmp(resume);
        a.Label(ref setFault);
        a.pop(__dword_ptr.ss[RecExpected]);                                // address of the faulting block
        a.jmp(at);
        a.Label(ref resume);
        a.mov(ax, data);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(eax, __dword_ptr.ss[RecVector]);
        Kit.CheckEax(a, name + ": vector", (uint)vector);
        if (HasErrorCode(vector))
        {
            a.mov(eax, __dword_ptr.ss[RecError]);
            Kit.CheckEax(a, name + ": error code", error);
        }
        if (vector != 8)
        {
            a.mov(eax, __dword_ptr.ss[RecEip]);
            a.sub(eax, __dword_ptr.ss[RecExpected]);
            if (trap) a.sub(eax, (uint)BlockLength(faulting));
            Kit.CheckZero(a, name + ": return address");
        }
    }

    /// <summary>Byte length of a block of (non-branching) instructions.</summary>
    static int BlockLength(Action<Assembler> code)
    {
        var a = new Assembler(32);
        code(a);
        var w = new Counter();
        a.Assemble(w, 0x100000);
        return w.Count;
    }

    sealed class Counter : CodeWriter
    {
        public int Count;
        public override void WriteByte(byte value) => Count++;
    }
}
