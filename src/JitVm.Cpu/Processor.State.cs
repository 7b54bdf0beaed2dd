using JitVm.Core.State;

namespace JitVm.Cpu;

/// <summary>
/// Snapshot support: the architectural state (registers, segment caches, descriptor tables, control and debug
/// registers, MSRs, EFLAGS, the A20 gate, pending interrupt, halt and debug-trap state, the
/// instruction count) in section "CPU ", the x87 in "FPU " (Processor.FpuState.cs). Not saved: the TLBs (flushed on
/// load and refilled by the walks), the host debugger's breakpoints (host state, kept as they are), and what only lives
/// inside one dispatch (<see cref="ExitBlock"/>, <see cref="RunLimit"/>, <see cref="PendingFault"/>).
/// </summary>
public sealed partial class Processor : ISnapshotable
{
    const ushort StateVersion = 1;

    /// <summary>What distinguishes one CPU model from another for a snapshot: restoring onto another model is refused.</summary>
    public string ModelFingerprint =>
        $"{Model.Name}/{Model.Generation}/{Model.AddressBusMask:X8}/fpu={Model.HasFpu}/" +
        (Model.Cpuid is { } id ? $"{id.Signature:X8}/{id.FeaturesEdx:X8}" : "no-cpuid");

    public void SaveState(StateWriter w)
    {
        w.BeginSection("CPU ", StateVersion);
        w.WriteString(ModelFingerprint);
        for (int i = 0; i < 10; i++) w.WriteUInt32(Gpr[i]);
        w.WriteUInt32(Eip);
        // EFLAGS with the arithmetic flags computed: the lazy record is how an engine left them, not guest state, and
        // engines leave it differently (the translator materialises flags the interpreter keeps lazy).
        w.WriteUInt32(GetEflags());
        for (int i = 0; i < 6; i++) WriteSegment(w, in Seg[i]);
        WriteSegment(w, in Ldtr);
        WriteSegment(w, in Tr);
        w.WriteUInt32(Gdtr.Base);
        w.WriteUInt16(Gdtr.Limit);
        w.WriteUInt32(Idtr.Base);
        w.WriteUInt16(Idtr.Limit);
        w.WriteUInt32(Cr0);
        w.WriteUInt32(Cr2);
        w.WriteUInt32(Cr3);
        w.WriteUInt32(Cr4);
        for (int i = 0; i < 8; i++) w.WriteUInt32(Dr[i]);
        w.WriteUInt32(PendingDebugTrap);
        w.WriteUInt32(PhysicalAddressMask);
        w.WriteInt64(InstructionCount);
        w.WriteBool(Halted);
        w.WriteBool(Shutdown);
        w.WriteBool(InterruptShadow);
        w.WriteBool(RepeatInstruction);
        w.WriteBool(IrqLine);
        w.WriteUInt32(ErrorExt);
        w.WriteUInt64(tscBase);
        w.WriteUInt32(SysenterCs);
        w.WriteUInt32(SysenterEsp);
        w.WriteUInt32(SysenterEip);
        w.WriteUInt64(ApicBase);
        for (int i = 0; i < PerfEvtSel.Length; i++) w.WriteUInt32(PerfEvtSel[i]);
        for (int i = 0; i < PerfCtr.Length; i++) w.WriteUInt64(PerfCtr[i]);
        w.WriteUInt64(McgCtl);
        for (int i = 0; i < McCtl.Length; i++) w.WriteUInt64(McCtl[i]);
        for (int i = 0; i < ExceptionCounts.Length; i++) w.WriteInt64(ExceptionCounts[i]);
        w.EndSection();
        SaveFpuState(w);
    }

