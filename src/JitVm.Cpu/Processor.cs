using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using JitVm.Core;

namespace JitVm.Cpu;

/// <summary>
/// The architectural state of one x86 processor, shared by the interpreter and (later) the translator.
/// State lives in plain fields so generated IL can load and store it directly; the general registers are an
/// inline array addressed by byte offset (see <see cref="GprFile"/>), the flags follow the lazy model in
/// Cpu.Flags.cs, and memory goes through the segment checks and the software TLB in Cpu.Memory.cs.
/// </summary>
public sealed partial class Processor
{
    // Byte offsets of the registers inside Gpr (what decoded instructions store).
    public const int EAX = 0, ECX = 4, EDX = 8, EBX = 12, ESP = 16, EBP = 20, ESI = 24, EDI = 28;
    /// <summary>Byte offset of the slot that always reads zero (no base / no index).</summary>
    public const int ZeroReg = 32;

    public GprFile Gpr;
    public uint Eip;
    public SegmentFile Seg;

    public uint Cr0, Cr2, Cr3, Cr4;
    public DescriptorTableRegister Gdtr, Idtr;
    public Segment Ldtr, Tr;
    public DebugRegisterFile Dr;

    public const uint Cr0PE = 1, Cr0MP = 2, Cr0EM = 4, Cr0TS = 8, Cr0ET = 0x10, Cr0NE = 0x20, Cr0WP = 0x10000,
        Cr0AM = 0x40000, Cr0NW = 0x20000000, Cr0CD = 0x40000000, Cr0PG = 0x80000000;

    /// <summary>Guest instructions retired (the time base of RDTSC).</summary>
    public long InstructionCount;

    /// <summary>Set by HLT; cleared when an interrupt is delivered.</summary>
    public bool Halted;

    /// <summary>Set by a shutdown (triple fault). The run loop stops.</summary>
    public bool Shutdown;

    /// <summary>Interrupts are inhibited until after the next instruction (after STI, MOV SS, POP SS).</summary>
    public bool InterruptShadow;

    /// <summary>
    /// Set by anything that must stop the current decoded block after the running instruction: a write over
    /// the block's own bytes, a mode change. Checked after every instruction.
    /// </summary>
    public bool ExitBlock;

    /// <summary>
    /// Set (together with <see cref="ExitBlock"/>) by a handler that stopped part-way and must run again: a REP
    /// string instruction that reached its per-call iteration cap with work left. The dispatcher then leaves EIP
    /// on the instruction instead of advancing past it, and clears the flag.
    /// </summary>
    public bool RepeatInstruction;

    public CpuModel Model { get; }
    public PhysicalMemory Memory { get; }
    public IoBus Io { get; }

    /// <summary>The INTR pin: set by the interrupt controller while it has a request for the CPU.</summary>
    public bool IrqLine;

    /// <summary>Maskable interrupt source (the PIC); null when nothing is wired.</summary>
    public IInterruptController? InterruptController { get; set; }

    /// <summary>Physical address mask: the bus width of the model ANDed with the A20 gate.</summary>
    public uint PhysicalAddressMask { get; private set; }

    readonly CpuFault fault = new();

    public Processor(CpuModel model, PhysicalMemory memory, IoBus io)
    {
        Model = model;
        Memory = memory;
        Io = io;
        backing = memory.Backing;
        tlb = supervisorTlb;
        memory.MapChanged += OnMemoryMapChanged;
        memory.Code.PageBecameCode += OnPageBecameCode;
        PhysicalAddressMask = model.AddressBusMask;
        Reset();
    }

    /// <summary>The A20 gate: when disabled, address line 20 is forced to zero (8086 wrap-around).</summary>
    public bool A20Enabled
    {
        get => (PhysicalAddressMask & (1u << 20)) != 0;
        set
        {
            uint mask = Model.AddressBusMask & (value ? 0xFFFFFFFF : ~(1u << 20));
            if (mask == PhysicalAddressMask) return;
            PhysicalAddressMask = mask;
            FlushTlb();
            ExitBlock = true;
        }
    }

