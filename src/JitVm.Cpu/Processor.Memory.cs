using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using JitVm.Core;

namespace JitVm.Cpu;

/// <summary>One software-TLB entry: a linear page mapped to a page of the host backing array.</summary>
/// <remarks>
/// A tag equals the linear page address (low 12 bits zero) when the access kind is allowed through the cached
/// pointer; an invalid tag has bit 0 set so it never matches. The fast path compares the tag with the page of
/// the access's last byte while indexing by the page of its first byte, so one compare also rejects accesses
/// that cross into the next page.
/// </remarks>
public struct TlbEntry
{
    public uint ReadTag;
    public uint WriteTag;
    public int Host;
    public uint PhysPage;
}

public sealed partial class Processor
{
    public const int TlbBits = 10;
    public const int TlbSize = 1 << TlbBits;
    const uint InvalidTag = 1;

    readonly TlbEntry[] tlb = new TlbEntry[TlbSize];
    byte[] backing;

    /// <summary>The TLB, for the translator's inline fast path.</summary>
    public TlbEntry[] Tlb => tlb;

    /// <summary>The host array behind guest memory (the same array the TLB entries index).</summary>
    public byte[] Backing => backing;

    public void FlushTlb()
    {
        for (int i = 0; i < tlb.Length; i++)
        {
            tlb[i].ReadTag = InvalidTag;
            tlb[i].WriteTag = InvalidTag;
        }
    }

    void OnMemoryMapChanged()
    {
        backing = Memory.Backing;
        FlushTlb();
    }

