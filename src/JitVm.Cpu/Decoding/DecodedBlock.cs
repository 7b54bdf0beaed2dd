namespace JitVm.Cpu.Decoding;

/// <summary>
/// A guest basic block: the decoded instructions from one entry point up to and including the first
/// control transfer (or a length cap, a page end, an instruction that changes how later bytes execute).
/// Cached by physical address plus the mode bits that affect decoding.
/// </summary>
public sealed class DecodedBlock
{
    public DecodedBlock(uint phys, uint mode, Insn[] insns, int byteLength, bool endsInBranch, uint lastPhys)
    {
        Phys = phys;
        Mode = mode;
        Insns = insns;
        ByteLength = byteLength;
        EndsInBranch = endsInBranch;
        LastPhys = lastPhys;
    }

    /// <summary>Physical address of the first byte.</summary>
    public uint Phys { get; }
    /// <summary>Mode bits the block was decoded under (see <see cref="BlockCache.ModeKey"/>).</summary>
    public uint Mode { get; }
    public Insn[] Insns { get; }
    /// <summary>Bytes covered, from the first byte of the first instruction to the last byte of the last.</summary>
    public int ByteLength { get; }
    /// <summary>The last instruction sets EIP itself (jump, call, return, interrupt).</summary>
    public bool EndsInBranch { get; }
    /// <summary>Physical address of the last byte (differs in page from <see cref="Phys"/> only for a page-straddling instruction).</summary>
    public uint LastPhys { get; }

    /// <summary>False once a write over its bytes (or a flush) has invalidated it.</summary>
    public bool Valid { get; internal set; } = true;

    /// <summary>Times the dispatcher entered this block (hotness, for the translator).</summary>
    public long ExecutionCount;

    public int EndOffset => ByteLength;
}
