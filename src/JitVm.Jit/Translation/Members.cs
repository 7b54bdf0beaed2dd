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
    public static readonly MethodInfo GetTlb = typeof(Processor).GetProperty(nameof(Processor.Tlb))!.GetMethod!;
    public static readonly MethodInfo GetBacking = typeof(Processor).GetProperty(nameof(Processor.Backing))!.GetMethod!;

    public static readonly FieldInfo SegBase = Field(typeof(Segment), nameof(Segment.Base));
    public static readonly FieldInfo SegLimit = Field(typeof(Segment), nameof(Segment.Limit));
    public static readonly FieldInfo[] SegReadLimit =
        [Field(typeof(Segment), nameof(Segment.ReadLimit1)), Field(typeof(Segment), nameof(Segment.ReadLimit2)), null!, Field(typeof(Segment), nameof(Segment.ReadLimit4))];
    public static readonly FieldInfo[] SegWriteLimit =
        [Field(typeof(Segment), nameof(Segment.WriteLimit1)), Field(typeof(Segment), nameof(Segment.WriteLimit2)), null!, Field(typeof(Segment), nameof(Segment.WriteLimit4))];
    public static readonly int SegmentSize = Unsafe.SizeOf<Segment>();

    public static readonly FieldInfo TlbReadTag = Field(typeof(TlbEntry), nameof(TlbEntry.ReadTag));
    public static readonly FieldInfo TlbWriteTag = Field(typeof(TlbEntry), nameof(TlbEntry.WriteTag));
    public static readonly FieldInfo TlbHost = Field(typeof(TlbEntry), nameof(TlbEntry.Host));

    public static readonly FieldInfo BlockInsns = Field(typeof(TranslatedBlock), nameof(TranslatedBlock.Insns));

    public static MethodInfo Helper(string name) =>
        typeof(JitHelpers).GetMethod(name, BindingFlags.Public | BindingFlags.Static) ?? throw new MissingMethodException(nameof(JitHelpers), name);

    static FieldInfo Field(Type t, string name) =>
        t.GetField(name, BindingFlags.Public | BindingFlags.Instance) ?? throw new MissingFieldException(t.Name, name);
}
