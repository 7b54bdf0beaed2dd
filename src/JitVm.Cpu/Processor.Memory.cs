using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using JitVm.Core;

namespace JitVm.Cpu;

/// <summary>One software-TLB entry: a linear page mapped to a page of the host backing array.</summary>
/// <remarks>
/// A tag equals the linear page address (low 12 bits zero) when the access kind is allowed through the cached
/// pointer; an invalid tag has bit 0 set so it never matches. The fast path compares the tag with the page of
/// the access's last byte while indexing by the page of its first byte, so one compare also rejects accesses
/// that cross into the next page. With paging, a read tag means "present and readable at this TLB's privilege";
/// a write tag also means "writable, dirty flag already set, RAM without decoded code". Instruction fetches use
/// the read tag: without the execute-disable bit, 32-bit paging grants execute exactly where it grants read.
/// </remarks>
public struct TlbEntry
{
    public uint ReadTag;
    public uint WriteTag;
    /// <summary>
    /// Host index of the entry's page in guest RAM's array minus the page's linear address (wrapping 32-bit
    /// arithmetic): the byte at linear address <c>lin</c> of the page is <c>Backing[(int)lin + Addend]</c>.
    /// </summary>
    public int Addend;
    /// <summary>Physical address of the page; the low bits hold <see cref="Processor.TlbGlobal"/> and <see cref="Processor.TlbLarge"/>.</summary>
    public uint Phys;
}

public sealed partial class Processor
{
    public const int TlbBits = 10;
    public const int TlbSize = 1 << TlbBits;
    const uint InvalidTag = 1;

    byte[] backing;

    /// <summary>The host array behind guest memory (the same array the TLB entries index).</summary>
    public byte[] Backing => backing;

    void OnMemoryMapChanged()
    {
        backing = Memory.Backing;
        FlushTlb();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    ref TlbEntry TlbFor(uint lin) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tlb), (int)((lin >> 12) & (TlbSize - 1)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ref TlbEntry EntryIn(TlbEntry[] table, uint lin) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(table), (int)((lin >> 12) & (TlbSize - 1)));

    // ---------------- linear accesses (at the current privilege) ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadLin8(uint lin)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == (lin & ~PhysicalMemory.PageMask)) return backing[(int)lin + e.Addend];
        return (byte)ReadLinSlow(lin, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort ReadLin16(uint lin)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == ((lin + 1) & ~PhysicalMemory.PageMask))
            return Unsafe.ReadUnaligned<ushort>(ref backing[(int)lin + e.Addend]);
        return (ushort)ReadLinSlow(lin, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint ReadLin32(uint lin)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == ((lin + 3) & ~PhysicalMemory.PageMask))
            return Unsafe.ReadUnaligned<uint>(ref backing[(int)lin + e.Addend]);
        return ReadLinSlow(lin, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLin8(uint lin, uint v)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == (lin & ~PhysicalMemory.PageMask)) backing[(int)lin + e.Addend] = (byte)v;
        else WriteLinSlow(lin, v, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLin16(uint lin, uint v)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == ((lin + 1) & ~PhysicalMemory.PageMask))
            Unsafe.WriteUnaligned(ref backing[(int)lin + e.Addend], (ushort)v);
        else WriteLinSlow(lin, v, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLin32(uint lin, uint v)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == ((lin + 3) & ~PhysicalMemory.PageMask))
            Unsafe.WriteUnaligned(ref backing[(int)lin + e.Addend], v);
        else WriteLinSlow(lin, v, 4);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    uint ReadLinSlow(uint lin, int size) => ReadSlow(lin, size, userAccesses);

    [MethodImpl(MethodImplOptions.NoInlining)]
    void WriteLinSlow(uint lin, uint v, int size) => WriteSlow(lin, v, size, userAccesses);

    /// <summary>A read the TLB could not serve: translate (and cache) each page it touches, then read physical memory.</summary>
    uint ReadSlow(uint lin, int size, bool user)
    {
        uint offset = lin & PhysicalMemory.PageMask;
        uint v;
        if (offset + (uint)size > PhysicalMemory.PageSize)
        {
            // Split at the page boundary: the first page translates (and faults) first.
            uint first = Translate(lin, PageAccess.Read, user);
            uint second = Translate((lin | PhysicalMemory.PageMask) + 1, PageAccess.Read, user);
            int inFirst = (int)(PhysicalMemory.PageSize - offset);
            v = 0;
            for (int i = 0; i < size; i++)
                v |= (uint)Memory.Read8(i < inFirst ? first + (uint)i : second + (uint)(i - inFirst)) << (8 * i);
        }
        else
        {
            uint phys = Translate(lin, PageAccess.Read, user);
            v = size switch { 1 => Memory.Read8(phys), 2 => Memory.Read16(phys), _ => Memory.Read32(phys) };
        }
        if (dataBreakpoints != 0) MatchDataBreakpoints(lin, size, false);
        return v;
    }

