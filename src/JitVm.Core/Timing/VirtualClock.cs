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
    /// <summary>Guest time follows the host's monotonic clock (what interactive use wants).</summary>
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
    readonly long periodNs;
    readonly System.Diagnostics.Stopwatch host = new();
    readonly List<DeviceTimer> timers = new();
    long skippedNs, instructionBase;

    /// <param name="instructions">The CPU's retired-instruction counter.</param>
    /// <param name="mode">Deterministic or host time.</param>
    /// <param name="instructionsPerSecond">In deterministic mode, the guest instruction rate time assumes.</param>
    public VirtualClock(Func<long> instructions, ClockMode mode = ClockMode.Deterministic, long instructionsPerSecond = DefaultInstructionsPerSecond)
    {
        if (instructionsPerSecond is < 1_000_000 or > 1_000_000_000)
            throw new ArgumentOutOfRangeException(nameof(instructionsPerSecond), "between 1 and 1000 million instructions per second");
        this.instructions = instructions;
        Mode = mode;
        periodNs = 1_000_000_000 / instructionsPerSecond;
        instructionBase = instructions();
        host.Start();
    }

    /// <summary>The default deterministic rate: 100 million instructions per guest second (10 ns each).</summary>
    public const long DefaultInstructionsPerSecond = 100_000_000;

    public ClockMode Mode { get; }

    /// <summary>Guest nanoseconds one instruction takes in deterministic mode.</summary>
    public long InstructionPeriodNs => periodNs;

    /// <summary>Guest time now, in nanoseconds since power-on.</summary>
    public long Now => Mode == ClockMode.Deterministic
        ? (instructions() - instructionBase) * periodNs + skippedNs
        : host.Elapsed.Ticks * 100 + skippedNs;

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

    /// <summary>Instructions the CPU may run before the next deadline (deterministic mode; at least 1).</summary>
    public long InstructionsUntilNextDeadline(long cap)
    {
        long next = NextDeadline;
        if (next == long.MaxValue) return cap;
        long ns = next - Now;
        if (ns <= 0) return 1;
        long n = (ns + periodNs - 1) / periodNs;
        return Math.Clamp(n, 1, cap);
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
    /// or reports how long to sleep on the host (realtime). Returns false when no timer is armed.
    /// </summary>
    public bool SkipToNextDeadline(out TimeSpan hostWait)
    {
        hostWait = TimeSpan.Zero;
        long next = NextDeadline;
        if (next == long.MaxValue) return false;
        long ns = next - Now;
        if (ns <= 0) return true;
        if (Mode == ClockMode.Deterministic) skippedNs += ns;
        else hostWait = TimeSpan.FromTicks(Math.Min(ns / 100, TimeSpan.TicksPerMillisecond * 10));
        return true;
    }

    /// <summary>Power-on: time restarts at zero and every timer is disarmed.</summary>
    public void Reset()
    {
        instructionBase = instructions();
        skippedNs = 0;
        host.Restart();
        foreach (var t in timers) t.Deadline = long.MaxValue;
    }

    // ---------------------------------------------------------------- snapshots

    const ushort StateVersion = 1;

    /// <summary>
    /// Writes section "CLK ": the mode, the instruction period, guest time now, the instruction count it was read at,
    /// the deterministic time base, and every timer's deadline in creation order (devices create their timers when
    /// they are built, so a machine built the same way has the same timers in the same order).
    /// </summary>
    public void SaveState(State.StateWriter w)
    {
        w.BeginSection("CLK ", StateVersion);
        w.WriteByte((byte)Mode);
        w.WriteInt64(periodNs);
        w.WriteInt64(Now);
        w.WriteInt64(instructions());
        w.WriteInt64(instructionBase);
        w.WriteInt64(skippedNs);
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
        long savedBase = r.ReadInt64("instruction base");
        long savedSkipped = r.ReadInt64("skipped time");
        int n = r.ReadInt32("timer count", 0, 4096);
        if (n != timers.Count) throw r.Invalid("timer count", $"the snapshot has {n} device timers, this machine {timers.Count} (different devices?)");
        var deadlines = new long[n];
        for (int i = 0; i < n; i++) deadlines[i] = r.ReadInt64("timer deadline " + i);
        r.EndSection();
        if (mode == Mode && period == periodNs && mode == ClockMode.Deterministic)
        {
            instructionBase = savedBase;
            skippedNs = savedSkipped;
        }
        else
        {
            instructionBase = count;
            host.Restart();
            skippedNs = now;
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
