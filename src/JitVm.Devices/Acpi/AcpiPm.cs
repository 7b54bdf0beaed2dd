using JitVm.Core;

namespace JitVm.Devices.Acpi;

/// <summary>
/// The ACPI fixed-hardware power-management registers, laid out as QEMU's PIIX4 PM function has them at I/O base
/// 0x600 (ACPI 1.0b §4.7, "Fixed Hardware Programming Model"), as a plain ISA-style device with no PCI function: the
/// FADT alone tells the OS where they are.
/// <list type="bullet">
/// <item>PM1a_EVT_BLK (base + 0, 4 bytes): PM1_STS (16 bits; write 1 to clear a bit) then PM1_EN (16 bits).
/// Status bits kept: TMR_STS (0, set each time bit 23 of the timer changes), GBL_STS (5, never set: no firmware
/// releases the global lock), PWRBTN_STS (8, <see cref="PressPowerButton"/>), WAK_STS (15, never set: nothing
/// wakes). Enable bits TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN and RTC_EN stick (ACPICA checks that GBL_EN does);
/// the rest read 0.</item>
/// <item>PM1a_CNT_BLK (base + 4, 2 bytes): SCI_EN (bit 0) always reads 1, since there is no SMI_CMD port and the
/// system is always in ACPI mode; BM_RLD (1) is stored; GBL_RLS (2) is write-only and has no one to signal;
/// SLP_TYP (bits 10–12) is stored; SLP_EN (13, reads 0) enters the sleep state SLP_TYP names. Only
/// <see cref="SoftOffSleepType"/> (S5, the PIIX4 encoding 0) is supported: it powers the machine off
/// (<see cref="PowerOffRequested"/> and the callback); other sleep types are ignored, and the tables advertise none.</item>
/// <item>PM_TMR_BLK (base + 8, 4 bytes, read-only): the 24-bit power-management timer at
/// <see cref="TimerFrequencyHz"/> (3.579545 MHz), computed from <see cref="VirtualClock.Now"/> at each read, so it is
/// deterministic in deterministic mode. Bits 24–31 read 0 (the FADT's TMR_VAL_EXT flag is clear).</item>
/// </list>
/// The SCI (IRQ <see cref="SciIrq"/>, level, active while any enabled status bit is set) is driven through the
/// interrupt lines. The timer's overflow event needs no polling: while TMR_EN is set and TMR_STS clear, one
/// <see cref="DeviceTimer"/> is armed for the guest time of the next change of timer bit 23.
/// </summary>
public sealed class AcpiPm : IIoDevice
{
    /// <summary>QEMU's PM base for the PC machine (what SeaBIOS moves the PIIX4 PM function to, too).</summary>
    public const ushort DefaultBase = 0x600;

    /// <summary>Block offsets from the base and lengths, as the FADT reports them.</summary>
    public const int EventBlockOffset = 0, ControlBlockOffset = 4, TimerBlockOffset = 8;
    public const int EventBlockLength = 4, ControlBlockLength = 2, TimerBlockLength = 4;

    /// <summary>The SCI's ISA interrupt (the FADT's SCI_INT; QEMU's PC uses 9 as well).</summary>
    public const int SciIrq = 9;

    /// <summary>The PM timer's rate: 14.31818 MHz / 4.</summary>
    public const long TimerFrequencyHz = 3_579_545;

    /// <summary>PM1_STS bits.</summary>
    public const ushort TimerStatus = 1 << 0, GlobalStatus = 1 << 5, PowerButtonStatus = 1 << 8, WakeStatus = 1 << 15;

    /// <summary>PM1_EN bits.</summary>
    public const ushort TimerEnable = 1 << 0, GlobalEnable = 1 << 5, PowerButtonEnable = 1 << 8, SleepButtonEnable = 1 << 9,
        RtcEnable = 1 << 10;

    /// <summary>PM1_CNT bits and fields.</summary>
    public const ushort SciEnable = 1 << 0, BusMasterReload = 1 << 1, GlobalRelease = 1 << 2, SleepTypeMask = 7 << 10,
        SleepEnable = 1 << 13;
    public const int SleepTypeShift = 10;

    /// <summary>The SLP_TYP value that means S5 (soft off), as on the PIIX4; the DSDT's \_S5 package carries it.</summary>
    public const int SoftOffSleepType = 0;

