using System.Reflection;
using System.Runtime.CompilerServices;
using JitVm.Cpu;

namespace JitVm.Jit.Translation;

/// <summary>
/// The fields and methods generated IL touches, resolved once. A missing member (a rename in JitVm.Cpu) fails at
/// type initialisation with its name, which every JIT test hits immediately.
/// </summary>
internal static class Members
{
    public static readonly FieldInfo Gpr = Field(typeof(Processor), nameof(Processor.Gpr));
    public static readonly FieldInfo Eip = Field(typeof(Processor), nameof(Processor.Eip));
    public static readonly FieldInfo Flags = Field(typeof(Processor), nameof(Processor.Flags));
    public static readonly FieldInfo LazyOp = Field(typeof(Processor), nameof(Processor.LazyOp));
    public static readonly FieldInfo LazyDst = Field(typeof(Processor), nameof(Processor.LazyDst));
    public static readonly FieldInfo LazySrc = Field(typeof(Processor), nameof(Processor.LazySrc));
    public static readonly FieldInfo LazyRes = Field(typeof(Processor), nameof(Processor.LazyRes));
    public static readonly FieldInfo LazySign = Field(typeof(Processor), nameof(Processor.LazySign));
    public static readonly FieldInfo Seg = Field(typeof(Processor), nameof(Processor.Seg));
    public static readonly FieldInfo InstructionCount = Field(typeof(Processor), nameof(Processor.InstructionCount));
    public static readonly FieldInfo RunLimit = Field(typeof(Processor), nameof(Processor.RunLimit));
    public static readonly FieldInfo FaultPending = Field(typeof(Processor), nameof(Processor.FaultPending));
    public static readonly FieldInfo ExitBlock = Field(typeof(Processor), nameof(Processor.ExitBlock));
    public static readonly FieldInfo Cr0 = Field(typeof(Processor), nameof(Processor.Cr0));
    public static readonly MethodInfo GetPhysicalAddressMask = typeof(Processor).GetProperty(nameof(Processor.PhysicalAddressMask))!.GetMethod!;
    public static readonly MethodInfo GetTlb = typeof(Processor).GetProperty(nameof(Processor.Tlb))!.GetMethod!;

    public static readonly FieldInfo SegBase = Field(typeof(Segment), nameof(Segment.Base));
    public static readonly FieldInfo SegLimit = Field(typeof(Segment), nameof(Segment.Limit));
    public static readonly FieldInfo[] SegReadLimit =
        [Field(typeof(Segment), nameof(Segment.ReadLimit1)), Field(typeof(Segment), nameof(Segment.ReadLimit2)), null!, Field(typeof(Segment), nameof(Segment.ReadLimit4))];
    public static readonly FieldInfo[] SegWriteLimit =
        [Field(typeof(Segment), nameof(Segment.WriteLimit1)), Field(typeof(Segment), nameof(Segment.WriteLimit2)), null!, Field(typeof(Segment), nameof(Segment.WriteLimit4))];
    public static readonly int SegmentSize = Unsafe.SizeOf<Segment>();

    public static readonly FieldInfo TlbReadTag = Field(typeof(TlbEntry), nameof(TlbEntry.ReadTag));
    public static readonly FieldInfo TlbWriteTag = Field(typeof(TlbEntry), nameof(TlbEntry.WriteTag));

    public static readonly FieldInfo BlockInsns = Field(typeof(TranslatedBlock), nameof(TranslatedBlock.Insns));

    /// <summary>
    /// Byte offsets of the processor's fields from its register file, so generated code can address them through
    /// one byref (taken once per block) instead of a field token per access: RyuJIT resolves every field token of
    /// a dynamic method separately, and that dominated translation time. Field layout is fixed per type, so the
    /// offsets measured on any instance hold for all of them.
    /// </summary>
    public sealed class StateLayout
    {
        public int Eip, Flags, LazyOp, LazyDst, LazySrc, LazyRes, LazySign, Seg, InstructionCount, RunLimit, FaultPending, ExitBlock;
    }

