using System.Diagnostics;
using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>
/// Turns one decoded guest block into one <see cref="DynamicMethod"/>. Instructions with an emitter are emitted
/// inline (registers in locals, lazy flags in locals, memory through the inline TLB path); the others call their
/// interpreter handler after writing registers and flags back. A block whose final branch returns to its own first
/// instruction loops inside the method, counting instructions against the run's limit.
/// </summary>
public sealed class Translator
{
    readonly EmitterTable table;

    internal Translator(EmitterTable table) => this.table = table;

    public Translator() : this(EmitterTable.Default) { }

    /// <summary>Iced codes the translator emits inline (the rest fall back to the interpreter).</summary>
    public IEnumerable<Code> InlineCodes => table.Codes;

    // LSS changes SS (and with it the stack size compiled into PUSH/POP): nothing after it in the block is translated.
    static bool ChangesStackSize(ushort code) => (Code)code is Code.Lss_r16_m1616 or Code.Lss_r32_m1632;

    /// <summary>
    /// Translates the region entered at <paramref name="block"/>, the block at the processor's current CS:EIP: with
    /// a <paramref name="cache"/>, the blocks of the same page its direct branches reach are gathered in (see
    /// <see cref="Region"/>); without one, the block alone. The members are registered as dependents of the entry.
    /// </summary>
    public TranslatedBlock Translate(DecodedBlock block, Processor cpu, BlockCache? cache = null)
    {
        var job = Prepare(block, cpu, cache);
        var tb = Compile(job);
        job.RegisterDependents();
        return tb;
    }

    /// <summary>
    /// The part of a translation that reads the processor and the block cache (so it runs on the thread that runs
    /// the guest): gathering the region and the facts the code is compiled for.
    /// </summary>
    public TranslationJob Prepare(DecodedBlock block, Processor cpu, BlockCache? cache = null, long minMemberRuns = 0)
    {
        long start = Stopwatch.GetTimestamp();
        Members.Layout(cpu);
        var region = cache is null
            ? Region.Single(block, Emitters.ControlFlow.Successors)
            : Region.Gather(block, cpu, cache, Emitters.ControlFlow.Successors, Emitters.ControlFlow.EndsInCall, minMemberRuns);
        return new TranslationJob(region, cpu.Stack32, cpu.Model.Is286, cpu.Backing, Stopwatch.GetElapsedTime(start))
        {
            FlatSegments = WritesSegment(region) ? 0 : FlatMask(cpu),
            DirectReadEnd = DirectReads(block, cpu),
        };
    }

    /// <summary>
    /// Where reads may bypass the TLB: with paging off and the A20 gate open, a linear address is the physical one,
    /// so an access inside the RAM above 1 MiB (<see cref="TranslationJob.DirectReadStart"/> to the end returned) is
    /// a plain load from guest RAM. 0 when that does not hold now. Writes keep the TLB path, which is what keeps
    /// code pages from being written unseen. Only code above 1 MiB gets direct reads (a read outside the range takes
    /// the helper, not the TLB): code below it (firmware, boot loaders, real-mode programs) mostly reads below it.
    /// </summary>
    static uint DirectReads(DecodedBlock entry, Processor cpu)
    {
        if (entry.Phys < TranslationJob.DirectReadStart || cpu.PagingEnabled || cpu.PhysicalAddressMask != uint.MaxValue || !ReferenceEquals(cpu.Backing, cpu.Memory.Backing)) return 0;
        uint end = cpu.Memory.RamRunEnd(TranslationJob.DirectReadStart);
        return end >= TranslationJob.DirectReadStart + PhysicalMemory.PageSize ? end : 0;
    }

    /// <summary>
    /// The data segments (bit per SegReg) that are flat now (<see cref="Segment.IsFlat"/>).
    /// </summary>
    static int FlatMask(Processor cpu)
    {
        int mask = 0;
        foreach (int s in (ReadOnlySpan<int>)[SegReg.ES, SegReg.SS, SegReg.DS, SegReg.FS, SegReg.GS])
            if (cpu.Seg[s].IsFlat) mask |= 1 << s;
        return mask;
    }

