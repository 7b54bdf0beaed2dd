namespace JitVm.Core;

/// <summary>How guest time relates to the host (see docs/decisions/0011-platform-and-clock.md).</summary>
public enum ClockMode
{
    /// <summary>
    /// Guest time is a function of guest progress only: retired instructions times a fixed period, plus the time
    /// skipped while the CPU is halted (a halted CPU jumps straight to the next timer deadline). The same guest and
    /// inputs give the same execution on every run and host, which the tests rely on.
    /// </summary>
    Deterministic,
    /// <summary>
    /// Guest time follows the host's monotonic clock over any stretch longer than a few milliseconds, but advances
    /// with retired instructions in between (QEMU's <c>-icount shift=auto</c>): the time per instruction is steered
    /// after every slice so guest time converges on host time, and a halted CPU sleeps until host time reaches its
    /// next deadline. A host stall (a .NET JIT compile, a GC pause, the scheduler) is therefore invisible to the
    /// guest's calibration loops, which see the PIT and the TSC advance evenly with the code they run.
    /// </summary>
    Realtime,
}

/// <summary>
/// The machine's virtual clock, in nanoseconds since power-on, and its timer queue. Devices read
/// <see cref="Now"/> when the guest programs or reads them and arm <see cref="DeviceTimer"/>s for the moments
/// they must act on their own (a PIT terminal count, an RTC periodic interrupt); the machine runs the CPU at most
/// up to the next deadline and then calls <see cref="RunDue"/>. Single-threaded: only the machine's thread touches it.
/// </summary>
public sealed class VirtualClock
{
    readonly Func<long> instructions;
    readonly Func<long> hostNanoseconds;
    readonly long periodNs;
    readonly List<DeviceTimer> timers = new();

    // Now = anchorNs + (instructions - anchorInstructions) × the period: periodNs in deterministic mode (a halt moves
    // anchorNs on), the steered nsPerInstruction in realtime. Realtime: host time minus hostBase is where guest time
    // should be; the window measures the instruction rate while the CPU runs.
    long anchorNs, anchorInstructions;
    double nsPerInstruction;
    long hostBase, windowInstructions, windowHost;

    /// <summary>Realtime: the shortest stretch of running over which the instruction rate is measured.</summary>
    public const long PacingWindowNs = 2_000_000;
    /// <summary>Realtime: guest time this far ahead of the host re-measures the period before the window is over.</summary>
    public const long MaxLeadNs = 1_000_000;
    const long MinWindowInstructions = 1000;
    /// <summary>Realtime: a lag or lead of this much host time is worked off over about this long again.</summary>
    public const long PacingHorizonNs = 100_000_000;
    /// <summary>Realtime: guest time never lags further behind the host than this; more (the machine was paused, the
    /// host stalled for long) is forgotten rather than caught up.</summary>
    public const long MaxLagNs = 500_000_000;
    const double MinNsPerInstruction = 0.01, MaxNsPerInstruction = 10_000;

    /// <param name="instructions">The CPU's retired-instruction counter.</param>
    /// <param name="mode">Deterministic or host-paced time.</param>
    /// <param name="instructionsPerSecond">In deterministic mode, the guest instruction rate time assumes (and the
    /// rate a realtime clock starts from).</param>
    /// <param name="hostNanoseconds">Realtime: the host's monotonic clock in nanoseconds (default: the stopwatch).</param>
    public VirtualClock(Func<long> instructions, ClockMode mode = ClockMode.Deterministic, long instructionsPerSecond = DefaultInstructionsPerSecond,
        Func<long>? hostNanoseconds = null)
    {
        if (instructionsPerSecond is < 1_000_000 or > 1_000_000_000)
            throw new ArgumentOutOfRangeException(nameof(instructionsPerSecond), "between 1 and 1000 million instructions per second");
        this.instructions = instructions;
        this.hostNanoseconds = hostNanoseconds ?? StopwatchNanoseconds;
        Mode = mode;
        periodNs = 1_000_000_000 / instructionsPerSecond;
        Restart();
    }

    static readonly double StopwatchNsPerTick = 1e9 / System.Diagnostics.Stopwatch.Frequency;
    static long StopwatchNanoseconds() => (long)(System.Diagnostics.Stopwatch.GetTimestamp() * StopwatchNsPerTick);

    /// <summary>Time zero at the current instruction count and host time, at the starting rate.</summary>
    void Restart()
    {
        long i = instructions();
        Reanchor(i, 0);
        nsPerInstruction = periodNs;
        hostBase = hostNanoseconds();
        windowInstructions = i;
        windowHost = hostBase;
    }

    /// <summary>The default deterministic rate: 100 million instructions per guest second (10 ns each).</summary>
    public const long DefaultInstructionsPerSecond = 100_000_000;

    public ClockMode Mode { get; }

    /// <summary>Guest nanoseconds one instruction takes in deterministic mode.</summary>
    public long InstructionPeriodNs => periodNs;

    /// <summary>Guest time now, in nanoseconds since power-on.</summary>
    public long Now => Mode == ClockMode.Deterministic
        ? anchorNs + (instructions() - anchorInstructions) * periodNs
        : PacedAt(instructions());

