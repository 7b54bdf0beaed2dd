namespace JitVm.Cpu;

/// <summary>How a task switch was started (SDM vol. 3, 7.3, table 7-2: busy bit, NT and back-link handling).</summary>
public enum TaskSwitchKind
{
    /// <summary>JMP to a TSS or task gate: old task not busy, no back-link.</summary>
    Jump,
    /// <summary>CALL to a TSS or task gate: nested (back-link, NT set), old task stays busy.</summary>
    Call,
    /// <summary>IRET with NT set: back to the task in the back-link; old task not busy, its NT cleared.</summary>
    Iret,
    /// <summary>Interrupt or exception through a task gate: nested like CALL.</summary>
    Interrupt,
}

/// <summary>
/// Hardware task switching (SDM vol. 3, chapter 7) for the 286 (16-bit, 44-byte) and 386 (32-bit, 104-byte) TSS
/// formats: saving the outgoing state, busy bits, the back-link and NT, CR0.TS, CR3 from a 386 TSS, the LDT and
/// the segment registers of the incoming task with the checks of table 7-1. Faults after the new TR is loaded
/// are raised in the context of the new task, as on hardware.
/// </summary>
public sealed partial class Processor
{
    /// <summary>JMP/CALL to a TSS descriptor or a task gate (selector and descriptor already read).</summary>
    void TaskSwitchByInstruction(ushort selector, in Descriptor d, TaskSwitchKind kind, uint returnEip)
    {
        int cpl = Cpl;
        if (d.Dpl < cpl || d.Dpl < (selector & 3)) SelectorFault(CpuVectors.GP, selector);
        ushort tssSel = selector;
        Descriptor tss = d;
        if (d.Type == Descriptor.TaskGate)
        {
            if (!d.Present) SelectorFault(CpuVectors.NP, selector);
            tssSel = d.GateSelector;
            tss = ReadTssDescriptor(tssSel, CpuVectors.GP);
        }
        else if ((selector & 4) != 0) SelectorFault(CpuVectors.GP, selector);
        if ((tss.Type & 2) != 0) SelectorFault(CpuVectors.GP, tssSel);      // busy: a task cannot be re-entered
        if (!tss.Present) SelectorFault(CpuVectors.NP, tssSel);
        SwitchTasks(tssSel, tss, kind, returnEip);
        if (Eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, 0);
    }

    /// <summary>An interrupt or exception through a task gate; the error code, if any, goes onto the new task's stack.</summary>
    void TaskSwitchByGate(ushort tssSel, bool hasError, uint errorCode)
    {
        var tss = ReadTssDescriptor(tssSel, CpuVectors.GP);
        if ((tss.Type & 2) != 0) SelectorFault(CpuVectors.GP, tssSel);
        if (!tss.Present) SelectorFault(CpuVectors.NP, tssSel);
        SwitchTasks(tssSel, tss, TaskSwitchKind.Interrupt, Eip);
        if (hasError)
        {
            int slot = tss.Is32BitSystem ? 4 : 2;
            Span<uint> frame = [errorCode];
            CheckFrame(in Seg[SegReg.SS], Gpr[4], 1, slot, CpuVectors.SS, ErrorExt);
            Gpr[4] = WriteFrame(in Seg[SegReg.SS], Gpr[4], frame, slot, Cpl < 3);
        }
        if (Eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, ErrorExt);
    }

    /// <summary>IRET with NT set: return to the task named by the back-link of the current TSS.</summary>
    void TaskReturn(uint returnEip)
    {
        ushort link = ReadSys16(Tr.Base);
        var tss = ReadTssDescriptor(link, CpuVectors.TS);
        if ((tss.Type & 2) == 0) SelectorFault(CpuVectors.TS, link);        // the task returned to must be busy
        if (!tss.Present) SelectorFault(CpuVectors.NP, link);
        SwitchTasks(link, tss, TaskSwitchKind.Iret, returnEip);
        if (Eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, 0);
    }

