using System.Runtime.CompilerServices;

namespace JitVm.Cpu;

/// <summary>Segment register indices, in x86 encoding order (the order of Iced's Register.ES..GS).</summary>
public static class SegReg
{
    public const int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
    public static readonly string[] Names = ["es", "cs", "ss", "ds", "fs", "gs"];
}

/// <summary>
/// A segment register with its hidden descriptor cache. The limit checks a memory access must pass are
/// pre-computed per access size so the fast path is one signed compare: an access of n bytes at offset o
/// is allowed without further checks when o &lt;= ReadLimitN (WriteLimitN for stores). -1 forces the slow path,
/// which decides precisely (expand-down segments, unusable or non-writable segments, faults).
/// </summary>
public struct Segment
{
    public ushort Selector;
    public uint Base;
    /// <summary>Effective byte limit (granularity applied).</summary>
    public uint Limit;
    /// <summary>Descriptor attribute bits in the layout of the descriptor's high dword bits 8..23 (type, S, DPL, P, AVL, L, D/B, G), shifted down by 8.</summary>
    public ushort Attributes;

    public long ReadLimit1, ReadLimit2, ReadLimit4;
    public long WriteLimit1, WriteLimit2, WriteLimit4;

    public const ushort AttrAccessed = 0x01, AttrWritable = 0x02, AttrExpandDown = 0x04, AttrCode = 0x08,
        AttrS = 0x10, AttrPresent = 0x80, AttrDb = 0x4000, AttrG = 0x8000;

    /// <summary>Attributes of a real-mode / reset data segment: present, writable data, accessed.</summary>
    public const ushort RealModeData = AttrPresent | AttrS | AttrWritable | AttrAccessed;
    /// <summary>Attributes of the reset code segment: present, readable code, accessed (real mode does not check the type).</summary>
    public const ushort RealModeCode = AttrPresent | AttrS | AttrCode | AttrWritable | AttrAccessed;

    public readonly int Dpl => (Attributes >> 5) & 3;
    public readonly bool Big => (Attributes & AttrDb) != 0;
    public readonly bool IsExpandDown => (Attributes & (AttrCode | AttrExpandDown | AttrS)) == (AttrExpandDown | AttrS);

    /// <summary>Recomputes the fast-path limits after any change to Base/Limit/Attributes.</summary>
    /// <param name="checkTypes">Protected mode: apply the type (readable/writable) checks as well.</param>
    public void UpdateLimits(bool checkTypes)
    {
        bool usable = (Attributes & AttrPresent) != 0 && !IsExpandDown;
        bool readable = !checkTypes || (Attributes & AttrCode) == 0 || (Attributes & AttrWritable) != 0;
        bool writable = !checkTypes || (Attributes & (AttrCode | AttrWritable)) == AttrWritable;
        ReadLimit1 = usable && readable ? Lim(0) : -1;
        ReadLimit2 = usable && readable ? Lim(1) : -1;
        ReadLimit4 = usable && readable ? Lim(3) : -1;
        WriteLimit1 = usable && writable ? Lim(0) : -1;
        WriteLimit2 = usable && writable ? Lim(1) : -1;
        WriteLimit4 = usable && writable ? Lim(3) : -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    readonly long Lim(int extra) => (long)Limit - extra;

    /// <summary>The 4-byte write limit of a usable, writable (so readable) expand-up data segment of 4 GiB.</summary>
    public const long FlatWriteLimit4 = 0xFFFFFFFCL;

    /// <summary>
    /// Base 0 and the whole 4 GiB readable and writable: an access needs no limit check and its linear address is its
    /// offset (the translator compiles such accesses so and checks this on entry).
    /// </summary>
    public readonly bool IsFlat => Base == 0 && WriteLimit4 == FlatWriteLimit4;

    /// <summary>
    /// True when [offset, offset+size) lies inside the segment limit (expand-up or expand-down). An expand-up
    /// segment with a 4 GiB limit has no limit fault at all: an access straddling FFFFFFFFh wraps to offset 0.
    /// </summary>
    public readonly bool InLimit(uint offset, int size)
    {
        ulong last = (ulong)offset + (ulong)size - 1;
        if (Limit == 0xFFFFFFFF && !IsExpandDown) return true;
        if (IsExpandDown)
        {
            ulong upper = Big ? 0xFFFFFFFFul : 0xFFFFul;
            return offset > Limit && last <= upper;
        }
        return last <= Limit;
    }
}

/// <summary>GDTR/IDTR: base and limit of a descriptor table.</summary>
public struct DescriptorTableRegister
{
    public uint Base;
    public ushort Limit;
}

[InlineArray(6)]
public struct SegmentFile
{
    private Segment _e0;
}

/// <summary>
/// The general registers, indexed in encoding order (EAX ECX EDX EBX ESP EBP ESI EDI), followed by a slot
/// that always reads zero (used as the "no base / no index" register of effective addresses) and a scratch slot.
/// Handlers address it by byte offset, which lets AH..BH be bytes 1 of the first four registers.
/// </summary>
[InlineArray(10)]
public struct GprFile
{
    private uint _e0;
}