    static StateLayout? layout;

    static int Off<T>(ref byte from, ref T field) => (int)Unsafe.ByteOffset(ref from, ref Unsafe.As<T, byte>(ref field));

    /// <summary>The layout, once <see cref="Layout"/> has computed it (it is the same for every processor).</summary>
    public static StateLayout Current => layout ?? throw new InvalidOperationException("the state layout is computed from a processor first");

    public static StateLayout Layout(Processor cpu)
    {
        if (layout is { } l) return l;
        ref byte b = ref Unsafe.As<GprFile, byte>(ref cpu.Gpr);
        layout = new StateLayout
        {
            Eip = Off(ref b, ref cpu.Eip),
            Flags = Off(ref b, ref cpu.Flags),
            LazyOp = Off(ref b, ref cpu.LazyOp),
            LazyDst = Off(ref b, ref cpu.LazyDst),
            LazySrc = Off(ref b, ref cpu.LazySrc),
            LazyRes = Off(ref b, ref cpu.LazyRes),
            LazySign = Off(ref b, ref cpu.LazySign),
            Seg = Off(ref b, ref cpu.Seg),
            InstructionCount = Off(ref b, ref cpu.InstructionCount),
            RunLimit = Off(ref b, ref cpu.RunLimit),
            FaultPending = Off(ref b, ref cpu.FaultPending),
            ExitBlock = Off(ref b, ref cpu.ExitBlock),
        };
        return layout;
    }

    /// <summary>Offsets of segment-cache fields: Base, Limit, Attributes, ReadLimit1/2/-/4, WriteLimit1/2/-/4.</summary>
    public static readonly int SegBaseOffset, SegLimitOffset, SegAttributesOffset;
    public static readonly int[] SegReadLimitOffset = new int[4], SegWriteLimitOffset = new int[4];

    /// <summary>Offsets of TLB-entry fields.</summary>
    public static readonly int TlbReadTagOffset, TlbWriteTagOffset, TlbAddendOffset;
    public static readonly int TlbEntrySize = Unsafe.SizeOf<TlbEntry>();

    static Members()
    {
        var seg = new Segment();
        ref byte sb = ref Unsafe.As<Segment, byte>(ref seg);
        SegBaseOffset = Off(ref sb, ref seg.Base);
        SegLimitOffset = Off(ref sb, ref seg.Limit);
        SegAttributesOffset = Off(ref sb, ref seg.Attributes);
        SegReadLimitOffset[0] = Off(ref sb, ref seg.ReadLimit1);
        SegReadLimitOffset[1] = Off(ref sb, ref seg.ReadLimit2);
        SegReadLimitOffset[3] = Off(ref sb, ref seg.ReadLimit4);
        SegWriteLimitOffset[0] = Off(ref sb, ref seg.WriteLimit1);
        SegWriteLimitOffset[1] = Off(ref sb, ref seg.WriteLimit2);
        SegWriteLimitOffset[3] = Off(ref sb, ref seg.WriteLimit4);
        var e = new TlbEntry();
        ref byte eb = ref Unsafe.As<TlbEntry, byte>(ref e);
        TlbReadTagOffset = Off(ref eb, ref e.ReadTag);
        TlbWriteTagOffset = Off(ref eb, ref e.WriteTag);
        TlbAddendOffset = Off(ref eb, ref e.Addend);
    }

    public static MethodInfo Helper(string name) =>
        typeof(JitHelpers).GetMethod(name, BindingFlags.Public | BindingFlags.Static) ?? throw new MissingMethodException(nameof(JitHelpers), name);

    static FieldInfo Field(Type t, string name) =>
        t.GetField(name, BindingFlags.Public | BindingFlags.Instance) ?? throw new MissingFieldException(t.Name, name);
}
