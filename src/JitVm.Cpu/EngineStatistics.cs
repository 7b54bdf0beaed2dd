namespace JitVm.Cpu;

/// <summary>
/// Counters an execution engine may expose (<c>jitvm run --stats</c>, <c>jitvm bench</c>). Optional: a host checks
/// <c>engine is IEngineStatistics</c>. Counts are cumulative since the engine was created; take a snapshot before and
/// after a run and subtract for a per-run figure.
/// </summary>
public interface IEngineStatistics
{
    /// <summary>A snapshot of the counters now.</summary>
    EngineStatistics GetStatistics();
}

/// <summary>
/// One snapshot of an engine's counters. A null member is one the engine does not have (the interpreter compiles
/// nothing, so every compile figure is null for it); 0 means "has it, and it was zero".
/// </summary>
public sealed record EngineStatistics
{
    /// <summary>Guest instructions retired by interpreting decoded blocks.</summary>
    public long InterpretedInstructions { get; init; }

    /// <summary>Guest instructions retired inside translated (compiled) code; null for an engine without a translator.</summary>
    public long? TranslatedInstructions { get; init; }

    /// <summary>Every guest instruction retired, however it ran.</summary>
    public long Instructions => InterpretedInstructions + (TranslatedInstructions ?? 0);

    /// <summary>Guest basic blocks decoded (the interpreter's unit, and the translator's input).</summary>
    public long BlocksDecoded { get; init; }

    /// <summary>Decoded blocks live in the cache at the time of the snapshot.</summary>
    public long LiveBlocks { get; init; }

    /// <summary>Blocks (or traces) compiled to host code.</summary>
    public long? BlocksCompiled { get; init; }

    /// <summary>Host time spent compiling, in total.</summary>
    public TimeSpan? CompileTime { get; init; }

    /// <summary>The median compile time of one translation (a block, or a region of several).</summary>
    public TimeSpan? MedianCompileTime { get; init; }

    /// <summary>Translations that failed to build (the blocks ran interpreted instead); null without a translator.</summary>
    public long? CompileFailures { get; init; }

    /// <summary>Guest blocks inside the translations compiled (a region counts each of its blocks).</summary>
    public long? BlocksTranslated { get; init; }

    /// <summary>The median over translations of compile time divided by the guest blocks translated.</summary>
    public TimeSpan? MedianCompileTimePerBlock { get; init; }

    /// <summary>Dispatches that followed a translated block's successor link instead of a lookup; null without a translator.</summary>
    public long? LinkedDispatches { get; init; }

    /// <summary>Block lookups by the dispatcher.</summary>
    public long CacheLookups { get; init; }

    /// <summary>Lookups answered without decoding or compiling (the fast table or the full cache).</summary>
    public long CacheHits { get; init; }

    /// <summary>Lookups that missed the engine's fast path (front table, or translation not found).</summary>
    public long CacheMisses { get; init; }

    /// <summary>Blocks dropped because guest code was written over (self-modifying code, loaders, DMA).</summary>
    public long Invalidations { get; init; }

    /// <summary>Blocks (or compiled code) dropped for capacity, not because their bytes changed; null when the engine never evicts.</summary>
    public long? Evictions { get; init; }

    /// <summary>Whole-cache flushes (capacity, memory-map changes).</summary>
    public long CacheFlushes { get; init; }
}
