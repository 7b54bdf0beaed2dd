using JitVm.Core;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class CmosRtcTests
{
    const long Ms = 1_000_000, Second = 1_000_000_000;

    sealed class IrqRecorder : IIrqLines
    {
        public bool High;
        public int Raises;

        public void SetIrq(int irq, bool high)
        {
            Assert.Equal(8, irq);
            if (high && !High) Raises++;
            High = high;
        }
    }

    /// <summary>An RTC on an I/O bus, with guest time driven by an instruction counter (10 ns each).</summary>
    sealed class Rig
    {
        long instructions;
        public readonly VirtualClock Clock;
        public readonly IrqRecorder Irq = new();
        public readonly CmosRtc Rtc;
        public readonly IoBus Io = new();

        public Rig(DateTime start)
        {
            Clock = new VirtualClock(() => instructions);
            Rtc = new CmosRtc(Clock, Irq, start);
            Rtc.Attach(Io);
        }

        public byte Read(int reg)
        {
            Io.Out(0x70, 1, (uint)reg);
            return (byte)Io.In(0x71, 1);
        }

        public void Write(int reg, byte value)
        {
            Io.Out(0x70, 1, (uint)reg);
            Io.Out(0x71, 1, value);
        }

        /// <summary>Runs guest time forward as the machine does: in slices that end at each timer deadline, firing
        /// due timers after each, and calling <paramref name="onIrq"/> while IRQ 8 is high (the OS handler).</summary>
        public void Run(long ns, Action? onIrq = null)
        {
            long end = Clock.Now + ns;
            while (Clock.Now < end)
            {
                long cap = (end - Clock.Now + Clock.InstructionPeriodNs - 1) / Clock.InstructionPeriodNs;
                instructions += Clock.InstructionsUntilNextDeadline(cap);
                Clock.RunDue();
                if (onIrq is not null && Irq.High) onIrq();
            }
        }

        /// <summary>Reads seconds through year as a BIOS does (registers 0, 2, 4, 6, 7, 8, 9).</summary>
        public byte[] ReadTime() => [Read(0), Read(2), Read(4), Read(6), Read(7), Read(8), Read(9)];
    }

    static byte Bcd(int v) => (byte)(v / 10 << 4 | v % 10);

    static byte[] BcdTime(DateTime t) =>
        [Bcd(t.Second), Bcd(t.Minute), Bcd(t.Hour), (byte)((int)t.DayOfWeek + 1), Bcd(t.Day), Bcd(t.Month), Bcd(t.Year % 100)];

    [Fact]
    public void PowerOnReadsTheStartTimeIn24HourBcd()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 13, 45, 30));     // a Friday
        Assert.Equal(0x02, rig.Read(0x0B));                            // 24-hour, BCD, no interrupts
        Assert.Equal(0x26, rig.Read(0x0A));                            // 32.768 kHz running, 1024 Hz rate
        Assert.Equal(new byte[] { 0x30, 0x45, 0x13, 0x06, 0x15, 0x03, 0x24 }, rig.ReadTime());
        Assert.Equal(0x20, rig.Read(0x32));                            // century
    }

    [Fact]
    public void BinaryModeEncodesReadsAndDecodesWrites()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 13, 45, 30));
        rig.Write(0x0B, 0x06);                                         // DM = binary
        Assert.Equal(new byte[] { 30, 45, 13, 6, 15, 3, 24 }, rig.ReadTime());
        rig.Write(0x02, 59);                                           // minutes = 59 in binary
        Assert.Equal(59, rig.Read(0x02));
        rig.Write(0x0B, 0x02);                                         // back to BCD
        Assert.Equal(0x59, rig.Read(0x02));
    }

    [Fact]
    public void TwelveHourModeUsesBit7ForPm()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 13, 45, 30));
        rig.Write(0x0B, 0x00);                                         // 12-hour BCD
        Assert.Equal(0x81, rig.Read(0x04));                            // 1 PM
        rig.Write(0x04, 0x12);                                         // 12 AM = midnight
        rig.Write(0x0B, 0x02);
        Assert.Equal(0x00, rig.Read(0x04));
        rig.Write(0x0B, 0x00);
        rig.Write(0x04, 0x92);                                         // 12 PM = noon
        rig.Write(0x0B, 0x06);                                         // 24-hour binary
        Assert.Equal(12, rig.Read(0x04));
    }

    [Fact]
    public void TimeAdvancesWithGuestTimeAndCarriesIntoMinutesAndHours()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 10, 58, 30));
        rig.Run(999 * Ms);
        Assert.Equal(0x30, rig.Read(0x00));                            // not a whole second yet
        rig.Run(1 * Ms);
        Assert.Equal(0x31, rig.Read(0x00));
        rig.Run(60 * Second);                                          // +61 s in all
        Assert.Equal(new byte[] { 0x31, 0x59, 0x10 }, rig.ReadTime()[..3]);
        rig.Run(29 * Second);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x11 }, rig.ReadTime()[..3]);
    }

    [Fact]
    public void EndOfYearRollsIntoTheNextCentury()
    {
        var rig = new Rig(new DateTime(1999, 12, 31, 23, 59, 59));     // a Friday
        Assert.Equal(0x19, rig.Read(0x32));
        rig.Run(1 * Second);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00 }, rig.ReadTime());   // Saturday 1 Jan 00
        Assert.Equal(0x20, rig.Read(0x32));
    }

    [Theory]
    [InlineData(2024, 2, 28, 0x29, 0x02)]                              // leap year
    [InlineData(2024, 2, 29, 0x01, 0x03)]
    [InlineData(2023, 2, 28, 0x01, 0x03)]                              // common year
    [InlineData(2000, 2, 28, 0x29, 0x02)]
    [InlineData(2024, 4, 30, 0x01, 0x05)]                              // 30-day month
    [InlineData(2024, 1, 31, 0x01, 0x02)]
    public void MidnightRollsTheDateOverMonthEnds(int year, int month, int day, byte nextDay, byte nextMonth)
    {
        var rig = new Rig(new DateTime(year, month, day, 23, 59, 59));
        rig.Run(1 * Second);
        Assert.Equal(nextDay, rig.Read(0x07));
        Assert.Equal(nextMonth, rig.Read(0x08));
        Assert.Equal(0x00, rig.Read(0x04));
    }

    [Fact]
    public void ALongSpanWithoutReadsCatchesUpExactly()
    {
        var start = new DateTime(2023, 11, 20, 7, 15, 42);
        var rig = new Rig(start);
        long elapsed = 466L * 86400 + 3 * 3600 + 59 * 60 + 33;
        rig.Run(elapsed * Second);                                     // no timer is armed: a single slice
        Assert.Equal(BcdTime(start.AddSeconds(elapsed)), rig.ReadTime());
    }

    [Fact]
    public void SetBitFreezesTheClockAndTheWrittenTimeRunsOnAfterIt()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 0));
        rig.Write(0x0B, 0x82);                                         // SET
        rig.Run(5 * Second);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x12 }, rig.ReadTime()[..3]);
        rig.Write(0x00, 0x15);
        rig.Write(0x02, 0x30);
        rig.Write(0x04, 0x08);
        rig.Write(0x07, 0x01);
        rig.Write(0x08, 0x07);
        rig.Run(3 * Second);
        Assert.Equal(0x15, rig.Read(0x00));                            // still frozen
        rig.Write(0x0B, 0x02);                                         // clear SET
        rig.Run(1 * Second);
        Assert.Equal(new byte[] { 0x16, 0x30, 0x08 }, rig.ReadTime()[..3]);
        Assert.Equal(0x01, rig.Read(0x07));
        Assert.Equal(0x07, rig.Read(0x08));
    }

    [Fact]
    public void SettingSetClearsUieAndUip()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 0));
        rig.Write(0x0B, 0x92);                                         // SET | UIE | 24h
        Assert.Equal(0x82, rig.Read(0x0B));
        rig.Run(1 * Second - 100_000);                                 // inside the 244 µs window
        Assert.Equal(0x26, rig.Read(0x0A));                            // no UIP while SET
        rig.Write(0x0B, 0x02);
        Assert.Equal(0xA6, rig.Read(0x0A));                            // the divider kept its phase
    }

    [Fact]
    public void UipIsSetOnlyInThe244MicrosecondsBeforeAnUpdate()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 30));
        rig.Run(1 * Second - 300_000);
        Assert.Equal(0x00, rig.Read(0x0A) & 0x80);
        rig.Run(100_000);                                              // 200 µs before the update
        Assert.Equal(0x80, rig.Read(0x0A) & 0x80);
        Assert.Equal(0x30, rig.Read(0x00));                            // the time has not changed yet
        rig.Run(210_000);                                              // 10 µs after
        Assert.Equal(0x00, rig.Read(0x0A) & 0x80);
        Assert.Equal(0x31, rig.Read(0x00));
    }

    [Fact]
    public void DividerResetStopsTheClockAndTheFirstUpdateComesHalfASecondAfterRelease()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 0));
        rig.Run(300 * Ms);
        rig.Write(0x0A, 0x76);                                         // DV = 111: divider in reset
        rig.Run(3 * Second);
        Assert.Equal(0x00, rig.Read(0x00));
        Assert.Equal(0x00, rig.Read(0x0A) & 0x80);                     // no update pending
        rig.Write(0x0A, 0x26);                                         // release
        rig.Run(499 * Ms);
        Assert.Equal(0x00, rig.Read(0x00));
        rig.Run(2 * Ms);
        Assert.Equal(0x01, rig.Read(0x00));
        rig.Run(1 * Second);
        Assert.Equal(0x02, rig.Read(0x00));
    }

    [Theory]
    [InlineData(0x06, 1024)]
    [InlineData(0x03, 8192)]
    [InlineData(0x01, 256)]                                            // RS 1 and 2 are 256 and 128 Hz at 32.768 kHz
    [InlineData(0x02, 128)]
    [InlineData(0x0F, 2)]
    public void PeriodicInterruptRaisesIrq8AtTheSelectedRate(byte rs, int perSecond)
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 0, 250));
        rig.Write(0x0A, (byte)(0x20 | rs));
        rig.Write(0x0B, 0x42);                                         // PIE
        int handled = 0;
        rig.Run(1 * Second, () =>
        {
            Assert.Equal(0xC0, rig.Read(0x0C) & 0xC0);                // IRQF | PF
            handled++;
        });
        Assert.Equal(perSecond, handled);
        Assert.Equal(perSecond, rig.Irq.Raises);
        Assert.False(rig.Irq.High);
    }

    [Fact]
    public void PeriodicFlagIsSetWithoutPieButRaisesNothingAndArmsNoTimer()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 0));
        rig.Write(0x0A, 0x26);
        rig.Write(0x0B, 0x02);
        Assert.Equal(long.MaxValue, rig.Clock.NextDeadline);
        rig.Run(1 * Ms);
        Assert.Equal(0x40, rig.Read(0x0C));                            // PF, no IRQF
        Assert.Equal(0x00, rig.Read(0x0C));                            // cleared by the read
        Assert.Equal(0, rig.Irq.Raises);
    }

    [Fact]
    public void UpdateEndedInterruptComesOncePerSecond()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 12, 0, 0, 400));
        rig.Write(0x0A, 0x20);                                         // no periodic rate
        rig.Write(0x0B, 0x12);                                         // UIE
        var seconds = new List<byte>();
        rig.Run(3 * Second, () =>
        {
            Assert.Equal(0x90, rig.Read(0x0C));                        // IRQF | UF
            seconds.Add(rig.Read(0x00));
        });
        Assert.Equal(new byte[] { 0x01, 0x02, 0x03 }, seconds);        // each raised right after its update
        Assert.Equal(3, rig.Irq.Raises);
    }

    [Fact]
    public void AlarmInterruptFiresAtTheExactAlarmTimeOnly()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x01, 0x05);
        rig.Write(0x03, 0x00);
        rig.Write(0x05, 0x08);                                         // alarm 08:00:05
        rig.Write(0x0A, 0x20);
        rig.Write(0x0B, 0x22);                                         // AIE
        rig.Run(4900 * Ms);
        Assert.Equal(0, rig.Irq.Raises);
        rig.Run(200 * Ms);
        Assert.Equal(1, rig.Irq.Raises);
        Assert.Equal(0x05, rig.Read(0x00));
        Assert.Equal(0xB0, rig.Read(0x0C));                            // IRQF | AF | UF
        rig.Run(120 * Second, () => rig.Read(0x0C));
        Assert.Equal(1, rig.Irq.Raises);                               // the alarm matches once a day
    }

    [Fact]
    public void AlarmDontCareValuesMatchAnyTime()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x01, 0x30);
        rig.Write(0x03, 0xFF);
        rig.Write(0x05, 0xC0);                                         // every minute at :30
        rig.Write(0x0A, 0x20);
        rig.Write(0x0B, 0x22);
        var at = new List<byte>();
        rig.Run(180 * Second, () =>
        {
            Assert.Equal(0xA0, rig.Read(0x0C) & 0xA0);
            at.Add(rig.Read(0x02));
        });
        Assert.Equal(new byte[] { 0x00, 0x01, 0x02 }, at);

        rig.Write(0x01, 0xC0);                                         // all don't care: every second
        int count = 0;
        rig.Run(5 * Second, () => { rig.Read(0x0C); count++; });
        Assert.Equal(5, count);
    }

    [Fact]
    public void ReadingCClearsTheFlagsAndLowersIrq8()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x0B, 0x12);                                         // UIE
        rig.Run(1 * Second);
        Assert.True(rig.Irq.High);
        rig.Run(3 * Second);                                           // unacknowledged: no new edge
        Assert.Equal(1, rig.Irq.Raises);
        Assert.Equal(0xD0, rig.Read(0x0C));                            // IRQF | PF | UF
        Assert.False(rig.Irq.High);
        Assert.Equal(0x00, rig.Read(0x0C));
        rig.Run(1 * Second);
        Assert.Equal(2, rig.Irq.Raises);
    }

    [Fact]
    public void IrqfFollowsTheEnableBitsOfFlagsAlreadySet()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x0A, 0x20);
        rig.Run(1500 * Ms);                                            // UF set, nothing enabled
        Assert.Equal(0, rig.Irq.Raises);
        rig.Write(0x0B, 0x12);                                         // enabling UIE raises IRQ 8 at once
        Assert.True(rig.Irq.High);
        rig.Write(0x0B, 0x02);                                         // and disabling it releases the line
        Assert.False(rig.Irq.High);
        Assert.Equal(0x10, rig.Read(0x0C));                            // UF still there, IRQF not
    }

    [Fact]
    public void Bit7OfTheIndexWriteMasksNmi()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Io.Out(0x70, 1, 0x8D);
        Assert.True(rig.Rtc.NmiMasked);
        Assert.Equal(0x80u, rig.Io.In(0x71, 1));                       // the index is bits 0–6: register D
        rig.Io.Out(0x70, 1, 0x0D);
        Assert.False(rig.Rtc.NmiMasked);
        rig.Io.Out(0x72, 1, 0x05);                                     // the extended index leaves NMI alone
        Assert.False(rig.Rtc.NmiMasked);
    }

    [Fact]
    public void RegisterDReportsValidRamAndReadOnlyBitsIgnoreWrites()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x0D, 0x00);
        Assert.Equal(0x80, rig.Read(0x0D));                            // VRT
        rig.Write(0x0A, 0xA6);
        Assert.Equal(0x26, rig.Read(0x0A));                            // UIP cannot be written
        rig.Write(0x0C, 0xF0);
        Assert.Equal(0x00, rig.Read(0x0C) & 0xBF);                     // nothing but a possible PF
    }

    [Theory]
    [InlineData(16UL << 20, 0x3C00, 0x0000, 0x000000, 0x00FE)]
    [InlineData(64UL << 20, 0xFC00, 0x0300, 0x000000, 0x01BE)]
    [InlineData(5UL << 30, 0xFFFF, 0xBF00, 0x008000, 0x02C0)]        // 3 GiB below 4 GiB, 2 GiB above
    public void SetMemorySizeFillsTheBiosBytesAndTheChecksum(ulong ram, int extKiB, int above16M, int above4G, int checksum)
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Rtc[CmosRtc.FloppyTypes] = 0x40;                           // a 1.44 MB drive A
        rig.Rtc.SetMemorySize(ram);
        rig.Rtc.UpdateChecksum();
        Assert.Equal(640, rig.Read(0x15) | rig.Read(0x16) << 8);
        Assert.Equal(extKiB, rig.Read(0x17) | rig.Read(0x18) << 8);
        Assert.Equal(extKiB, rig.Read(0x30) | rig.Read(0x31) << 8);
        Assert.Equal(above16M, rig.Read(0x34) | rig.Read(0x35) << 8);
        Assert.Equal(above4G, rig.Read(0x5B) | rig.Read(0x5C) << 8 | rig.Read(0x5D) << 16);

        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += rig.Read(i);         // what a BIOS verifies
        Assert.Equal(checksum, sum);
        Assert.Equal(sum, rig.Read(0x2E) << 8 | rig.Read(0x2F));
    }

    [Fact]
    public void ExtendedBankIsSeparateRamAt0x80To0xFF()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x10, 0x55);
        rig.Io.Out(0x72, 1, 0x10);
        rig.Io.Out(0x73, 1, 0xAB);
        Assert.Equal(0x55, rig.Read(0x10));
        Assert.Equal(0xABu, rig.Io.In(0x73, 1));
        Assert.Equal(0xAB, rig.Rtc[0x90]);
        rig.Io.Out(0x72, 1, 0x90);                                     // same byte: the bank is 0x80–0xFF
        Assert.Equal(0xABu, rig.Io.In(0x73, 1));
        rig.Rtc[0xFF] = 0x3C;
        rig.Io.Out(0x72, 1, 0x7F);
        Assert.Equal(0x3Cu, rig.Io.In(0x73, 1));
    }

    [Fact]
    public void ResetClearsInterruptEnablesAndFlagsButKeepsTimeAndRam()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        rig.Write(0x40, 0x5A);
        rig.Write(0x0B, 0x7E);                                         // PIE AIE UIE SQWE DM 24h
        rig.Run(2 * Ms);
        Assert.True(rig.Irq.High);
        rig.Run(3 * Second);
        rig.Rtc.Reset();
        Assert.False(rig.Irq.High);
        Assert.Equal(0x06, rig.Read(0x0B));                            // DM and 24/12 survive
        Assert.Equal(0x00, rig.Read(0x0C) & 0xB0);
        Assert.Equal(0x5A, rig.Read(0x40));
        Assert.Equal(3, rig.Read(0x00));                               // time kept running (binary mode now)
        Assert.Equal(long.MaxValue, rig.Clock.NextDeadline);
    }

    [Fact]
    public void GarbageWritesNeverThrowAndTheNextUpdateNormalizesTheTime()
    {
        var rig = new Rig(new DateTime(2024, 3, 15, 8, 0, 0));
        for (int i = 0; i < 0x80; i++)
        {
            rig.Write(i, 0xFF);
            rig.Read(i);
        }
        rig.Write(0x0A, 0x26);
        rig.Write(0x0B, 0x02);
        rig.Run(2 * Second, () => rig.Read(0x0C));
        rig.Write(0x0B, 0x82);
        rig.Write(0x00, 0x75);                                         // out of range seconds
        rig.Write(0x02, 0x59);
        rig.Write(0x04, 0x23);
        rig.Write(0x06, 0x07);
        rig.Write(0x07, 0x31);
        rig.Write(0x08, 0x12);
        rig.Write(0x09, 0x99);
        rig.Write(0x0B, 0x02);
        rig.Run(1 * Second);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00 }, rig.ReadTime());
    }
}
