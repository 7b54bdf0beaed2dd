namespace JitVm.Cpu;

/// <summary>Where an interrupt came from (affects what EIP is pushed and privilege checks in protected mode).</summary>
public enum InterruptSource
{
    /// <summary>A fault or trap raised by the processor.</summary>
    Exception,
    /// <summary>INT n, INT3, INTO.</summary>
    Software,
    /// <summary>INTR/NMI from outside.</summary>
    External,
}

public sealed partial class Processor
{
    /// <summary>Exceptions delivered so far, per vector (statistics and tests).</summary>
    public readonly long[] ExceptionCounts = new long[32];

    /// <summary>Exceptions reported as faults (the return address is the faulting instruction). #DB is not counted.</summary>
    static bool IsFaultClass(int v) => v is CpuVectors.DE or CpuVectors.BR or CpuVectors.UD or CpuVectors.NM or CpuVectors.TS or
        CpuVectors.NP or CpuVectors.SS or CpuVectors.GP or CpuVectors.PF or CpuVectors.MF or CpuVectors.AC;

    static bool IsContributory(int v) => v is CpuVectors.DE or CpuVectors.TS or CpuVectors.NP or CpuVectors.SS or CpuVectors.GP;

    /// <summary>
    /// Delivers an interrupt or exception. <see cref="Eip"/> must already hold the return address (the faulting
    /// instruction for faults, the next one for traps and INT n). An exception raised while delivering is
    /// combined per the double-fault rules (SDM vol. 3, table 6-5); a fault while delivering #DF shuts down.
    /// </summary>
    public void Interrupt(int vector, InterruptSource source, bool hasError = false, uint errorCode = 0)
    {
        for (int attempt = 0; attempt < 4; attempt++)
        {
            try
            {
                Tracer?.Interrupt(this, vector, source, hasError, errorCode);
                if (source == InterruptSource.Exception && vector < ExceptionCounts.Length) ExceptionCounts[vector]++;
                if (ProtectedMode) DeliverProtected(vector, source, hasError, errorCode);
                else DeliverReal(vector);
                ErrorExt = 0;
                Halted = false;
                return;
            }
            catch (CpuFault f)
            {
                if (vector == CpuVectors.DF)
                {
                    ErrorExt = 0;
                    Shutdown = true;
                    return;
                }
                bool doubleFault = (IsContributory(vector) && IsContributory(f.Vector)) ||
                                   (vector == CpuVectors.PF && (IsContributory(f.Vector) || f.Vector == CpuVectors.PF));
                source = InterruptSource.Exception;
                if (doubleFault)
                {
                    vector = CpuVectors.DF;
                    hasError = true;
                    errorCode = 0;
                }
                else
                {
                    vector = f.Vector;
                    hasError = f.HasErrorCode;
                    errorCode = f.ErrorCode;
                }
            }
        }
        ErrorExt = 0;
        Shutdown = true;
    }

    /// <summary>
    /// INT n, INT3, INTO: <see cref="Eip"/> already holds the next instruction (the return address). In protected
    /// mode a fault raised by the delivery itself (gate privilege, not present...) is a fault of the INT
    /// instruction: it is reported with EIP back at <paramref name="instructionEip"/>, unless a task switch
    /// through a task gate had already happened (then the fault belongs to the new task).
    /// </summary>
    public void SoftwareInterrupt(int vector, uint instructionEip)
    {
        if (!ProtectedMode)
        {
            Interrupt(vector, InterruptSource.Software);
            return;
        }
        ushort tr = Tr.Selector;
        try
        {
            Tracer?.Interrupt(this, vector, InterruptSource.Software, false, 0);
            DeliverProtected(vector, InterruptSource.Software, false, 0);
            ErrorExt = 0;
            Halted = false;
            return;
        }
        catch (CpuFault f)
        {
            if (Tr.Selector == tr) Eip = instructionEip;
            Interrupt(f.Vector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);
        }
    }