    /// <summary>A TSS descriptor named by a task gate or back-link: it must be in the GDT and be a TSS of this model.</summary>
    Descriptor ReadTssDescriptor(ushort selector, int vector)
    {
        if ((selector & 4) != 0) SelectorFault(vector, selector);
        if (!TryReadDescriptor(selector, out var d)) SelectorFault(vector, selector);
        if (!d.IsTss || (d.Is32BitSystem && Model.Is286)) SelectorFault(vector, selector);
        return d;
    }

    /// <summary>Sets or clears the busy bit (type bit 1) of a TSS descriptor in the GDT.</summary>
    void SetBusy(ushort selector, bool busy)
    {
        uint at = Gdtr.Base + (selector & 0xFFF8u) + 5;
        uint b = ReadSys8(at);
        WriteSys8(at, busy ? b | 2 : b & ~2u);
    }

    /// <summary>The switch itself, after the checks that depend on how it was started (SDM vol. 3, 7.3 steps 4-14).</summary>
    void SwitchTasks(ushort newSel, in Descriptor nd, TaskSwitchKind kind, uint returnEip)
    {
        bool new32 = nd.Is32BitSystem;
        uint newBase = nd.Base, newLimit = nd.Limit;
        if (newLimit < (new32 ? 0x67u : 0x2Bu)) SelectorFault(CpuVectors.TS, newSel);

        // Read the incoming state first, so a fault while reading it (paging) leaves the old task intact.
        Span<uint> regs = stackalloc uint[8];
        Span<ushort> sels = stackalloc ushort[6];
        uint newEip, newFlags, newCr3 = 0;
        ushort ldt;
        if (new32)
        {
            newCr3 = ReadSys32(newBase + 0x1C);
            newEip = ReadSys32(newBase + 0x20);
            newFlags = ReadSys32(newBase + 0x24);
            for (int r = 0; r < 8; r++) regs[r] = ReadSys32(newBase + 0x28 + (uint)r * 4);
            for (int s = 0; s < 6; s++) sels[s] = ReadSys16(newBase + 0x48 + (uint)s * 4);
            ldt = ReadSys16(newBase + 0x60);
        }
        else
        {
            newEip = ReadSys16(newBase + 0x0E);
            newFlags = ReadSys16(newBase + 0x10);
            for (int r = 0; r < 8; r++) regs[r] = ReadSys16(newBase + 0x12 + (uint)r * 2);
            for (int s = 0; s < 4; s++) sels[s] = ReadSys16(newBase + 0x22 + (uint)s * 2);
            ldt = ReadSys16(newBase + 0x2A);
        }

        // Save the outgoing task in its TSS (in its own format). IRET saves its EFLAGS with NT clear.
        uint eflags = GetEflags();
        if (kind == TaskSwitchKind.Iret) eflags &= ~FlagNT;
        if (kind is TaskSwitchKind.Jump or TaskSwitchKind.Iret) SetBusy(Tr.Selector, false);
        uint oldBase = Tr.Base;
        if ((Tr.Attributes & 8) != 0)
        {
            WriteSys32(oldBase + 0x20, returnEip);
            WriteSys32(oldBase + 0x24, eflags);
            for (int r = 0; r < 8; r++) WriteSys32(oldBase + 0x28 + (uint)r * 4, Gpr[r]);
            for (int s = 0; s < 6; s++) WriteSys16(oldBase + 0x48 + (uint)s * 4, Seg[s].Selector);
        }
        else
        {
            WriteSys16(oldBase + 0x0E, returnEip);
            WriteSys16(oldBase + 0x10, eflags);
            for (int r = 0; r < 8; r++) WriteSys16(oldBase + 0x12 + (uint)r * 2, Gpr[r]);
            for (int s = 0; s < 4; s++) WriteSys16(oldBase + 0x22 + (uint)s * 2, Seg[s].Selector);
        }
        if (kind is TaskSwitchKind.Call or TaskSwitchKind.Interrupt)
        {
            WriteSys16(newBase, Tr.Selector);                  // back-link
            newFlags |= FlagNT;
        }
        if (kind != TaskSwitchKind.Iret) SetBusy(newSel, true);

        // Commit: TR (busy), CR0.TS, CR3, registers. From here faults belong to the new task.
        Tr = new Segment { Selector = newSel, Base = newBase, Limit = newLimit, Attributes = (ushort)(nd.Attributes | 2) };
        Cr0 |= Cr0TS;
        if (new32 && (Cr0 & Cr0PG) != 0) WriteCr3(newCr3);
        Eip = newEip;
        if (!new32) newFlags &= 0xFFFF;
        SetEflags(newFlags & (ProtectedWritableFlags | FlagNT));
        for (int r = 0; r < 8; r++) Gpr[r] = new32 ? regs[r] : (Gpr[r] & 0xFFFF0000) | regs[r];
        ExitBlock = true;
        LoadTaskSegments(ldt, sels, new32);
    }