    const ushort EnableMask = TimerEnable | GlobalEnable | PowerButtonEnable | SleepButtonEnable | RtcEnable;
    const ushort StoredStatusMask = GlobalStatus | PowerButtonStatus | WakeStatus;
    const ushort StoredControlMask = BusMasterReload | SleepTypeMask;
    const long NsPerSecond = 1_000_000_000;
    /// <summary>Timer ticks between two changes of bit 23.</summary>
    const int Bit23Period = 1 << 23;

    readonly VirtualClock clock;
    readonly IIrqLines irqs;
    readonly Action? powerOff;
    readonly DeviceTimer overflowTimer;

    ushort status;          // the stored status bits (TMR_STS is computed)
    ushort enable;
    ushort control;         // BM_RLD and SLP_TYP
    long timerStatusEpoch;  // the tick count when TMR_STS was last cleared: it is set once bit 23 has changed since
    bool sciLevel;

    /// <param name="clock">Guest time, which the timer counts.</param>
    /// <param name="irqs">The interrupt lines; the SCI is <see cref="SciIrq"/>.</param>
    /// <param name="powerOff">Called when the guest enters S5 (after <see cref="PowerOffRequested"/> is set).</param>
    /// <param name="basePort">Where the three blocks start.</param>
    public AcpiPm(VirtualClock clock, IIrqLines irqs, Action? powerOff = null, ushort basePort = DefaultBase)
    {
        this.clock = clock;
        this.irqs = irqs;
        this.powerOff = powerOff;
        BasePort = basePort;
        overflowTimer = clock.CreateTimer(_ => UpdateSci());
        Reset();
    }

    public ushort BasePort { get; }

    /// <summary>The guest wrote SLP_EN with the S5 sleep type: the machine should power off.</summary>
    public bool PowerOffRequested { get; private set; }

    /// <summary>The level the SCI line was last driven to.</summary>
    public bool SciAsserted => sciLevel;

    /// <summary>Registers PM1a_EVT_BLK and PM1a_CNT_BLK (base .. base + 5) and PM_TMR_BLK (base + 8 .. base + 11).</summary>
    public void Attach(IoBus io)
    {
        io.Register((ushort)(BasePort + EventBlockOffset), EventBlockLength + ControlBlockLength, this, acceptsWide: true);
        io.Register((ushort)(BasePort + TimerBlockOffset), TimerBlockLength, this, acceptsWide: true);
    }

    /// <summary>Power-on state: status, enables and control cleared, no power-off pending, SCI low. The timer runs on.</summary>
    public void Reset()
    {
        status = 0;
        enable = 0;
        control = 0;
        timerStatusEpoch = TicksAt(clock.Now);
        PowerOffRequested = false;
        overflowTimer.Cancel();
        UpdateSci();
    }

    /// <summary>The 24-bit PM timer now.</summary>
    public uint Timer => (uint)(TicksAt(clock.Now) & 0xFFFFFF);

    /// <summary>PM1_STS now.</summary>
    public ushort Status => (ushort)(status | (TimerOverflowed(TicksAt(clock.Now)) ? TimerStatus : 0));

    public ushort Enable => enable;

    /// <summary>PM1_CNT as it reads.</summary>
    public ushort Control => (ushort)(SciEnable | control);

    /// <summary>The fixed power button was pressed: PWRBTN_STS is set (an SCI if the OS enabled PWRBTN_EN).</summary>
    public void PressPowerButton()
    {
        status |= PowerButtonStatus;
        UpdateSci();
    }

