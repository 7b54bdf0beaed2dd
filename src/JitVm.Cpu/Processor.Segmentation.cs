using System.Diagnostics.CodeAnalysis;

namespace JitVm.Cpu;

/// <summary>
/// Protected-mode segmentation and privilege (SDM vol. 3, chapters 3 and 5; vol. 2 MOV, JMP, CALL, RET, IRET):
/// descriptor reads, segment-register loads with every check, far transfers to code segments and through call
/// gates (with the inner-stack switch and parameter copy), far returns and IRET within and to outer levels.
/// Everything here is a slow path: the hot memory path only compares against the pre-computed segment limits.
/// </summary>
/// <remarks>
/// The order is always: read and check everything (faults commit nothing but accessed bits, as on hardware),
/// write the new stack frame, then commit registers. Frames pushed onto a more privileged stack are written
/// with supervisor rights (<see cref="WriteSys32"/>) because the new CPL is 0-2 and CS is not loaded yet.
/// </remarks>
public sealed partial class Processor
{
    /// <summary>
    /// The EXT bit ORed into the error codes of faults raised while an event external to the program (a
    /// hardware interrupt or an earlier exception) is being delivered; 0 otherwise (SDM vol. 3, 6.13).
    /// </summary>
    internal uint ErrorExt;

    /// <summary>EFLAGS bits that POPF/IRET can write in protected mode (the 286 adds IOPL and NT to its real-mode set).</summary>
    uint ProtectedWritableFlags => Model.Is286 ? 0x7FD5u : Model.WritableFlags;

    public int Iopl => (int)(Flags >> 12) & 3;

    /// <summary>Raises <paramref name="vector"/> with a selector error code: index and TI of the selector, plus EXT.</summary>
    [DoesNotReturn]
    internal void SelectorFault(int vector, ushort selector) => Fault(vector, (selector & 0xFFFCu) | ErrorExt);

    static bool IsNull(ushort selector) => (selector & 0xFFFC) == 0;

    /// <summary>Linear address of a selector's descriptor in the GDT or LDT.</summary>
    uint DescriptorAddress(ushort selector) => ((selector & 4) != 0 ? Ldtr.Base : Gdtr.Base) + (selector & 0xFFF8u);

    /// <summary>Reads the descriptor a selector names; false when it lies beyond its table's limit (or TI=1 without an LDT).</summary>
    public bool TryReadDescriptor(ushort selector, out Descriptor d)
    {
        uint index = selector & 0xFFF8u;
        uint limit;
        if ((selector & 4) != 0)
        {
            if ((Ldtr.Attributes & Segment.AttrPresent) == 0)
            {
                d = default;
                return false;
            }
            limit = Ldtr.Limit;
        }
        else limit = Gdtr.Limit;
        if (index + 7 > limit)
        {
            d = default;
            return false;
        }
        uint at = DescriptorAddress(selector);
        uint low = ReadSys32(at), high = ReadSys32(at + 4);
        if (Model.Is286) high &= 0xFFFF;
        d = new Descriptor(low, high);
        return true;
    }

    /// <summary>Sets the accessed bit of a code/data descriptor in memory (a locked read-modify-write on hardware).</summary>
    void SetAccessed(ushort selector, in Descriptor d)
    {
        if ((d.High & 0x100) == 0) WriteSys8(DescriptorAddress(selector) + 5, (d.High >> 8) | 1);
    }

    /// <summary>A segment cache filled from a descriptor (accessed bit set), with its fast limits.</summary>
    static Segment CacheFrom(ushort selector, in Descriptor d)
    {
        var s = new Segment { Selector = selector, Base = d.Base, Limit = d.Limit, Attributes = (ushort)(d.Attributes | Segment.AttrAccessed) };
        s.UpdateLimits(true);
        return s;
    }

    /// <summary>A null selector in DS/ES/FS/GS: the register is unusable, every access faults with #GP(0).</summary>
    void LoadNullSegment(int seg, ushort selector)
    {
        ref Segment s = ref Seg[seg];
        s.Selector = selector;
        s.Base = 0;
        s.Limit = 0;
        s.Attributes = 0;
        s.UpdateLimits(true);
    }

