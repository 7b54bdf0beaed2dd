using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>
/// What one <see cref="System.Reflection.Emit.DynamicMethod"/> translates: the entry block and the blocks of the
/// same physical page that direct branches (Jcc, JMP, LOOP, CALL rel, a capped block's fall-through) reach from
/// it, transitively, up to <see cref="MaxBlocks"/> blocks and <see cref="MaxInstructions"/> instructions. Branches
/// between members become IL branches, so loops spanning several blocks run inside the method.
/// Offsets are bytes from the entry's first instruction (negative for blocks before it); the method checks on
/// entry that the whole extent is inside the CS limit and does not wrap, and bails out to the interpreter if not.
/// </summary>
internal sealed class Region
{
    public const int MaxBlocks = 16;
    public const int MaxInstructions = 160;

    /// <summary>The member blocks; [0] is the entry.</summary>
    public readonly List<DecodedBlock> Blocks = new();
    /// <summary>Byte offset of each member's first instruction from the entry's.</summary>
    public readonly List<int> ByteOffsets = new();
    /// <summary>
    /// Per member: where its last instruction can continue by a direct transfer, in bytes from the member's start
    /// (what the successor function gave; empty when it can only leave).
    /// </summary>
    public readonly List<long[]> Successors = new();

    /// <summary>Index of each member's first instruction in <see cref="Insns"/>.</summary>
    public readonly List<int> FirstInsn = new();

    /// <summary>The members' instructions, concatenated (copies: handlers never read the block-relative offset).</summary>
    public Insn[] Insns = [];
    /// <summary>Byte offset of each instruction from the entry's first instruction.</summary>
    public int[] Offsets = [];
    /// <summary>Member index of each instruction.</summary>
    public int[] MemberOf = [];

    /// <summary>Members that start right after a member ending in a direct CALL (where a RET in the region may branch).</summary>
    public readonly List<int> ReturnSites = new();

    /// <summary>Lowest and one-past-highest byte offsets covered.</summary>
    public int MinOffset, EndOffset;

    public DecodedBlock Entry => Blocks[0];
    public int Count => Blocks.Count;

    /// <summary>The member starting at byte offset <paramref name="offset"/>, or -1.</summary>
    public int MemberAt(long offset)
    {
        for (int m = 0; m < ByteOffsets.Count; m++)
            if (ByteOffsets[m] == offset) return m;
        return -1;
    }

    /// <summary>One past the last instruction of member <paramref name="m"/>.</summary>
    public int EndInsn(int m) => m + 1 < FirstInsn.Count ? FirstInsn[m + 1] : Insns.Length;

    /// <summary>A region of just <paramref name="block"/>.</summary>
    public static Region Single(DecodedBlock block, Func<DecodedBlock, IEnumerable<long>> successors)
    {
        var r = new Region();
        r.Add(block, 0);
        r.Successors.Add(successors(block).ToArray());
        r.Seal();
        return r;
    }

    void Add(DecodedBlock b, int offset)
    {
        Blocks.Add(b);
        ByteOffsets.Add(offset);
    }

    void Seal()
    {
        int n = 0;
        foreach (var b in Blocks) n += b.Insns.Length;
        Insns = new Insn[n];
        Offsets = new int[n];
        MemberOf = new int[n];
        int k = 0;
        MinOffset = int.MaxValue;
        EndOffset = int.MinValue;
        for (int m = 0; m < Blocks.Count; m++)
        {
            FirstInsn.Add(k);
            var b = Blocks[m];
            foreach (ref Insn ins in b.Insns.AsSpan())
            {
                Insns[k] = ins;
                Offsets[k] = ByteOffsets[m] + ins.Offset;
                MemberOf[k] = m;
                k++;
            }
            MinOffset = Math.Min(MinOffset, ByteOffsets[m]);
            EndOffset = Math.Max(EndOffset, ByteOffsets[m] + b.ByteLength);
        }
    }

    /// <summary>
    /// Gathers the region entered at <paramref name="entry"/> (the block at the processor's current CS:EIP).
    /// <paramref name="successors"/> gives the byte offsets, relative to a block's first instruction, that its
    /// last instruction can continue at by a direct transfer of the code's own operand size. Blocks the dispatcher
    /// has run fewer than <paramref name="minMemberRuns"/> times stay out (an error path taken once costs RyuJIT as
    /// much as a loop body; when it runs, the method leaves to it).
    /// </summary>
    public static Region Gather(DecodedBlock entry, Processor cpu, BlockCache cache, Func<DecodedBlock, IEnumerable<long>> successors, Func<DecodedBlock, bool> endsInCall, long minMemberRuns = 0)
    {
        if (entry.Straddles || !entry.Valid) return Single(entry, successors);
        var r = new Region();
        r.Add(entry, 0);
        bool code32 = (entry.Mode & BlockCache.ModeCode32) != 0;
        uint eipMask = code32 ? 0xFFFFFFFFu : 0xFFFFu;
        uint page = entry.Phys >> PhysicalMemory.PageShift;
        uint eip0 = cpu.Eip;
        int instructions = entry.Insns.Length;
        // Breadth first; every member's successors are recorded, members are added while there is room.
        for (int m = 0; m < r.Blocks.Count; m++)
        {
            long[] next = successors(r.Blocks[m]).ToArray();
            r.Successors.Add(next);
            foreach (long rel in next)
            {
                if (r.Blocks.Count == MaxBlocks) break;
                long off = r.ByteOffsets[m] + rel;
                if (r.MemberAt(off) >= 0) continue;
                long phys = entry.Phys + off;
                if (phys < 0 || (phys >> PhysicalMemory.PageShift) != page) continue;
                long eip = eip0 + off;
                if (eip < 0 || eip > eipMask) continue;
                var b = cache.Find((uint)phys, entry.Mode, (uint)eip);
                if (b is null || b.Straddles || b.Insns.Length == 0) continue;
                if (b.ExecutionCount < minMemberRuns) continue;
                if (instructions + b.Insns.Length > MaxInstructions) continue;
                instructions += b.Insns.Length;
                r.Add(b, (int)off);
            }
        }
        r.Seal();
        for (int m = 0; m < r.Count; m++)
        {
            if (!endsInCall(r.Blocks[m])) continue;
            int site = r.MemberAt(r.ByteOffsets[m] + r.Blocks[m].ByteLength);
            if (site >= 0 && !r.ReturnSites.Contains(site) && r.ReturnSites.Count < MaxReturnSites) r.ReturnSites.Add(site);
        }
        return r;
    }

    /// <summary>Return sites a RET compares against before leaving the method.</summary>
    public const int MaxReturnSites = 4;
}