    public uint In(ushort port, int size)
    {
        int offset = port - BasePort;
        if (offset == TimerBlockOffset && size == 4) return Timer;           // the common case: one dword read
        uint timer = offset + size > TimerBlockOffset ? Timer : 0;
        uint v = 0;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            uint b = o switch
            {
                0 or 1 => (uint)Status >> (8 * o),
                2 or 3 => (uint)enable >> (8 * (o - 2)),
                4 or 5 => (uint)Control >> (8 * (o - 4)),
                >= TimerBlockOffset and < TimerBlockOffset + TimerBlockLength => timer >> (8 * (o - TimerBlockOffset)),
                _ => 0xFF,                                                   // past the blocks: nothing answers
            };
            v |= (b & 0xFF) << (8 * i);
        }
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        int offset = port - BasePort;
        for (int i = 0; i < size; i++) WriteByte(offset + i, (byte)(value >> (8 * i)));
        UpdateSci();
    }

    void WriteByte(int offset, byte b)
    {
        switch (offset)
        {
            case 0:
            case 1:
                ushort clear = (ushort)(b << (8 * offset));
                status &= (ushort)~(clear & StoredStatusMask);
                if ((clear & TimerStatus) != 0) timerStatusEpoch = TicksAt(clock.Now);
                break;
            case 2:
            case 3:
                int shift = 8 * (offset - 2);
                enable = (ushort)((enable & ~(0xFF << shift) | b << shift) & EnableMask);
                break;
            case 4:
                control = (ushort)(control & 0xFF00 | b & StoredControlMask);   // SCI_EN stays 1, GBL_RLS has no one to tell
                break;
            case 5:
                control = (ushort)(control & 0x00FF | (b << 8) & StoredControlMask);
                if ((b << 8 & SleepEnable) != 0 && (control & SleepTypeMask) >> SleepTypeShift == SoftOffSleepType && !PowerOffRequested)
                {
                    PowerOffRequested = true;
                    powerOff?.Invoke();
                }
                break;
            // The timer is read-only; the bytes past the blocks are nobody's.
        }
    }

    /// <summary>Timer bit 23 has changed since TMR_STS was last cleared.</summary>
    bool TimerOverflowed(long ticks) => ticks / Bit23Period != timerStatusEpoch / Bit23Period;

    /// <summary>
    /// Drives the SCI from the enabled status bits, and keeps the overflow timer armed exactly while TMR_EN is set
    /// and TMR_STS is not yet (for the moment bit 23 next changes).
    /// </summary>
    void UpdateSci()
    {
        long ticks = TicksAt(clock.Now);
        bool timerStatus = TimerOverflowed(ticks);
        if ((enable & TimerEnable) != 0 && !timerStatus)
            overflowTimer.Set(NsAtTick((timerStatusEpoch / Bit23Period + 1) * Bit23Period));
        else overflowTimer.Cancel();
        bool level = ((status | (timerStatus ? TimerStatus : 0)) & enable) != 0;
        if (level == sciLevel) return;
        sciLevel = level;
        irqs.SetIrq(SciIrq, level);
    }

    /// <summary>Timer ticks since power-on at guest time <paramref name="ns"/> (split so the product cannot overflow).</summary>
    internal static long TicksAt(long ns) => ns / NsPerSecond * TimerFrequencyHz + ns % NsPerSecond * TimerFrequencyHz / NsPerSecond;

    /// <summary>The first guest time at which <see cref="TicksAt"/> reaches <paramref name="tick"/>.</summary>
    internal static long NsAtTick(long tick)
    {
        long q = tick / TimerFrequencyHz, r = tick % TimerFrequencyHz;
        return q * NsPerSecond + (r * NsPerSecond + TimerFrequencyHz - 1) / TimerFrequencyHz;
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "ACPM": the stored status, enable and control bits, the tick TMR_STS was last cleared at, a
    /// pending power-off and the SCI level (the overflow timer's deadline is the clock's).
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("ACPM", 1);
        w.WriteUInt16(status);
        w.WriteUInt16(enable);
        w.WriteUInt16(control);
        w.WriteInt64(timerStatusEpoch);
        w.WriteBool(PowerOffRequested);
        w.WriteBool(sciLevel);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("ACPM", 1);
        ushort s = r.ReadUInt16("status");
        if ((s & ~StoredStatusMask) != 0) throw r.Invalid("status", "only GBL_STS, PWRBTN_STS and WAK_STS are stored");
        ushort e = r.ReadUInt16("enable");
        if ((e & ~EnableMask) != 0) throw r.Invalid("enable", "only TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN and RTC_EN stick");
        ushort c = r.ReadUInt16("control");
        if ((c & ~StoredControlMask) != 0) throw r.Invalid("control", "only BM_RLD and SLP_TYP are stored");
        long epoch = r.ReadInt64("timer status epoch", 0, long.MaxValue);
        bool off = r.ReadBool("power-off requested");
        bool sci = r.ReadBool("sci level");
        r.EndSection();
        status = s;
        enable = e;
        control = c;
        timerStatusEpoch = epoch;
        PowerOffRequested = off;
        sciLevel = sci;
    }
}