    /// <summary>MOV/POP/LxS into a data or stack segment register in protected mode (SDM vol. 2, MOV).</summary>
    void LoadSegmentProtected(int seg, ushort selector)
    {
        int cpl = Cpl, rpl = selector & 3;
        if (IsNull(selector))
        {
            if (seg == SegReg.SS) Fault(CpuVectors.GP, 0);
            LoadNullSegment(seg, selector);
            return;
        }
        if (!TryReadDescriptor(selector, out var d)) SelectorFault(CpuVectors.GP, selector);
        if (seg == SegReg.SS)
        {
            if (rpl != cpl || !d.IsWritableData || d.Dpl != cpl) SelectorFault(CpuVectors.GP, selector);
            if (!d.Present) SelectorFault(CpuVectors.SS, selector);
        }
        else
        {
            if (!d.IsData && !d.IsReadableCode) SelectorFault(CpuVectors.GP, selector);
            // Data and non-conforming code need DPL >= max(CPL, RPL); conforming code is accessible from any level.
            if (!d.IsConformingCode && (rpl > d.Dpl || cpl > d.Dpl)) SelectorFault(CpuVectors.GP, selector);
            if (!d.Present) SelectorFault(CpuVectors.NP, selector);
        }
        SetAccessed(selector, d);
        Seg[seg] = CacheFrom(selector, d);
    }

    /// <summary>Reads the code-segment descriptor a gate or return points at: #GP(0) when null, #GP(sel) when outside the table or not code.</summary>
    Descriptor ReadCodeDescriptor(ushort selector)
    {
        if (IsNull(selector)) Fault(CpuVectors.GP, ErrorExt);
        if (!TryReadDescriptor(selector, out var d) || !d.IsCode) SelectorFault(CpuVectors.GP, selector);
        return d;
    }

    /// <summary>Commits CS:EIP from a checked code descriptor, with CS.RPL = <paramref name="cpl"/>.</summary>
    void CommitCode(ushort selector, in Descriptor d, uint eip, int cpl)
    {
        SetAccessed(selector, d);
        Seg[SegReg.CS] = CacheFrom((ushort)((selector & ~3) | cpl), d);
        UpdateMemoryPrivilege();
        Eip = eip;
        ExitBlock = true;
    }

    bool IsCallGate(in Descriptor d) => !d.IsSegment && (d.Type == Descriptor.CallGate16 || (d.Type == Descriptor.CallGate32 && !Model.Is286));
    bool IsTaskTarget(in Descriptor d) => !d.IsSegment &&
        (d.Type is Descriptor.TaskGate or Descriptor.Tss16Available or Descriptor.Tss16Busy ||
         (!Model.Is286 && d.Type is Descriptor.Tss32Available or Descriptor.Tss32Busy));

    /// <summary>Direct JMP/CALL to a code segment: conforming needs DPL &lt;= CPL; non-conforming RPL &lt;= CPL and DPL = CPL.</summary>
    void CheckDirectCodeTarget(ushort selector, in Descriptor d, int cpl)
    {
        if (d.IsConformingCode ? d.Dpl > cpl : (selector & 3) > cpl || d.Dpl != cpl) SelectorFault(CpuVectors.GP, selector);
        if (!d.Present) SelectorFault(CpuVectors.NP, selector);
    }

    /// <summary>Checks a call gate and its target; returns the target code descriptor.</summary>
    Descriptor CheckCallGate(ushort selector, in Descriptor gate, int cpl)
    {
        if (gate.Dpl < cpl || gate.Dpl < (selector & 3)) SelectorFault(CpuVectors.GP, selector);
        if (!gate.Present) SelectorFault(CpuVectors.NP, selector);
        ushort target = gate.GateSelector;
        var cd = ReadCodeDescriptor(target);
        if (cd.Dpl > cpl) SelectorFault(CpuVectors.GP, target);
        if (!cd.Present) SelectorFault(CpuVectors.NP, target);
        return cd;
    }

