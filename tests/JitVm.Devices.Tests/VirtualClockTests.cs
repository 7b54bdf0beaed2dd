using JitVm.Core;

namespace JitVm.Devices.Tests;

public class VirtualClockTests
{
    [Fact]
    public void DeterministicTimeFollowsInstructionsAndHaltSkips()
    {
        long instructions = 0;
        var clock = new VirtualClock(() => instructions);
        Assert.Equal(10, clock.InstructionPeriodNs);
        instructions = 1234;
        Assert.Equal(12_340, clock.Now);
        var t = clock.CreateTimer(_ => { });
        t.Set(50_000);
        Assert.True(clock.SkipToNextDeadline(out var wait));
        Assert.Equal(TimeSpan.Zero, wait);
        Assert.Equal(50_000, clock.Now);                       // halted time jumps to the deadline
        instructions += 10;
        Assert.Equal(50_100, clock.Now);
    }

    [Fact]
    public void TimersFireInDeadlineOrderAndMayRearm()
    {
        long instructions = 0;
        var clock = new VirtualClock(() => instructions);
        var fired = new List<(string Name, long When)>();
        DeviceTimer? periodic = null;
        periodic = clock.CreateTimer(when => { fired.Add(("p", when)); periodic!.Set(when + 300); });
        var once = clock.CreateTimer(when => fired.Add(("o", when)));
        periodic.Set(300);
        once.Set(450);
        Assert.Equal(30, clock.InstructionsUntilNextDeadline(1000));
        instructions = 100;                                    // 1000 ns
        Assert.Equal(4, clock.RunDue());
        Assert.Equal([("p", 300L), ("o", 450L), ("p", 600L), ("p", 900L)], fired);
        Assert.False(once.Armed);
        Assert.Equal(1200, periodic.Deadline);
        Assert.Equal(20, clock.InstructionsUntilNextDeadline(1000));
        periodic.Cancel();
        Assert.Equal(1000, clock.InstructionsUntilNextDeadline(1000));
        Assert.False(clock.SkipToNextDeadline(out _));         // nothing armed: nothing can wake a halted CPU
    }

    [Fact]
    public void ResetRestartsTimeAndDisarmsTimers()
    {
        long instructions = 500;
        var clock = new VirtualClock(() => instructions);
        var t = clock.CreateTimer(_ => { });
        t.SetIn(1000);
        instructions = 900;
        clock.Reset();
        Assert.Equal(0, clock.Now);
        Assert.False(t.Armed);
    }
}

/// <summary>
/// The realtime clock paces guest time by instructions and steers the time per instruction towards the host clock
/// (here a fake host clock the test advances, so every case is exact and repeatable).
/// </summary>
public class RealtimeClockTests
{
    long instructions, host = 7_000_000_000;
    readonly VirtualClock clock;

    public RealtimeClockTests() => clock = new VirtualClock(() => instructions, ClockMode.Realtime, hostNanoseconds: () => host);

    /// <summary>Where guest time should be: host nanoseconds since the clock started (minus what it forgot).</summary>
    long HostElapsed(long start) => host - start;

    /// <summary>
    /// Runs <paramref name="ms"/> milliseconds of host time at <paramref name="mips"/> million instructions per host
    /// second, in slices of <paramref name="sliceUs"/> microseconds.
    /// </summary>
    void Run(int ms, double mips, Action? afterSlice = null, int sliceUs = 1000)
    {
        for (int i = 0; i < ms * 1000 / sliceUs; i++)
        {
            long before = clock.Now;
            instructions += (long)(mips * sliceUs);
            host += sliceUs * 1000;
            Assert.True(clock.Now >= before);
            clock.Pace();
            afterSlice?.Invoke();
        }
    }

    [Fact]
    public void GuestTimeConvergesOnHostTimeWhateverTheInstructionRate()
    {
        long start = host;
        foreach (double mips in new[] { 40.0, 800.0, 30.0, 250.0 })
        {
            Run(400, mips);
            Assert.InRange(HostElapsed(start) - clock.Now, -2_000_000, 2_000_000);        // within 2 ms of host time
            // Time per instruction now matches the rate the host runs at (±5 %).
            Assert.InRange(clock.NanosecondsPerInstruction * mips / 1000, 0.95, 1.05);
        }
    }

