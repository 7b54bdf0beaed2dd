using JitVm.Core;

namespace JitVm.Devices;

/// <summary>Boot device codes of CMOS bytes 0x3D/0x38 as QEMU writes them for SeaBIOS.</summary>
public enum CmosBootDevice : byte
{
    /// <summary>No device in this slot.</summary>
    None = 0,
    /// <summary>First floppy drive.</summary>
    Floppy = 1,
    /// <summary>First hard disk.</summary>
    HardDisk = 2,
    /// <summary>CD-ROM.</summary>
    CdRom = 3,
    /// <summary>Network (option ROM).</summary>
    Network = 4,
}

/// <summary>
/// The PC/AT CMOS RAM and real-time clock, a Motorola MC146818A: index port 0x70 (bit 7 masks NMI, bits 0–6 select
/// the register), data port 0x71, and the extended bank at 0x72/0x73 (bytes 0x80–0xFF, as PIIX/QEMU provide).
/// Bytes 0x00–0x09 are the time, calendar and alarm registers, 0x0A–0x0D the control/status registers A–D,
/// 0x0E–0xFF battery-backed RAM the BIOS uses (see the offset constants).
/// </summary>
/// <remarks>
/// <para>Time is kept as calendar fields that advance by one second at each update; updates happen once a second of
/// guest time on the 32.768 kHz divider chain, whose phase is set by the start time's fraction of a second and,
/// after the divider is released from reset (DV = 11x → 010), puts the first update half a second later
/// (datasheet). Nothing is ticked: the fields, the flags of register C and UIP are computed from
/// <see cref="VirtualClock.Now"/> when the guest looks, and a <see cref="DeviceTimer"/> is armed only for the next
/// moment an enabled interrupt could be raised (none while IRQF is already set or nothing is enabled).</para>
/// <para>Like QEMU, and unlike the chip, the fields are held as numbers and encoded on every read in the current
/// data mode (BCD/binary, 12/24-hour) and decoded on every write in it; a guest that changes DM or 24/12 without
/// rewriting the time therefore sees the same time in the new format. Out-of-range written values are kept as the
/// numbers they decode to (never throwing) and are wrapped to the field's first value, with a carry, at the next
/// update that increments them. Leap years follow the chip: February has 29 days when the two-digit year is a
/// multiple of four. The century byte 0x32 (CMOS RAM, not a chip register) is incremented, in the current data
/// mode, when the year wraps from 99 to 00. DSE (daylight saving) and SQWE (the square-wave pin, not connected on a
/// PC) are stored and have no effect. The update cycle is instantaneous: UIP is 1 for the 244 µs before it and the
/// new time, UF and AF appear at its start.</para>
/// <para>DV2–0 = 11x holds the divider in reset (no updates, no periodic flag); every other value runs the clock on
/// the PC's 32.768 kHz time base (the datasheet's other time bases and test modes cannot occur with that crystal;
/// treating them as running forgives guests that write the rate bits alone).</para>
/// </remarks>
public sealed class CmosRtc : IIoDevice
{
    /// <summary>Index port (write): bit 7 masks NMI, bits 0–6 select the byte at <see cref="DataPort"/>.</summary>
    public const ushort IndexPort = 0x70;
    /// <summary>Data port for the byte selected at <see cref="IndexPort"/> (0x00–0x7F).</summary>
    public const ushort DataPort = 0x71;
    /// <summary>Extended-bank index port (write): selects byte 0x80 | (value &amp; 0x7F).</summary>
    public const ushort ExtendedIndexPort = 0x72;
    /// <summary>Extended-bank data port.</summary>
    public const ushort ExtendedDataPort = 0x73;

    /// <summary>Register A: UIP, divider DV2–0, rate RS3–0.</summary>
    public const int RegisterA = 0x0A;
    /// <summary>Register B: SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE.</summary>
    public const int RegisterB = 0x0B;
    /// <summary>Register C (read-only): IRQF, PF, AF, UF; reading clears them.</summary>
    public const int RegisterC = 0x0C;
    /// <summary>Register D (read-only): VRT.</summary>
    public const int RegisterD = 0x0D;