    /// <summary>
    /// Far JMP in protected mode: to a code segment, through a call gate (same level only), or to a task
    /// (<paramref name="next"/> is the address after the JMP, saved in the old TSS).
    /// </summary>
    public void JumpFarProtected(ushort selector, uint eip, uint next)
    {
        if (IsNull(selector)) Fault(CpuVectors.GP, 0);
        if (!TryReadDescriptor(selector, out var d)) SelectorFault(CpuVectors.GP, selector);
        int cpl = Cpl;
        if (d.IsCode)
        {
            CheckDirectCodeTarget(selector, d, cpl);
            if (eip > d.Limit) Fault(CpuVectors.GP, 0);
            CommitCode(selector, d, eip, cpl);
            return;
        }
        if (IsCallGate(d))
        {
            var cd = CheckCallGate(selector, d, cpl);
            ushort target = d.GateSelector;
            // A JMP through a gate cannot change privilege: the target must be conforming or at exactly CPL.
            if (!cd.IsConformingCode && cd.Dpl != cpl) SelectorFault(CpuVectors.GP, target);
            uint off = d.Type == Descriptor.CallGate32 ? d.GateOffset : d.Gate16Offset;
            if (off > cd.Limit) Fault(CpuVectors.GP, 0);
            CommitCode(target, cd, off, cpl);
            return;
        }
        if (IsTaskTarget(d))
        {
            TaskSwitchByInstruction(selector, d, TaskSwitchKind.Jump, next);
            return;
        }
        SelectorFault(CpuVectors.GP, selector);
    }

    /// <summary>
    /// Far CALL in protected mode. <paramref name="ret"/> is the return offset, <paramref name="size"/> the operand
    /// size in bytes (the push size for direct calls; a gate's own size applies through gates).
    /// </summary>
    public void CallFarProtected(ushort selector, uint eip, uint ret, int size)
    {
        if (IsNull(selector)) Fault(CpuVectors.GP, 0);
        if (!TryReadDescriptor(selector, out var d)) SelectorFault(CpuVectors.GP, selector);
        int cpl = Cpl;
        ushort cs = Seg[SegReg.CS].Selector;
        Span<uint> frame = stackalloc uint[36];
        if (d.IsCode)
        {
            CheckDirectCodeTarget(selector, d, cpl);
            frame[0] = cs;
            frame[1] = ret;
            CheckFrame(in Seg[SegReg.SS], Gpr[4], 2, size, CpuVectors.SS, 0);
            if (eip > d.Limit) Fault(CpuVectors.GP, 0);
            Gpr[4] = WriteFrame(in Seg[SegReg.SS], Gpr[4], frame[..2], size, false);
            CommitCode(selector, d, eip, cpl);
            return;
        }
        if (IsCallGate(d))
        {
            var cd = CheckCallGate(selector, d, cpl);
            ushort target = d.GateSelector;
            bool gate32 = d.Type == Descriptor.CallGate32;
            int slot = gate32 ? 4 : 2;
            uint off = gate32 ? d.GateOffset : d.Gate16Offset;
            if (!cd.IsConformingCode && cd.Dpl < cpl)
            {
                // More privileged: switch to the stack for the target's DPL from the TSS and copy the parameters.
                int newCpl = cd.Dpl;
                ReadInnerStack(newCpl, out ushort ssSel, out uint newEsp);
                var ssDesc = CheckInnerStack(ssSel, newCpl);
                var ss = CacheFrom(ssSel, ssDesc);
                int n = d.ParamCount;
                CheckFrame(in ss, newEsp, 4 + n, slot, CpuVectors.SS, (ssSel & 0xFFFCu) | ErrorExt);
                if (off > cd.Limit) Fault(CpuVectors.GP, 0);
                int k = 0;
                frame[k++] = Seg[SegReg.SS].Selector;
                frame[k++] = gate32 ? Gpr[4] : Gpr[4] & 0xFFFF;
                // Parameters keep their order: the one deepest in the caller's stack is pushed first.
                for (int p = n - 1; p >= 0; p--)
                {
                    uint at = StackOffset(p * slot);
                    frame[k++] = slot == 4 ? Read32(SegReg.SS, at) : Read16(SegReg.SS, at);
                }
                frame[k++] = cs;
                frame[k++] = ret;
                uint esp = WriteFrame(in ss, newEsp, frame[..k], slot, true);
                SetAccessed(ssSel, ssDesc);
                Seg[SegReg.SS] = ss;
                Gpr[4] = esp;
                CommitCode(target, cd, off, newCpl);
                return;
            }
            if (!cd.IsConformingCode && cd.Dpl != cpl) SelectorFault(CpuVectors.GP, target);
            frame[0] = cs;
            frame[1] = ret;
            CheckFrame(in Seg[SegReg.SS], Gpr[4], 2, slot, CpuVectors.SS, 0);
            if (off > cd.Limit) Fault(CpuVectors.GP, 0);
            Gpr[4] = WriteFrame(in Seg[SegReg.SS], Gpr[4], frame[..2], slot, false);
            CommitCode(target, cd, off, cpl);
            return;
        }
        if (IsTaskTarget(d))
        {
            TaskSwitchByInstruction(selector, d, TaskSwitchKind.Call, ret);
            return;
        }
        SelectorFault(CpuVectors.GP, selector);
    }

