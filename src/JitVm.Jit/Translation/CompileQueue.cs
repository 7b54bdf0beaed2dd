namespace JitVm.Jit.Translation;

/// <summary>
/// The background compiler's pending jobs, taken hottest first: a job's heat is how often its entry block has run
/// since it was queued (the interpreter keeps counting while it waits). A boot queues thousands of warm blocks, and
/// first-in first-out would make a loop found late (a decompressor, a checksum) wait behind all of them. Jobs whose
/// entry no longer points at them (invalidated, evicted) are dropped when seen. The guest thread only adds; the worker
/// scans — the pending list is short next to a compile's cost (a scan of a few thousand jobs is microseconds, a
/// compile milliseconds).
/// </summary>
/// <param name="heat">A job's heat now (read on the worker while the guest thread may be changing it).</param>
/// <param name="wanted">Whether a job is still wanted.</param>
internal sealed class CompileQueue<T>(Func<T, long> heat, Func<T, bool> wanted) where T : class
{
    readonly List<T> pending = new();
    readonly object gate = new();

    public bool IsEmpty
    {
        get { lock (gate) return pending.Count == 0; }
    }

    public int Count
    {
        get { lock (gate) return pending.Count; }
    }

    public void Add(T job)
    {
        lock (gate)
        {
            pending.Add(job);
            if (pending.Count == 1) Monitor.Pulse(gate);
        }
    }

    /// <summary>The pending job whose entry has run most often (removed from the queue), or null after waiting <paramref name="timeoutMs"/> for one.</summary>
    public T? TakeHottest(int timeoutMs)
    {
        lock (gate)
        {
            while (true)
            {
                int best = -1;
                long bestHeat = long.MinValue;
                for (int i = pending.Count - 1; i >= 0; i--)
                {
                    var job = pending[i];
                    if (!wanted(job))
                    {
                        // Dropped meanwhile (its block was overwritten or evicted): forget it.
                        pending[i] = pending[^1];
                        pending.RemoveAt(pending.Count - 1);
                        if (best == pending.Count) best = i;
                        continue;
                    }
                    long h = heat(job);
                    if (h > bestHeat) { bestHeat = h; best = i; }
                }
                if (best >= 0)
                {
                    var job = pending[best];
                    pending[best] = pending[^1];
                    pending.RemoveAt(pending.Count - 1);
                    return job;
                }
                if (!Monitor.Wait(gate, timeoutMs)) return null;
            }
        }
    }
}