    /// <summary>A write the TLB could not serve: ROM, unmapped space, pages holding code, clean or uncached pages.</summary>
    void WriteSlow(uint lin, uint v, int size, bool user)
    {
        uint offset = lin & PhysicalMemory.PageMask;
        if (offset + (uint)size > PhysicalMemory.PageSize)
        {
            // Check both pages before writing anything, and before setting either dirty flag, so a fault on the
            // second page leaves the first unchanged (memory and page tables alike).
            uint secondLin = (lin | PhysicalMemory.PageMask) + 1;
            Translate(lin, PageAccess.WriteCheck, user);
            uint second = Translate(secondLin, PageAccess.Write, user);
            uint first = Translate(lin, PageAccess.Write, user);
            int inFirst = (int)(PhysicalMemory.PageSize - offset);
            Memory.Write(first, v, inFirst);
            Memory.Write(second, v >> (8 * inFirst), size - inFirst);
        }
        else
        {
            Memory.Write(Translate(lin, PageAccess.Write, user), v, size);
        }
        if (dataBreakpoints != 0) MatchDataBreakpoints(lin, size, true);
    }

    /// <summary>
    /// Raises the page fault a write of <paramref name="size"/> bytes at <paramref name="lin"/> would raise, without
    /// writing or setting dirty flags: for instructions that must check a destination before doing something
    /// irreversible (INS reads a port, SGDT stores two parts).
    /// </summary>
    public void ProbeWriteLin(uint lin, int size)
    {
        ref TlbEntry e = ref TlbFor(lin);
        if (e.WriteTag == ((lin + (uint)size - 1) & ~PhysicalMemory.PageMask)) return;
        Translate(lin, PageAccess.WriteCheck, userAccesses);
        uint last = lin + (uint)size - 1;
        if (((last ^ lin) & ~PhysicalMemory.PageMask) != 0) Translate(last, PageAccess.WriteCheck, userAccesses);
    }

    // ---------------- system (implicit supervisor) accesses ----------------
    // Descriptor tables, the IDT, the TSS and the real-mode IVT are read and written by the processor itself with
    // supervisor privilege whatever the CPL (SDM vol. 3, 4.6 "implicit supervisor-mode accesses"). They go through
    // the supervisor TLB, so a user-mode instruction that loads a descriptor still reads a supervisor-only GDT.

    public byte ReadSys8(uint lin)
    {
        ref TlbEntry e = ref EntryIn(supervisorTlb, lin);
        if (e.ReadTag == (lin & ~PhysicalMemory.PageMask)) return backing[(int)lin + e.Addend];
        return (byte)ReadSlow(lin, 1, false);
    }

    public ushort ReadSys16(uint lin)
    {
        ref TlbEntry e = ref EntryIn(supervisorTlb, lin);
        if (e.ReadTag == ((lin + 1) & ~PhysicalMemory.PageMask))
            return Unsafe.ReadUnaligned<ushort>(ref backing[(int)lin + e.Addend]);
        return (ushort)ReadSlow(lin, 2, false);
    }

    public uint ReadSys32(uint lin)
    {
        ref TlbEntry e = ref EntryIn(supervisorTlb, lin);
        if (e.ReadTag == ((lin + 3) & ~PhysicalMemory.PageMask))
            return Unsafe.ReadUnaligned<uint>(ref backing[(int)lin + e.Addend]);
        return ReadSlow(lin, 4, false);
    }

    public void WriteSys8(uint lin, uint v) => WriteSys(lin, v, 1);
    public void WriteSys16(uint lin, uint v) => WriteSys(lin, v, 2);
    public void WriteSys32(uint lin, uint v) => WriteSys(lin, v, 4);

    void WriteSys(uint lin, uint v, int size)
    {
        ref TlbEntry e = ref EntryIn(supervisorTlb, lin);
        if (e.WriteTag == ((lin + (uint)size - 1) & ~PhysicalMemory.PageMask))
        {
            ref byte b = ref backing[(int)lin + e.Addend];
            if (size == 1) b = (byte)v;
            else if (size == 2) Unsafe.WriteUnaligned(ref b, (ushort)v);
            else Unsafe.WriteUnaligned(ref b, v);
        }
        else WriteSlow(lin, v, size, false);
    }

    /// <summary>
    /// Host index of the bytes [<paramref name="off"/>, off + <paramref name="bytes"/>) of segment
    /// <paramref name="seg"/> when the whole range is inside the segment's limit and inside one page whose TLB entry
    /// serves the access directly (plain RAM, or ROM for reads; never a page holding code for writes); -1 otherwise,
    /// and then nothing was checked that could fault.
    /// </summary>
    internal int FastRange(int seg, uint off, int bytes, bool write)
    {
        ref Segment s = ref Seg[seg];
        long limit = write ? s.WriteLimit1 : s.ReadLimit1;
        if (bytes <= 0 || (long)off + bytes - 1 > limit || dataBreakpoints != 0) return -1;
        uint lin = s.Base + off;
        if ((lin & PhysicalMemory.PageMask) + (uint)bytes > PhysicalMemory.PageSize) return -1;
        ref TlbEntry e = ref TlbFor(lin);
        if ((write ? e.WriteTag : e.ReadTag) != (lin & ~PhysicalMemory.PageMask)) return -1;
        int host = (int)lin + e.Addend;
        if ((uint)host > (uint)(backing.Length - bytes)) return -1;
        return host;
    }

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

    /// <summary>
    /// Raises the fault a write would raise (segment, then page) without writing: for instructions that must not
    /// commit a first store or consume device data when a later store faults.
    /// </summary>
    public void CheckWritable(int seg, uint off, int size)
    {
        CheckSegment(seg, off, size, true);
        ProbeWriteLin(Seg[seg].Base + off, size);
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
