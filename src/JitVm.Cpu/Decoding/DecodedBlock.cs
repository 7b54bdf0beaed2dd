using JitVm.Core;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// A guest basic block: the decoded instructions from one entry point up to and including the first
/// control transfer (or a length cap, a page end, an instruction that changes how later bytes execute).
/// Cached by physical address plus the mode bits that affect decoding.
/// </summary>
public sealed class DecodedBlock
{
    public DecodedBlock(uint phys, uint mode, Insn[] insns, int byteLength, bool endsInBranch, uint lastPhys, bool cacheable = true)
    {
        Phys = phys;
        Mode = mode;
        Insns = insns;
        ByteLength = byteLength;
        EndsInBranch = endsInBranch;
        LastPhys = lastPhys;
        Cacheable = cacheable;
        Straddles = (phys & PhysicalMemory.PageMask) + (uint)byteLength > PhysicalMemory.PageSize;
        ModeTag = Straddles ? mode | BlockCache.ModeStraddles : mode;
        Id = Interlocked.Increment(ref lastId);
    }

    static long lastId;

    /// <summary>
    /// Unique in the process (never 0): what the cache records as the running block, so the dispatcher marks it with
    /// a plain store instead of a reference store (which costs a GC write barrier on every dispatch).
    /// </summary>
    public readonly long Id;

    /// <summary>Physical address of the first byte.</summary>
    public uint Phys { get; }
    /// <summary>Mode bits the block was decoded under (see <see cref="BlockCache.ModeKey"/>).</summary>
    public uint Mode { get; }
    /// <summary><see cref="Mode"/>, plus <see cref="BlockCache.ModeStraddles"/> when the block needs checking on entry: what the cache's fast compare uses.</summary>
    public readonly uint ModeTag;
    public Insn[] Insns { get; }
    /// <summary>Bytes covered, from the first byte of the first instruction to the last byte of the last.</summary>
    public int ByteLength { get; }
    /// <summary>The last instruction sets EIP itself (jump, call, return, interrupt).</summary>
    public bool EndsInBranch { get; }
    /// <summary>Physical address of the last byte (on another page only when <see cref="Straddles"/>).</summary>
    public uint LastPhys { get; }

    /// <summary>
    /// The last instruction continues onto the next linear page. The block then depends on that page's
    /// translation as well, which the cache re-checks on every entry.
    /// </summary>
    public bool Straddles { get; }

    /// <summary>
    /// False for a block that only raises the fault of fetching its first instruction (CS limit, page fault):
    /// the fault depends on state the cache key does not cover, so such a block is decoded afresh each time.
    /// </summary>
    public bool Cacheable { get; }

    /// <summary>False once a write over its bytes (or a flush) has invalidated it.</summary>
    public bool Valid { get; internal set; } = true;

    /// <summary>Times the dispatcher entered this block (hotness, for the translator).</summary>
    public long ExecutionCount;

    /// <summary>The block's translation, once the translator has compiled it (dropped with the block, or evicted).</summary>
    public TranslatedCode? Translation;

    /// <summary>Translator bookkeeping (its own per-block record), opaque to the dispatcher.</summary>
    public object? TranslatorData;

    /// <summary>Forgets the block's translation (it runs interpreted until translated again).</summary>
    public void DropTranslation()
    {
        Translation = null;
        TranslatorData = null;
    }

    /// <summary>
    /// Successor links of a block, one per exit status (0 fall-through, 1 taken direct branch, 2 indirect: the last
    /// target seen; an interpreted block uses 0 when it fell through and 1 otherwise): the block its run continued at,
    /// for which linear address (CS base + EIP) and <see cref="Processor.TlbGeneration"/>. The dispatcher follows a link instead of looking the next
    /// block up while the link's block is still valid and the linear address, mode and TLB generation are the same
    /// (see <see cref="Interpreter"/>); never set to a block that straddles a page.
    /// </summary>
    public SuccessorLinks Links;

    /// <summary>
    /// Blocks whose translation also covers this block's bytes (a translated region entered elsewhere): when this
    /// block is invalidated their translations go too. Null when there are none.
    /// </summary>
    public List<DecodedBlock>? Dependents;

    /// <summary>Records that <paramref name="entry"/>'s translation includes this block.</summary>
    public void AddDependent(DecodedBlock entry)
    {
        Dependents ??= new List<DecodedBlock>(2);
        if (!Dependents.Contains(entry)) Dependents.Add(entry);
    }

    public int EndOffset => ByteLength;
}

/// <summary>Where a block's exit led last time (see <see cref="DecodedBlock.Links"/>).</summary>
public struct SuccessorLink
{
    public DecodedBlock? Block;
    public uint Linear;
    public uint Generation;
}

/// <summary>One <see cref="SuccessorLink"/> per exit status that has a target: 0, 1 and 2.</summary>
[System.Runtime.CompilerServices.InlineArray(3)]
public struct SuccessorLinks
{
    SuccessorLink first;
}
