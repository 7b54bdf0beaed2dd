using Iced.Intel;

namespace JitVm.Cpu.Tests;

/// <summary>
/// A <see cref="TestMachine"/> switched straight into protected mode: a GDT, an IDT whose every vector is a
/// 386 interrupt gate to a HLT at ring 0, and a 386 TSS (with an I/O bitmap) holding the ring-0 stack. Test
/// code is assembled as 16-bit code at linear 10000h and runs in ring 0 (selector 08h) or ring 3 (33h).
/// </summary>
internal sealed class ProtectedModeMachine
{
    public const uint GdtBase = 0x1000, IdtBase = 0x2000, TssBase = 0x3000, HandlerBase = 0x5000;
    public const uint CodeBase = 0x10000, Stack0Base = 0x20000, Stack3Base = 0x30000, Tss2Base = 0x3800;
    public const ushort IoBitmapOffset = 0x68;

    // Selectors of the fixed GDT entries.
    public const ushort Code0 = 0x08, Flat0 = 0x10, Stack0 = 0x18, Handler0 = 0x20, Tss = 0x28, Code3 = 0x33,
        Data3 = 0x3B, Stack3 = 0x43;
    /// <summary>First free GDT slot for a test's own descriptors (0x48 ... 0xF8).</summary>
    public const ushort FirstFree = 0x48;
    public const ushort GdtLimit = 0xFF;

    public TestMachine M { get; }
    public Processor Cpu => M.Cpu;

    public ProtectedModeMachine(CpuModel? model = null, bool ring3 = false)
    {
        M = new TestMachine(model ?? CpuModel.I486);
        bool is286 = M.Cpu.Model.Is286;
        SetDescriptor(Code0, Segment(CodeBase, 0xFFFF, 0x9B));              // code, readable, accessed, DPL 0
        SetDescriptor(Flat0, Segment(0, 0xFFFFF, 0x93, g: true, big: true)); // flat 4 GiB data
        SetDescriptor(Stack0, Segment(Stack0Base, 0xFFFF, 0x93));
        SetDescriptor(Handler0, Segment(0, 0xFFFF, 0x9B));
        uint tssLimit = is286 ? 0x2Bu : 0x68 + 0x2000 / 8;
        SetDescriptor(Tss, SystemDescriptor(TssBase, tssLimit, is286 ? (byte)0x81 : (byte)0x89));   // 286 / 386 TSS
        SetDescriptor(Code3, Segment(CodeBase, 0xFFFF, 0xFB));
        SetDescriptor(Data3, Segment(0, 0xFFFFF, 0xF3));
        SetDescriptor(Stack3, Segment(Stack3Base, 0xFFFF, 0xF3));
        for (int v = 0; v < 256; v++)
        {
            SetGate(v, Handler0, HandlerBase + (uint)v * 4, is286 ? (byte)0x86 : (byte)0x8E);
            M.Memory.Poke(HandlerBase + (uint)v * 4, [0xF4, 0xEB, 0xFD]);      // hlt; jmp $-1
        }
        // TSS: SS0:ESP0 = 18h:FFF0 (286: SS0:SP0); I/O bitmap at 68h, all ports allowed, terminated by an FF byte.
        M.Memory.Write(TssBase + (is286 ? 2u : 4u), 0xFFF0, is286 ? 2 : 4);
        M.Memory.Write(TssBase + (is286 ? 4u : 8u), Stack0, 2);
        M.Memory.Write(TssBase + 0x66, IoBitmapOffset, 2);
        M.Memory.Poke(TssBase + IoBitmapOffset + 0x2000, [0xFF]);

        Cpu.Gdtr = new DescriptorTableRegister { Base = GdtBase, Limit = GdtLimit };
        Cpu.Idtr = new DescriptorTableRegister { Base = IdtBase, Limit = 256 * 8 - 1 };
        Cpu.WriteCr0(Cpu.Cr0 | Processor.Cr0PE);
        byte busy = is286 ? (byte)0x83 : (byte)0x8B;
        Cpu.Tr = new Segment { Selector = Tss, Base = TssBase, Limit = tssLimit, Attributes = busy };
        M.Memory.Write(GdtBase + Tss + 5, busy, 1);                       // busy, as after LTR
        if (ring3)
        {
            Load(SegReg.CS, Code3);
            Load(SegReg.SS, Stack3);
            Load(SegReg.DS, Data3);
            Load(SegReg.ES, Data3);
        }
        else
        {
            Load(SegReg.CS, Code0);
            Load(SegReg.SS, Stack0);
            Load(SegReg.DS, Flat0);
            Load(SegReg.ES, Flat0);
        }
        Load(SegReg.FS, 0);
        Load(SegReg.GS, 0);
        Cpu.Esp = 0xFFF0;
        Cpu.Eip = 0;
    }

