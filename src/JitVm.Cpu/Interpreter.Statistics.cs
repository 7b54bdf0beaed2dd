namespace JitVm.Cpu;

public sealed partial class Interpreter : IEngineStatistics
{
    /// <summary>
    /// The interpreter's subset of the counters: every instruction the CPU retired counts as interpreted (the CPU
    /// is driven by this engine alone), block-cache figures come from <see cref="Blocks"/>, and the compile figures
    /// are null. Front-table misses are the misses; a whole-cache flush (capacity or memory-map change) is counted
    /// in <see cref="EngineStatistics.CacheFlushes"/>, its blocks in <see cref="EngineStatistics.Invalidations"/>.
    /// When the dispatcher also runs translated code, this is where the split goes: instructions retired in
    /// translations become <see cref="EngineStatistics.TranslatedInstructions"/> (and are taken out of the
    /// interpreted count), and the translator's compile counters fill the compile members.
    /// </summary>
    public EngineStatistics GetStatistics() => new()
    {
        InterpretedInstructions = Cpu.InstructionCount,
        BlocksDecoded = Blocks.Decoded,
        LiveBlocks = Blocks.Count,
        CacheLookups = Blocks.Lookups,
        CacheHits = Blocks.Lookups - Blocks.Misses,
        CacheMisses = Blocks.Misses,
        Invalidations = Blocks.InvalidatedBlocks,
        CacheFlushes = Blocks.Flushes,
    };
}
