using System.Numerics;
using JitVm.Core;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class Pit8254Tests
{
    const long F = 1193182;
    const ushort Ch0 = 0x40, Ch1 = 0x41, Ch2 = 0x42, Control = 0x43, PortB = 0x61;

    long instr;
    readonly VirtualClock clock;
    readonly IrqRecorder irq;
    readonly IoBus io = new();
    readonly Pit8254 pit;
    readonly SystemControlPortB portB;

    public Pit8254Tests()
    {
        clock = new VirtualClock(() => instr);
        irq = new IrqRecorder(clock);
        pit = new Pit8254(clock, irq);
        pit.Attach(io);
        portB = new SystemControlPortB(pit, clock);
        portB.Attach(io);
        irq.Events.Clear();
    }

    sealed class IrqRecorder(VirtualClock clock) : IIrqLines
    {
        public readonly List<(int Irq, bool High, long Ns)> Events = new();
        public void SetIrq(int line, bool high) => Events.Add((line, high, clock.Now));
    }

    // Time: the PIT ticks of a guest nanosecond and back, computed independently of the device (exact, BigInteger).
    static long TickAt(long ns) => (long)((BigInteger)ns * F / 1_000_000_000);
    static long NsOfTick(long tick) => (long)(((BigInteger)tick * 1_000_000_000 + F - 1) / F);
    static long CeilDiv(long a, long b) => (a + b - 1) / b;

    long NowTick => TickAt(clock.Now);

    /// <summary>Runs guest time forward to <paramref name="ns"/> as the machine does: CPU slices end at each deadline.</summary>
    void AdvanceTo(long ns)
    {
        for (int guard = 0; clock.NextDeadline <= ns; guard++)
        {
            Assert.True(guard < 10_000, "the PIT keeps arming deadlines without guest time moving on");
            long i = CeilDiv(clock.NextDeadline, clock.InstructionPeriodNs);
            if (i > instr) instr = i;
            Assert.InRange(clock.RunDue(), 0, 100);                  // one transition per deadline, never a storm
        }
        long target = CeilDiv(ns, clock.InstructionPeriodNs);
        if (target > instr) instr = target;
        clock.RunDue();
    }

    void AdvanceToTick(long tick) => AdvanceTo(NsOfTick(tick));

    void Out(ushort port, int value) => io.Out(port, 1, (uint)value);
    int In(ushort port) => (int)io.In(port, 1);

    void Program(int counter, int mode, int count, bool bcd = false)
    {
        Out(Control, counter << 6 | 0x30 | mode << 1 | (bcd ? 1 : 0));
        Out((ushort)(Ch0 + counter), count & 0xFF);
        Out((ushort)(Ch0 + counter), (count >> 8) & 0xFF);
    }

    int LatchAndRead(int counter)
    {
        Out(Control, counter << 6);                                   // counter latch command
        return In((ushort)(Ch0 + counter)) | In((ushort)(Ch0 + counter)) << 8;
    }

    int ReadStatus(int counter)
    {
        Out(Control, 0xE0 | 2 << counter);                            // read-back: status only
        return In((ushort)(Ch0 + counter));
    }

    bool Out0 => (ReadStatus(0) & 0x80) != 0;
    bool Out2Bit => (In(PortB) & 0x20) != 0;

    List<long> Edges(bool rising) =>
        irq.Events.Where(e => e.Irq == 0 && e.High == rising).Select(e => TickAt(e.Ns)).ToList();

    // ------------------------------------------------------------------------------------------ channel 0 / IRQ 0

    [Fact]
    public void Mode2Divisor1193RaisesIrq0OncePerPeriod()
    {
        Program(0, 2, 1193);                                          // the 1 kHz tick most kernels use
        Assert.Equal(new[] { (0, true, 0L) }, irq.Events);            // the mode 2 control word sets OUT high
        irq.Events.Clear();
        AdvanceToTick(100 * 1193 + 10);
        var expected = Enumerable.Range(1, 100).Select(k => k * 1193L).ToList();
        Assert.Equal(expected, Edges(rising: true));
        Assert.Equal(expected.Select(t => t - 1).ToList(), Edges(rising: false));   // low for the one clock at CE = 1
        Assert.All(irq.Events, e => Assert.Equal(0, e.Irq));
    }

    [Fact]
    public void Mode2CountZeroIs65536AndGivesTheBiosTickRate()
    {
        Program(0, 2, 0);
        irq.Events.Clear();
        Assert.Equal(0, LatchAndRead(0));                             // 65536 reads back as 0000
        AdvanceToTick(1);
        Assert.Equal(0xFFFF, LatchAndRead(0));
        AdvanceTo(1_000_000_000);                                     // one guest second: 18.2 Hz
        var rising = Edges(rising: true);
        Assert.Equal(18, rising.Count);
        Assert.Equal(65536, rising[0]);
        Assert.Equal(18 * 65536L, rising[^1]);
    }

    [Fact]
    public void Mode2OutIsLowForExactlyTheClockWhereTheCountIsOne()
    {
        Program(0, 2, 100);
        AdvanceToTick(98);
        Assert.True(Out0);
        Assert.Equal(2, LatchAndRead(0));
        AdvanceToTick(99);
        Assert.False(Out0);
        Assert.Equal(1, LatchAndRead(0));
        AdvanceToTick(100);
        Assert.True(Out0);
        Assert.Equal(100, LatchAndRead(0));                           // reloaded
    }

    [Fact]
    public void Mode3SquareWaveIsHighThenLowForHalfThePeriod()
    {
        Program(0, 3, 1000);
        foreach (var (tick, high) in new[] { (0L, true), (499L, true), (500L, false), (999L, false), (1000L, true), (1499L, true), (1500L, false) })
        {
            AdvanceToTick(tick);
            Assert.Equal(high, Out0);
        }
        irq.Events.Clear();
        AdvanceToTick(6000);
        Assert.Equal(new long[] { 2000, 3000, 4000, 5000, 6000 }, Edges(rising: true));
        Assert.Equal(new long[] { 2500, 3500, 4500, 5500 }, Edges(rising: false));
    }

    [Fact]
    public void Mode3OddCountIsHighOneClockLongerThanLow()
    {
        Program(1, 3, 5);                                             // counter 1: GATE tied high
        var levels = new List<bool>();
        for (long t = 0; t <= 10; t++)
        {
            AdvanceToTick(t);
            levels.Add((ReadStatus(1) & 0x80) != 0);
        }
        // (N+1)/2 = 3 clocks high, (N-1)/2 = 2 clocks low, period 5.
        Assert.Equal(new[] { true, true, true, false, false, true, true, true, false, false, true }, levels);
    }

    [Fact]
    public void ALateTimerCatchesUpWithoutReplayingEveryMissedPeriod()
    {
        Program(0, 2, 2);                                             // an edge every other clock
        irq.Events.Clear();
        instr += 100_000_000;                                         // one guest second passes without RunDue
        Assert.Equal(1, clock.RunDue());
        var rising = Edges(rising: true);
        Assert.InRange(rising.Count, 1, 20);                          // the PIC sees an edge, not 596591 of them
        Assert.True(rising[^1] <= NowTick && rising[^1] > NowTick - 8);
        irq.Events.Clear();
        long now = NowTick;
        AdvanceToTick(now + 10);
        Assert.Equal(5, Edges(rising: true).Count);                   // and the period is kept afterwards
        Assert.All(Edges(rising: true), t => Assert.Equal(0, t % 2));
    }

    [Fact]
    public void Mode0GoesHighAtTerminalCountOnceAndTheCounterWraps()
    {
        AdvanceToTick(10);
        Program(0, 0, 100);
        Assert.False(Out0);
        AdvanceToTick(109);
        Assert.False(Out0);
        Assert.Empty(Edges(rising: true));
        AdvanceToTick(110);
        Assert.True(Out0);
        Assert.Equal(new long[] { 110 }, Edges(rising: true));
        AdvanceToTick(110 + 70_000);                                  // counting goes on past zero, OUT stays high
        Assert.Equal(new long[] { 110 }, Edges(rising: true));
        Assert.Empty(Edges(rising: false));
        Assert.True(Out0);
        Assert.Equal((int)(((100 - 70_100) % 65536 + 65536) % 65536), LatchAndRead(0));
    }

    [Fact]
    public void Mode0FirstCountByteStopsCountingAndSecondReloads()
    {
        Program(0, 0, 1000);
        AdvanceToTick(600);
        Out(Ch0, 0x10);                                               // LSB of a new count: counting stops
        AdvanceToTick(900);
        Assert.Equal(400, LatchAndRead(0));                           // frozen where it stopped
        AdvanceToTick(1000);                                          // the old terminal count passes unnoticed
        Assert.Empty(Edges(rising: true));
        Out(Ch0, 0x00);                                               // MSB: new count 0x0010 loads
        AdvanceToTick(1015);
        Assert.False(Out0);
        AdvanceToTick(1016);
        Assert.Equal(new long[] { 1016 }, Edges(rising: true));
    }

    [Fact]
    public void Mode0NewCountAfterTerminalCountSetsOutLowAgain()
    {
        Program(0, 0, 50);
        AdvanceToTick(60);
        Assert.Equal(new long[] { 50 }, Edges(rising: true));
        Out(Ch0, 20);
        Out(Ch0, 0);
        Assert.Equal(new long[] { 60 }, Edges(rising: false));        // OUT low when the new count is written
        AdvanceToTick(200);
        Assert.Equal(new long[] { 50, 80 }, Edges(rising: true));
    }

    [Fact]
    public void Mode4StrobesIrq0LowForOneClockOnce()
    {
        Program(0, 4, 50);
        Assert.Equal(new long[] { 0 }, Edges(rising: true));          // the control word sets OUT high
        AdvanceToTick(200_000);
        Assert.Equal(new long[] { 50 }, Edges(rising: false));
        Assert.Equal(new long[] { 0, 51 }, Edges(rising: true));
    }

    [Fact]
    public void Mode2NewCountTakesEffectAtTheEndOfTheCurrentPeriod()
    {
        Program(0, 2, 1000);
        irq.Events.Clear();
        AdvanceToTick(300);
        Out(Ch0, 500 & 0xFF);
        Out(Ch0, 500 >> 8);
        Assert.Equal(0x40, ReadStatus(0) & 0x40);                     // null count: CR not yet in CE
        Assert.Equal(700, LatchAndRead(0));                           // the current period is unaffected
        AdvanceToTick(2600);
        Assert.Equal(new long[] { 1000, 1500, 2000, 2500 }, Edges(rising: true));
        Assert.Equal(0, ReadStatus(0) & 0x40);
    }

    [Fact]
    public void Mode3NewCountIsLoadedAtTheEndOfTheCurrentHalfCycle()
    {
        Program(0, 3, 1000);
        irq.Events.Clear();
        AdvanceToTick(200);
        Out(Ch0, 400 & 0xFF);
        Out(Ch0, 400 >> 8);
        AdvanceToTick(1500);
        Assert.Equal(new long[] { 500, 900, 1300 }, Edges(rising: false));   // old high half, then 200/200 halves
        Assert.Equal(new long[] { 700, 1100, 1500 }, Edges(rising: true));
    }

    [Fact]
    public void ControlWordSetsOutToTheModesInitialLevelAndStopsTheCounter()
    {
        Program(0, 2, 100);
        AdvanceToTick(250);
        irq.Events.Clear();
        Out(Control, 0x30);                                           // counter 0, mode 0, no count yet
        Assert.Equal(new long[] { 250 }, Edges(rising: false));
        Assert.Equal(0x70, ReadStatus(0));                            // OUT low, null count, LSB/MSB, mode 0
        AdvanceToTick(100_000);
        Assert.Single(irq.Events);
        Assert.Equal(long.MaxValue, clock.NextDeadline);
    }

    [Fact]
    public void Modes6And7AliasModes2And3()
    {
        Out(Control, 0x3C);                                           // mode bits 110
        Out(Ch0, 200);
        Out(Ch0, 0);
        irq.Events.Clear();
        Assert.Equal(0x3C, ReadStatus(0) & 0x3F);                     // status returns the mode exactly as written
        AdvanceToTick(650);
        Assert.Equal(new long[] { 200, 400, 600 }, Edges(rising: true));
        Out(Control, 0x7E);                                           // counter 1, mode bits 111: square wave
        Out(Ch1, 10);
        Out(Ch1, 0);
        AdvanceToTick(654);
        Assert.True((ReadStatus(1) & 0x80) != 0);                     // high for 5 clocks from tick 650
        AdvanceToTick(655);
        Assert.False((ReadStatus(1) & 0x80) != 0);
    }

    // ------------------------------------------------------------------------------------------ reading

    [Fact]
    public void LatchCommandFreezesTheCountWhileTheLiveCountMovesOn()
    {
        Program(0, 2, 50_000);
        AdvanceToTick(1234);
        Out(Control, 0x00);
        AdvanceToTick(5000);
        int latched = In(Ch0) | In(Ch0) << 8;
        Assert.Equal(50_000 - 1234, latched);
        int live = In(Ch0) | In(Ch0) << 8;                            // unlatched: the count now
        Assert.Equal(50_000 - 5000, live);
    }

    [Fact]
    public void SecondLatchCommandIsIgnoredUntilTheCountIsRead()
    {
        Program(2, 0, 0);                                             // counter 2, gate on
        Out(PortB, 0x01);
        AdvanceToTick(100);
        Out(Control, 0x80);
        AdvanceToTick(200);
        Out(Control, 0x80);                                           // ignored: a count is already latched
        Assert.Equal(65536 - 100, In(Ch2) | In(Ch2) << 8);
        AdvanceToTick(300);
        Assert.Equal(65536 - 300, LatchAndRead(2));
    }

    [Fact]
    public void ReadBackLatchesStatusAndCountAndStatusIsReadFirst()
    {
        Out(Control, 0xB6);                                           // counter 2, LSB/MSB, mode 3, gate low
        Assert.Equal(0xF6, ReadStatus(2));                            // OUT high, null count, RW 11, mode 011
        Out(Ch2, 0x34);
        Out(Ch2, 0x12);
        AdvanceToTick(500);                                           // gate low: not counting
        Out(Control, 0xC8);                                           // read-back count + status of counter 2
        Assert.Equal(0xB6, In(Ch2));                                  // count loaded: null count clear
        Assert.Equal(0x34, In(Ch2));
        Assert.Equal(0x12, In(Ch2));

        // A status latched after the count is still read before it.
        Program(0, 2, 3000);
        AdvanceToTick(700);
        Out(Control, 0x00);                                           // latch count
        Out(Control, 0xE2);                                           // read-back: status only
        AdvanceToTick(900);
        Assert.Equal(0xB4, In(Ch0));
        Assert.Equal(2800, In(Ch0) | In(Ch0) << 8);
    }

    [Fact]
    public void ReadBackCanLatchSeveralCountersAtOnce()
    {
        Program(0, 2, 10_000);
        Program(1, 2, 20_000);
        Out(PortB, 0x01);
        Program(2, 0, 30_000);
        AdvanceToTick(1000);
        Out(Control, 0xDE);                                           // count only (STATUS bit set), counters 0-2
        AdvanceToTick(4000);
        Assert.Equal(9000, In(Ch0) | In(Ch0) << 8);
        Assert.Equal(19_000, In(Ch1) | In(Ch1) << 8);
        Assert.Equal(29_000, In(Ch2) | In(Ch2) << 8);
    }

    [Fact]
    public void TwoByteReadsAlternateAndSingleByteModesDoNot()
    {
        Program(1, 0, 0x1234);                                        // counter 1 counts down from 0x1234
        Out(Control, 0x40);
        Assert.Equal(0x34, In(Ch1));
        Out(Control, 0x40);                                           // ignored: the latch is half read
        Assert.Equal(0x12, In(Ch1));
        AdvanceToTick(0x100);
        Assert.Equal(0x34, In(Ch1));                                  // live LSB, then MSB
        Assert.Equal(0x11, In(Ch1));

        Out(Control, 0x14);                                           // counter 0, LSB only, mode 2
        Out(Ch0, 0x80);
        AdvanceToTick(0x100 + 0x10);
        Assert.Equal(0x70, In(Ch0));
        Assert.Equal(0x70, In(Ch0));                                  // no alternation

        Out(Control, 0x24);                                           // counter 0, MSB only, mode 2
        Out(Ch0, 0x02);                                               // count 0x0200
        irq.Events.Clear();
        long start = NowTick;
        AdvanceToTick(start + 0x180);
        Assert.Equal(0x00, In(Ch0));                                  // 0x200 - 0x180 = 0x0080: MSB 0
        AdvanceToTick(start + 0x600);
        Assert.Equal(new[] { start + 0x200, start + 0x400, start + 0x600 }, Edges(rising: true));
    }

    [Fact]
    public void BcdModeCountsInDecimalDigits()
    {
        Program(0, 2, 0x1000, bcd: true);                             // 1000 decimal
        irq.Events.Clear();
        AdvanceToTick(345);
        Assert.Equal(0x0655, LatchAndRead(0));
        AdvanceToTick(3100);
        Assert.Equal(new long[] { 1000, 2000, 3000 }, Edges(rising: true));
        Assert.Equal(0x35, ReadStatus(0) & 0x3F);                     // RW 11, mode 2, BCD

        long start = NowTick;
        Program(1, 2, 0, bcd: true);                                  // 0 means 10000 in BCD
        AdvanceToTick(start + 1);
        Assert.Equal(0x9999, LatchAndRead(1));
        AdvanceToTick(start + 9999);
        Assert.False((ReadStatus(1) & 0x80) != 0);                    // CE = 1 after 9999 clocks
    }

    // ------------------------------------------------------------------------------------------ counter 2 and port 0x61

    [Fact]
    public void Channel2CalibrationLoopSeesOut2RiseAfterExactlyTheCount()
    {
        instr = 12_345;
        const int latch = 11932;                                      // 10 ms, as Linux's PIT calibration uses
        Out(PortB, (In(PortB) & ~0x02) | 0x01);                       // gate on, speaker off
        Out(Control, 0xB0);                                           // counter 2, LSB/MSB, mode 0, binary
        Out(Ch2, latch & 0xFF);
        Out(Ch2, latch >> 8);
        long start = NowTick;
        long lastLow = -1;
        while ((In(PortB) & 0x20) == 0)
        {
            Assert.True(NowTick < start + 2 * latch, "OUT2 never went high");
            lastLow = NowTick;
            instr += 5;                                               // in al,61h / test al,20h / jz
        }
        Assert.Equal(start + latch, NowTick);
        Assert.Equal(start + latch - 1, lastLow);
    }

    [Fact]
    public void GateLowSuspendsMode0Counting()
    {
        Out(PortB, 0x00);
        Program(2, 0, 1000);
        AdvanceToTick(5000);
        Assert.False(Out2Bit);
        Assert.Equal(1000, LatchAndRead(2));
        Out(PortB, 0x01);                                             // gate on at tick 5000
        AdvanceToTick(5400);
        Out(PortB, 0x00);                                             // off after 400 clocks
        AdvanceToTick(90_000);
        Assert.Equal(600, LatchAndRead(2));
        Assert.False(Out2Bit);
        Out(PortB, 0x01);
        AdvanceToTick(90_599);
        Assert.False(Out2Bit);
        AdvanceToTick(90_600);
        Assert.True(Out2Bit);
    }

    [Fact]
    public void GateLowForcesMode2OutHighAndTheRisingEdgeRestartsThePeriod()
    {
        Out(PortB, 0x01);
        Program(2, 2, 100);
        AdvanceToTick(99);
        Assert.False(Out2Bit);                                        // the one low clock
        Out(PortB, 0x00);
        Assert.True(Out2Bit);                                         // forced high at once
        AdvanceToTick(1000);
        Assert.True(Out2Bit);
        Out(PortB, 0x01);                                             // trigger: reload at tick 1000
        Assert.Equal(100, LatchAndRead(2));
        AdvanceToTick(1098);
        Assert.True(Out2Bit);
        AdvanceToTick(1099);
        Assert.False(Out2Bit);
    }

    [Fact]
    public void Mode1IsARetriggerableOneShotStartedByTheGate()
    {
        Out(PortB, 0x00);
        Program(2, 1, 100);
        AdvanceToTick(500);
        Assert.True(Out2Bit);                                         // waits for a trigger
        Assert.Equal(0x40, ReadStatus(2) & 0x40);                     // null count until the trigger loads CE
        Out(PortB, 0x01);                                             // trigger at 500
        Assert.False(Out2Bit);
        Assert.Equal(0, ReadStatus(2) & 0x40);
        AdvanceToTick(550);
        Out(PortB, 0x00);                                             // the level does not stop mode 1
        Out(PortB, 0x01);                                             // retrigger at 550: another 100 clocks
        AdvanceToTick(649);
        Assert.False(Out2Bit);
        AdvanceToTick(650);
        Assert.True(Out2Bit);
        Assert.Equal(0, LatchAndRead(2));
    }

    [Fact]
    public void Mode5StrobesLowOneClockAfterTheGateTrigger()
    {
        Out(PortB, 0x00);
        Program(2, 5, 10);
        AdvanceToTick(20);
        Out(PortB, 0x01);
        var levels = new List<bool>();
        for (long t = 20; t <= 32; t++)
        {
            AdvanceToTick(t);
            levels.Add(Out2Bit);
        }
        Assert.Equal(Enumerable.Range(20, 13).Select(t => t != 30).ToList(), levels);
    }

    [Fact]
    public void PortBRefreshBitTogglesWithGuestTimeAndStatusBitsAreZero()
    {
        Out(PortB, 0xFF);
        Assert.Equal(0x0F, In(PortB) & 0xCF);                         // bits 0-3 stored, 6-7 clear
        Assert.True(portB.SpeakerOn);
        Out(PortB, 0x0D);
        Assert.False(portB.SpeakerOn);                                // data enable off
        Assert.Equal(0x0D, In(PortB) & 0x0F);

        int toggles = 0;
        bool last = (In(PortB) & 0x10) != 0;
        Assert.False(last);
        while (clock.Now < 1_000_000)                                 // poll for 1 ms of guest time
        {
            instr += 10;
            bool bit = (In(PortB) & 0x10) != 0;
            if (bit != last) toggles++;
            last = bit;
        }
        Assert.Equal(1193 / 18, toggles);                             // one toggle per 18 PIT clocks (15.085 µs)
        instr = CeilDiv(NsOfTick(18 * 100), 10);
        Assert.Equal(0, In(PortB) & 0x10);
        instr = CeilDiv(NsOfTick(18 * 101), 10);
        Assert.Equal(0x10, In(PortB) & 0x10);
    }

    [Fact]
    public void ResetStopsTheTimerAndRestoresPowerOnState()
    {
        Out(PortB, 0x03);
        Program(0, 2, 100);
        Program(2, 3, 100);
        irq.Events.Clear();
        AdvanceToTick(1000);
        Assert.Equal(10, Edges(rising: true).Count);
        pit.Reset();
        portB.Reset();
        irq.Events.Clear();
        AdvanceToTick(100_000);
        Assert.Empty(irq.Events);
        Assert.Equal(long.MaxValue, clock.NextDeadline);
        Assert.Equal(0x70, ReadStatus(0));                            // mode 0, LSB/MSB, null count, OUT low
        Assert.Equal(0, In(PortB) & 0x0F);
        Assert.False(portB.SpeakerOn);
        Program(0, 2, 1193);                                          // and it works again
        irq.Events.Clear();
        long start = NowTick;
        AdvanceToTick(start + 1193);
        Assert.Equal(new[] { start + 1193 }, Edges(rising: true));
    }

    [Fact]
    public void TimeMathDoesNotOverflowAfterCenturiesOfGuestTime()
    {
        instr = 800_000_000_000_000_000;                              // 8e18 ns, about 253 years
        Program(0, 2, 1193);
        irq.Events.Clear();
        long start = NowTick;
        AdvanceTo(clock.Now + 10_000_000);                            // 10 ms
        Assert.Equal(Enumerable.Range(1, 10).Select(k => start + k * 1193L).ToList(), Edges(rising: true));
        Assert.Equal(1193 - (int)((NowTick - start) % 1193), LatchAndRead(0));
    }

    [Fact]
    public void ArbitraryGuestWritesAreAcceptedAndReprogrammingRecovers()
    {
        var rng = new Random(8254);
        for (int i = 0; i < 20_000; i++)
        {
            ushort port = (ushort)(0x40 + rng.Next(5));
            if (port == 0x44) port = PortB;
            if (rng.Next(3) == 0) In(port);
            else Out(port, rng.Next(256));
            instr += rng.Next(200);
            clock.RunDue();
        }
        Assert.Equal(0xFF, In(Control));                              // the control register is write-only
        Out(PortB, 0x00);
        Program(0, 2, 500);
        irq.Events.Clear();
        long start = NowTick;
        AdvanceToTick(start + 1500);
        Assert.Equal(new[] { start + 500, start + 1000, start + 1500 }, Edges(rising: true));
    }
}