    /// <summary>Loads LDTR and the segment registers of the incoming task, with the checks of SDM vol. 3 table 7-1.</summary>
    void LoadTaskSegments(ushort ldt, ReadOnlySpan<ushort> sels, bool new32)
    {
        // Selectors first, all unusable: a fault part-way leaves the remaining registers unusable, not stale.
        for (int s = 0; s < (new32 ? 6 : 4); s++) LoadNullSegment(s, sels[s]);
        if (!new32)
        {
            LoadNullSegment(SegReg.FS, 0);
            LoadNullSegment(SegReg.GS, 0);
        }
        Ldtr = default;
        Ldtr.Selector = ldt;
        if (!IsNull(ldt))
        {
            if ((ldt & 4) != 0) SelectorFault(CpuVectors.TS, ldt);
            if (!TryReadDescriptor(ldt, out var ld) || !ld.IsSystem(Descriptor.Ldt)) SelectorFault(CpuVectors.TS, ldt);
            if (!ld.Present) SelectorFault(CpuVectors.TS, ldt);
            Ldtr = new Segment { Selector = ldt, Base = ld.Base, Limit = ld.Limit, Attributes = ld.Attributes };
        }

        if (V86Mode)
        {
            for (int s = 0; s < 6; s++) LoadV86Segment(s, sels[s]);
            return;
        }

        ushort cs = sels[SegReg.CS];
        int cpl = cs & 3;
        if (IsNull(cs)) SelectorFault(CpuVectors.TS, cs);
        if (!TryReadDescriptor(cs, out var cd) || !cd.IsCode) SelectorFault(CpuVectors.TS, cs);
        if (cd.IsConformingCode ? cd.Dpl > cpl : cd.Dpl != cpl) SelectorFault(CpuVectors.TS, cs);
        if (!cd.Present) SelectorFault(CpuVectors.NP, cs);
        SetAccessed(cs, cd);
        Seg[SegReg.CS] = CacheFrom(cs, cd);
        UpdateMemoryPrivilege();

        ushort ss = sels[SegReg.SS];
        if (IsNull(ss)) SelectorFault(CpuVectors.TS, ss);
        if (!TryReadDescriptor(ss, out var sd) || !sd.IsWritableData) SelectorFault(CpuVectors.TS, ss);
        if ((ss & 3) != cpl || sd.Dpl != cpl) SelectorFault(CpuVectors.TS, ss);
        if (!sd.Present) SelectorFault(CpuVectors.SS, ss);
        SetAccessed(ss, sd);
        Seg[SegReg.SS] = CacheFrom(ss, sd);

        ReadOnlySpan<int> data = [SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS];
        foreach (int r in data)
        {
            ushort sel = r < sels.Length ? sels[r] : (ushort)0;
            if (r >= 4 && !new32) continue;
            if (IsNull(sel)) continue;
            if (!TryReadDescriptor(sel, out var d) || (!d.IsData && !d.IsReadableCode)) SelectorFault(CpuVectors.TS, sel);
            if (!d.IsConformingCode && (d.Dpl < cpl || d.Dpl < (sel & 3))) SelectorFault(CpuVectors.TS, sel);
            if (!d.Present) SelectorFault(CpuVectors.NP, sel);
            SetAccessed(sel, d);
            Seg[r] = CacheFrom(sel, d);
        }
    }
}
