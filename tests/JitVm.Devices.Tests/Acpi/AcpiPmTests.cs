using System.Numerics;
using JitVm.Core;
using JitVm.Core.State;
using JitVm.Devices.Acpi;

namespace JitVm.Devices.Tests.Acpi;

/// <summary>The ACPI PM registers at 0x600 on a deterministic clock (10 ns per instruction).</summary>
public class AcpiPmTests
{
    sealed class IrqRecorder : IIrqLines
    {
        public readonly List<(int Irq, bool High)> Changes = new();
        public bool Level(int irq) => Changes.LastOrDefault(c => c.Irq == irq).High;
        public void SetIrq(int irq, bool high) => Changes.Add((irq, high));
    }

    sealed class Rig
    {
        public long Instructions;
        public readonly VirtualClock Clock;
        public readonly IrqRecorder Irqs = new();
        public readonly IoBus Io = new();
        public readonly AcpiPm Pm;
        public int PowerOffs;

        public Rig()
        {
            Clock = new VirtualClock(() => Instructions);
            Pm = new AcpiPm(Clock, Irqs, () => PowerOffs++);
            Pm.Attach(Io);
        }

        public uint Timer => Io.In(0x608, 4);
        public ushort Status => (ushort)Io.In(0x600, 2);
        /// <summary>Moves guest time to <paramref name="ns"/> (a multiple of 10) and fires due timers.</summary>
        public void At(long ns)
        {
            Instructions = ns / 10;
            Clock.RunDue();
        }
    }

    /// <summary>The first guest nanosecond (on the 10 ns instruction grid) at which the timer has counted <paramref name="ticks"/>.</summary>
    static long GridNsOfTick(long ticks)
    {
        var ns = (BigInteger.Multiply(ticks, 1_000_000_000) + 3_579_545 - 1) / 3_579_545;
        return (long)((ns + 9) / 10 * 10);
    }

    static uint ExpectedTimer(long ns) => (uint)(BigInteger.Multiply(ns, 3_579_545) / 1_000_000_000 & 0xFFFFFF);

    [Fact]
    public void TheTimerCounts3579545TicksPerGuestSecondIn24Bits()
    {
        var rig = new Rig();
        Assert.Equal(0u, rig.Timer);
        rig.At(1_000_000_000);
        Assert.Equal(3_579_545u, rig.Timer);                    // exactly one second of guest time
        rig.At(1_234_567_890);
        Assert.Equal(ExpectedTimer(1_234_567_890), rig.Timer);
        Assert.Equal(4_419_191u, rig.Timer);                    // floor(1.23456789 * 3579545)
        // Narrow reads see the same count, byte by byte.
        uint t = rig.Timer;
        Assert.Equal(t & 0xFFFF, rig.Io.In(0x608, 2));
        Assert.Equal(t >> 16 & 0xFF, rig.Io.In(0x60A, 1));
        Assert.Equal(0u, rig.Io.In(0x60B, 1));                 // bits 24-31 read 0 (TMR_VAL_EXT clear)
        // Ten hours in: no overflow in the arithmetic, still the 24-bit count.
        long tenHours = 36_000L * 1_000_000_000;
        rig.At(tenHours);
        Assert.Equal((uint)(36_000L * 3_579_545 & 0xFFFFFF), rig.Timer);
        rig.Io.Out(0x608, 4, 0);                                // read-only
        Assert.Equal((uint)(36_000L * 3_579_545 & 0xFFFFFF), rig.Timer);
    }

    [Fact]
    public void TheTimerWrapsAt2Pow24()
    {
        var rig = new Rig();
        long wrap = GridNsOfTick(1 << 24);
        rig.At(wrap - 10);
        Assert.Equal(0xFFFFFFu, rig.Timer);
        rig.At(wrap);
        Assert.Equal(0u, rig.Timer);
        Assert.InRange(wrap, 4_686_968_875, 4_686_968_885);     // 2^24 / 3.579545 MHz = 4.686969 s
    }

