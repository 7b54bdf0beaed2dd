namespace JitVm.CacheInspector;

/// <summary>The translation cache of one jitvm process as the runtime's heap shows it.</summary>
public sealed record CacheReport
{
    /// <summary>CLR version of the inspected process.</summary>
    public required string RuntimeVersion { get; init; }

    /// <summary>Objects on the managed heap, and how many of them the mark phase reached from the GC roots.</summary>
    public required long HeapObjects { get; init; }
    public required long ReachableObjects { get; init; }

    /// <summary>The <c>JitEngine</c> objects on the heap (one per machine; none when the process runs the interpreter).</summary>
    public required IReadOnlyList<EngineCounters> Engines { get; init; }

    public required TranslationCounts Translations { get; init; }

    /// <summary>Reachable <c>System.Reflection.Emit.DynamicMethod</c> objects (translations and anything else that emits).</summary>
    public required long ReachableDynamicMethods { get; init; }

    public required NativeCode NativeCode { get; init; }

    public required ManagedFootprint Heap { get; init; }

    /// <summary>Reachable translations with the most native code, largest first.</summary>
    public required IReadOnlyList<BlockInfo> Largest { get; init; }
}

/// <summary>The counters of one <c>JitVm.Jit.JitEngine</c>, read from its fields.</summary>
public sealed record EngineCounters
{
    public required ulong Address { get; init; }
    public required bool Reachable { get; init; }
    public required long BlocksCompiled { get; init; }
    public required long Evictions { get; init; }
    public required long Invalidations { get; init; }
    public required long ThrashRefusals { get; init; }

    /// <summary>Entries of the engine's <c>live</c> queue (translations it keeps until evicted).</summary>
    public required int LiveQueue { get; init; }
}

/// <summary><c>JitVm.Jit.Translation.TranslatedBlock</c> objects on the heap.</summary>
public sealed record TranslationCounts
{
    /// <summary>Reachable from the GC roots: what the process keeps.</summary>
    public required long Reachable { get; init; }

    /// <summary>On the heap but unreachable: garbage the GC has not collected yet.</summary>
    public required long Unreachable { get; init; }

    /// <summary>
    /// Reachable translations that no longer run: their entry block was invalidated (<c>Valid</c> false) or no
    /// longer points at them (<c>TranslatorData</c>), so only the engine's bookkeeping holds them.
    /// </summary>
    public required long ReachableStale { get; init; }

    /// <summary>What keeps the first few stale translations alive: a shortest path from a GC root.</summary>
    public required IReadOnlyList<RetentionPath> StaleRetention { get; init; }
}

/// <summary>
/// A chain of references from a GC root to a translation: the root's kind, then each object's type with the field
/// (or array element) that leads to the next.
/// </summary>
public sealed record RetentionPath(ulong Address, uint Phys, IReadOnlyList<string> Path);

/// <summary>Native code of the reachable translations (RyuJIT's output for their DynamicMethods).</summary>
public sealed record NativeCode
{
    /// <summary>Hot plus cold bytes of every translation whose code pointer resolved to a method.</summary>
    public required long Bytes { get; init; }
    public required long Resolved { get; init; }

    /// <summary>Translations whose delegate had no code pointer the runtime could map to a method.</summary>
    public required long Unknown { get; init; }
}

/// <summary>
/// Managed bytes held by the reachable translations: everything reachable from them without entering the shared
/// machine (decoded blocks, the processor, the interpreter, the block cache, the engine, physical memory) or the
/// runtime's reflection objects (types, modules, assemblies), each object counted once.
/// </summary>
public sealed record ManagedFootprint
{
    public required long Bytes { get; init; }
    public required long Objects { get; init; }

    /// <summary>The types holding the most of <see cref="Bytes"/>, largest first.</summary>
    public required IReadOnlyList<TypeBytes> ByType { get; init; }
}

public sealed record TypeBytes(string Type, long Objects, long Bytes);

/// <summary>One reachable translation.</summary>
public sealed record BlockInfo
{
    public required ulong Address { get; init; }

    /// <summary>Guest physical address of the entry block.</summary>
    public required uint Phys { get; init; }

    /// <summary>Hot plus cold native bytes; null when the code pointer did not resolve.</summary>
    public required long? NativeBytes { get; init; }
    public required int IlBytes { get; init; }
    public required int InlineInstructions { get; init; }

    /// <summary>Guest blocks translated into the method (the entry and those of its region).</summary>
    public required int BlockCount { get; init; }

    /// <summary>See <see cref="TranslationCounts.ReachableStale"/>.</summary>
    public required bool Stale { get; init; }

    /// <summary>The DynamicMethod's name as the runtime reports it, when the code pointer resolved.</summary>
    public string? Method { get; init; }
}