    /// <summary>RETF in protected mode: to the same level, or to an outer level with the caller's SS:ESP.</summary>
    public void ReturnFarProtected(int size, uint imm)
    {
        uint eip = ReadStack(StackPointer, size);
        ushort selector = (ushort)ReadStack(StackOffset(size), size);
        int cpl = Cpl, rpl = selector & 3;
        var d = CheckReturnCode(selector, cpl);
        if (rpl == cpl)
        {
            if (eip > d.Limit) Fault(CpuVectors.GP, 0);
            CommitCode(selector, d, eip, cpl);
            SetStackPointer(StackOffset(2 * size + (int)imm));
            return;
        }
        uint at = StackOffset(2 * size + (int)imm);
        uint esp = ReadStack(at, size);
        ushort ssSel = (ushort)ReadStack(Stack32 ? at + (uint)size : (at + (uint)size) & 0xFFFF, size);
        var ssDesc = CheckOuterStack(ssSel, rpl);
        if (eip > d.Limit) Fault(CpuVectors.GP, 0);
        CommitCode(selector, d, eip, rpl);
        CommitOuterStack(ssSel, ssDesc, esp, size);
        SetStackPointer(StackOffset((int)imm));
        NullInaccessibleDataSegments(rpl);
    }

    uint ReadStack(uint offset, int size) => size == 4 ? Read32(SegReg.SS, offset) : Read16(SegReg.SS, offset);

    /// <summary>The code segment a RETF/IRET returns to: RPL &gt;= CPL, conforming DPL &lt;= RPL, non-conforming DPL = RPL.</summary>
    Descriptor CheckReturnCode(ushort selector, int cpl)
    {
        int rpl = selector & 3;
        var d = ReadCodeDescriptor(selector);
        if (rpl < cpl) SelectorFault(CpuVectors.GP, selector);
        if (d.IsConformingCode ? d.Dpl > rpl : d.Dpl != rpl) SelectorFault(CpuVectors.GP, selector);
        if (!d.Present) SelectorFault(CpuVectors.NP, selector);
        return d;
    }

    /// <summary>The stack of an outer level being returned to: RPL and DPL equal the new CPL, writable data, present.</summary>
    Descriptor CheckOuterStack(ushort selector, int rpl)
    {
        if (IsNull(selector)) Fault(CpuVectors.GP, 0);
        if (!TryReadDescriptor(selector, out var d)) SelectorFault(CpuVectors.GP, selector);
        if ((selector & 3) != rpl || !d.IsWritableData || d.Dpl != rpl) SelectorFault(CpuVectors.GP, selector);
        if (!d.Present) SelectorFault(CpuVectors.SS, selector);
        return d;
    }

    void CommitOuterStack(ushort selector, in Descriptor d, uint esp, int size)
    {
        SetAccessed(selector, d);
        Seg[SegReg.SS] = CacheFrom(selector, d);
        Gpr[4] = size == 4 ? esp : (Gpr[4] & 0xFFFF0000) | (esp & 0xFFFF);
    }

    /// <summary>
    /// After a return to an outer level, data segment registers the new CPL may not use (data or non-conforming
    /// code with DPL &lt; CPL) are loaded with a null selector.
    /// </summary>
    void NullInaccessibleDataSegments(int cpl)
    {
        ReadOnlySpan<int> regs = [SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS];
        foreach (int r in regs)
        {
            ushort a = Seg[r].Attributes;
            bool conforming = (a & (Segment.AttrCode | Segment.AttrExpandDown)) == (Segment.AttrCode | Segment.AttrExpandDown);
            if ((a & Segment.AttrS) != 0 && !conforming && ((a >> 5) & 3) < cpl) LoadNullSegment(r, 0);
        }
    }