    [Fact]
    public void StatusBitsAreWriteOneToClear()
    {
        var rig = new Rig();
        Assert.Equal(0, rig.Status);
        rig.At(GridNsOfTick(1 << 23) - 10);
        Assert.Equal(0, rig.Status & AcpiPm.TimerStatus);       // bit 23 has not changed yet
        rig.At(GridNsOfTick(1 << 23));
        Assert.Equal(AcpiPm.TimerStatus, rig.Status);           // it has: TMR_STS
        rig.Pm.PressPowerButton();
        Assert.Equal(AcpiPm.TimerStatus | AcpiPm.PowerButtonStatus, rig.Status);
        rig.Io.Out(0x600, 2, 0);                                // writing 0 changes nothing
        Assert.Equal(AcpiPm.TimerStatus | AcpiPm.PowerButtonStatus, rig.Status);
        rig.Io.Out(0x600, 2, AcpiPm.TimerStatus);
        Assert.Equal(AcpiPm.PowerButtonStatus, rig.Status);
        rig.Io.Out(0x601, 1, AcpiPm.PowerButtonStatus >> 8);    // a byte write to the high half
        Assert.Equal(0, rig.Status);
        rig.At(GridNsOfTick(1 << 24) - 10);
        Assert.Equal(0, rig.Status);                            // cleared until bit 23 changes again...
        rig.At(GridNsOfTick(1 << 24));
        Assert.Equal(AcpiPm.TimerStatus, rig.Status);           // ...at the wrap
    }

    [Fact]
    public void EnableBitsThatACpiUsesStickAndTheRestReadZero()
    {
        var rig = new Rig();
        rig.Io.Out(0x602, 2, 0xFFFF);
        Assert.Equal(0x0721u, rig.Io.In(0x602, 2));            // TMR_EN GBL_EN PWRBTN_EN SLPBTN_EN RTC_EN
        Assert.Equal(0x0721u << 16, rig.Io.In(0x600, 4) & 0xFFFF0000);
        rig.Io.Out(0x602, 1, 0x00);                             // low byte only
        Assert.Equal(0x0700u, rig.Io.In(0x602, 2));
        rig.Pm.Reset();
        Assert.Equal(0u, rig.Io.In(0x602, 2));
    }

    [Fact]
    public void TheSciFollowsEnabledStatusAndTheOverflowTimerIsArmedOnlyWhileNeeded()
    {
        var rig = new Rig();
        Assert.Equal(long.MaxValue, rig.Clock.NextDeadline);    // nothing enabled: no timer
        rig.Io.Out(0x602, 2, AcpiPm.TimerEnable);
        long first = GridNsOfTick(1 << 23);
        Assert.InRange(rig.Clock.NextDeadline, first - 9, first);   // armed for the next change of bit 23
        Assert.Empty(rig.Irqs.Changes);
        rig.At(first - 10);
        Assert.Empty(rig.Irqs.Changes);
        rig.At(first);
        Assert.Equal([(AcpiPm.SciIrq, true)], rig.Irqs.Changes);
        Assert.True(rig.Pm.SciAsserted);
        Assert.Equal(long.MaxValue, rig.Clock.NextDeadline);    // status set: nothing more to wait for
        rig.Io.Out(0x600, 2, AcpiPm.TimerStatus);               // the handler clears TMR_STS: SCI drops, next change armed
        Assert.False(rig.Irqs.Level(AcpiPm.SciIrq));
        long second = GridNsOfTick(1 << 24);
        Assert.InRange(rig.Clock.NextDeadline, second - 9, second);
        rig.Io.Out(0x602, 2, 0);                                // TMR_EN off: disarmed
        Assert.Equal(long.MaxValue, rig.Clock.NextDeadline);
        rig.At(second);
        Assert.Equal(2, rig.Irqs.Changes.Count);                // status set again, but not enabled: no SCI
        Assert.Equal(AcpiPm.TimerStatus, rig.Status);
        rig.Io.Out(0x602, 2, AcpiPm.TimerEnable);               // enabling with the status already set raises it at once
        Assert.True(rig.Irqs.Level(AcpiPm.SciIrq));
        rig.Io.Out(0x602, 2, AcpiPm.PowerButtonEnable);         // switching the enable away lowers it
        Assert.False(rig.Irqs.Level(AcpiPm.SciIrq));
        rig.Pm.PressPowerButton();
        Assert.True(rig.Irqs.Level(AcpiPm.SciIrq));
        rig.Io.Out(0x600, 2, AcpiPm.PowerButtonStatus);
        Assert.False(rig.Irqs.Level(AcpiPm.SciIrq));
        Assert.All(rig.Irqs.Changes, c => Assert.Equal(AcpiPm.SciIrq, c.Irq));
    }

