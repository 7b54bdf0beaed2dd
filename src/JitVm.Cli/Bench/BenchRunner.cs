using System.Globalization;
using System.Text;
using JitVm.Cli.Commands;
using JitVm.Cpu;
using JitVm.Machine;
using JitVm.Machine.Boot;

namespace JitVm.Cli.Bench;

/// <summary>A kernel to benchmark: a built-in workload or an external Multiboot file.</summary>
/// <param name="Builtin">True for the project's own workloads, which must print a checksum line and exit with success.</param>
internal sealed record BenchKernel(string Name, byte[] Image, bool Builtin);

/// <summary>One kernel on one engine: the fastest of the repeats.</summary>
internal sealed record BenchRun(string Kernel, string Engine, RunResult Result, EngineStatistics? Statistics, string Debug, string Serial)
{
    /// <summary>Ended the way a benchmark kernel should: through the debug-exit port with status 1 (guest wrote 0).</summary>
    public bool Succeeded => Result.Reason == ExitReason.DebugExit && Result.GuestExitCode == 1;
}

/// <summary>
/// Runs kernels on engines, each run in a fresh machine with the guest's output captured, and reports the table
/// and every disagreement between engines.
/// </summary>
internal sealed class BenchRunner(CpuModel cpu, uint memoryBytes, double maxSeconds, int repeat)
{
    public BenchRun Run(BenchKernel kernel, EngineChoice engine)
    {
        BenchRun? best = null;
        for (int i = 0; i < Math.Max(1, repeat); i++)
        {
            var debug = new MemoryStream();
            var serial = new MemoryStream();
            var machine = new Machine.Machine(new MachineConfig
            {
                Cpu = cpu,
                MemoryBytes = memoryBytes,
                Kernel = new KernelImage(kernel.Image),
                DebugConsole = debug.WriteByte,
                Serial = serial.WriteByte,
                MaxSeconds = maxSeconds,
                EngineFactory = engine.Factory,
                EngineName = engine.Name,
            });
            var stats = machine.Engine as IEngineStatistics;
            var before = stats?.GetStatistics();
            var result = machine.Run();
            var after = stats?.GetStatistics();
            var run = new BenchRun(kernel.Name, engine.Name, result, Delta(before, after),
                Encoding.Latin1.GetString(debug.ToArray()), Encoding.Latin1.GetString(serial.ToArray()));
            if (best is null || run.Result.Seconds < best.Result.Seconds) best = run;
        }
        return best!;
    }

    /// <summary>The counters of one run (the machine is fresh, but an engine may count its own warm-up).</summary>
    static EngineStatistics? Delta(EngineStatistics? b, EngineStatistics? a)
    {
        if (a is null || b is null) return a;
        return a with
        {
            InterpretedInstructions = a.InterpretedInstructions - b.InterpretedInstructions,
            TranslatedInstructions = a.TranslatedInstructions - (b.TranslatedInstructions ?? 0),
            BlocksDecoded = a.BlocksDecoded - b.BlocksDecoded,
            BlocksCompiled = a.BlocksCompiled - (b.BlocksCompiled ?? 0),
            CompileTime = a.CompileTime - (b.CompileTime ?? TimeSpan.Zero),
            CacheLookups = a.CacheLookups - b.CacheLookups,
            CacheHits = a.CacheHits - b.CacheHits,
            CacheMisses = a.CacheMisses - b.CacheMisses,
            Invalidations = a.Invalidations - b.Invalidations,
            Evictions = a.Evictions - (b.Evictions ?? 0),
            CacheFlushes = a.CacheFlushes - b.CacheFlushes,
        };
    }

    public static readonly string Header =
        $"{"workload",-16} {"engine",-7} {"instructions",15} {"seconds",8} {"MIPS",8} {"speed-up",8} {"compile-ms",10} {"blocks",7}  result";

    /// <summary>One table row; <paramref name="baseline"/> is the interpreter's run of the same kernel, if any.</summary>
    public static string Row(BenchRun r, BenchRun? baseline)
    {
        var s = r.Statistics;
        string speedup = baseline is not null && r.Result.Seconds > 0 ? $"{baseline.Result.Seconds / r.Result.Seconds:F2}x" : "-";
        string compile = s?.CompileTime is { } t ? (t.TotalMilliseconds).ToString("F1", CultureInfo.InvariantCulture) : "-";
        string blocks = s?.BlocksCompiled is { } b ? b.ToString(CultureInfo.InvariantCulture) : "-";
        string outcome = r.Succeeded ? "ok" : r.Result.Summary["exit: ".Length..];
        return string.Create(CultureInfo.InvariantCulture,
            $"{r.Kernel,-16} {r.Engine,-7} {r.Result.Instructions,15:N0} {r.Result.Seconds,8:F3} {r.Result.Mips,8:F1} {speedup,8} {compile,10} {blocks,7}  {outcome}");
    }

    /// <summary>
    /// Everything wrong with a kernel's runs: an engine whose guest output differs from the first engine's (port
    /// 0xE9 or COM1), a built-in workload that did not finish with success or printed no checksum.
    /// </summary>
    public static List<string> Problems(BenchKernel kernel, IReadOnlyList<BenchRun> runs)
    {
        var problems = new List<string>();
        if (runs.Count == 0) return problems;
        var reference = runs[0];
        foreach (var r in runs)
        {
            if (kernel.Builtin && !r.Succeeded)
                problems.Add($"{kernel.Name} on {r.Engine}: did not finish with success ({r.Result.Summary})");
            if (kernel.Builtin && !r.Debug.Contains("checksum: ", StringComparison.Ordinal))
                problems.Add($"{kernel.Name} on {r.Engine}: printed no checksum");
            if (ReferenceEquals(r, reference)) continue;
            if (r.Debug != reference.Debug)
                problems.Add($"{kernel.Name}: MISMATCH on port 0xE9 between {reference.Engine} and {r.Engine}: {Difference(reference.Debug, r.Debug)}");
            if (r.Serial != reference.Serial)
                problems.Add($"{kernel.Name}: MISMATCH on COM1 between {reference.Engine} and {r.Engine}: {Difference(reference.Serial, r.Serial)}");
            if (r.Result.Reason != reference.Result.Reason || r.Result.GuestExitCode != reference.Result.GuestExitCode)
                problems.Add($"{kernel.Name}: MISMATCH in how the run ended: {reference.Engine} {reference.Result.Summary} / {r.Engine} {r.Result.Summary}");
        }
        return problems;
    }

    /// <summary>Where two outputs first differ, with a little of each around it.</summary>
    internal static string Difference(string a, string b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        static string Around(string s, int at) =>
            at >= s.Length ? "<end>" : "\"" + s.Substring(Math.Max(0, at - 20), Math.Min(s.Length, at + 40) - Math.Max(0, at - 20)).ReplaceLineEndings("\\n") + "\"";
        return $"first difference at byte {i} ({a.Length} vs {b.Length} bytes): {Around(a, i)} vs {Around(b, i)}";
    }
}