    /// <summary>
    /// Whether an instruction of the region may load a segment register and go on in the method (the far
    /// transfers, interrupts and returns that also load them always leave it): then no access assumes flatness.
    /// </summary>
    static bool WritesSegment(Region region)
    {
        foreach (ref readonly Insn i in region.Insns.AsSpan())
        {
            var code = (Code)i.Code;
            switch (code.Mnemonic())
            {
                case Mnemonic.Lds or Mnemonic.Les or Mnemonic.Lfs or Mnemonic.Lgs or Mnemonic.Lss or Mnemonic.Loadall
                    or Mnemonic.Rsm or Mnemonic.Sysenter or Mnemonic.Sysexit or Mnemonic.Iret or Mnemonic.Iretd
                    or Mnemonic.Retf or Mnemonic.Int or Mnemonic.Int1 or Mnemonic.Int3 or Mnemonic.Into:
                    return true;
            }
            if (code is Code.Mov_Sreg_rm16 or Code.Mov_Sreg_r32m16 or Code.Popw_ES or Code.Popd_ES or Code.Popw_SS or Code.Popd_SS
                or Code.Popw_DS or Code.Popd_DS or Code.Popw_FS or Code.Popd_FS or Code.Popw_GS or Code.Popd_GS
                or Code.Jmp_ptr1616 or Code.Jmp_ptr1632 or Code.Jmp_m1616 or Code.Jmp_m1632
                or Code.Call_ptr1616 or Code.Call_ptr1632 or Code.Call_m1616 or Code.Call_m1632)
                return true;
        }
        return false;
    }

    /// <summary>
    /// Generates and compiles the method for a prepared region. Touches neither the processor nor the cache, so it
    /// may run on another thread; the caller installs the result (and checks the members are still valid).
    /// </summary>
    public TranslatedBlock Compile(TranslationJob job)
    {
        long start = Stopwatch.GetTimestamp();
        var region = job.Region;
        var block = region.Entry;
        var tb = new TranslatedBlock(region, job.Backing);
        var dm = new DynamicMethod($"x86_{block.Phys:X8}_{block.Mode:X}", typeof(int),
            [typeof(TranslatedBlock), typeof(Processor)], typeof(Translator).Module, skipVisibility: true);
        var il = dm.GetILGenerator(512);
        Insn[] insns = region.Insns;
        int n = insns.Length;

        var entries = new EmitterEntry?[n];
        for (int k = 0; k < n; k++)
        {
            var e = table.Find(insns[k].Code);
            if (e is not null && (e.Flags & FlagUse.NoRepeat) != 0 &&
                (job.Is286 || (insns[k].Prefixes & (InsnPrefix.Rep | InsnPrefix.Repne)) != 0)) e = null;
            entries[k] = e;
        }
        bool[] flagsNeeded = FlagLiveness(entries, region, out bool[] liveIn, out bool[] singleEdge);
        var cx = new EmitContext(il, region, liveIn, singleEdge, job.Stack32, job.Backing, job.FlatSegments, job.DirectReadEnd);

        cx.EmitPrologue();
        int inline = 0;
        for (int m = 0; m < region.Count; m++)
        {
            cx.BeginMember(m);
            var member = region.Blocks[m];
            int first = region.FirstInsn[m], end = region.EndInsn(m);
            bool ended = false;
            for (int k = first; k < end && !ended; k++)
            {
                ref Insn ins = ref insns[k];
                cx.BeginInstruction(k, flagsNeeded[k]);
                var e = entries[k];
                if (e is not null)
                {
                    // The flag liveness above was computed from the emitter's declared use, so an emitter must not
                    // change its mind here and hand the instruction back.
                    if (!e.Emit(cx, ref ins)) throw new InvalidOperationException($"emitter for {(Code)ins.Code} declined an instruction");
                    inline++;
                    if ((e.Flags & FlagUse.Branch) != 0) ended = true;
                    else cx.EndInstruction();
                    continue;
                }
                bool setsEip = k == end - 1 && member.EndsInBranch;
                cx.Interpret(setsEip, k);
                if (setsEip) ended = true;
                else if (ChangesStackSize(ins.Code))
                {
                    cx.LoadNextEip();
                    cx.Exit(k + 1, 0);
                    ended = true;
                }
            }
            if (!ended)
            {
                // The block stopped without a branch: at the decoder's length cap a region may continue with the
                // next block; otherwise (page end, an instruction that changes how later code runs) leave here.
                if (entries[end - 1] is not null && region.Successors[m].Length > 0) cx.ContinueAtNext();
                else
                {
                    cx.LoadNextEip();                         // index is the last instruction
                    cx.Exit(end, 0);
                }
            }
        }
        cx.EmitStubs();

        long emitted = Stopwatch.GetTimestamp();
        tb.Code = (TranslatedCode)dm.CreateDelegate(typeof(TranslatedCode), tb);
        tb.Code(null);                                        // compile now, not on the first real call
        tb.EmitTime = Stopwatch.GetElapsedTime(start, emitted);
        tb.InlineInstructions = inline;
        tb.IlBytes = il.ILOffset;
        tb.HasLoop = cx.LoopEmitted;
        tb.CompileTime = Stopwatch.GetElapsedTime(start) + job.GatherTime;
        return tb;
    }

