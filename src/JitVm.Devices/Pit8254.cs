using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// The Intel 8254 programmable interval timer of the PC (ports 0x40–0x43, every counter clocked at
/// <see cref="FrequencyHz"/>). Counter 0's OUT drives IRQ 0, counter 1 is the refresh timer, counter 2's GATE and
/// OUT are wired to system control port B (0x61). Counters are never ticked: their count and OUT are computed from
/// the guest time of <see cref="VirtualClock.Now"/> whenever the guest reads them, and one <see cref="DeviceTimer"/>
/// is armed for the next OUT transition of counter 0 so IRQ 0 changes level at the guest time it happens.
/// </summary>
/// <remarks>
/// A count written by the guest is transferred from CR to CE "on the next CLK pulse" per the datasheet; this model
/// loads it at the tick of the write, so mode 0 reaches terminal count exactly N ticks after the count is written.
/// </remarks>
public sealed class Pit8254 : IIoDevice
{
    /// <summary>The PC's PIT input clock: 14.31818 MHz / 12.</summary>
    public const long FrequencyHz = 1193182;

    /// <summary>Counter 0's data port; counters 1 and 2 follow, the control word register is at 0x43.</summary>
    public const ushort BasePort = 0x40;

    /// <summary>The control word register (write only).</summary>
    public const ushort ControlPort = 0x43;

    const long NsPerSecond = 1_000_000_000;

    readonly VirtualClock clock;
    readonly IIrqLines irq;
    readonly DeviceTimer timer;
    readonly Counter[] counters = [new(), new(), new()];

    bool irqLevel;      // the level last driven on IRQ 0
    long irqCursor;     // every OUT 0 transition up to and including this tick has been driven on IRQ 0

    /// <param name="clock">Guest time; every count is derived from it.</param>
    /// <param name="irq">The interrupt lines; counter 0's OUT drives IRQ 0.</param>
    public Pit8254(VirtualClock clock, IIrqLines irq)
    {
        this.clock = clock;
        this.irq = irq;
        timer = clock.CreateTimer(_ => SyncIrq(NowTick()));
        Reset();
    }

    /// <summary>Registers ports 0x40–0x43.</summary>
    public void Attach(IoBus io) => io.Register(BasePort, 4, this);

    /// <summary>
    /// Power-on state. The datasheet leaves mode, count and OUT undefined until programmed; this model puts every
    /// counter in mode 0, LSB-then-MSB, binary, with no count loaded (OUT low, null count set), counter 2's gate low.
    /// </summary>
    public void Reset()
    {
        foreach (var c in counters)
        {
            c.ModeBits = 0;
            c.Rw = 3;
            c.Bcd = false;
            c.Cr = 0;
            c.HeldCe = 0;
            ResetControlLogic(c, 0);
            c.Gate = true;
        }
        counters[2].Gate = false;
        irqCursor = NowTick();
        irqLevel = false;
        irq.SetIrq(0, false);
        timer.Cancel();
    }

    /// <summary>Counter 2's GATE input (port 0x61 bit 0). Counters 0 and 1 have GATE tied high.</summary>
    public bool Gate2
    {
        get => counters[2].Gate;
        set => SetGate(counters[2], value, NowTick());
    }

    /// <summary>Counter 2's OUT at the current guest time (port 0x61 bit 5).</summary>
    public bool Out2 => GetOutput(2);

    /// <summary>The OUT pin of <paramref name="channel"/> (0–2) at the current guest time.</summary>
    public bool GetOutput(int channel) => Eval(counters[channel], NowTick()).Out;

    /// <summary>
    /// The counting element of <paramref name="channel"/> as an unlatched read would see it now (BCD digits in BCD
    /// mode); does not disturb latches or the read byte sequence.
    /// </summary>
    public int ReadCount(int channel)
    {
        var c = counters[channel];
        return Display(c, Eval(c, NowTick()).Ce);
    }

    /// <summary>PIT input clock ticks elapsed at guest time <paramref name="ns"/>: floor(ns × 1193182 / 10⁹), overflow-free.</summary>
    public static long TicksAt(long ns)
    {
        if (ns <= 0) return 0;
        long q = ns / NsPerSecond, r = ns % NsPerSecond;
        return q * FrequencyHz + r * FrequencyHz / NsPerSecond;
    }