    [Fact]
    public void SleepEnableWithTheS5TypePowersOffAndOtherTypesDoNothing()
    {
        var rig = new Rig();
        Assert.Equal((uint)AcpiPm.SciEnable, rig.Io.In(0x604, 2));  // always in ACPI mode
        rig.Io.Out(0x604, 2, 5u << AcpiPm.SleepTypeShift);      // SLP_TYP alone is only stored
        Assert.Equal(AcpiPm.SciEnable | 5u << AcpiPm.SleepTypeShift, rig.Io.In(0x604, 2));
        rig.Io.Out(0x604, 2, 5u << AcpiPm.SleepTypeShift | AcpiPm.SleepEnable);  // a type this machine has no state for
        Assert.False(rig.Pm.PowerOffRequested);
        Assert.Equal(0, rig.PowerOffs);
        Assert.Equal(0u, rig.Io.In(0x604, 2) & AcpiPm.SleepEnable);             // SLP_EN reads 0
        rig.Io.Out(0x604, 2, (uint)AcpiPm.SoftOffSleepType << AcpiPm.SleepTypeShift); // ACPICA's write #1: the type
        Assert.False(rig.Pm.PowerOffRequested);
        rig.Io.Out(0x604, 2, (uint)AcpiPm.SoftOffSleepType << AcpiPm.SleepTypeShift | AcpiPm.SleepEnable | AcpiPm.SciEnable); // #2
        Assert.True(rig.Pm.PowerOffRequested);
        Assert.Equal(1, rig.PowerOffs);
        rig.Io.Out(0x604, 2, AcpiPm.SleepEnable);               // once is enough
        Assert.Equal(1, rig.PowerOffs);
        rig.Pm.Reset();
        Assert.False(rig.Pm.PowerOffRequested);
        Assert.Equal((uint)AcpiPm.SciEnable, rig.Io.In(0x604, 2));
    }

    [Fact]
    public void StateRoundTripsAndBadStateIsRefusedNamingTheField()
    {
        var rig = new Rig();
        rig.Io.Out(0x602, 2, AcpiPm.TimerEnable | AcpiPm.PowerButtonEnable);
        rig.Io.Out(0x604, 2, 3u << AcpiPm.SleepTypeShift);
        rig.Pm.PressPowerButton();
        var w = new StateWriter();
        rig.Pm.SaveState(w);
        var copy = new Rig();
        copy.Pm.LoadState(new StateReader(w.ToArray()));
        Assert.Equal(rig.Pm.Status, copy.Pm.Status);
        Assert.Equal(rig.Pm.Enable, copy.Pm.Enable);
        Assert.Equal(rig.Pm.Control, copy.Pm.Control);
        Assert.True(copy.Pm.SciAsserted);
        var bad = w.ToArray();
        // status 0100h, enable 0101h, control 0C00h, little-endian, one after the other
        int at = bad.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x00, 0x01, 0x01, 0x01, 0x00, 0x0C]);
        Assert.True(at > 0);
        bad[at + 3] = 0xFF;                                     // reserved enable bits
        var e = Assert.Throws<SnapshotFormatException>(() => new Rig().Pm.LoadState(new StateReader(bad)));
        Assert.Contains("enable", e.Message);
    }
}