    public static ulong Segment(uint @base, uint limit, byte access, bool g = false, bool big = false) =>
        (limit & 0xFFFF) | ((ulong)(@base & 0xFFFFFF) << 16) | ((ulong)access << 40) | ((ulong)((limit >> 16) & 0xF) << 48) |
        ((ulong)((big ? 0x4 : 0) | (g ? 0x8 : 0)) << 52) | ((ulong)(@base >> 24) << 56);

    public static ulong SystemDescriptor(uint @base, uint limit, byte access) => Segment(@base, limit, access);

    public static ulong Gate(ushort selector, uint offset, byte access, int paramCount = 0) =>
        (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(paramCount & 0x1F) << 32) | ((ulong)access << 40) |
        ((ulong)(offset >> 16) << 48);

    public void SetDescriptor(ushort selector, ulong d) => M.Memory.Poke(GdtBase + (uint)(selector & 0xFFF8), BitConverter.GetBytes(d));
    public ulong GetDescriptor(ushort selector) => (ulong)M.Memory.Read32(GdtBase + (uint)(selector & 0xFFF8)) | (ulong)M.Memory.Read32(GdtBase + (uint)(selector & 0xFFF8) + 4) << 32;
    public void SetGate(int vector, ushort selector, uint offset, byte access) =>
        M.Memory.Poke(IdtBase + (uint)vector * 8, BitConverter.GetBytes(Gate(selector, offset, access)));

    /// <summary>Loads a segment cache straight from the GDT (test setup: no checks, no accessed bit).</summary>
    public void Load(int seg, ushort selector)
    {
        if ((selector & 0xFFFC) == 0)
        {
            Cpu.LoadRealModeSegmentFull(seg, selector, 0, 0, 0);
            return;
        }
        var d = new Descriptor((uint)GetDescriptor(selector), (uint)(GetDescriptor(selector) >> 32));
        Cpu.LoadRealModeSegmentFull(seg, selector, d.Base, d.Limit, d.Attributes);
    }

    public int Load(Action<Assembler> code) => M.Load(code);
    public void Run(long budget = 1_000_000) => M.Run(budget);

    /// <summary>True when the CPU halted in the ring-0 handler of <paramref name="vector"/>.</summary>
    public bool InHandler(int vector) => Cpu.Seg[SegReg.CS].Selector == Handler0 && Cpu.Eip == HandlerBase + (uint)vector * 4 + 1;

    /// <summary>The dword at SS:ESP + <paramref name="offset"/> (the handler's frame).</summary>
    public uint Stack32(int offset) => M.Memory.Read32(Cpu.Seg[SegReg.SS].Base + (uint)(Cpu.StackPointer + offset));
    public ushort Stack16(int offset) => M.Memory.Read16(Cpu.Seg[SegReg.SS].Base + (uint)(Cpu.StackPointer + offset));

    /// <summary>Denies (or allows) a port in the TSS I/O bitmap.</summary>
    public void SetPortDenied(ushort port, bool denied)
    {
        uint at = TssBase + IoBitmapOffset + (uint)(port >> 3);
        byte b = M.Memory.Read8(at);
        b = denied ? (byte)(b | (1 << (port & 7))) : (byte)(b & ~(1 << (port & 7)));
        M.Memory.Poke(at, [b]);
    }
}