    /// <summary>The first guest nanosecond at which <see cref="TicksAt"/> reaches <paramref name="tick"/> (long.MaxValue if beyond range).</summary>
    public static long TimeOfTick(long tick)
    {
        if (tick <= 0) return 0;
        long q = tick / FrequencyHz, r = tick % FrequencyHz;
        if (q >= long.MaxValue / NsPerSecond) return long.MaxValue;
        return q * NsPerSecond + (r * NsPerSecond + FrequencyHz - 1) / FrequencyHz;
    }

    long NowTick() => TicksAt(clock.Now);

    // ---------------------------------------------------------------- guest interface

    /// <inheritdoc/>
    public uint In(ushort port, int size)
    {
        int index = port - BasePort;
        if (index is < 0 or > 2) return 0xFF;                        // the control word register is write-only (3-state)
        return ReadByte(counters[index], NowTick());
    }

    /// <inheritdoc/>
    public void Out(ushort port, int size, uint value)
    {
        int index = port - BasePort;
        if (index is < 0 or > 3) return;
        byte v = (byte)value;
        long t = NowTick();
        SyncIrq(t);                                                   // drive what happened under the old programming
        if (index == 3) WriteControl(v, t);
        else WriteCount(counters[index], v, t);
        Rearm(t);
    }

    void WriteControl(byte v, long t)
    {
        int sc = v >> 6;
        if (sc == 3)
        {
            ReadBack(v, t);
            return;
        }
        var c = counters[sc];
        int rw = (v >> 4) & 3;
        if (rw == 0)
        {
            // Counter latch command: the first one stands until the count is read.
            if (!c.CountLatched) LatchCount(c, t);
            return;
        }
        Normalize(c, t);
        c.HeldCe = Eval(c, t).Ce;                                     // CE is undefined after a control word; keep its value
        c.Rw = rw;
        c.ModeBits = (v >> 1) & 7;
        c.Bcd = (v & 1) != 0;
        ResetControlLogic(c, c.Mode);
    }

    /// <summary>A control word resets the counter's control logic: no count, null count, OUT to its initial state.</summary>
    static void ResetControlLogic(Counter c, int mode)
    {
        c.Loaded = false;
        c.Running = false;
        c.HasCount = false;
        c.NullCount = true;
        c.IdleOut = mode != 0;                                        // mode 0 starts low, every other mode high
        c.WriteMsbNext = false;
        c.ReadMsbNext = false;
        c.CountLatched = false;
        c.StatusLatched = false;
        c.SwitchTick = long.MaxValue;
    }

    /// <summary>Read-back command (11 COUNT STATUS CNT2 CNT1 CNT0 0): COUNT and STATUS are active low.</summary>
    void ReadBack(byte v, long t)
    {
        for (int i = 0; i < 3; i++)
        {
            if ((v & (2 << i)) == 0) continue;
            var c = counters[i];
            if ((v & 0x20) == 0 && !c.CountLatched) LatchCount(c, t);
            if ((v & 0x10) == 0 && !c.StatusLatched)
            {
                Normalize(c, t);
                var (_, o) = Eval(c, t);
                c.LatchedStatus = (byte)((o ? 0x80 : 0) | (c.NullCount ? 0x40 : 0) | c.Rw << 4 | c.ModeBits << 1 | (c.Bcd ? 1 : 0));
                c.StatusLatched = true;
            }
        }
    }

    void LatchCount(Counter c, long t)
    {
        c.LatchedCount = Display(c, Eval(c, t).Ce);
        c.CountLatched = true;
    }

