using System.Collections.Concurrent;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit;

/// <summary>
/// The translating engine: the interpreter's dispatcher with a translator attached. <c>jit</c> compiles every
/// block before its first execution (threshold 0); <c>auto</c> interprets a block until it has run
/// <see cref="Threshold"/> times, then compiles it. Whatever the translator leaves out (cold code, the careful
/// debug path, instructions without an emitter) runs in the interpreter on the same state.
/// </summary>
public sealed class JitEngine : IExecutionEngine, IBlockTranslator, ICodeInvalidationSink, IEngineStatistics
{
    /// <summary>Default hotness threshold of the <c>auto</c> engine.</summary>
    public const int DefaultThreshold = 128;

    /// <summary>
    /// A region takes in blocks that have run at least 1/this of <see cref="Threshold"/> times (8 at the default):
    /// rarely taken paths stay out of the IL, which makes compiles faster and so hot code waits less in the queue.
    /// Measured on the Linux boot (to the shell, 3-4 interleaved runs each): every decoded block 17.4-19.9 s, at
    /// least 4 runs 15.9-19.5 s, 8 runs 15.4-17.8 s, 16 runs 15.9-19.0 s, 32 runs 17.8-19.0 s.
    /// </summary>
    public const int MemberRunDivisor = 16;

    /// <summary>Translations kept at most; beyond it the oldest are evicted (their blocks run interpreted until hot again).</summary>
    public const int MaxTranslations = 16384;

    /// <summary>
    /// A page whose code has been overwritten this many times (within <see cref="ThrashWindow"/> instructions)
    /// stops being compiled: its blocks run in the interpreter instead of being translated again and again.
    /// </summary>
    public const int ThrashLimit = 4;
    public const long ThrashWindow = 50_000_000;

    /// <summary>Dispatches a refused block waits (on top of the threshold) before the thrash check is made again.</summary>
    public const int RefusalBackoff = 4096;

    readonly Interpreter interpreter;
    readonly Translator translator;
    readonly List<TimeSpan> compileTimes = new();
    readonly List<TimeSpan> perBlockTimes = new();
    readonly Queue<TranslatedBlock> live = new();
    int keptAtSweep, compiledSinceSweep;
    readonly Dictionary<uint, (int Count, long Since)> pageWrites = new();

    // Background compilation: jobs gathered on the guest thread, compiled on a worker (hottest first), installed back
    // on the guest thread at the next dispatch that asks for a translation (or the next Run).
    readonly CompileQueue<TranslationJob> queued = new(
        job => Volatile.Read(ref job.Entry.ExecutionCount),
        job => ReferenceEquals(job.Entry.TranslatorData, job));
    readonly ConcurrentQueue<(TranslationJob Job, TranslatedBlock? Block, Exception? Error)> finished = new();
    /// <summary>The worker queued a result since the guest thread last drained <see cref="finished"/> (a flag is one
    /// load on every dispatch of an untranslated block; asking the queue is a dozen).</summary>
    int finishedWaiting;
    int workerRunning;

    public JitEngine(Processor cpu, int threshold = DefaultThreshold, bool background = false)
        : this(cpu, new Translator(), threshold, background) { }

    internal JitEngine(Processor cpu, Translator translator, int threshold = DefaultThreshold, bool background = false)
    {
        this.translator = translator;
        Threshold = threshold;
        Background = background;
        interpreter = new Interpreter(cpu) { Translator = this };
        cpu.Memory.Code.AddSink(this);
        cpu.Memory.MapChanged += OnMapChanged;
    }

    public long Evictions { get; private set; }
    public long Invalidations { get; private set; }
    public long ThrashRefusals { get; private set; }

    long translationsDroppedSeen;

    public Processor Cpu => interpreter.Cpu;
    public Interpreter Interpreter => interpreter;
    public int Threshold { get; }

    /// <summary>
    /// Hot blocks are compiled on a worker thread while the interpreter keeps running them; the translation is used
    /// from the first dispatch after it is ready. Guest behaviour is the same; which instructions run translated
    /// (and so the engine statistics) then depends on host timing.
    /// </summary>
    public bool Background { get; }

    /// <summary>Translations compiled in the background and dropped because a block of theirs was overwritten meanwhile.</summary>
    public long StaleTranslations { get; private set; }

    public long BlocksCompiled { get; private set; }
    public TimeSpan TotalCompileTime { get; private set; }
    public long InlineInstructions { get; private set; }
    public long InterpretedInstructionsInTranslations { get; private set; }