    /// <summary>The architectural reset state (Intel SDM vol. 3, 9.1.1): real mode at F000:FFF0 with CS base FFFF0000.</summary>
    public void Reset()
    {
        Gpr = default;
        Gpr[2] = Model.Generation >= CpuGeneration.I386 && Model.Cpuid is { } id ? id.Signature : (uint)Model.Generation << 8;
        Eip = 0xFFF0;
        SetEflags(0x2);
        Cr0 = Model.Generation >= CpuGeneration.I386 ? 0x60000010u : 0u;
        if (Model.Is286) Cr0 = 0xFFF0; // the 286 MSW reads back with its unused bits set
        Cr2 = Cr3 = Cr4 = 0;
        TimeStampCounter = 0;
        ResetMsrs();
        ResetFpu();
        Dr = default;
        Dr[6] = 0xFFFF0FF0;
        Dr[7] = 0x400;
        PendingDebugTrap = 0;
        UpdateBreakpoints();
        for (int i = 0; i < 6; i++) LoadRealModeSegmentFull(i, 0, 0, 0xFFFF, i == SegReg.CS ? Segment.RealModeCode : Segment.RealModeData);
        Seg[SegReg.CS].Selector = 0xF000;
        Seg[SegReg.CS].Base = Model.Is286 ? 0xFF0000u : 0xFFFF0000u;
        Seg[SegReg.CS].UpdateLimits(false);
        Gdtr = default;
        Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
        Ldtr = default;
        Tr = default;
        Halted = Shutdown = InterruptShadow = false;
        ErrorExt = 0;
        PhysicalAddressMask = Model.AddressBusMask;
        FlushTlb();
        UpdateMemoryPrivilege();
        ExitBlock = true;
    }

    /// <summary>Loads a segment register with an explicit hidden part (reset, test setup, LOADALL-style loads).</summary>
    public void LoadRealModeSegmentFull(int seg, ushort selector, uint @base, uint limit, ushort attributes)
    {
        ref Segment s = ref Seg[seg];
        s.Selector = selector;
        s.Base = @base;
        s.Limit = limit;
        s.Attributes = attributes;
        s.UpdateLimits(ProtectedMode);
        if (seg == SegReg.CS) UpdateMemoryPrivilege();
    }

    public bool ProtectedMode => (Cr0 & Cr0PE) != 0;
    public bool V86Mode => (Flags & FlagVM) != 0;
    public bool RealMode => (Cr0 & Cr0PE) == 0;

    /// <summary>Current privilege level: CS.RPL in protected mode, 3 in V86 mode, 0 in real mode.</summary>
    public int Cpl => RealMode ? 0 : V86Mode ? 3 : Seg[SegReg.CS].Selector & 3;

    /// <summary>Default operand/address size of the code segment is 32-bit.</summary>
    public bool Code32 => ProtectedMode && !V86Mode && Seg[SegReg.CS].Big;

    /// <summary>The stack segment uses ESP (B bit) rather than SP.</summary>
    public bool Stack32 => Seg[SegReg.SS].Big;

    // ---- register access by byte offset (decoded instructions carry offsets) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte RegByteRef(int off) => ref Unsafe.Add(ref Unsafe.As<GprFile, byte>(ref Gpr), off);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Reg8(int off) => RegByteRef(off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetReg8(int off, uint v) => RegByteRef(off) = (byte)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort Reg16(int off) => Unsafe.As<byte, ushort>(ref RegByteRef(off));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetReg16(int off, uint v) => Unsafe.As<byte, ushort>(ref RegByteRef(off)) = (ushort)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Reg32(int off) => Unsafe.As<byte, uint>(ref RegByteRef(off));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetReg32(int off, uint v) => Unsafe.As<byte, uint>(ref RegByteRef(off)) = v;

    public uint Eax { get => Gpr[0]; set => Gpr[0] = value; }
    public uint Ecx { get => Gpr[1]; set => Gpr[1] = value; }
    public uint Edx { get => Gpr[2]; set => Gpr[2] = value; }
    public uint Ebx { get => Gpr[3]; set => Gpr[3] = value; }
    public uint Esp { get => Gpr[4]; set => Gpr[4] = value; }
    public uint Ebp { get => Gpr[5]; set => Gpr[5] = value; }
    public uint Esi { get => Gpr[6]; set => Gpr[6] = value; }
    public uint Edi { get => Gpr[7]; set => Gpr[7] = value; }

    // ---- faults ----

    /// <summary>Raises a guest exception without an error code.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public void Fault(int vector) => throw PrepareFault(vector, 0, false);

    /// <summary>Raises a guest exception with an error code (dropped in real mode).</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public void Fault(int vector, uint errorCode) => throw PrepareFault(vector, errorCode, CpuVectors.HasErrorCode(vector));

    CpuFault PrepareFault(int vector, uint errorCode, bool hasError)
    {
        fault.Vector = vector;
        fault.ErrorCode = errorCode;
        fault.HasErrorCode = hasError;
        return fault;
    }

    /// <summary>Debug registers DR0..DR7 (DR4/DR5 alias DR6/DR7).</summary>
    [InlineArray(8)]
    public struct DebugRegisterFile
    {
        private uint _e0;
    }
}

/// <summary>A source of maskable hardware interrupts (the 8259 PIC pair).</summary>
public interface IInterruptController
{
    /// <summary>An interrupt request is pending at the CPU's INTR pin.</summary>
    bool InterruptPending { get; }

    /// <summary>The interrupt-acknowledge cycle: returns the vector and updates the controller's state.</summary>
    byte Acknowledge();
}