    static uint ReadByte(Counter c, long t)
    {
        // A latched status is read first, whichever was latched first; then a latched count; else the live count.
        if (c.StatusLatched)
        {
            c.StatusLatched = false;
            return c.LatchedStatus;
        }
        bool latched = c.CountLatched;
        int v = latched ? c.LatchedCount : Display(c, Eval(c, t).Ce);
        bool msb;
        switch (c.Rw)
        {
            case 1: msb = false; break;
            case 2: msb = true; break;
            default:
                msb = c.ReadMsbNext;
                c.ReadMsbNext = !c.ReadMsbNext;
                break;
        }
        if (latched && (msb || c.Rw == 1)) c.CountLatched = false;     // the latch holds until fully read
        return (uint)(msb ? v >> 8 : v) & 0xFF;
    }

    void WriteCount(Counter c, byte v, long t)
    {
        Normalize(c, t);
        switch (c.Rw)
        {
            case 1: c.Cr = v; break;
            case 2: c.Cr = v << 8; break;
            default:
                if (!c.WriteMsbNext)
                {
                    c.WriteMsbNext = true;
                    c.Cr = (c.Cr & 0xFF00) | v;
                    // Mode 0: writing the first byte of a two-byte count stops counting and sets OUT low at once.
                    if (c.Mode == 0)
                    {
                        if (c.Loaded) c.HeldCe = Eval(c, t).Ce;
                        c.Loaded = false;
                        c.Running = false;
                        c.IdleOut = false;
                    }
                    return;
                }
                c.WriteMsbNext = false;
                c.Cr = (c.Cr & 0x00FF) | v << 8;
                break;
        }
        LoadCount(c, t);
    }

    /// <summary>A complete count has been written to CR at tick <paramref name="t"/>.</summary>
    static void LoadCount(Counter c, long t)
    {
        long n = InitialCount(c);
        c.HasCount = true;
        switch (c.Mode)
        {
            case 0:
            case 4:
                // Loaded at once (counting waits for GATE); mode 0's OUT goes low until the new terminal count.
                c.Loaded = true;
                c.Running = c.Gate;
                c.Anchor = t;
                c.Value = n;
                c.NullCount = false;
                break;
            case 1:
            case 5:
                c.NullCount = true;                                    // CR reaches CE only on the next trigger
                break;
            default:
                if (!c.Loaded)
                {
                    c.Loaded = true;
                    c.Value = n;
                    c.NullCount = false;
                    c.Running = c.Gate;
                    c.Anchor = t;
                    if (!c.Gate) c.HeldCe = n;
                }
                else if (!c.Running)
                {
                    c.Value = n;                                       // loaded by the next GATE rising edge
                    c.SwitchTick = long.MaxValue;
                    c.NullCount = false;
                }
                else
                {
                    // Modes 2/3: the current period (mode 3: half-cycle) completes with the old count.
                    if (c.SwitchTick == long.MaxValue) ScheduleSwitch(c, t);
                    c.PendingPeriod = n;
                    c.NullCount = true;
                }
                break;
        }
    }

    static void ScheduleSwitch(Counter c, long t)
    {
        long n = c.Value;
        long k = FloorDiv(t - c.Anchor, n);
        long pos = t - c.Anchor - k * n;
        if (c.Mode == 3 && pos < HighHalf(n))
        {
            c.SwitchTick = c.Anchor + k * n + HighHalf(n);             // end of the high half: the new count starts low
            c.SwitchEntersLow = true;
        }
        else
        {
            c.SwitchTick = c.Anchor + (k + 1) * n;
            c.SwitchEntersLow = false;
        }
    }

    void SetGate(Counter c, bool gate, long t)
    {
        Normalize(c, t);
        if (c.Gate == gate) return;
        c.Gate = gate;
        switch (c.Mode)
        {
            case 0:
            case 4:
                // GATE enables counting; it has no effect on OUT.
                if (!c.Loaded) break;
                if (!gate)
                {
                    c.Value = Remaining(c, t);
                    c.Running = false;
                }
                else
                {
                    c.Anchor = t;
                    c.Running = true;
                }
                break;
            case 1:
            case 5:
                // A rising edge (re)triggers: CR is loaded and the one-shot starts; the level does not stop counting.
                if (gate && c.HasCount)
                {
                    c.Loaded = true;
                    c.Running = true;
                    c.Anchor = t;
                    c.Value = InitialCount(c);
                    c.NullCount = false;
                }
                break;
            default:
                if (!c.Loaded) break;
                if (!gate)
                {
                    c.HeldCe = Eval(c, t).Ce;                           // counting stops, OUT is forced high
                    c.Running = false;
                }
                else
                {
                    // A rising edge reloads the counter (with a newly written count, if any) and restarts the period.
                    if (c.SwitchTick != long.MaxValue) c.Value = c.PendingPeriod;
                    c.SwitchTick = long.MaxValue;
                    c.NullCount = false;
                    c.Anchor = t;
                    c.Running = true;
                }
                break;
        }
    }

