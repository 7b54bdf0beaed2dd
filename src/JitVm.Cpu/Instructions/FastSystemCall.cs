using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// SYSENTER and SYSEXIT (SDM vol. 2, and vol. 3, 5.8.7): fast transitions between flat ring-3 and flat ring-0
/// code. They read no descriptor: CS and SS are loaded with fixed flat caches derived from IA32_SYSENTER_CS, so
/// the descriptors the OS put in its GDT at those selectors are trusted, not checked. Only models whose CPUID
/// advertises SEP decode them.
/// </summary>
internal static unsafe class FastSystemCall
{
    // Flat 4 GiB segments as SYSENTER/SYSEXIT load them: code type 11 (execute/read, accessed), data type 3
    // (read/write, accessed), S = 1, P = 1, limit FFFFFh with G = 1, D/B = 1; the DPL is the new CPL.
    const ushort FlatCode = Segment.AttrCode | Segment.AttrWritable | Segment.AttrAccessed | Segment.AttrS |
        Segment.AttrPresent | 0x0F00 | Segment.AttrDb | Segment.AttrG;
    const ushort FlatData = Segment.AttrWritable | Segment.AttrAccessed | Segment.AttrS | Segment.AttrPresent | 0x0F00 |
        Segment.AttrDb | Segment.AttrG;

    static void LoadFlat(Processor c, int cpl, ushort cs, ushort ss)
    {
        ushort dpl = (ushort)(cpl << 5);
        c.LoadRealModeSegmentFull(SegReg.SS, ss, 0, 0xFFFFFFFF, (ushort)(FlatData | dpl));
        c.LoadRealModeSegmentFull(SegReg.CS, cs, 0, 0xFFFFFFFF, (ushort)(FlatCode | dpl));   // CPL follows CS
    }

    // SYSENTER: #GP(0) in real mode or with a null IA32_SYSENTER_CS (bits 15:2 zero). Clears VM, IF and RF, enters
    // CPL 0 at SYSENTER_EIP with the stack at SYSENTER_ESP; CS = SYSENTER_CS & FFFCh, SS = that + 8. Allowed at
    // any CPL and from V86 mode.
    static void Sysenter(Processor c, ref Insn i)
    {
        uint sel = c.SysenterCs & 0xFFFF;
        if (!c.ProtectedMode || (sel & 0xFFFC) == 0) c.Fault(CpuVectors.GP, 0);
        c.SetEflags(c.GetEflags() & ~(Processor.FlagVM | Processor.FlagIF | Processor.FlagRF));
        LoadFlat(c, 0, (ushort)(sel & 0xFFFC), (ushort)((sel & 0xFFFC) + 8));
        c.Esp = c.SysenterEsp;
        c.Eip = c.SysenterEip;
    }

    // SYSEXIT: #GP(0) unless in protected mode at CPL 0 with a non-null IA32_SYSENTER_CS. Returns to CPL 3 at EDX
    // with the stack at ECX; CS = (SYSENTER_CS + 16) | 3, SS = (SYSENTER_CS + 24) | 3.
    static void Sysexit(Processor c, ref Insn i)
    {
        uint sel = c.SysenterCs & 0xFFFF;
        if (!c.ProtectedMode || c.Cpl != 0 || (sel & 0xFFFC) == 0) c.Fault(CpuVectors.GP, 0);
        LoadFlat(c, 3, (ushort)((sel + 16) | 3), (ushort)((sel + 24) | 3));
        c.Esp = c.Ecx;
        c.Eip = c.Edx;
    }

    internal static void Register(HandlerTable t)
    {
        const HandlerFlags B = HandlerFlags.Branch;
        t.Add(Code.Sysenter, &Sysenter, B, CpuGeneration.I486, CpuidInfo.FeatureSep);
        t.Add(Code.Sysexitd, &Sysexit, B, CpuGeneration.I486, CpuidInfo.FeatureSep);
    }
}