    long PacedAt(long count) => anchorNs + (long)((count - anchorInstructions) * nsPerInstruction);

    /// <summary>Realtime: guest nanoseconds per instruction at present (the deterministic period in deterministic mode).</summary>
    public double NanosecondsPerInstruction => Mode == ClockMode.Deterministic ? periodNs : nsPerInstruction;

    /// <summary>Where guest time should be by the host clock (realtime).</summary>
    long HostTarget() => hostNanoseconds() - hostBase;

    /// <summary>Guest time continues from <paramref name="ns"/> at instruction <paramref name="count"/>.</summary>
    void Reanchor(long count, long ns)
    {
        anchorInstructions = count;
        anchorNs = ns;
    }

    /// <summary>
    /// Realtime: steers the time per instruction after a slice of running, so guest time converges on host time.
    /// The host ran some number of instructions per nanosecond since the measuring window began; the new period is
    /// what makes guest time keep pace at that rate, scaled by up to 2 (or down to ¼) to work off the present lag
    /// (or lead) over about <see cref="PacingHorizonNs"/>. The period is re-measured when the window has lasted
    /// <see cref="PacingWindowNs"/> of host time, or at once when guest time has run ahead of the host and the
    /// window so far says the period is too long. It at most doubles per window: a window with a host stall in it
    /// (few instructions in much host time) must not send guest time racing ahead when the code runs fast again.
    /// Guest time stays continuous; a lag beyond <see cref="MaxLagNs"/> is forgotten. Nothing in deterministic mode.
    /// </summary>
    public void Pace()
    {
        if (Mode == ClockMode.Deterministic) return;
        long count = instructions(), host = hostNanoseconds();
        long now = PacedAt(count);
        long lag = ForgetLagBeyondLimit(host - hostBase - now);
        long ran = count - windowInstructions, took = host - windowHost;
        bool full = took >= PacingWindowNs;
        if (!full && !(lag < -MaxLeadNs && ran >= MinWindowInstructions)) return;
        if (ran <= 0)
        {
            windowHost = host;
            return;
        }
        double factor = Math.Clamp(1 + (double)lag / PacingHorizonNs, 0.25, 2);
        double period = Math.Min(factor * took / ran, nsPerInstruction * 2);
        if (!full && period >= nsPerInstruction) return;
        windowInstructions = count;
        windowHost = host;
        Reanchor(count, now);
        nsPerInstruction = Math.Clamp(period, MinNsPerInstruction, MaxNsPerInstruction);
    }

    /// <summary>Realtime: moves the host reference so guest time lags it by at most <see cref="MaxLagNs"/>; returns the lag left.</summary>
    long ForgetLagBeyondLimit(long lag)
    {
        if (lag <= MaxLagNs) return lag;
        hostBase += lag - MaxLagNs;
        return MaxLagNs;
    }

    /// <summary>
    /// Realtime: the CPU is idle; guest time moves up to host time, but not past <paramref name="limit"/>, and the
    /// idle stretch does not count towards the instruction rate.
    /// </summary>
    void CatchUpWhileIdle(long limit)
    {
        long count = instructions(), host = hostNanoseconds();
        ForgetLagBeyondLimit(host - hostBase - PacedAt(count));
        long target = Math.Min(host - hostBase, limit);
        if (target > PacedAt(count)) Reanchor(count, target);
        windowInstructions = count;
        windowHost = host;
    }

    /// <summary>A new, disarmed timer that calls <paramref name="expired"/> with its deadline when it fires.</summary>
    public DeviceTimer CreateTimer(Action<long> expired)
    {
        var t = new DeviceTimer(this, expired);
        timers.Add(t);
        return t;
    }

    /// <summary>The earliest armed deadline (long.MaxValue when none is armed).</summary>
    public long NextDeadline
    {
        get
        {
            long next = long.MaxValue;
            foreach (var t in timers)
                if (t.Deadline < next) next = t.Deadline;
            return next;
        }
    }

    /// <summary>Instructions the CPU may run before the next deadline (at least 1, at most <paramref name="cap"/>).</summary>
    public long InstructionsUntilNextDeadline(long cap)
    {
        long next = NextDeadline;
        if (next == long.MaxValue) return cap;
        long ns = next - Now;
        if (ns <= 0) return 1;
        if (Mode == ClockMode.Realtime)
        {
            double n = Math.Ceiling(ns / nsPerInstruction);
            return n >= cap ? cap : Math.Max(1, (long)n);
        }
        return Math.Clamp((ns + periodNs - 1) / periodNs, 1, cap);
    }

    /// <summary>Fires every timer whose deadline has passed, earliest first; returns how many fired.</summary>
    public int RunDue()
    {
        int fired = 0;
        // A callback may re-arm its own or another timer: look again after each one. The bound stops a timer that
        // keeps re-arming in the past from holding the machine.
        for (int guard = 0; guard < 10_000; guard++)
        {
            long now = Now;
            DeviceTimer? due = null;
            foreach (var t in timers)
                if (t.Deadline <= now && (due is null || t.Deadline < due.Deadline)) due = t;
            if (due is null) break;
            long when = due.Deadline;
            due.Deadline = long.MaxValue;
            due.Fire(when);
            fired++;
        }
        return fired;
    }

