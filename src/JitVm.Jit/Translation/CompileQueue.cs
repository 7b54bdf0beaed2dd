namespace JitVm.Jit.Translation;

/// <summary>
/// The background compiler's pending jobs, hottest first. A job's heat is how often its entry block ran since the
/// queue last looked at it (the interpreter keeps counting while it waits): code running now goes before code that
/// was busy once and has gone quiet (an early memset loop), and a loop found late (a decompressor, a checksum) does
/// not wait behind the thousands of warm blocks a boot queues. Ties go to the job whose entry ran most in all.
/// <para>
/// A boot queues jobs faster than they are compiled (several thousand wait at once), and reading a job's heat touches
/// two objects, so a scan of the whole queue costs about as much as a small compile. The worker therefore ranks the
/// queue only every <see cref="RankEvery"/> takes, outside the lock (the guest thread's <see cref="Add"/> never waits
/// for a scan), and takes the ranked jobs in order meanwhile. Jobs whose entry no longer points at them (invalidated,
/// evicted) are dropped when seen.
/// </para>
/// </summary>
/// <param name="heat">A job's execution count now (read on the worker while the guest thread may be changing it).</param>
/// <param name="wanted">Whether a job is still wanted.</param>
internal sealed class CompileQueue<T>(Func<T, long> heat, Func<T, bool> wanted) where T : class
{
    /// <summary>Takes between two rankings of the whole queue (and jobs kept from one ranking).</summary>
    public const int RankEvery = 8;

    /// <summary>A waiting job and its entry's execution count when the queue last looked at it.</summary>
    readonly record struct Pending(T Job, long Seen);

    // Guest thread → worker, under the lock.
    List<Pending> added = new();
    readonly object gate = new();

    // The worker's own: everything waiting, and the best of the last ranking (taken from the front).
    List<Pending> pool = new();
    readonly Pending[] ranked = new Pending[RankEvery];
    int rankedNext, rankedCount;
    volatile int workerHeld;

    /// <summary>No job waits (none added and none held by the worker).</summary>
    public bool IsEmpty
    {
        get { lock (gate) return added.Count == 0 && workerHeld == 0; }
    }

    /// <summary>Jobs waiting (those already dropped but not yet seen by a ranking included).</summary>
    public int Count
    {
        get { lock (gate) return added.Count + workerHeld; }
    }

    public void Add(T job)
    {
        long h = heat(job);
        lock (gate)
        {
            added.Add(new Pending(job, h));
            if (added.Count == 1) Monitor.Pulse(gate);
        }
    }

    /// <summary>
    /// The hottest pending job (removed from the queue), or null after waiting <paramref name="timeoutMs"/> for one.
    /// Only one thread at a time may take.
    /// </summary>
    public T? TakeHottest(int timeoutMs)
    {
        while (true)
        {
            while (rankedNext < rankedCount)
            {
                var p = ranked[rankedNext];
                ranked[rankedNext++] = default;
                if (wanted(p.Job))
                {
                    UpdateHeld();
                    return p.Job;
                }
            }
            Rank();
            if (rankedCount > 0) continue;
            lock (gate)
            {
                if (added.Count == 0 && !Monitor.Wait(gate, timeoutMs)) return null;
            }
        }
    }

    /// <summary>
    /// Moves what the guest thread added into the pool, drops the unwanted, scores each job by its executions since the
    /// last look and puts the <see cref="RankEvery"/> best, best first, into <see cref="ranked"/> (those of the last
    /// ranking not yet taken go back to the pool first).
    /// </summary>
    void Rank()
    {
        for (; rankedNext < rankedCount; rankedNext++)
        {
            pool.Add(ranked[rankedNext]);
            ranked[rankedNext] = default;
        }
        rankedNext = rankedCount = 0;
        lock (gate)
        {
            if (added.Count > 0)
            {
                if (pool.Count == 0) (pool, added) = (added, pool);
                else
                {
                    pool.AddRange(added);
                    added.Clear();
                }
            }
        }

        // One pass: drop the unwanted (compacting the pool in place), score the rest by their executions since the last
        // look, and keep the best RankEvery in a short list sorted by score, then total.
        Span<(long Score, long Total, int Index)> best = stackalloc (long, long, int)[RankEvery];
        int n = 0, kept = 0;
        for (int i = 0; i < pool.Count; i++)
        {
            var p = pool[i];
            if (!wanted(p.Job)) continue;                  // dropped meanwhile: its block was overwritten or evicted
            long total = heat(p.Job);
            var candidate = (Score: total - p.Seen, Total: total, Index: kept);
            pool[kept++] = new Pending(p.Job, total);
            int at = n;
            while (at > 0 && (candidate.Score, candidate.Total).CompareTo((best[at - 1].Score, best[at - 1].Total)) > 0) at--;
            if (at == RankEvery) continue;
            if (n < RankEvery) n++;
            best[at..(n - 1)].CopyTo(best[(at + 1)..n]);
            best[at] = candidate;
        }
        pool.RemoveRange(kept, pool.Count - kept);

        for (int k = 0; k < n; k++) ranked[k] = pool[best[k].Index];
        rankedCount = n;
        // Take the ranked ones out of the pool, highest index first so a swap never moves another ranked one.
        Span<int> order = stackalloc int[n];
        for (int k = 0; k < n; k++) order[k] = best[k].Index;
        order.Sort();
        for (int k = n - 1; k >= 0; k--)
        {
            pool[order[k]] = pool[^1];
            pool.RemoveAt(pool.Count - 1);
        }
        UpdateHeld();
    }

    void UpdateHeld() => workerHeld = pool.Count + rankedCount - rankedNext;
}
