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
