namespace JitVm.Cpu;

/// <summary>
/// One 8-byte GDT/LDT/IDT entry as read from memory (SDM vol. 3, 3.4.5 and 6.11). <see cref="Low"/> is bytes 0-3,
/// <see cref="High"/> bytes 4-7. On the 286 bytes 6-7 are reserved and ignored: the reader clears them, so the
/// same accessors give the 24-bit base, 16-bit limit and no G/D bits there.
/// </summary>
public readonly struct Descriptor(uint low, uint high)
{
    public readonly uint Low = low;
    public readonly uint High = high;

    // System descriptor types (S = 0).
    public const int Tss16Available = 1, Ldt = 2, Tss16Busy = 3, CallGate16 = 4, TaskGate = 5, InterruptGate16 = 6,
        TrapGate16 = 7, Tss32Available = 9, Tss32Busy = 11, CallGate32 = 12, InterruptGate32 = 14, TrapGate32 = 15;

    public uint Base => (Low >> 16) | ((High & 0xFF) << 16) | (High & 0xFF000000);

    /// <summary>The byte limit with granularity applied (G: 4 KiB units with the low 12 bits set).</summary>
    public uint Limit
    {
        get
        {
            uint raw = (Low & 0xFFFF) | (High & 0xF0000);
            return (High & 0x800000) != 0 ? (raw << 12) | 0xFFF : raw;
        }
    }

    /// <summary>Attribute bits in <see cref="Segment.Attributes"/> layout: type, S, DPL, P, AVL, L, D/B, G.</summary>
    public ushort Attributes => (ushort)((High >> 8) & 0xF0FF);

    /// <summary>The 4-bit type field (bit 0 is the accessed bit of code/data, bit 1 the busy bit of a TSS).</summary>
    public int Type => (int)(High >> 8) & 0xF;
    public bool IsSegment => (High & 0x1000) != 0;
    public int Dpl => (int)(High >> 13) & 3;
    public bool Present => (High & 0x8000) != 0;

    public bool IsCode => IsSegment && (Type & 8) != 0;
    public bool IsData => IsSegment && (Type & 8) == 0;
    public bool IsConformingCode => IsCode && (Type & 4) != 0;
    /// <summary>Code: readable. Data: writable.</summary>
    public bool IsReadableCode => IsCode && (Type & 2) != 0;
    public bool IsWritableData => IsData && (Type & 2) != 0;
    public bool IsSystem(int type) => !IsSegment && Type == type;
    /// <summary>A TSS descriptor, available or busy, 16- or 32-bit (types 1, 3, 9, 11).</summary>
    public bool IsTss => !IsSegment && (Type & 5) == 1;
    public bool Is32BitSystem => (Type & 8) != 0;

    // Gates.
    public ushort GateSelector => (ushort)(Low >> 16);
    /// <summary>Entry point of a 386 gate; a 286 gate uses only the low word (<see cref="Gate16Offset"/>).</summary>
    public uint GateOffset => (Low & 0xFFFF) | (High & 0xFFFF0000);
    public uint Gate16Offset => Low & 0xFFFF;
    /// <summary>Call gates: number of parameters (words or dwords) to copy to the inner stack.</summary>
    public int ParamCount => (int)(High & 0x1F);
}
