using System.Diagnostics;
using JitVm.CacheInspector;
using JitVm.Jit;
using JitVm.Workloads;

namespace JitVm.Machine.Tests.Tools;

/// <summary>
/// Runs the self-modifying workload in a child <c>jitvm run --engine jit</c>, attaches to it with ClrMD while it
/// compiles and invalidates translations, and checks what the inspector reads against the engine's own bookkeeping.
/// </summary>
public class CacheInspectorTests
{
    /// <summary>Long enough that the guest is still running when the test attaches (it is killed right after).</summary>
    static readonly int Iterations = Workload.Find("self-modifying")!.DefaultIterations * 4;

    const int MaxTranslations = JitEngine.MaxTranslations;
    const uint GuestCodeStart = 0x100000;
    const int MinReads = 12;                   // the workload kernel is linked at 1 MiB

    [Fact]
    public void TheInspectorReadsTheTranslationCacheOfARunningJitvm()
    {
        string kernel = Path.Combine(Path.GetTempPath(), $"jitvm-cacheinspect-{Environment.ProcessId}.elf");
        File.WriteAllBytes(kernel, Workload.Find("self-modifying")!.Build(Iterations));
        CacheReport report;
        try
        {
            using var child = JitvmChild.Start(redirectInput: false,
                "run", "--kernel", kernel, "--engine", "jit", "--debugcon", "stdio", "--serial", "none");
            // The workload prints its banner on the debug console as it starts: from then on the machine runs (its
            // main thread is in Machine.Run). Before that the process is still starting up, a state the test does
            // not read: a thread stopped in the runtime's method preparation (the prestub, compiling a method on first
            // call) is walked, but without the roots its callers keep in registers, so the half-built machine would
            // look like garbage.
            Assert.True(child.WaitForStdout(o => o.Length > 0, TimeSpan.FromSeconds(60)), $"the workload printed nothing within 60 s: {child.Stderr}");
            // --engine jit compiles each block before it first runs; within a few seconds the guest has rewritten its
            // code many times. A slow start (a cold machine, a loaded CI box) only delays that: look again until the
            // engine has dropped something or 40 s have passed. Every read must see the engine alive (the running
            // machine holds it from the main thread's frames): a read taken while that thread could not be unwound
            // must be retried, never reported. It is a few per cent of the moments the process can be stopped at,
            // so the test reads it a number of times.
            var clock = Stopwatch.StartNew();
            for (int reads = 1; ; reads++)
            {
                var p = child.Process;
                Assert.False(p.WaitForExit(reads == 1 ? 1000 : 100), $"jitvm exited early ({(p.HasExited ? p.ExitCode : 0)}): {child.Stderr}");
                report = InspectionTarget.Read(p.Id, t => CacheAnalysis.Analyze(t.Runtime, paths: int.MaxValue));
                var engines = report.Engines;
                Assert.True(engines.Count == 1 && engines[0].Reachable, $"read {reads}: engines {string.Join(", ", engines.Select(e => $"0x{e.Address:x} reachable={e.Reachable}"))}");
                if (reads >= MinReads && engines[0].BlocksCompiled > report.Translations.Reachable + 4) break;
                if (clock.Elapsed > TimeSpan.FromSeconds(40)) break;
            }
        }
        finally
        {
            File.Delete(kernel);
        }

        var engine = Assert.Single(report.Engines);
        Assert.True(engine.Reachable);
        long reachable = report.Translations.Reachable;
        Assert.True(reachable > 0, "no reachable TranslatedBlock");
        // Translations of code the guest has since overwritten must not be kept: far fewer are reachable than were compiled.
        Assert.True(engine.BlocksCompiled > reachable, $"{engine.BlocksCompiled} compiled, {reachable} reachable ({report.Translations.ReachableStale} stale)");
        // The stale ones left wait in the engine's queue for its next sweep; nothing else may hold them.
        Assert.Equal(report.Translations.ReachableStale, report.Translations.StaleRetention.Count);
        foreach (var p in report.Translations.StaleRetention)
            Assert.True(p.Path.Contains("JitVm.Jit.JitEngine .live"), $"stale 0x{p.Phys:x} kept by {string.Join(" -> ", p.Path)}");
        Assert.True(reachable <= engine.LiveQueue + 4, $"{reachable} reachable translations, {engine.LiveQueue} in the engine's live queue");
        Assert.True(reachable <= MaxTranslations, $"{reachable} reachable translations");
        Assert.True(report.ReachableDynamicMethods >= reachable, $"{report.ReachableDynamicMethods} DynamicMethods for {reachable} translations");
        Assert.True(report.NativeCode.Bytes > 0 && report.NativeCode.Resolved > 0, $"native code: {report.NativeCode}");
        Assert.True(report.Heap.Bytes > 0, "no managed bytes under the translations");
        var largest = report.Largest[0];
        Assert.True(largest.Phys >= GuestCodeStart, $"largest translation at 0x{largest.Phys:x}");
        Assert.True(largest.NativeBytes > 0 && largest.IlBytes > 0 && largest.BlockCount >= 1);
    }
}