    public void LoadState(StateReader r)
    {
        r.BeginSection("CPU ", StateVersion);
        string model = r.ReadString("model", 256);
        if (model != ModelFingerprint)
            throw r.Invalid("model", $"the snapshot was taken on CPU model '{model}', this machine has '{ModelFingerprint}'");
        var gpr = default(GprFile);
        for (int i = 0; i < 10; i++) gpr[i] = r.ReadUInt32(i < 8 ? "gpr" + i : i == 8 ? "zero register" : "scratch register");
        if (gpr[8] != 0) throw r.Invalid("zero register", "must be 0");
        uint eip = r.ReadUInt32("eip");
        uint flags = r.ReadUInt32("eflags");
        var seg = default(SegmentFile);
        for (int i = 0; i < 6; i++) seg[i] = ReadSegment(r, SegReg.Names[i]);
        var ldtr = ReadSegment(r, "ldtr");
        var tr = ReadSegment(r, "tr");
        var gdtr = new DescriptorTableRegister { Base = r.ReadUInt32("gdtr base"), Limit = r.ReadUInt16("gdtr limit") };
        var idtr = new DescriptorTableRegister { Base = r.ReadUInt32("idtr base"), Limit = r.ReadUInt16("idtr limit") };
        uint cr0 = r.ReadUInt32("cr0"), cr2 = r.ReadUInt32("cr2"), cr3 = r.ReadUInt32("cr3"), cr4 = r.ReadUInt32("cr4");
        var dr = default(DebugRegisterFile);
        for (int i = 0; i < 8; i++) dr[i] = r.ReadUInt32("dr" + i);
        uint pendingDebugTrap = r.ReadUInt32("pending debug trap");
        uint addressMask = r.ReadUInt32("physical address mask");
        if ((addressMask | (1u << 20)) != Model.AddressBusMask)
            throw r.Invalid("physical address mask", $"{addressMask:X8} is neither the model's bus mask nor it with A20 off");
        long instructions = r.ReadInt64("instruction count", 0, long.MaxValue);
        bool halted = r.ReadBool("halted"), shutdown = r.ReadBool("shutdown"), shadow = r.ReadBool("interrupt shadow");
        bool repeat = r.ReadBool("repeat instruction"), irqLine = r.ReadBool("irq line");
        uint errorExt = r.ReadUInt32("error ext");
        if (errorExt > 1) throw r.Invalid("error ext", "must be 0 or 1");
        ulong tsc = r.ReadUInt64("tsc base");
        uint sysenterCs = r.ReadUInt32("sysenter cs"), sysenterEsp = r.ReadUInt32("sysenter esp"), sysenterEip = r.ReadUInt32("sysenter eip");
        ulong apicBase = r.ReadUInt64("apic base");
        Span<uint> perfEvtSel = stackalloc uint[PerfEvtSel.Length];
        for (int i = 0; i < perfEvtSel.Length; i++) perfEvtSel[i] = r.ReadUInt32("perfevtsel" + i);
        Span<ulong> perfCtr = stackalloc ulong[PerfCtr.Length];
        for (int i = 0; i < perfCtr.Length; i++)
            if ((perfCtr[i] = r.ReadUInt64("perfctr" + i)) > PerfCtrMask) throw r.Invalid("perfctr" + i, "counters are 40 bits");
        ulong mcgCtl = r.ReadUInt64("mcg ctl");
        Span<ulong> mcCtl = stackalloc ulong[McCtl.Length];
        for (int i = 0; i < mcCtl.Length; i++) mcCtl[i] = r.ReadUInt64("mc ctl" + i);
        Span<long> counts = stackalloc long[ExceptionCounts.Length];
        for (int i = 0; i < counts.Length; i++) counts[i] = r.ReadInt64("exception count " + i);
        r.EndSection();
        var fpu = ReadFpuState(r);

        // Everything read and checked: commit.
        Gpr = gpr;
        Eip = eip;
        Flags = flags;
        LazyOp = FlagOp.None;
        LazyDst = LazySrc = LazyRes = LazySign = 0;
        Seg = seg;
        Ldtr = ldtr;
        Tr = tr;
        Gdtr = gdtr;
        Idtr = idtr;
        Cr0 = cr0;
        Cr2 = cr2;
        Cr3 = cr3;
        Cr4 = cr4;
        Dr = dr;
        PendingDebugTrap = pendingDebugTrap;
        PhysicalAddressMask = addressMask;
        InstructionCount = instructions;
        Halted = halted;
        Shutdown = shutdown;
        InterruptShadow = shadow;
        RepeatInstruction = repeat;
        IrqLine = irqLine;
        ErrorExt = errorExt;
        tscBase = tsc;
        SysenterCs = sysenterCs;
        SysenterEsp = sysenterEsp;
        SysenterEip = sysenterEip;
        ApicBase = apicBase;
        perfEvtSel.CopyTo(PerfEvtSel);
        perfCtr.CopyTo(PerfCtr);
        McgCtl = mcgCtl;
        mcCtl.CopyTo(McCtl);
        counts.CopyTo(ExceptionCounts);
        Fpu = fpu;
        FaultPending = false;
        PendingFault = default;
        // Derived state: the enabled breakpoints (DR7; the host debugger's bit is kept), the privilege of explicit
        // accesses, and an empty TLB (a flush, which also moves the TLB generation on for successor links).
        UpdateBreakpoints();
        FlushTlb();
        UpdateMemoryPrivilege();
        ExitBlock = true;
    }

    static void WriteSegment(StateWriter w, in Segment s)
    {
        w.WriteUInt16(s.Selector);
        w.WriteUInt32(s.Base);
        w.WriteUInt32(s.Limit);
        w.WriteUInt16(s.Attributes);
        w.WriteInt64(s.ReadLimit1);
        w.WriteInt64(s.ReadLimit2);
        w.WriteInt64(s.ReadLimit4);
        w.WriteInt64(s.WriteLimit1);
        w.WriteInt64(s.WriteLimit2);
        w.WriteInt64(s.WriteLimit4);
    }

    static Segment ReadSegment(StateReader r, string name)
    {
        var s = new Segment
        {
            Selector = r.ReadUInt16(name + " selector"),
            Base = r.ReadUInt32(name + " base"),
            Limit = r.ReadUInt32(name + " limit"),
            Attributes = r.ReadUInt16(name + " attributes"),
        };
        // The pre-computed fast-path limits: -1 (always the slow path) up to the 4 GiB limit.
        s.ReadLimit1 = r.ReadInt64(name + " read limit 1", -1, uint.MaxValue);
        s.ReadLimit2 = r.ReadInt64(name + " read limit 2", -2, uint.MaxValue);
        s.ReadLimit4 = r.ReadInt64(name + " read limit 4", -4, uint.MaxValue);
        s.WriteLimit1 = r.ReadInt64(name + " write limit 1", -1, uint.MaxValue);
        s.WriteLimit2 = r.ReadInt64(name + " write limit 2", -2, uint.MaxValue);
        s.WriteLimit4 = r.ReadInt64(name + " write limit 4", -4, uint.MaxValue);
        return s;
    }
}