    void OnPageBecameCode(uint physPage)
    {
        for (int i = 0; i < tlb.Length; i++)
            if (tlb[i].PhysPage == physPage) tlb[i].WriteTag = InvalidTag;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    ref TlbEntry TlbFor(uint lin) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tlb), (int)((lin >> 12) & (TlbSize - 1)));

    // ---------------- address translation ----------------

    /// <summary>Linear to physical for a data access. Paging is not modelled yet: the A20/bus mask applies.</summary>
    public uint TranslateData(uint lin, bool write) => TranslateLinear(lin);

    /// <summary>Linear to physical for an instruction fetch.</summary>
    public uint TranslateFetch(uint lin) => TranslateLinear(lin);

    uint TranslateLinear(uint lin)
    {
        if ((Cr0 & Cr0PG) != 0) throw new EmulationStopException("paging is not implemented yet");
        return lin & PhysicalAddressMask;
    }

    // ---------------- linear accesses ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadLin8(uint lin)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == (lin & ~PhysicalMemory.PageMask)) return backing[e.Host + (int)(lin & PhysicalMemory.PageMask)];
        return (byte)ReadLinSlow(lin, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort ReadLin16(uint lin)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == ((lin + 1) & ~PhysicalMemory.PageMask))
            return Unsafe.ReadUnaligned<ushort>(ref backing[e.Host + (int)(lin & PhysicalMemory.PageMask)]);
        return (ushort)ReadLinSlow(lin, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint ReadLin32(uint lin)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == ((lin + 3) & ~PhysicalMemory.PageMask))
            return Unsafe.ReadUnaligned<uint>(ref backing[e.Host + (int)(lin & PhysicalMemory.PageMask)]);
        return ReadLinSlow(lin, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLin8(uint lin, uint v)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == (lin & ~PhysicalMemory.PageMask)) backing[e.Host + (int)(lin & PhysicalMemory.PageMask)] = (byte)v;
        else WriteLinSlow(lin, v, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLin16(uint lin, uint v)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == ((lin + 1) & ~PhysicalMemory.PageMask))
            Unsafe.WriteUnaligned(ref backing[e.Host + (int)(lin & PhysicalMemory.PageMask)], (ushort)v);
        else WriteLinSlow(lin, v, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLin32(uint lin, uint v)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == ((lin + 3) & ~PhysicalMemory.PageMask))
            Unsafe.WriteUnaligned(ref backing[e.Host + (int)(lin & PhysicalMemory.PageMask)], v);
        else WriteLinSlow(lin, v, 4);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    uint ReadLinSlow(uint lin, int size)
    {
        if ((lin & PhysicalMemory.PageMask) + (uint)size > PhysicalMemory.PageSize)
        {
            // Split at the page boundary; each byte translates (and may fault) on its own page.
            uint v = 0;
            for (int i = 0; i < size; i++) v |= (uint)ReadLin8(lin + (uint)i) << (8 * i);
            return v;
        }
        uint phys = TranslateData(lin, false);
        ref TlbEntry e = ref TlbFor(lin);
        int host = Memory.HostOffset(phys);
        if (host >= 0)
        {
            e.ReadTag = lin & ~PhysicalMemory.PageMask;
            e.WriteTag = Memory.IsDirectlyWritable(phys) ? e.ReadTag : InvalidTag;
            e.Host = host;
            e.PhysPage = phys >> PhysicalMemory.PageShift;
        }
        return size switch { 1 => Memory.Read8(phys), 2 => Memory.Read16(phys), _ => Memory.Read32(phys) };
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    void WriteLinSlow(uint lin, uint v, int size)
    {
        if ((lin & PhysicalMemory.PageMask) + (uint)size > PhysicalMemory.PageSize)
        {
            // Translate both pages before writing anything so a fault on the second leaves memory unchanged.
            uint first = TranslateData(lin, true);
            uint second = TranslateData(lin + (uint)size - 1, true);
            int inFirst = (int)(PhysicalMemory.PageSize - (lin & PhysicalMemory.PageMask));
            Memory.Write(first, v, inFirst);
            Memory.Write(second & ~PhysicalMemory.PageMask, v >> (8 * inFirst), size - inFirst);
            return;
        }
        uint phys = TranslateData(lin, true);
        if (Memory.IsDirectlyWritable(phys))
        {
            ref TlbEntry e = ref TlbFor(lin);
            e.ReadTag = lin & ~PhysicalMemory.PageMask;
            e.WriteTag = e.ReadTag;
            e.Host = Memory.HostOffset(phys);
            e.PhysPage = phys >> PhysicalMemory.PageShift;
        }
        Memory.Write(phys, v, size);
    }

    // ---------------- system (implicit supervisor) accesses ----------------
    // Descriptor tables, the IDT, the TSS and the real-mode IVT are read and written by the processor itself with
    // supervisor privilege whatever the CPL (SDM vol. 3, 4.6 "implicit supervisor-mode accesses"). Everything that
    // touches them goes through these, so paging can apply supervisor rules to them in one place.

    public byte ReadSys8(uint lin) => ReadLin8(lin);
    public ushort ReadSys16(uint lin) => ReadLin16(lin);
    public uint ReadSys32(uint lin) => ReadLin32(lin);
    public void WriteSys8(uint lin, uint v) => WriteLin8(lin, v);
    public void WriteSys16(uint lin, uint v) => WriteLin16(lin, v);
    public void WriteSys32(uint lin, uint v) => WriteLin32(lin, v);

    // ---------------- segmented accesses ----------------

    /// <summary>Effective address of a decoded memory operand: (base + index·scale + disp) masked to the address size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Ea(ref Decoding.Insn i) => (Reg32(i.Base) + (Reg32(i.Index) << i.Scale) + i.Disp) & i.EaMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Read8(int seg, uint off)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off > s.ReadLimit1) CheckSegmentSlow(seg, off, 1, false);
        return ReadLin8(s.Base + off);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort Read16(int seg, uint off)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off > s.ReadLimit2) CheckSegmentSlow(seg, off, 2, false);
        return ReadLin16(s.Base + off);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read32(int seg, uint off)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off > s.ReadLimit4) CheckSegmentSlow(seg, off, 4, false);
        return ReadLin32(s.Base + off);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write8(int seg, uint off, uint v)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off > s.WriteLimit1) CheckSegmentSlow(seg, off, 1, true);
        WriteLin8(s.Base + off, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write16(int seg, uint off, uint v)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off > s.WriteLimit2) CheckSegmentSlow(seg, off, 2, true);
        WriteLin16(s.Base + off, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(int seg, uint off, uint v)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off > s.WriteLimit4) CheckSegmentSlow(seg, off, 4, true);
        WriteLin32(s.Base + off, v);
    }

    /// <summary>
    /// Checks an access the fast limit could not approve; returns when it is allowed (e.g. inside an
    /// expand-down segment) and raises the architected fault otherwise.
    /// </summary>
    public void CheckSegment(int seg, uint off, int size, bool write)
    {
        ref Segment s = ref Seg[seg];
        long fast = size switch
        {
            1 => write ? s.WriteLimit1 : s.ReadLimit1,
            2 => write ? s.WriteLimit2 : s.ReadLimit2,
            _ => write ? s.WriteLimit4 : s.ReadLimit4,
        };
        if ((long)off > fast) CheckSegmentSlow(seg, off, size, write);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    void CheckSegmentSlow(int seg, uint off, int size, bool write)
    {
        ref Segment s = ref Seg[seg];
        bool typeOk = true;
        if (ProtectedMode && !V86Mode)
        {
            bool code = (s.Attributes & Segment.AttrCode) != 0;
            bool rw = (s.Attributes & Segment.AttrWritable) != 0;
            typeOk = (s.Attributes & Segment.AttrPresent) != 0 && (write ? !code && rw : !code || rw);
        }
        if (typeOk && s.InLimit(off, size)) return;
        if (seg == SegReg.SS) Fault(RealMode ? Model.RealModeStackFaultVector : CpuVectors.SS, 0);
        Fault(CpuVectors.GP, 0);
    }

    // ---------------- stack ----------------

    /// <summary>Current stack pointer as an offset into SS (SP or ESP by the B bit of SS).</summary>
    public uint StackPointer => Stack32 ? Gpr[4] : Gpr[4] & 0xFFFF;

    /// <summary>Stack pointer moved by <paramref name="delta"/> bytes, wrapped to the stack size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint StackOffset(int delta) => Stack32 ? Gpr[4] + (uint)delta : (Gpr[4] + (uint)delta) & 0xFFFF;

    /// <summary>Commits a new stack pointer (only SP's low half when the stack is 16-bit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetStackPointer(uint sp)
    {
        if (Stack32) Gpr[4] = sp;
        else Gpr[4] = (Gpr[4] & 0xFFFF0000) | (sp & 0xFFFF);
    }

    public void Push16(uint v)
    {
        uint sp = StackOffset(-2);
        Write16(SegReg.SS, sp, v);
        SetStackPointer(sp);
    }

    public void Push32(uint v)
    {
        uint sp = StackOffset(-4);
        Write32(SegReg.SS, sp, v);
        SetStackPointer(sp);
    }

    public ushort Pop16()
    {
        ushort v = Read16(SegReg.SS, StackPointer);
        SetStackPointer(StackOffset(2));
        return v;
    }

    public uint Pop32()
    {
        uint v = Read32(SegReg.SS, StackPointer);
        SetStackPointer(StackOffset(4));
        return v;
    }
}