    /// <summary>Real mode: the IVT entry is a far pointer (offset, segment) at IDTR.base + 4·vector; FLAGS, CS, IP are pushed.</summary>
    void DeliverReal(int vector)
    {
        uint entry = (uint)vector * 4;
        if (entry + 3 > Idtr.Limit) Fault(CpuVectors.GP, entry * 2 + 2);
        uint target = ReadSys32(Idtr.Base + entry);
        // Three pushes written before SP moves, so a stack fault leaves SP as it was.
        uint sp1 = StackOffset(-2), sp2 = StackOffset(-4), sp3 = StackOffset(-6);
        Write16(SegReg.SS, sp1, GetEflags());
        Write16(SegReg.SS, sp2, Seg[SegReg.CS].Selector);
        Write16(SegReg.SS, sp3, Eip);
        SetStackPointer(sp3);
        Flags = GetEflags() & ~(FlagIF | FlagTF | FlagAC | FlagRF);
        LazyOp = FlagOp.None;
        LoadSegmentReal(SegReg.CS, (ushort)(target >> 16));
        Eip = target & 0xFFFF;
    }

    /// <summary>
    /// Protected-mode and V86 delivery through the IDT (SDM vol. 2 INT n, vol. 3 6.12): interrupt and trap gates
    /// (286: 16-bit frames, 386: 32-bit), task gates, the privilege check of software interrupts, the stack switch
    /// to the handler's level from the TSS, and the V86 frame (GS FS DS ES SS ESP EFLAGS CS EIP).
    /// </summary>
    void DeliverProtected(int vector, InterruptSource source, bool hasError, uint errorCode)
    {
        uint ext = source == InterruptSource.Software ? 0u : 1u;
        ErrorExt = ext;
        uint idtError = (uint)vector * 8 + 2 + ext;
        if ((uint)vector * 8 + 7 > Idtr.Limit) Fault(CpuVectors.GP, idtError);
        uint lo = ReadSys32(Idtr.Base + (uint)vector * 8), hi = ReadSys32(Idtr.Base + (uint)vector * 8 + 4);
        if (Model.Is286) hi &= 0xFFFF;
        var gate = new Descriptor(lo, hi);
        int type = gate.Type;
        bool valid = !gate.IsSegment && (type is Descriptor.TaskGate or Descriptor.InterruptGate16 or Descriptor.TrapGate16 ||
                                         (!Model.Is286 && type is Descriptor.InterruptGate32 or Descriptor.TrapGate32));
        if (!valid) Fault(CpuVectors.GP, idtError);
        int cpl = Cpl;
        if (source == InterruptSource.Software && gate.Dpl < cpl) Fault(CpuVectors.GP, idtError);
        if (!gate.Present) Fault(CpuVectors.NP, idtError);
        if (type == Descriptor.TaskGate)
        {
            TaskSwitchByGate(gate.GateSelector, hasError, errorCode);
            return;
        }

        ushort selector = gate.GateSelector;
        var cd = ReadCodeDescriptor(selector);
        if (cd.Dpl > cpl) SelectorFault(CpuVectors.GP, selector);
        if (!cd.Present) SelectorFault(CpuVectors.NP, selector);
        bool gate32 = (type & 8) != 0;
        int slot = gate32 ? 4 : 2;
        uint offset = gate32 ? gate.GateOffset : gate.Gate16Offset;
        uint eflags = GetEflags();
        bool v86 = (eflags & FlagVM) != 0;
        // The EFLAGS image of a fault-class exception has RF set, so the handler's IRET restarts the instruction
        // without re-triggering an instruction breakpoint (SDM vol. 3, 17.3.1.1). 16-bit frames have no RF.
        uint image = source == InterruptSource.Exception && IsFaultClass(vector) ? eflags | FlagRF : eflags;
        uint eip = gate32 ? Eip : Eip & 0xFFFF;
        Span<uint> frame = stackalloc uint[10];
        int n = 0;
        int newCpl = cpl;
        if (!cd.IsConformingCode && cd.Dpl < cpl)
        {
            // To a more privileged level: the handler's stack comes from the TSS; from V86 mode only level 0 is allowed.
            newCpl = cd.Dpl;
            if (v86 && newCpl != 0) SelectorFault(CpuVectors.GP, selector);
            ReadInnerStack(newCpl, out ushort ssSel, out uint newEsp);
            var ssDesc = CheckInnerStack(ssSel, newCpl);
            var ss = CacheFrom(ssSel, ssDesc);
            if (v86)
            {
                frame[n++] = Seg[SegReg.GS].Selector;
                frame[n++] = Seg[SegReg.FS].Selector;
                frame[n++] = Seg[SegReg.DS].Selector;
                frame[n++] = Seg[SegReg.ES].Selector;
            }
            frame[n++] = Seg[SegReg.SS].Selector;
            frame[n++] = gate32 ? Gpr[4] : Gpr[4] & 0xFFFF;
            frame[n++] = gate32 ? image : image & 0xFFFF;
            frame[n++] = Seg[SegReg.CS].Selector;
            frame[n++] = eip;
            if (hasError) frame[n++] = errorCode;
            CheckFrame(in ss, newEsp, n, slot, CpuVectors.SS, (ssSel & 0xFFFCu) | ext);
            if (offset > cd.Limit) Fault(CpuVectors.GP, ext);
            uint esp = WriteFrame(in ss, newEsp, frame[..n], slot, true);
            SetAccessed(ssSel, ssDesc);
            Seg[SegReg.SS] = ss;
            Gpr[4] = esp;
            if (v86)
            {
                LoadNullSegment(SegReg.GS, 0);
                LoadNullSegment(SegReg.FS, 0);
                LoadNullSegment(SegReg.DS, 0);
                LoadNullSegment(SegReg.ES, 0);
            }
        }
        else
        {
            // Same level (or a conforming handler, which runs at the current level). Not possible from V86 mode.
            if (v86) SelectorFault(CpuVectors.GP, selector);
            if (!cd.IsConformingCode && cd.Dpl != cpl) SelectorFault(CpuVectors.GP, selector);
            frame[n++] = gate32 ? image : image & 0xFFFF;
            frame[n++] = Seg[SegReg.CS].Selector;
            frame[n++] = eip;
            if (hasError) frame[n++] = errorCode;
            CheckFrame(in Seg[SegReg.SS], Gpr[4], n, slot, CpuVectors.SS, ext);
            if (offset > cd.Limit) Fault(CpuVectors.GP, ext);
            Gpr[4] = WriteFrame(in Seg[SegReg.SS], Gpr[4], frame[..n], slot, cpl < 3);
        }
        CommitCode(selector, cd, offset, newCpl);
        // TF, NT, RF and VM are cleared; an interrupt gate (not a trap gate) also clears IF.
        uint clear = FlagTF | FlagNT | FlagRF | FlagVM;
        if ((type & 1) == 0) clear |= FlagIF;
        Flags = eflags & ~clear;
        LazyOp = FlagOp.None;
        UpdateMemoryPrivilege();                 // leaving V86 mode (VM cleared after the CS load) changes CPL too
    }