    // ---------------------------------------------------------------- IRQ 0

    /// <summary>Drives every OUT 0 transition up to tick <paramref name="upto"/> onto IRQ 0, in order, and re-arms.</summary>
    void SyncIrq(long upto)
    {
        var c = counters[0];
        bool skipped = false;
        int emitted = 0;
        while (true)
        {
            long e = NextEdge(c, irqCursor);
            if (e > upto) break;
            if (++emitted > 16 && !skipped)
            {
                // Far behind (the host stalled): the interrupt controller has seen edges already; skip to the last
                // couple of periods rather than replaying each one.
                skipped = true;
                long back = upto - 2 * Math.Max(c.Value, c.PendingPeriod) - 2;
                if (back > irqCursor)
                {
                    irqCursor = back;
                    continue;
                }
            }
            SetLine(Eval(c, e).Out);
            irqCursor = e;
        }
        Rearm(upto);
    }

    void Rearm(long t)
    {
        var c = counters[0];
        if (t > irqCursor) irqCursor = t;
        SetLine(Eval(c, irqCursor).Out);
        long next = NextEdge(c, irqCursor);
        if (next == long.MaxValue) timer.Cancel();
        else timer.Set(TimeOfTick(next));
    }

    void SetLine(bool level)
    {
        if (level == irqLevel) return;
        irqLevel = level;
        irq.SetIrq(0, level);
    }

    // ---------------------------------------------------------------- counter model

    sealed class Counter
    {
        public int ModeBits;          // M2..M0 as written (status byte)
        public int Rw;                // 1 LSB, 2 MSB, 3 LSB then MSB
        public bool Bcd;
        public bool Gate;

        public int Cr;                // count register as written
        public bool HasCount;         // a complete count was written since the control word
        public bool NullCount;        // CR not yet transferred to CE
        public bool WriteMsbNext;

        public bool ReadMsbNext;
        public bool CountLatched;
        public int LatchedCount;
        public bool StatusLatched;
        public byte LatchedStatus;

        // Counting: when !Loaded the counter holds HeldCe and OUT = IdleOut. When Loaded, modes 0/1/4/5 keep
        // Value = ticks to terminal count at tick Anchor (negative after it; counting continues and wraps), and
        // modes 2/3 keep Value = the period N, with a period starting at Anchor.
        public bool Loaded;
        public bool Running;
        public long Anchor;
        public long Value;
        public long HeldCe;
        public bool IdleOut;

        // Modes 2/3: a count written while counting takes over at SwitchTick (end of the period / half-cycle).
        public long SwitchTick = long.MaxValue;
        public long PendingPeriod;
        public bool SwitchEntersLow;

        public int Mode => ModeBits > 5 ? ModeBits - 4 : ModeBits;    // 6 and 7 are 2 and 3
        public long Modulus => Bcd ? 10000 : 65536;
    }

