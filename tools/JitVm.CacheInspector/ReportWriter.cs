namespace JitVm.CacheInspector;

/// <summary>The human-readable form of a <see cref="CacheReport"/>.</summary>
public static class ReportWriter
{
    public static void Write(TextWriter w, CacheReport r, string source, TimeSpan elapsed)
    {
        w.WriteLine($"{source}: CLR {r.RuntimeVersion}, {r.HeapObjects:N0} objects on the heap, {r.ReachableObjects:N0} reachable from the roots ({elapsed.TotalSeconds:F2} s)");
        if (r.Engines.Count == 0) w.WriteLine("engine: none (the process does not run the JIT engine)");
        foreach (var e in r.Engines)
            w.WriteLine($"engine 0x{e.Address:x}{(e.Reachable ? "" : " (garbage)")}: {e.BlocksCompiled:N0} compiled, {e.LiveQueue:N0} in the live queue, " +
                        $"{e.Invalidations:N0} code writes, {e.Evictions:N0} evictions, {e.ThrashRefusals:N0} thrash refusals");
        var t = r.Translations;
        w.WriteLine($"translations: {t.Reachable:N0} reachable ({t.ReachableStale:N0} stale: their block was invalidated or dropped them), " +
                    $"{t.Unreachable:N0} unreachable (garbage not yet collected)");
        foreach (var p in t.StaleRetention)
            w.WriteLine($"  stale 0x{p.Phys:x8} kept by: {string.Join(" -> ", p.Path)}");
        w.WriteLine($"dynamic methods: {r.ReachableDynamicMethods:N0} reachable");
        w.WriteLine($"native code: {r.NativeCode.Bytes:N0} bytes in {r.NativeCode.Resolved:N0} translations ({r.NativeCode.Unknown:N0} unknown)");
        w.WriteLine($"managed heap held by the translations: {r.Heap.Bytes:N0} bytes in {r.Heap.Objects:N0} objects");
        foreach (var b in r.Heap.ByType)
            w.WriteLine($"  {b.Bytes,12:N0} {b.Objects,8:N0}  {b.Type}");
        if (r.Largest.Count == 0) return;
        w.WriteLine($"largest {r.Largest.Count} translations by native code (then IL):");
        w.WriteLine($"  {"phys",-10} {"native",8} {"IL",7} {"inline",6} {"blocks",6}  method");
        foreach (var b in r.Largest)
        {
            string native = b.NativeBytes is { } n ? n.ToString("N0") : "?";
            w.WriteLine($"  0x{b.Phys:x8} {native,8} {b.IlBytes,7:N0} {b.InlineInstructions,6} {b.BlockCount,6}  {b.Method ?? "?"}{(b.Stale ? " (stale)" : "")}");
        }
    }
}