    /// <summary>
    /// The CPU is halted and only a timer can wake it: moves guest time to the next deadline (deterministic mode),
    /// or (realtime) moves it up to host time but not past the deadline and reports how long to sleep on the host
    /// before asking again (at most 10 ms). Returns false when no timer is armed (realtime time still catches up).
    /// </summary>
    public bool SkipToNextDeadline(out TimeSpan hostWait)
    {
        hostWait = TimeSpan.Zero;
        long next = NextDeadline;
        if (Mode == ClockMode.Realtime) CatchUpWhileIdle(next);
        if (next == long.MaxValue) return false;
        long ns = next - Now;
        if (ns <= 0) return true;
        if (Mode == ClockMode.Deterministic) anchorNs += ns;
        else hostWait = TimeSpan.FromTicks(Math.Clamp((next - HostTarget() + 99) / 100, 1, TimeSpan.TicksPerMillisecond * 10));
        return true;
    }

    /// <summary>Power-on: time restarts at zero and every timer is disarmed.</summary>
    public void Reset()
    {
        Restart();
        foreach (var t in timers) t.Deadline = long.MaxValue;
    }

    // ---------------------------------------------------------------- snapshots

    const ushort StateVersion = 1;

    /// <summary>
    /// Writes section "CLK ": the mode, the instruction period, guest time now, the instruction count it was read at,
    /// the time base (the anchor: an instruction count and the guest time at it), and every timer's deadline in creation order (devices create their timers when
    /// they are built, so a machine built the same way has the same timers in the same order).
    /// </summary>
    public void SaveState(State.StateWriter w)
    {
        w.BeginSection("CLK ", StateVersion);
        w.WriteByte((byte)Mode);
        w.WriteInt64(periodNs);
        w.WriteInt64(Now);
        w.WriteInt64(instructions());
        w.WriteInt64(anchorInstructions);
        w.WriteInt64(anchorNs);
        w.WriteInt32(timers.Count);
        foreach (var t in timers) w.WriteInt64(t.Deadline);
        w.EndSection();
    }

    /// <summary>
    /// Reads what <see cref="SaveState"/> wrote. Load the CPU's instruction count first or later, either way: in the
    /// same mode and rate the time base is taken as saved; otherwise guest time is re-anchored so it reads what it read
    /// at the save when the instruction count is back at the saved value, and runs on from there in this clock's mode.
    /// Every timer gets its saved deadline, so timer events fire at the same guest time as they would have.
    /// </summary>
    public void LoadState(State.StateReader r)
    {
        r.BeginSection("CLK ", StateVersion);
        var mode = r.ReadEnum<ClockMode>("mode");
        long period = r.ReadInt64("instruction period", 1, 1000);
        // Any time values load (the arithmetic on them cannot fail); what a clock in use can hold must load again.
        long now = r.ReadInt64("now");
        long count = r.ReadInt64("instruction count");
        long savedAnchor = r.ReadInt64("instruction base");
        long savedAnchorNs = r.ReadInt64("skipped time");
        int n = r.ReadInt32("timer count", 0, 4096);
        if (n != timers.Count) throw r.Invalid("timer count", $"the snapshot has {n} device timers, this machine {timers.Count} (different devices?)");
        var deadlines = new long[n];
        for (int i = 0; i < n; i++) deadlines[i] = r.ReadInt64("timer deadline " + i);
        r.EndSection();
        if (mode == Mode && period == periodNs && mode == ClockMode.Deterministic) Reanchor(savedAnchor, savedAnchorNs);
        else
        {
            // Re-anchored: the saved time at the saved count, then this clock's own way on from there.
            Reanchor(count, now);
            hostBase = hostNanoseconds() - now;
            windowInstructions = count;
            windowHost = hostNanoseconds();
        }
        for (int i = 0; i < n; i++) timers[i].Deadline = deadlines[i];
    }
}

/// <summary>One device's timer on the <see cref="VirtualClock"/>: armed for one deadline at a time.</summary>
public sealed class DeviceTimer
{
    readonly VirtualClock clock;
    readonly Action<long> expired;

    internal DeviceTimer(VirtualClock clock, Action<long> expired)
    {
        this.clock = clock;
        this.expired = expired;
    }

    /// <summary>The armed deadline in guest nanoseconds (long.MaxValue: disarmed).</summary>
    public long Deadline { get; internal set; } = long.MaxValue;

    public bool Armed => Deadline != long.MaxValue;

    /// <summary>Arms the timer for guest time <paramref name="when"/> (replacing any earlier deadline).</summary>
    public void Set(long when) => Deadline = when;

    /// <summary>Arms the timer <paramref name="delayNs"/> from now.</summary>
    public void SetIn(long delayNs) => Deadline = clock.Now + Math.Max(0, delayNs);

    public void Cancel() => Deadline = long.MaxValue;

    internal void Fire(long when) => expired(when);
}