    /// <summary>The stack for privilege level <paramref name="dpl"/> from the current TSS (SSn:ESPn, or SSn:SPn in a 286 TSS).</summary>
    void ReadInnerStack(int dpl, out ushort ss, out uint esp)
    {
        uint trError = (Tr.Selector & 0xFFFCu) | ErrorExt;
        if ((Tr.Attributes & 8) != 0)
        {
            uint at = (uint)dpl * 8 + 4;
            if (at + 5 > Tr.Limit) Fault(CpuVectors.TS, trError);
            esp = ReadSys32(Tr.Base + at);
            ss = ReadSys16(Tr.Base + at + 4);
        }
        else
        {
            uint at = (uint)dpl * 4 + 2;
            if (at + 3 > Tr.Limit) Fault(CpuVectors.TS, trError);
            esp = ReadSys16(Tr.Base + at);
            ss = ReadSys16(Tr.Base + at + 2);
        }
    }

    /// <summary>Checks the inner stack from the TSS: #TS for a bad selector or descriptor, #SS when not present.</summary>
    Descriptor CheckInnerStack(ushort selector, int dpl)
    {
        if (IsNull(selector)) Fault(CpuVectors.TS, ErrorExt);
        if (!TryReadDescriptor(selector, out var d) || (selector & 3) != dpl) SelectorFault(CpuVectors.TS, selector);
        if (d.Dpl != dpl || !d.IsWritableData) SelectorFault(CpuVectors.TS, selector);
        if (!d.Present) SelectorFault(CpuVectors.SS, selector);
        return d;
    }

    /// <summary>The stack pointer register after pushing <paramref name="slot"/> bytes on a stack of the given size.</summary>
    static uint PushedEsp(in Segment ss, uint esp, int slot) =>
        ss.Big ? esp - (uint)slot : (esp & 0xFFFF0000) | ((esp - (uint)slot) & 0xFFFF);

    static uint StackOffsetOf(in Segment ss, uint esp) => ss.Big ? esp : esp & 0xFFFF;

    /// <summary>Checks that <paramref name="count"/> pushes of <paramref name="slot"/> bytes fit below ESP in the stack segment.</summary>
    void CheckFrame(in Segment ss, uint esp, int count, int slot, int vector, uint error)
    {
        for (int k = 0; k < count; k++)
        {
            esp = PushedEsp(in ss, esp, slot);
            if (!ss.InLimit(StackOffsetOf(in ss, esp), slot)) Fault(vector, error);
        }
    }

    /// <summary>Pushes a frame (already checked with <see cref="CheckFrame"/>); returns the new ESP register value.</summary>
    uint WriteFrame(in Segment ss, uint esp, ReadOnlySpan<uint> values, int slot, bool supervisor)
    {
        foreach (uint v in values)
        {
            esp = PushedEsp(in ss, esp, slot);
            uint lin = ss.Base + StackOffsetOf(in ss, esp);
            if (slot == 4)
            {
                if (supervisor) WriteSys32(lin, v);
                else WriteLin32(lin, v);
            }
            else if (supervisor) WriteSys16(lin, v);
            else WriteLin16(lin, v);
        }
        return esp;
    }

    /// <summary>EFLAGS after IRET/POPF in protected mode: which bits of <paramref name="image"/> are taken depends on CPL and IOPL.</summary>
    internal uint MergeProtectedFlags(uint image, int size, int cpl, bool iret)
    {
        uint mask = 0x4DD5;                                  // CF PF AF ZF SF TF DF OF NT
        if (size == 4) mask |= iret ? FlagRF | FlagAC | FlagID : FlagAC | FlagID;
        if (cpl <= Iopl) mask |= FlagIF;
        if (cpl == 0)
        {
            mask |= FlagIOPL;
            if (size == 4 && iret) mask |= FlagVIF | FlagVIP;
        }
        mask &= ProtectedWritableFlags;
        if (size == 2) mask &= 0xFFFF;
        uint f = (GetEflags() & ~mask) | (image & mask);
        if (size == 4 && !iret) f &= ~FlagRF;
        return f;
    }