    [Fact]
    public void WithinASliceGuestTimeAdvancesEvenlyWithInstructions()
    {
        Run(50, 100);
        long t0 = clock.Now;
        instructions += 1000;
        long t1 = clock.Now;
        host += 20_000_000;                                   // the host stalls for 20 ms between two guest reads...
        instructions += 1000;
        long t2 = clock.Now;
        Assert.Equal(t1 - t0, t2 - t1, tolerance: 1);         // ...and the guest cannot tell: 1000 instructions take the same time
        Assert.InRange(t1 - t0, 9_000, 11_000);               // 10 ns each at 100 MIPS
    }

    [Fact]
    public void AHostStallIsWorkedOffGraduallyWithoutRacingAhead()
    {
        long start = host;
        Run(200, 100);
        long before = clock.Now;
        instructions += 100;                                   // a 30 ms stall with hardly any guest progress
        host += 30_000_000;
        clock.Pace();
        Assert.InRange(clock.Now - before, 0, 10_000);        // no jump at the stall
        long worstLead = 0;
        Run(300, 100, () => worstLead = Math.Max(worstLead, clock.Now - HostElapsed(start)));
        Assert.InRange(worstLead, 0, 5_000_000);              // never more than 5 ms ahead of the host while catching up
        Assert.InRange(HostElapsed(start) - clock.Now, -2_000_000, 2_000_000);
    }

    [Fact]
    public void ASuddenSpeedUpIsCaughtWithinAFewShortSlices()
    {
        long start = host;
        Run(300, 30);
        long worstLead = 0;
        // 27 times faster, in slices much shorter than the measuring window (as when timer deadlines are close).
        Run(50, 800, () => worstLead = Math.Max(worstLead, clock.Now - HostElapsed(start)), sliceUs: 100);
        Assert.InRange(worstLead, 0, 4_000_000);
        Assert.InRange(HostElapsed(start) - clock.Now, -2_000_000, 2_000_000);
    }

    [Fact]
    public void ALagBeyondTheLimitIsForgotten()
    {
        Run(100, 100);
        long before = clock.Now;
        host += 60_000_000_000;                                // paused for a minute
        Run(2000, 100);
        // Guest time caught up with the limit only, at no more than twice the host's pace.
        Assert.InRange(clock.Now - before, 2_000_000_000 + VirtualClock.MaxLagNs / 2, 4_000_000_000);

        // Idle after a pause: time passes up to the next deadline, but the pause beyond the limit is forgotten too.
        var timer = clock.CreateTimer(_ => { });
        timer.Set(long.MaxValue - 1);
        before = clock.Now;
        host += 60_000_000_000;
        Assert.True(clock.SkipToNextDeadline(out _));
        Assert.Equal(before + VirtualClock.MaxLagNs, clock.Now, tolerance: 2_000_000);
    }

    [Fact]
    public void AHaltedCpuSleepsUntilTheHostReachesTheDeadline()
    {
        long start = host;
        Run(20, 100);
        var timer = clock.CreateTimer(_ => { });
        timer.Set(clock.Now + 5_000_000);
        Assert.True(clock.SkipToNextDeadline(out var wait));
        Assert.InRange(wait.Ticks * 100, 4_000_000, 6_000_000);               // about 5 ms of host sleep
        Assert.True(clock.Now < timer.Deadline);                               // guest time has not gone ahead of the host
        host += 2_000_000;
        Assert.True(clock.SkipToNextDeadline(out wait));
        Assert.InRange(clock.Now, HostElapsed(start) - 1_000_000, HostElapsed(start) + 1_000_000);   // idle time passed
        host += 4_000_000;
        Assert.True(clock.SkipToNextDeadline(out wait));
        Assert.Equal(TimeSpan.Zero, wait);
        Assert.Equal(timer.Deadline, clock.Now);                               // stops exactly at the deadline
        Assert.Equal(1, clock.RunDue());
        host += 50_000_000;                                                    // idle with nothing armed: time still passes
        Assert.False(clock.SkipToNextDeadline(out _));
        Assert.Equal(HostElapsed(start), clock.Now, tolerance: 1_000_000);
    }

    [Fact]
    public void SlicesEndAtTheNextDeadlineAtTheCurrentRate()
    {
        Run(50, 100);                                          // 10 ns per instruction
        var timer = clock.CreateTimer(_ => { });
        timer.Set(clock.Now + 40_000);
        Assert.InRange(clock.InstructionsUntilNextDeadline(1_000_000), 3_900, 4_100);
        Assert.Equal(100, clock.InstructionsUntilNextDeadline(100));
        instructions += clock.InstructionsUntilNextDeadline(1_000_000);
        Assert.True(clock.Now >= timer.Deadline);
        Assert.Equal(1, clock.RunDue());
    }
}
