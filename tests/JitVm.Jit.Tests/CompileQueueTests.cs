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
        Assert.Equal("loop", q.TakeHottest(0)!.Name);
        // Heat read at the take, not at the add: the cold job warmed up while it waited.
        cold.Heat = 1_000;
        Assert.Equal("cold", q.TakeHottest(0)!.Name);
        Assert.Equal("warm", q.TakeHottest(0)!.Name);
        Assert.True(q.IsEmpty);
        Assert.Null(q.TakeHottest(0));
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