    /// <summary>IRET in protected mode (not V86, no nested task): same level, outer level, or back to V86 mode.</summary>
    public void InterruptReturnProtected(int size, uint next)
    {
        if ((Flags & FlagNT) != 0)
        {
            TaskReturn(next);
            return;
        }
        uint sp = StackPointer;
        uint eip = ReadStack(sp, size);
        ushort selector = (ushort)ReadStack(StackOffset(size), size);
        uint image = ReadStack(StackOffset(2 * size), size);
        int cpl = Cpl;
        if (size == 4 && (image & FlagVM) != 0 && cpl == 0 && !Model.Is286)
        {
            ReturnToV86(eip, selector, image);
            return;
        }
        int rpl = selector & 3;
        var d = CheckReturnCode(selector, cpl);
        uint flags = MergeProtectedFlags(image, size, cpl, true);
        if (rpl == cpl)
        {
            if (eip > d.Limit) Fault(CpuVectors.GP, 0);
            CommitCode(selector, d, eip, cpl);
            SetStackPointer(StackOffset(3 * size));
            SetEflags(flags);
            return;
        }
        uint at = StackOffset(3 * size);
        uint esp = ReadStack(at, size);
        ushort ssSel = (ushort)ReadStack(StackOffset(4 * size), size);
        var ssDesc = CheckOuterStack(ssSel, rpl);
        if (eip > d.Limit) Fault(CpuVectors.GP, 0);
        CommitCode(selector, d, eip, rpl);
        CommitOuterStack(ssSel, ssDesc, esp, size);
        SetEflags(flags);
        NullInaccessibleDataSegments(rpl);
    }

    /// <summary>IRETD at CPL 0 with VM set in the image: pops ESP SS ES DS FS GS and enters V86 mode at CPL 3.</summary>
    void ReturnToV86(uint eip, ushort cs, uint image)
    {
        Span<uint> v = stackalloc uint[6];
        for (int k = 0; k < 6; k++) v[k] = Read32(SegReg.SS, StackOffset((3 + k) * 4));
        if (eip > 0xFFFF) Fault(CpuVectors.GP, 0);
        SetEflags((image & ProtectedWritableFlags) | FlagVM);
        LoadV86Segment(SegReg.CS, cs);
        LoadV86Segment(SegReg.SS, (ushort)v[1]);
        LoadV86Segment(SegReg.ES, (ushort)v[2]);
        LoadV86Segment(SegReg.DS, (ushort)v[3]);
        LoadV86Segment(SegReg.FS, (ushort)v[4]);
        LoadV86Segment(SegReg.GS, (ushort)v[5]);
        Gpr[4] = v[0];
        Eip = eip;
        ExitBlock = true;
    }

    /// <summary>Attributes of every segment in V86 mode: present, DPL 3, writable data, accessed; 64 KiB limit.</summary>
    public const ushort V86SegmentAttributes = Segment.AttrPresent | Segment.AttrS | 0x60 | Segment.AttrWritable | Segment.AttrAccessed;

    /// <summary>A V86-mode segment load: base = selector · 16, limit 64 KiB, DPL 3, 16-bit.</summary>
    void LoadV86Segment(int seg, ushort selector)
    {
        ref Segment s = ref Seg[seg];
        s.Selector = selector;
        s.Base = (uint)selector << 4;
        if (s.Limit != 0xFFFF || s.Attributes != V86SegmentAttributes)
        {
            s.Limit = 0xFFFF;
            s.Attributes = V86SegmentAttributes;
            s.UpdateLimits(true);
        }
    }

    // ---- I/O permission ----

    /// <summary>
    /// IN/OUT/INS/OUTS permission: allowed when CPL &lt;= IOPL outside V86 mode; otherwise every bit of the
    /// accessed ports in the TSS I/O bitmap must be clear (386 TSS only; the 286 has no bitmap). #GP(0) if not.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void CheckIoPermission(ushort port, int size)
    {
        if ((Cr0 & Cr0PE) != 0) CheckIoPermissionSlow(port, size);
    }

    void CheckIoPermissionSlow(ushort port, int size)
    {
        if (!V86Mode && Cpl <= Iopl) return;
        if (Model.Is286 || (Tr.Attributes & 0x1D) != 0x09 || Tr.Limit < 0x67) Fault(CpuVectors.GP, 0);
        uint map = ReadSys16(Tr.Base + 0x66);
        uint at = map + ((uint)port >> 3);
        if (at + 1 > Tr.Limit) Fault(CpuVectors.GP, 0);
        uint bits = ReadSys16(Tr.Base + at);
        uint mask = ((1u << size) - 1) << (port & 7);
        if ((bits & mask) != 0) Fault(CpuVectors.GP, 0);
    }
}