    /// <summary>Compile times of every translation so far (for the median).</summary>
    public IReadOnlyList<TimeSpan> CompileTimes => compileTimes;

    public StopReason Run(long budget)
    {
        if (Volatile.Read(ref finishedWaiting) != 0) InstallFinished();
        return interpreter.Run(budget);
    }

    public EngineStatistics GetStatistics()
    {
        var blocks = interpreter.Blocks;
        long translated = interpreter.TranslatedInstructions;
        return new EngineStatistics
        {
            InterpretedInstructions = Cpu.InstructionCount - translated,
            TranslatedInstructions = translated,
            BlocksDecoded = blocks.Decoded,
            LiveBlocks = blocks.Count,
            BlocksCompiled = BlocksCompiled,
            CompileTime = TotalCompileTime,
            MedianCompileTime = MedianCompileTime,
            BlocksTranslated = BlocksTranslated,
            CompileFailures = CompileFailures,
            LinkedDispatches = interpreter.LinkedDispatches,
            MedianCompileTimePerBlock = Median(perBlockTimes),
            CacheLookups = blocks.Lookups,
            CacheHits = blocks.Lookups - blocks.Misses,
            CacheMisses = blocks.Misses,
            Invalidations = blocks.InvalidatedBlocks,
            Evictions = Evictions,
            CacheFlushes = blocks.Flushes,
        };
    }

    /// <summary>The median time to translate one region (gathering, IL generation and RyuJIT).</summary>
    public TimeSpan MedianCompileTime => Median(compileTimes);

    /// <summary>Guest blocks inside the translations compiled so far.</summary>
    public long BlocksTranslated { get; private set; }