    /// <summary>0x0F: shutdown status byte (why the CPU was reset; read by the BIOS on its reset path).</summary>
    public const int ShutdownStatus = 0x0F;
    /// <summary>0x10: floppy drive types, drive A in bits 7–4 and drive B in bits 3–0 (0 none, 1 360K, 2 1.2M,
    /// 3 720K, 4 1.44M, 5 2.88M).</summary>
    public const int FloppyTypes = 0x10;
    /// <summary>0x12: hard disk types, disk 0 in bits 7–4 and disk 1 in bits 3–0 (0xF: type in 0x19/0x1A).</summary>
    public const int HardDiskTypes = 0x12;
    /// <summary>0x14: equipment byte: bit 0 floppy drives present, bit 1 math coprocessor, bits 5–4 primary
    /// display (00 EGA/VGA), bits 7–6 number of floppy drives minus one.</summary>
    public const int Equipment = 0x14;
    /// <summary>0x15/0x16: base memory in KiB (low, high).</summary>
    public const int BaseMemoryKiB = 0x15;
    /// <summary>0x17/0x18: extended memory above 1 MiB in KiB, capped at 0xFFFF (low, high).</summary>
    public const int ExtendedMemoryKiB = 0x17;
    /// <summary>0x2E/0x2F: checksum of bytes 0x10–0x2D (high byte at 0x2E, low at 0x2F).</summary>
    public const int Checksum = 0x2E;
    /// <summary>0x30/0x31: copy of 0x17/0x18 (extended memory in KiB, as the BIOS found it).</summary>
    public const int ExtendedMemoryKiBCopy = 0x30;
    /// <summary>0x32: century, in BCD when the RTC is in BCD mode (19, 20, ...).</summary>
    public const int Century = 0x32;
    /// <summary>0x34/0x35: memory between 16 MiB and 4 GiB in 64 KiB units, capped at 0xFFFF (QEMU/SeaBIOS).</summary>
    public const int Memory16MTo4G = 0x34;
    /// <summary>0x38: bits 7–4 third boot device; bit 0 set = do not check the floppy boot signature (SeaBIOS).</summary>
    public const int BootOrder3 = 0x38;
    /// <summary>0x3D: bits 3–0 first boot device, bits 7–4 second (SeaBIOS; codes of <see cref="CmosBootDevice"/>).</summary>
    public const int BootOrder12 = 0x3D;
    /// <summary>0x5B–0x5D: memory above 4 GiB in 64 KiB units, 24 bits little-endian (QEMU/SeaBIOS).</summary>
    public const int MemoryAbove4G = 0x5B;

    /// <summary>RAM below 4 GiB when a QEMU i440FX machine of at least 3.5 GiB splits it (gigabyte aligned).</summary>
    public const ulong DefaultLowMemoryWhenSplit = 0xC000_0000;

    const byte BSet = 0x80, BPie = 0x40, BAie = 0x20, BUie = 0x10, BSqwe = 0x08, BDm = 0x04, B24 = 0x02;
    const byte CIrqf = 0x80, CPf = 0x40, CAf = 0x20, CUf = 0x10;
    const long CyclesPerSecond = 32768;
    const long UipCycles = 8;                        // 244.140625 µs = 8 cycles of 32.768 kHz (datasheet tBUC)
    const long NsPer64Cycles = 1_953_125;            // 64 cycles of 32.768 kHz = 1 953 125 ns exactly

    readonly VirtualClock clock;
    readonly IIrqLines irq;
    readonly DeviceTimer timer;
    readonly byte[] ram = new byte[256];

    Calendar time;
    byte alarmSec, alarmMin, alarmHour;
    byte regA = 0x26, regB = B24;                     // 32.768 kHz running, 1024 Hz rate; 24-hour BCD
    byte flags;                                       // PF/AF/UF of register C
    bool lineHigh;
    int index, extIndex = 0x80;

    long originNs;                                    // guest time of divider cycle 0 (updates at multiples of 32768)
    long syncCycle;                                   // cycle up to which fields and flags are accounted
    long lastSyncNs;

