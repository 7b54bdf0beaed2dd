using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>
/// A compiled block: the target the generated method is closed over (so the IL can reach the decoded
/// instructions of interpreted fallbacks), the delegate the dispatcher calls, and what it cost to build.
/// </summary>
public sealed class TranslatedBlock
{
    internal TranslatedBlock(Region region, byte[] backing)
    {
        Backing = backing;
        Block = region.Entry;
        Insns = region.Insns;
        BlockCount = region.Count;
    }

    /// <summary>The guest RAM array the code addresses (held here so it outlives every call of the code).</summary>
    public byte[] Backing { get; }

    /// <summary>The entry block (the translation is cached on it).</summary>
    public DecodedBlock Block { get; }

    /// <summary>The entry block still runs this translation (it was not invalidated, evicted or replaced).</summary>
    public bool IsInstalled => ReferenceEquals(Block.TranslatorData, this);

    /// <summary>The decoded instructions of every block of the region (interpreted fallbacks run their handlers from here).</summary>
    public readonly Insn[] Insns;

    /// <summary>Blocks translated into this method (the entry and those its direct branches reach within the page).</summary>
    public int BlockCount { get; }

    public TranslatedCode Code { get; internal set; } = null!;

    /// <summary>Instructions emitted inline (the rest call their interpreter handler).</summary>
    public int InlineInstructions { get; internal set; }

    /// <summary>IL bytes generated.</summary>
    public int IlBytes { get; internal set; }

    /// <summary>Time to generate the IL (the rest of <see cref="CompileTime"/> is RyuJIT).</summary>
    public TimeSpan EmitTime { get; internal set; }

    /// <summary>Time to generate the IL and let RyuJIT compile it.</summary>
    public TimeSpan CompileTime { get; internal set; }

    /// <summary>A loop (a branch back to a block at or before its source) runs inside the method.</summary>
    public bool HasLoop { get; internal set; }
}