    /// <summary>
    /// Backward liveness of the arithmetic flags over the region: flagsNeeded[k] says whether anything after
    /// instruction k reads the flags it produces before they are fully overwritten; liveIn[m] whether member m
    /// reads them before producing its own. Exits out of the region, interpreted instructions and instructions
    /// that can fault count as readers (a fault makes the flags before it architecturally visible).
    /// </summary>
    static bool[] FlagLiveness(EmitterEntry?[] entries, Region region, out bool[] liveIn, out bool[] singleEdge)
    {
        int n = entries.Length;
        var needed = new bool[n];
        liveIn = new bool[region.Count];
        var successors = new List<int>[region.Count];
        var exits = new bool[region.Count];
        for (int m = 0; m < region.Count; m++)
        {
            successors[m] = new List<int>();
            long[] succ = region.Successors[m];
            // A member's last instruction leaves the region unless every place it continues at is a member it
            // branches to inside the method (an inline direct transfer; an interpreted one always exits).
            exits[m] = entries[region.EndInsn(m) - 1] is null || succ.Length == 0;
            foreach (long rel in succ)
            {
                int t = region.MemberAt(region.ByteOffsets[m] + rel);
                if (t < 0) exits[m] = true; else successors[m].Add(t);
                // A backward edge leaves the method when the run's budget is used up: the flags must be exact there.
                if (t >= 0 && region.ByteOffsets[t] <= region.ByteOffsets[m]) exits[m] = true;
            }
        }
        // Members reached by exactly one edge (return sites are reached by every RET of the region: never single).
        var edges = new int[region.Count];
        for (int m = 0; m < region.Count; m++)
            foreach (int t in successors[m]) edges[t]++;
        singleEdge = new bool[region.Count];
        for (int t = 1; t < region.Count; t++) singleEdge[t] = edges[t] == 1 && !region.ReturnSites.Contains(t);

        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int m = region.Count - 1; m >= 0; m--)
            {
                bool live = exits[m];
                foreach (int t in successors[m]) live |= liveIn[t];
                for (int k = region.EndInsn(m) - 1; k >= region.FirstInsn[m]; k--)
                {
                    needed[k] = live;
                    var f = entries[k]?.Flags ?? (FlagUse.Reads | FlagUse.Faults);
                    bool faults = (f & FlagUse.Faults) != 0 || ((f & FlagUse.CanFault) != 0 && region.Insns[k].HasMemory);
                    bool writesAll = (f & FlagUse.WritesAll) != 0 || ((f & FlagUse.ImmShift) != 0 && (region.Insns[k].Imm & 0x1F) != 0);
                    bool reads = faults || (f & FlagUse.Reads) != 0 || (live && !writesAll && (f & FlagUse.Merges) != 0);
                    live = reads || (live && !writesAll);
                }
                if (live && !liveIn[m])
                {
                    liveIn[m] = true;
                    changed = true;
                }
            }
        }
        return needed;
    }
}

/// <summary>A region gathered for translation, with the compile-time facts taken from the processor.</summary>
public sealed class TranslationJob
{
    internal TranslationJob(Region region, bool stack32, bool is286, byte[] backing, TimeSpan gatherTime)
    {
        Backing = backing;
        Region = region;
        Stack32 = stack32;
        Is286 = is286;
        GatherTime = gatherTime;
    }

    internal Region Region { get; }

    /// <summary>
    /// Segments (bit per SegReg) flat when the region was gathered, with no segment load inside it: accesses through
    /// them skip the limit check and the base, and the method checks on entry that those it uses are still flat.
    /// </summary>
    public int FlatSegments { get; init; }

    /// <summary>
    /// Reads of linear addresses in [<see cref="DirectReadStart"/>, this) load guest RAM directly (paging was off and
    /// the A20 gate open when the region was gathered; the method checks both on entry). 0: every read uses the TLB.
    /// </summary>
    public uint DirectReadEnd { get; init; }

    /// <summary>Below 1 MiB lie the VGA window, ROMs and shadow RAM: reads there keep the TLB path.</summary>
    public const uint DirectReadStart = 0x100000;

    /// <summary>The stack segment was 32-bit (the method checks it on entry).</summary>
    public bool Stack32 { get; }

    public TimeSpan GatherTime { get; }

    /// <summary>
    /// Guest RAM as it was when the region was gathered: the code addresses it directly (it is pinned), so a
    /// translation must not be installed once the memory map has replaced it.
    /// </summary>
    public byte[] Backing { get; }

    /// <summary>The model is a 286 (whose faulting string instructions stay in the interpreter).</summary>
    public bool Is286 { get; }

    public DecodedBlock Entry => Region.Entry;

    /// <summary>Every block of the region is still valid (none was overwritten since it was gathered).</summary>
    public bool StillValid
    {
        get
        {
            foreach (var b in Region.Blocks)
                if (!b.Valid) return false;
            return true;
        }
    }

    /// <summary>Records the entry as a dependent of the other members (a write over any of them drops the translation).</summary>
    public void RegisterDependents()
    {
        for (int m = 1; m < Region.Count; m++) Region.Blocks[m].AddDependent(Region.Entry);
    }
}
