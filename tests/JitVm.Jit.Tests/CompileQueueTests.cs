using JitVm.Jit.Translation;
using Xunit;

namespace JitVm.Jit.Tests;

/// <summary>The background compiler takes the hottest pending job first and forgets the ones no longer wanted.</summary>
public class CompileQueueTests
{
    sealed class Job(string name, long heat)
    {
        public string Name { get; } = name;
        public long Heat = heat;
        public bool Wanted = true;
    }

    static CompileQueue<Job> NewQueue() => new(j => j.Heat, j => j.Wanted);

    [Fact]
    public void TakesTheHottestFirstWhateverTheOrderOfArrival()
    {
        var q = NewQueue();
        var cold = new Job("cold", 40);
        var warm = new Job("warm", 300);
        var loop = new Job("loop", 90_000);
        q.Add(cold);
        q.Add(warm);
        q.Add(loop);
        // Nothing ran since they were queued: the entry that ran most in all goes first.
        Assert.Equal("loop", q.TakeHottest(0)!.Name);
        Assert.Equal("warm", q.TakeHottest(0)!.Name);
        Assert.Equal("cold", q.TakeHottest(0)!.Name);
        Assert.True(q.IsEmpty);
        Assert.Null(q.TakeHottest(0));
    }

    [Fact]
    public void CodeRunningNowGoesBeforeCodeThatWasBusyOnce()
    {
        var q = NewQueue();
        var early = new Job("early", 1_000_000);        // an init loop that ran a million times, then never again
        var now = new Job("now", 200);
        q.Add(early);
        q.Add(now);
        now.Heat += 5_000;                               // runs while it waits
        Assert.Equal("now", q.TakeHottest(0)!.Name);
        Assert.Equal("early", q.TakeHottest(0)!.Name);
    }

    [Fact]
    public void HeatIsReadAgainAtEachRanking()
    {
        var q = NewQueue();
        var jobs = Enumerable.Range(0, 20).Select(i => new Job($"j{i}", 1000 + i)).ToArray();
        foreach (var j in jobs) q.Add(j);
        Assert.Equal("j19", q.TakeHottest(0)!.Name);
        // j0 starts running: the jobs of the ranking already made are taken first, then j0 heads the next one.
        jobs[0].Heat += 10_000;
        var next = Enumerable.Range(0, CompileQueue<Job>.RankEvery).Select(_ => q.TakeHottest(0)!.Name).ToArray();
        var expected = Enumerable.Range(0, CompileQueue<Job>.RankEvery - 1).Select(i => $"j{18 - i}").Append("j0").ToArray();
        Assert.Equal(expected, next);
        // Having been looked at, j0's count is its new base: the others (unchanged) follow by their totals.
        Assert.Equal("j11", q.TakeHottest(0)!.Name);
        Assert.Equal(20 - 2 - CompileQueue<Job>.RankEvery, q.Count);
    }

    [Fact]
    public async Task JobsAddedWhileTheWorkerTakesAreEachTakenOnce()
    {
        var q = NewQueue();
        var rng = new Random(7);
        var jobs = Enumerable.Range(0, 20_000).Select(i => new Job($"j{i}", rng.Next(1_000_000)) { Wanted = i % 7 != 0 }).ToArray();
        var taken = new List<Job>();
        var adder = Task.Run(() =>
        {
            foreach (var j in jobs)
            {
                q.Add(j);
                Interlocked.Add(ref jobs[rng.Next(jobs.Length)].Heat, 3);   // the guest keeps running blocks
            }
        });
        var taker = Task.Run(() =>
        {
            while (!adder.IsCompleted || !q.IsEmpty)
                if (q.TakeHottest(1) is { } j) taken.Add(j);
        });
        await Task.WhenAll(adder, taker);
        Assert.All(taken, j => Assert.True(j.Wanted));
        Assert.Equal(taken.Count, taken.Distinct().Count());
        Assert.Equal(jobs.Count(j => j.Wanted), taken.Count);
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public void DropsJobsNoLongerWanted()
    {
        var q = NewQueue();
        var jobs = Enumerable.Range(0, 50).Select(i => new Job($"j{i}", i)).ToArray();
        foreach (var j in jobs) q.Add(j);
        // The hottest ones were overwritten meanwhile: they are skipped and forgotten.
        for (int i = 45; i < 50; i++) jobs[i].Wanted = false;
        jobs[10].Wanted = false;
        var taken = new List<string>();
        while (q.TakeHottest(0) is { } j) taken.Add(j.Name);
        var expected = Enumerable.Range(0, 45).Where(i => i != 10).Reverse().Select(i => $"j{i}").ToArray();
        Assert.Equal(expected, taken);
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public async Task AWaitingWorkerWakesForANewJob()
    {
        var q = NewQueue();
        var taker = Task.Run(() => q.TakeHottest(30_000));
        await Task.Delay(50);
        q.Add(new Job("late", 1));
        var done = await Task.WhenAny(taker, Task.Delay(10_000));
        Assert.Same(taker, done);
        Assert.Equal("late", (await taker)!.Name);
    }
}
