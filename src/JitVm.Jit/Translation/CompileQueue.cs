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

    struct Pending(T job, long seen)
    {
        public readonly T Job = job;
        /// <summary>The entry's execution count when the queue last looked at it.</summary>
        public long Seen = seen;
    }

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

        Span<long> bestScore = stackalloc long[RankEvery];
        Span<long> bestTotal = stackalloc long[RankEvery];
        Span<int> bestIndex = stackalloc int[RankEvery];
        int n = 0;
        for (int i = pool.Count - 1; i >= 0; i--)
        {
            var p = pool[i];
            if (!wanted(p.Job))
            {
                pool[i] = pool[^1];
                pool.RemoveAt(pool.Count - 1);
                // The entry moved into slot i may be one already ranked (indices above i): follow it.
                for (int k = 0; k < n; k++)
                    if (bestIndex[k] == pool.Count) bestIndex[k] = i;
                continue;
            }
            long total = heat(p.Job);
            long score = total - p.Seen;
            pool[i] = new Pending(p.Job, total);
            // Insertion into the short best list (descending by score, then by total).
            int at = n;
            while (at > 0 && (score > bestScore[at - 1] || score == bestScore[at - 1] && total > bestTotal[at - 1])) at--;
            if (at >= RankEvery) continue;
            int last = Math.Min(n, RankEvery - 1);
            for (int k = last; k > at; k--)
            {
                bestScore[k] = bestScore[k - 1];
                bestTotal[k] = bestTotal[k - 1];
                bestIndex[k] = bestIndex[k - 1];
            }
            bestScore[at] = score;
            bestTotal[at] = total;
            bestIndex[at] = i;
            if (n < RankEvery) n++;
        }

        for (int k = 0; k < n; k++) ranked[k] = pool[bestIndex[k]];
        rankedCount = n;
        // Remove the ranked ones from the pool, highest index first so the swaps do not move another ranked one.
        Span<int> order = bestIndex[..n];
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