    /// <summary>
    /// Real-mode segment load: base = selector · 16; the cached limit stays (so "unreal" limits survive). A
    /// segment left unusable by protected mode (a null selector) becomes a present read/write segment again.
    /// </summary>
    public void LoadSegmentReal(int seg, ushort selector)
    {
        ref Segment s = ref Seg[seg];
        s.Selector = selector;
        s.Base = (uint)selector << 4;
        if ((s.Attributes & Segment.AttrPresent) == 0)
        {
            s.Attributes = (ushort)((s.Attributes & (Segment.AttrDb | Segment.AttrG)) | Segment.RealModeData);
            s.UpdateLimits(ProtectedMode);
        }
    }
}

public sealed partial class Processor
{
    /// <summary>
    /// Loads a data or stack segment register the way MOV/POP/LDS do in the current mode. CS is loaded only by
    /// far transfers (<see cref="LoadCodeSegmentFar"/>).
    /// </summary>
    public void LoadSegment(int seg, ushort selector)
    {
        if (!ProtectedMode) LoadSegmentReal(seg, selector);
        else if (V86Mode) LoadV86Segment(seg, selector);
        else LoadSegmentProtected(seg, selector);
    }

    /// <summary>
    /// Far JMP/CALL/RET target in real and V86 mode: loads CS:EIP with no checks beyond the new EIP against the
    /// CS limit. Protected mode goes through <see cref="JumpFarProtected"/> and its siblings instead.
    /// </summary>
    public void LoadCodeSegmentFar(ushort selector, uint eip)
    {
        if (eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, 0);
        if (V86Mode) LoadV86Segment(SegReg.CS, selector);
        else LoadSegmentReal(SegReg.CS, selector);
        Eip = eip;
    }

    /// <summary>Sets EIP for a near transfer, checking the new value against the CS limit.</summary>
    public void NearJump(uint eip)
    {
        if (eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, 0);
        Eip = eip;
    }
}