    /// <summary>Creates the RTC showing <paramref name="startTime"/> at guest time 0, with A = 0x26, B = 0x02.</summary>
    /// <param name="clock">Guest time.</param>
    /// <param name="irq">The interrupt lines; the RTC drives IRQ 8.</param>
    /// <param name="startTime">Date and time at guest time 0 (its kind is ignored; its fraction of a second sets
    /// the phase of the once-a-second update).</param>
    public CmosRtc(VirtualClock clock, IIrqLines irq, DateTime startTime)
    {
        this.clock = clock;
        this.irq = irq;
        timer = clock.CreateTimer(_ => OnTimer());
        time = new Calendar
        {
            Sec = startTime.Second, Min = startTime.Minute, Hour = startTime.Hour,
            Dow = (int)startTime.DayOfWeek + 1, Dom = startTime.Day, Mon = startTime.Month, Year = startTime.Year % 100,
        };
        ram[Century] = Encode(startTime.Year / 100);
        long fractionNs = startTime.Ticks % TimeSpan.TicksPerSecond * 100;
        originNs = -fractionNs;
        lastSyncNs = 0;
        syncCycle = Cycles(0);
    }

    /// <summary>IRQ line the RTC drives.</summary>
    public const int Irq = 8;

    /// <summary>Bit 7 of the last write to port 0x70: NMI masked.</summary>
    public bool NmiMasked { get; private set; }

    /// <summary>Registers ports 0x70–0x73.</summary>
    public void Attach(IoBus io) => io.Register(IndexPort, 4, this);

    /// <summary>
    /// The RESET pin: clears PIE, AIE, UIE and SQWE in register B and IRQF, PF, AF, UF in register C, releasing
    /// IRQ 8. The time, registers A and the rest of B, RAM and the index/NMI latch keep their contents. Call after
    /// <see cref="VirtualClock.Reset"/> as well, so the RTC re-anchors to the restarted guest time.
    /// </summary>
    public void Reset()
    {
        Sync();
        regB &= unchecked((byte)~(BPie | BAie | BUie | BSqwe));
        flags = 0;
        UpdateIrq();
        Reschedule();
    }