    /// <summary>The count CR stands for: 0 means 65536 binary or 10000 BCD.</summary>
    static long InitialCount(Counter c)
    {
        long v = c.Cr;
        if (c.Bcd) v = (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;
        return v == 0 ? c.Modulus : v;
    }

    static int Display(Counter c, long ce)
    {
        long v = Mod(ce, c.Modulus);
        if (!c.Bcd) return (int)v;
        return (int)(v % 10 | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12);
    }

    static long HighHalf(long n) => (n + 1) / 2;

    static long Remaining(Counter c, long t) => c.Running ? c.Value - Math.Max(0, t - c.Anchor) : c.Value;

    /// <summary>Applies a pending mode 2/3 count once its switch tick has passed (a pure re-anchoring).</summary>
    static void Normalize(Counter c, long t)
    {
        if (c.SwitchTick == long.MaxValue || t < c.SwitchTick || !c.Running) return;
        c.Anchor = SwitchAnchor(c);
        c.Value = c.PendingPeriod;
        c.SwitchTick = long.MaxValue;
        c.NullCount = false;
    }

    static long SwitchAnchor(Counter c) => c.SwitchEntersLow ? c.SwitchTick - HighHalf(c.PendingPeriod) : c.SwitchTick;

    /// <summary>CE (as an unbounded value; reduce with the modulus) and OUT at tick <paramref name="t"/>.</summary>
    static (long Ce, bool Out) Eval(Counter c, long t)
    {
        if (!c.Loaded) return (c.HeldCe, c.IdleOut);
        switch (c.Mode)
        {
            case 0:
            case 1:
            {
                long rem = Remaining(c, t);
                return (rem, rem <= 0);                                // OUT high from terminal count on
            }
            case 4:
            case 5:
            {
                long rem = Remaining(c, t);
                return (rem, rem != 0);                                // OUT low for the one clock of terminal count
            }
            default:
            {
                if (!c.Running) return (c.HeldCe, true);               // GATE low forces OUT high
                long a = c.Anchor, n = c.Value;
                if (t >= c.SwitchTick)
                {
                    a = SwitchAnchor(c);
                    n = c.PendingPeriod;
                }
                long pos = Mod(t - a, n);
                if (c.Mode == 2)
                    return (n - pos, n < 2 || pos != n - 1);           // low while CE = 1 (a count of 1 is illegal)
                long h = HighHalf(n), start = n & ~1L;                 // odd counts load N-1 and count down by two
                return pos < h ? (Math.Max(0, start - 2 * pos), true) : (Math.Max(0, start - 2 * (pos - h)), false);
            }
        }
    }

    /// <summary>The first tick after <paramref name="after"/> at which OUT changes (long.MaxValue: never).</summary>
    static long NextEdge(Counter c, long after)
    {
        if (!c.Loaded || !c.Running) return long.MaxValue;
        switch (c.Mode)
        {
            case 0:
            case 1:
            {
                long e = c.Value > 0 ? c.Anchor + c.Value : long.MaxValue;
                return e > after ? e : long.MaxValue;
            }
            case 4:
            case 5:
            {
                long fall = c.Value > 0 ? c.Anchor + c.Value : long.MaxValue;
                long rise = c.Value >= 0 ? c.Anchor + c.Value + 1 : long.MaxValue;
                if (fall > after) return fall;
                return rise > after ? rise : long.MaxValue;
            }
            default:
            {
                long t = after;
                for (int i = 0; i < 8; i++)
                {
                    long cand = NextPeriodicCandidate(c, t);
                    if (cand == long.MaxValue) return cand;
                    if (Eval(c, cand).Out != Eval(c, cand - 1).Out) return cand;
                    t = cand;
                }
                return long.MaxValue;
            }
        }
    }

    /// <summary>The next tick after <paramref name="after"/> where a mode 2/3 OUT may change.</summary>
    static long NextPeriodicCandidate(Counter c, long after)
    {
        long best = long.MaxValue;
        if (after < c.SwitchTick)
        {
            long p = NextPoint(c.Mode, c.Anchor, c.Value, Math.Max(after, c.Anchor));
            if (p < c.SwitchTick) return p;
            if (c.SwitchTick != long.MaxValue) return c.SwitchTick;
            return long.MaxValue;
        }
        if (c.SwitchTick != long.MaxValue)
            best = NextPoint(c.Mode, SwitchAnchor(c), c.PendingPeriod, Math.Max(after, c.SwitchTick));
        return best;
    }

    /// <summary>Smallest tick t &gt; after where a period anchored at <paramref name="a"/> toggles OUT.</summary>
    static long NextPoint(int mode, long a, long n, long after)
    {
        if (n < 2) return long.MaxValue;                              // count 1: no transitions
        long o1 = 0, o2 = mode == 2 ? n - 1 : HighHalf(n);
        long k = FloorDiv(after - a, n);
        long c1 = a + k * n + o1, c2 = a + k * n + o2;
        while (c1 <= after) c1 += n;
        while (c2 <= after) c2 += n;
        return Math.Min(c1, c2);
    }

    static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    static long Mod(long a, long m)
    {
        long r = a % m;
        return r < 0 ? r + m : r;
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "PIT ": each counter's programming, latches, count register and counting anchor, and the IRQ 0
    /// level and cursor. The timer's deadline is the clock's.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("PIT ", 1);
        foreach (var c in counters)
        {
            w.WriteByte((byte)c.ModeBits);
            w.WriteByte((byte)c.Rw);
            w.WriteBool(c.Bcd);
            w.WriteBool(c.Gate);
            w.WriteInt32(c.Cr);
            w.WriteBool(c.HasCount);
            w.WriteBool(c.NullCount);
            w.WriteBool(c.WriteMsbNext);
            w.WriteBool(c.ReadMsbNext);
            w.WriteBool(c.CountLatched);
            w.WriteInt32(c.LatchedCount);
            w.WriteBool(c.StatusLatched);
            w.WriteByte(c.LatchedStatus);
            w.WriteBool(c.Loaded);
            w.WriteBool(c.Running);
            w.WriteInt64(c.Anchor);
            w.WriteInt64(c.Value);
            w.WriteInt64(c.HeldCe);
            w.WriteBool(c.IdleOut);
            w.WriteInt64(c.SwitchTick);
            w.WriteInt64(c.PendingPeriod);
            w.WriteBool(c.SwitchEntersLow);
        }
        w.WriteBool(irqLevel);
        w.WriteInt64(irqCursor);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote (periods are checked, since they divide).</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("PIT ", 1);
        var loaded = new Counter[3];
        for (int i = 0; i < 3; i++)
        {
            string n = $"counter {i} ";
            var c = loaded[i] = new Counter
            {
                ModeBits = r.ReadByte(n + "mode", 0, 7),
                Rw = r.ReadByte(n + "access mode", 1, 3),
                Bcd = r.ReadBool(n + "bcd"),
                Gate = r.ReadBool(n + "gate"),
                Cr = r.ReadInt32(n + "count register", 0, 0xFFFF),
                HasCount = r.ReadBool(n + "has count"),
                NullCount = r.ReadBool(n + "null count"),
                WriteMsbNext = r.ReadBool(n + "write msb next"),
                ReadMsbNext = r.ReadBool(n + "read msb next"),
                CountLatched = r.ReadBool(n + "count latched"),
                LatchedCount = r.ReadInt32(n + "latched count", 0, 0xFFFF),
                StatusLatched = r.ReadBool(n + "status latched"),
                LatchedStatus = r.ReadByte(n + "latched status"),
                Loaded = r.ReadBool(n + "loaded"),
                Running = r.ReadBool(n + "running"),
                Anchor = r.ReadInt64(n + "anchor"),
                Value = r.ReadInt64(n + "value"),
                HeldCe = r.ReadInt64(n + "held count"),
                IdleOut = r.ReadBool(n + "idle out"),
                SwitchTick = r.ReadInt64(n + "switch tick"),
                PendingPeriod = r.ReadInt64(n + "pending period", 0, 65536),
                SwitchEntersLow = r.ReadBool(n + "switch enters low"),
            };
            // Modes 2 and 3 divide by the period (and by the pending one once it takes over).
            if (c.Loaded && c.Mode is 2 or 3 && c.Value is < 1 or > 65536) throw r.Invalid(n + "value", $"period {c.Value} is outside 1..65536");
            if (c.SwitchTick != long.MaxValue && c.PendingPeriod < 1) throw r.Invalid(n + "pending period", "a pending count must be 1..65536");
        }
        bool level = r.ReadBool("irq level");
        long cursor = r.ReadInt64("irq cursor");
        r.EndSection();
        for (int i = 0; i < 3; i++) counters[i] = loaded[i];
        irqLevel = level;
        irqCursor = cursor;
    }
}