    static TimeSpan Median(List<TimeSpan> times)
    {
        if (times.Count == 0) return TimeSpan.Zero;
        var sorted = times.ToArray();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    public TranslatedCode? Translate(DecodedBlock block)
    {
        if (Volatile.Read(ref finishedWaiting) != 0) InstallFinished();
        if (block.ExecutionCount < Threshold || !block.Cacheable) return null;
        if (block.TranslatorData is TranslationJob) return null;                  // being compiled
        if (pageWrites.Count > 0 && Thrashing(block.Phys >> PhysicalMemory.PageShift))
        {
            // Ask again only after a while: the page's count is a dictionary lookup, not for every dispatch.
            ThrashRefusals++;
            block.ExecutionCount = -RefusalBackoff;
            return null;
        }
        var job = translator.Prepare(block, interpreter.Cpu, interpreter.Blocks, Threshold / MemberRunDivisor);
        if (Background)
        {
            block.TranslatorData = job;
            queued.Add(job);
            if (Interlocked.CompareExchange(ref workerRunning, 1, 0) == 0)
                new Thread(Work) { IsBackground = true, Name = "jitvm-compile" }.Start();
            return null;
        }
        TranslatedBlock tb;
        try
        {
            tb = translator.Compile(job);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            CompileFailed(block, e);
            return null;
        }
        Install(job, tb);
        return tb.Code;
    }

    /// <summary>The compile worker: takes jobs until none has come for a while, then ends (a later job starts another).</summary>
    void Work()
    {
        while (true)
        {
            while (queued.TakeHottest(1000) is { } job)
            {
                try
                {
                    finished.Enqueue((job, translator.Compile(job), null));
                }
                catch (Exception e)
                {
                    finished.Enqueue((job, null, e));
                }
                Volatile.Write(ref finishedWaiting, 1);
            }
            Volatile.Write(ref workerRunning, 0);
            // A job added between the last take and the flag: pick it up unless another worker has.
            if (queued.IsEmpty || Interlocked.CompareExchange(ref workerRunning, 1, 0) != 0) return;
        }
    }

    void InstallFinished()
    {
        Interlocked.Exchange(ref finishedWaiting, 0);          // a full fence before draining: a result queued after it sets it again
        while (finished.TryDequeue(out var f))
        {
            var entry = f.Job.Entry;
            if (f.Error is not null)
            {
                CompileFailed(entry, f.Error);
                continue;
            }
            if (!ReferenceEquals(entry.TranslatorData, f.Job)) continue;            // evicted or invalidated meanwhile
            if (!f.Job.StillValid || !ReferenceEquals(f.Job.Backing, interpreter.Cpu.Backing))
            {
                entry.TranslatorData = null;
                StaleTranslations++;
                continue;
            }
            Install(f.Job, f.Block!);
        }
    }

    /// <summary>Translations that could not be built (a translator bug: the block runs interpreted from then on).</summary>
    public long CompileFailures { get; private set; }

    /// <summary>What went wrong the first time a translation could not be built, for the statistics and logs.</summary>
    public string? FirstCompileFailure { get; private set; }

    // The guest must not pay for a translator bug: the block stays with the interpreter, which runs it correctly.
    void CompileFailed(DecodedBlock block, Exception e)
    {
        CompileFailures++;
        FirstCompileFailure ??= $"block at {block.Phys:X8}: {e.GetType().Name}: {e.Message}";
        if (block.TranslatorData is TranslationJob) block.TranslatorData = null;
        block.ExecutionCount = long.MinValue / 2;
    }

    void Install(TranslationJob job, TranslatedBlock tb)
    {
        var block = job.Entry;
        if (compiledSinceSweep >= Math.Max(keptAtSweep, 1)) Sweep();
        if (live.Count >= MaxTranslations) Evict();
        job.RegisterDependents();
        live.Enqueue(tb);
        compiledSinceSweep++;
        block.Translation = tb.Code;
        block.TranslatorData = tb;
        BlocksCompiled++;
        TotalCompileTime += tb.CompileTime;
        compileTimes.Add(tb.CompileTime);
        perBlockTimes.Add(tb.CompileTime / tb.BlockCount);
        BlocksTranslated += tb.BlockCount;
        InlineInstructions += tb.InlineInstructions;
        InterpretedInstructionsInTranslations += tb.Insns.Length - tb.InlineInstructions;
    }

    bool Thrashing(uint page)
    {
        if (!pageWrites.TryGetValue(page, out var w)) return false;
        if (interpreter.Cpu.InstructionCount - w.Since > ThrashWindow)
        {
            pageWrites.Remove(page);                          // quiet for a while: compile again
            return false;
        }
        return w.Count >= ThrashLimit;
    }

    /// <summary>
    /// Drops the translations whose code has been overwritten since they were compiled: the block cache forgets an
    /// invalidated block (or a region whose member was written), but this queue would keep the translation, its
    /// DynamicMethod and native code, and the dead block until eviction reached it. Runs once as many translations
    /// have been compiled as the last sweep kept, so it costs O(1) per translation amortised.
    /// </summary>
    void Sweep()
    {
        for (int n = live.Count; n > 0; n--)
        {
            var t = live.Dequeue();
            if (t.Block.Valid && t.IsInstalled) live.Enqueue(t);
        }
        keptAtSweep = live.Count;
        compiledSinceSweep = 0;
    }

    void Evict()
    {
        // Oldest first; a translation whose block was already invalidated costs nothing to drop.
        while (live.Count >= MaxTranslations)
        {
            var old = live.Dequeue();
            if (old.IsInstalled)
            {
                old.Block.DropTranslation();
                old.Block.ExecutionCount = 0;
                Evictions++;
            }
        }
    }

    /// <summary>
    /// Writes over decoded code (the block cache, an earlier sink, has dropped the blocks and their translations):
    /// those that cost a translation are counted per page. A write that only hit decoded blocks wastes no compile
    /// time (Linux turning every function's ftrace call into a NOP at boot writes most text pages many times).
    /// </summary>
    public void InvalidateCode(uint phys, int length)
    {
        Invalidations++;
        long dropped = interpreter.Blocks.TranslationsDropped;
        if (dropped == translationsDroppedSeen) return;
        translationsDroppedSeen = dropped;
        uint page = phys >> PhysicalMemory.PageShift;
        long now = interpreter.Cpu.InstructionCount;
        pageWrites[page] = pageWrites.TryGetValue(page, out var w) && now - w.Since <= ThrashWindow ? (w.Count + 1, w.Since) : (1, now);
    }

    /// <summary>
    /// The memory map changed (a ROM was mapped): guest RAM now lives in another host array, which every translation
    /// addressed directly. Drop them all; a translation running now (an interpreted instruction caused this) leaves
    /// after the current instruction.
    /// </summary>
    void OnMapChanged()
    {
        foreach (var t in live)
            if (t.IsInstalled) t.Block.DropTranslation();
        InvalidateAllCode();
        interpreter.Cpu.ExitBlock = true;
    }

    public void InvalidateAllCode()
    {
        live.Clear();
        keptAtSweep = compiledSinceSweep = 0;
    }
}