    /// <summary>
    /// A CMOS byte without going through the ports (for the machine to fill in BIOS configuration). 0x0E–0xFF are
    /// plain RAM. 0x00–0x09 read and write the time and alarm in the current data mode; 0x0A–0x0D read as the guest
    /// sees them except that reading C does not clear it; writes to A and B act as guest writes, to C and D are ignored.
    /// </summary>
    public byte this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 0xFF);
            if (index > RegisterD) return ram[index];
            if (index == RegisterC)
            {
                Sync();
                return (byte)(flags | (Irqf ? CIrqf : 0));
            }
            return ReadRegister(index);
        }
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 0xFF);
            if (index > RegisterD) ram[index] = value;
            else WriteRegister(index, value);
        }
    }

    /// <summary>
    /// Fills the memory-size bytes a PC BIOS reads, splitting <paramref name="ramBytes"/> around the PCI hole as
    /// QEMU's i440FX machine does: 3.5 GiB or more leaves 3 GiB below 4 GiB and relocates the rest above it.
    /// Call <see cref="UpdateChecksum"/> afterwards (and after any other change to 0x10–0x2D).
    /// </summary>
    public void SetMemorySize(ulong ramBytes)
    {
        if (ramBytes >= 0xE000_0000) SetMemorySize(DefaultLowMemoryWhenSplit, ramBytes - DefaultLowMemoryWhenSplit);
        else SetMemorySize(ramBytes, 0);
    }

    /// <summary>
    /// Fills the memory-size bytes for RAM of <paramref name="belowFourGiB"/> bytes from address 0 and
    /// <paramref name="aboveFourGiB"/> bytes from 4 GiB: 0x15/0x16 base memory in KiB (at most 640), 0x17/0x18 and
    /// 0x30/0x31 KiB above 1 MiB (capped at 0xFFFF), 0x34/0x35 64 KiB units above 16 MiB (capped at 0xFFFF),
    /// 0x5B–0x5D 64 KiB units above 4 GiB.
    /// </summary>
    public void SetMemorySize(ulong belowFourGiB, ulong aboveFourGiB)
    {
        const ulong KiB = 1024, MiB = 1024 * KiB;
        ulong baseKiB = Math.Min(belowFourGiB / KiB, 640);
        SetWord(BaseMemoryKiB, baseKiB);
        ulong extKiB = belowFourGiB > MiB ? Math.Min((belowFourGiB - MiB) / KiB, 0xFFFF) : 0;
        SetWord(ExtendedMemoryKiB, extKiB);
        SetWord(ExtendedMemoryKiBCopy, extKiB);
        ulong above16M = belowFourGiB > 16 * MiB ? Math.Min((belowFourGiB - 16 * MiB) / (64 * KiB), 0xFFFF) : 0;
        SetWord(Memory16MTo4G, above16M);
        ulong high = Math.Min(aboveFourGiB / (64 * KiB), 0xFF_FFFF);
        ram[MemoryAbove4G] = (byte)high;
        ram[MemoryAbove4G + 1] = (byte)(high >> 8);
        ram[MemoryAbove4G + 2] = (byte)(high >> 16);
    }

    /// <summary>Writes the AT checksum: the 16-bit sum of bytes 0x10–0x2D into 0x2E (high) and 0x2F (low).</summary>
    public void UpdateChecksum()
    {
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += ram[i];
        ram[Checksum] = (byte)(sum >> 8);
        ram[Checksum + 1] = (byte)sum;
    }

    /// <summary>
    /// Writes the SeaBIOS boot order (0x3D: first and second device, 0x38 bits 7–4: third) as QEMU does; devices
    /// past the third are ignored. <paramref name="checkFloppySignature"/> false sets 0x38 bit 0.
    /// </summary>
    public void SetBootOrder(ReadOnlySpan<CmosBootDevice> order, bool checkFloppySignature = true)
    {
        Span<int> dev = stackalloc int[3];
        for (int i = 0; i < 3 && i < order.Length; i++) dev[i] = (int)order[i] & 0x0F;
        ram[BootOrder12] = (byte)(dev[1] << 4 | dev[0]);
        ram[BootOrder3] = (byte)(dev[2] << 4 | (checkFloppySignature ? 0 : 1));
    }

    /// <inheritdoc/>
    public uint In(ushort port, int size)
    {
        switch (port)
        {
            case DataPort: return ReadGuest(index);
            case ExtendedDataPort: return ram[extIndex];
            default: return 0xFF;                      // the index ports are write-only
        }
    }

    /// <inheritdoc/>
    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port)
        {
            case IndexPort:
                NmiMasked = (v & 0x80) != 0;
                index = v & 0x7F;
                break;
            case DataPort:
                if (index > RegisterD) ram[index] = v;
                else WriteRegister(index, v);
                break;
            case ExtendedIndexPort: extIndex = 0x80 | (v & 0x7F); break;
            case ExtendedDataPort: ram[extIndex] = v; break;
        }
    }

    uint ReadGuest(int i)
    {
        if (i > RegisterD) return ram[i];
        if (i != RegisterC) return ReadRegister(i);
        Sync();
        byte c = (byte)(flags | (Irqf ? CIrqf : 0));
        flags = 0;                                     // datasheet: reading C clears all flags, releasing IRQ
        UpdateIrq();
        Reschedule();
        return c;
    }

    byte ReadRegister(int i)
    {
        switch (i)
        {
            case RegisterA:
                Sync();
                return (byte)(regA | (UpdateImminent ? 0x80 : 0));
            case RegisterB: return regB;
            case RegisterC: return 0;                  // (handled by the callers)
            case RegisterD: return 0x80;               // VRT: battery good; bits 6–0 read 0
            case 1: return alarmSec;
            case 3: return alarmMin;
            case 5: return alarmHour;
        }
        Sync();
        return i switch
        {
            0 => Encode(time.Sec),
            2 => Encode(time.Min),
            4 => EncodeHour(time.Hour),
            6 => Encode(time.Dow),
            7 => Encode(time.Dom),
            8 => Encode(time.Mon),
            _ => Encode(time.Year),
        };
    }

    void WriteRegister(int i, byte v)
    {
        Sync();
        switch (i)
        {
            case 0: time.Sec = Decode(v); break;
            case 1: alarmSec = v; break;
            case 2: time.Min = Decode(v); break;
            case 3: alarmMin = v; break;
            case 4: time.Hour = DecodeHour(v); break;
            case 5: alarmHour = v; break;
            case 6: time.Dow = Decode(v); break;
            case 7: time.Dom = Decode(v); break;
            case 8: time.Mon = Decode(v); break;
            case 9: time.Year = Decode(v); break;
            case RegisterA:
                {
                    bool wasReset = DividerReset;
                    regA = (byte)(v & 0x7F);               // UIP is read-only
                    if (wasReset && !DividerReset)
                    {
                        // Datasheet: the first update comes half a second after the divider leaves reset.
                        long now = clock.Now;
                        originNs = now - 500_000_000;
                        syncCycle = CyclesPerSecond / 2;
                    }
                    break;
                }
            case RegisterB:
                // SET going to one clears UIE (datasheet); the divider keeps running, so after SET is cleared
                // the next update comes at the divider's next second.
                regB = (v & BSet) != 0 ? (byte)(v & ~BUie) : v;
                UpdateIrq();                           // IRQF = PF·PIE + AF·AIE + UF·UIE is combinational
                break;
            default: return;                           // C and D are read-only
        }
        Reschedule();
    }

    bool DividerReset => (regA & 0x60) == 0x60;

    bool Irqf => (flags & regB & (CPf | CAf | CUf)) != 0;

    bool UpdatesRunning => (regB & BSet) == 0 && !DividerReset;

    /// <summary>UIP: the 244 µs before an update, when updates are enabled (writing SET clears it).</summary>
    bool UpdateImminent => UpdatesRunning && Cycles(clock.Now) % CyclesPerSecond >= CyclesPerSecond - UipCycles;

    /// <summary>Periodic-interrupt period in 32.768 kHz cycles (0: none), per the datasheet's rate table.</summary>
    int PeriodCycles
    {
        get
        {
            int rs = regA & 0x0F;
            return rs switch
            {
                0 => 0,
                1 => 128,                              // 256 Hz
                2 => 256,                              // 128 Hz
                _ => 1 << (rs - 1),                    // 3: 8192 Hz ... 15: 2 Hz
            };
        }
    }

    /// <summary>Divider cycles since <see cref="originNs"/> at guest time <paramref name="ns"/> (floor).</summary>
    long Cycles(long ns)
    {
        long d = ns - originNs;
        if (d <= 0) return 0;
        return d / NsPer64Cycles * 64 + d % NsPer64Cycles * 64 / NsPer64Cycles;
    }

    /// <summary>The first guest nanosecond at which cycle <paramref name="cycle"/> has been reached.</summary>
    long TimeOfCycle(long cycle)
    {
        long whole = cycle / 64, part = cycle % 64;
        return originNs + whole * NsPer64Cycles + (part * NsPer64Cycles + 63) / 64;
    }

    /// <summary>Brings the time fields and the flags of register C up to the current guest time.</summary>
    void Sync()
    {
        long now = clock.Now;
        if (now < lastSyncNs) originNs -= lastSyncNs - now;   // the clock was restarted: keep the divider's phase
        lastSyncNs = now;
        if (DividerReset) return;
        long c = Cycles(now);
        if (c <= syncCycle) return;
        int period = PeriodCycles;
        if (period != 0 && c / period != syncCycle / period) flags |= CPf;  // set whether or not PIE is
        long updates = c / CyclesPerSecond - syncCycle / CyclesPerSecond;
        syncCycle = c;
        if (updates > 0 && (regB & BSet) == 0)
        {
            flags |= CUf;
            if ((flags & CAf) == 0 && UpdatesUntilAlarm() <= updates) flags |= CAf;
            AdvanceTime(updates);
        }
        UpdateIrq();
    }

    void UpdateIrq()
    {
        bool high = Irqf;
        if (high == lineHigh) return;
        lineHigh = high;
        irq.SetIrq(Irq, high);
    }

    /// <summary>Arms the timer for the next moment an enabled flag can newly raise IRQF (after <see cref="Sync"/>).</summary>
    void Reschedule()
    {
        long next = long.MaxValue;
        if (!Irqf && !DividerReset)
        {
            int period = PeriodCycles;
            if ((regB & BPie) != 0 && period != 0)
                next = TimeOfCycle((syncCycle / period + 1) * period);
            if ((regB & BSet) == 0)
            {
                long second = syncCycle / CyclesPerSecond;
                if ((regB & BUie) != 0)
                    next = Math.Min(next, TimeOfCycle((second + 1) * CyclesPerSecond));
                if ((regB & BAie) != 0)
                {
                    long n = UpdatesUntilAlarm();
                    if (n != long.MaxValue) next = Math.Min(next, TimeOfCycle((second + n) * CyclesPerSecond));
                }
            }
        }
        if (next == long.MaxValue) timer.Cancel();
        else timer.Set(next);
    }

    void OnTimer()
    {
        Sync();
        Reschedule();
    }

    void AdvanceTime(long seconds)
    {
        int centuries = time.Advance(seconds);
        if (centuries > 0) ram[Century] = Encode((Decode(ram[Century]) + centuries) % 100);
    }

    /// <summary>
    /// How many updates from now until the first whose time matches the alarm registers (a register of 0xC0–0xFF
    /// matches anything); long.MaxValue when no time can match.
    /// </summary>
    long UpdatesUntilAlarm()
    {
        bool secAny = alarmSec >= 0xC0, minAny = alarmMin >= 0xC0, hourAny = alarmHour >= 0xC0;
        if (!secAny && !CanMatch(alarmSec, 60, false) || !minAny && !CanMatch(alarmMin, 60, false)
            || !hourAny && !CanMatch(alarmHour, 24, true))
            return long.MaxValue;
        var t = time;
        t.Advance(1);
        long total = 1;
        // Jump a whole hour or minute when that field cannot match; a match is always within a day.
        for (int guard = 0; guard < 1000; guard++)
        {
            long step;
            if (!hourAny && EncodeHour(t.Hour) != alarmHour)
                step = t.Min < 60 && t.Sec < 60 ? (60 - t.Min) * 60 - t.Sec : 1;
            else if (!minAny && Encode(t.Min) != alarmMin)
                step = t.Sec < 60 ? 60 - t.Sec : 1;
            else if (!secAny && Encode(t.Sec) != alarmSec)
                step = 1;
            else
                return total;
            t.Advance(step);
            total += step;
        }
        return long.MaxValue;
    }

    bool CanMatch(byte alarm, int count, bool hour)
    {
        for (int v = 0; v < count; v++)
            if ((hour ? EncodeHour(v) : Encode(v)) == alarm) return true;
        return false;
    }

    bool Binary => (regB & BDm) != 0;

    byte Encode(int v) => Binary ? (byte)v : (byte)((v / 10 % 16) << 4 | v % 10);

    int Decode(byte b) => Binary ? b : (b >> 4) * 10 + (b & 0x0F);

    byte EncodeHour(int h)
    {
        if ((regB & B24) != 0) return Encode(h);
        int h12 = h % 12 == 0 ? 12 : h % 12;
        return (byte)(Encode(h12) | (h % 24 >= 12 ? 0x80 : 0));
    }

    int DecodeHour(byte b)
    {
        if ((regB & B24) != 0) return Decode(b);
        int h12 = Decode((byte)(b & 0x7F));
        int pm = (b & 0x80) != 0 ? 12 : 0;
        return h12 is >= 1 and <= 12 ? h12 % 12 + pm : 24 + h12;   // out of range: wraps at the next hour carry
    }

    void SetWord(int offset, ulong value)
    {
        ram[offset] = (byte)value;
        ram[offset + 1] = (byte)(value >> 8);
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "RTC ": the 256 bytes of RAM, the time and alarm, registers A and B, the flags of C, the IRQ 8
    /// level, the index latches and NMI mask, and the divider's anchoring to guest time. The timer's deadline is the clock's.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("RTC ", 1);
        w.WriteBytes(ram);
        foreach (int v in (ReadOnlySpan<int>)[time.Sec, time.Min, time.Hour, time.Dow, time.Dom, time.Mon, time.Year]) w.WriteByte((byte)v);
        w.WriteByte(alarmSec);
        w.WriteByte(alarmMin);
        w.WriteByte(alarmHour);
        w.WriteByte(regA);
        w.WriteByte(regB);
        w.WriteByte(flags);
        w.WriteBool(lineHigh);
        w.WriteByte((byte)index);
        w.WriteByte((byte)extIndex);
        w.WriteBool(NmiMasked);
        w.WriteInt64(originNs);
        w.WriteInt64(syncCycle);
        w.WriteInt64(lastSyncNs);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("RTC ", 1);
        var newRam = new byte[256];
        r.ReadBytes("ram", newRam);
        // The fields hold what the guest wrote, decoded: 0..255 whatever it wrote (the carries then wrap them).
        var t = new Calendar
        {
            Sec = r.ReadByte("seconds"), Min = r.ReadByte("minutes"), Hour = r.ReadByte("hours"), Dow = r.ReadByte("day of week"),
            Dom = r.ReadByte("day of month"), Mon = r.ReadByte("month"), Year = r.ReadByte("year"),
        };
        byte aSec = r.ReadByte("alarm seconds"), aMin = r.ReadByte("alarm minutes"), aHour = r.ReadByte("alarm hours");
        byte a = r.ReadByte("register a"), b = r.ReadByte("register b");
        byte f = r.ReadByte("register c flags");
        if ((f & ~(CPf | CAf | CUf)) != 0) throw r.Invalid("register c flags", "only PF, AF and UF are kept");
        bool line = r.ReadBool("irq level");
        int idx = r.ReadByte("index", 0, 0x7F);
        int ext = r.ReadByte("extended index", 0x80, 0xFF);
        bool nmi = r.ReadBool("nmi masked");
        // Any guest times: catching up on missed updates advances the calendar a month per step, and 2^63 ns is 292 years.
        long origin = r.ReadInt64("origin");
        long cycle = r.ReadInt64("sync cycle", 0, long.MaxValue);
        long last = r.ReadInt64("last sync");
        r.EndSection();
        newRam.CopyTo(ram, 0);
        time = t;
        alarmSec = aSec;
        alarmMin = aMin;
        alarmHour = aHour;
        regA = a;
        regB = b;
        flags = f;
        lineHigh = line;
        index = idx;
        extIndex = ext;
        NmiMasked = nmi;
        originNs = origin;
        syncCycle = cycle;
        lastSyncNs = last;
    }

    /// <summary>The time and calendar registers as numbers (binary, 24-hour).</summary>
    struct Calendar
    {
        public int Sec, Min, Hour, Dow, Dom, Mon, Year;

        /// <summary>
        /// Applies <paramref name="n"/> one-second updates with the chip's carries: a field at or past its last
        /// value wraps to its first and carries into the next. Returns how many times the year wrapped 99 → 00.
        /// </summary>
        public int Advance(long n)
        {
            if (n <= 0) return 0;
            long toCarry = Sec >= 59 ? 1 : 60 - Sec;
            if (n < toCarry) { Sec += (int)n; return 0; }
            n -= toCarry;
            Sec = (int)(n % 60);
            long minutes = 1 + n / 60;

            toCarry = Min >= 59 ? 1 : 60 - Min;
            if (minutes < toCarry) { Min += (int)minutes; return 0; }
            minutes -= toCarry;
            Min = (int)(minutes % 60);
            long hours = 1 + minutes / 60;

            toCarry = Hour >= 23 ? 1 : 24 - Hour;
            if (hours < toCarry) { Hour += (int)hours; return 0; }
            hours -= toCarry;
            Hour = (int)(hours % 24);
            return AdvanceDays(1 + hours / 24);
        }

        int AdvanceDays(long days)
        {
            Dow = Dow is >= 1 and <= 7 ? (int)((Dow - 1 + days) % 7) + 1 : (int)((days - 1) % 7) + 1;
            int centuries = 0;
            while (true)
            {
                int dim = DaysInMonth(Mon, Year);
                long toCarry = Dom >= dim ? 1 : dim - Dom + 1;
                if (days < toCarry) { Dom += (int)days; return centuries; }
                days -= toCarry;
                Dom = 1;
                if (Mon < 12) { Mon++; continue; }
                Mon = 1;
                if (Year < 99) { Year++; continue; }
                Year = 0;
                centuries++;
            }
        }

        static int DaysInMonth(int month, int year) => month switch
        {
            2 => year % 4 == 0 ? 29 : 28,              // the chip's rule: every fourth two-digit year
            4 or 6 or 9 or 11 => 30,
            _ => 31,
        };
    }
}
