using JitVm.Core;
using JitVm.Core.Storage;

namespace JitVm.Devices;

/// <summary>
/// A PC/AT floppy disk controller: the Intel 82077AA command set that PC BIOSes and Linux's floppy driver use,
/// at ports 0x3F0–0x3F5 and 0x3F7 (0x3F6 belongs to the IDE controller), interrupting on IRQ 6 and moving data on
/// DMA channel 2. Four drives; each holds an optional <see cref="IBlockDevice"/> image whose size picks the
/// format (1.44 MB, 720 KB, 1.2 MB or 2.88 MB; 512-byte sectors, two heads, 80 cylinders).
/// </summary>
/// <remarks>
/// <para>Modelling choices:</para>
/// <list type="bullet">
/// <item>Every command executes as soon as its last parameter byte is written: seeks complete at once, READ/WRITE
/// DATA move their sectors through <see cref="Dma8237"/> channel 2 within that write, and IRQ 6 is raised before
/// the write returns. There is no rotational or step timing. INT is driven as a level: it falls when the first
/// result byte is read (read/write/READ ID/FORMAT) or when SENSE INTERRUPT STATUS is issued (seek, recalibrate,
/// reset). In PC/AT mode the DOR DMA-gate bit (bit 3) gates the INT output; DRQ is not gated.</item>
/// <item>Only DMA transfers are modelled: the non-DMA bit of SPECIFY is stored (and shown by DUMPREG) but READ
/// and WRITE DATA still use DMA. Motor-enable bits are stored but a stopped motor does not stall a command.</item>
/// <item>A transfer ends at DMA terminal count (normal termination) after the sector in progress; a write that
/// TC cuts short fills the rest of the sector with zeros. Reaching the end of the track (EOT, or EOT of head 1 in
/// multi-track mode) without TC ends with ST0 abnormal termination and ST1 EN. A masked DMA channel gives
/// ST1 OR (overrun). The result C/H/R/N is the sector after the last one transferred, per the 82077AA's
/// table: R+1; at EOT, R=1 with C+1, or with H complemented when MT switches heads.</item>
/// <item>The medium is a standard-format disk: the ID fields of physical cylinder PCN, head HDS are
/// (PCN, HDS, 1..SPT, N=2). A command whose C differs from the PCN (the FDC compares IDs; it does not seek unless
/// CONFIGURE enabled implied seeks) ends with ST1 ND and ST2 WC; a bad H, R or N with ST1 ND; a data rate (DSR/CCR)
/// that does not match the medium (500 kbps for 1.44M and 1.2M, 250 kbps for 720K, 1 Mbps for 2.88M) or FM mode
/// ends with ST1 MA, as no address mark can be read. No disk gives ST0 abnormal termination with NR (0x48).</item>
/// <item>DOR reset (bit 2 low) and DSR bit 7 perform the software reset: the command in progress is abandoned,
/// CONFIGURE's EIS and POLL are cleared (FIFO settings and PRETRK too unless LOCKed), PERPENDICULAR's GAP/WGATE
/// clear; SPECIFY values, PCNs and the data rate are kept. Leaving reset with polling enabled raises IRQ 6 with
/// one pending SENSE INTERRUPT STATUS result (ST0 0xC0+drive, "ready changed") per drive. Hardware
/// <see cref="Reset"/> clears DOR, so the controller stays in reset (MSR 0) until the guest sets nRESET.</item>
/// <item>FORMAT TRACK reads the SC ID fields by DMA and fills the data area of each sector whose ID is a standard
/// one for this track with the filler byte; other IDs are accepted and ignored (the image cannot hold them).</item>
/// <item>SRA (0x3F0) and SRB (0x3F1) read as the 82077AA's PS/2-mode registers: SRA bit 7 INT pending, bit 6
/// nDRV2 (0: second drive installed), bit 4 nTRK0 (0 when the selected drive is on cylinder 0), bit 3 head
/// select, bit 2 nINDEX (1), bit 1 write protect of the selected drive, bit 0 nDIR (1); SRB bits 7–6 1, bit 5 drive
/// select bit 0, bits 1–0 motor enables of drives 1 and 0. DIR (0x3F7) has only bit 7 (disk changed, selected
/// drive); bits 0–6 are 0. The disk-changed bit is set at power-on and whenever a disk is inserted or removed, and
/// cleared by any SEEK or RECALIBRATE of a drive holding a disk. ST3 bits 5 and 3 read 1 as on the 82077AA; an
/// empty drive reports write-protected.</item>
/// <item>Unimplemented commands (READ/WRITE DELETED DATA, READ TRACK, VERIFY, SCAN, PART ID) answer as invalid:
/// a single result byte ST0 = 0x80.</item>
/// </list>
/// </remarks>
public sealed class FloppyController : IIoDevice
{
    /// <summary>First port (SRA); the controller answers at 0x3F0–0x3F5 and 0x3F7.</summary>
    public const ushort BasePort = 0x3F0;

    /// <summary>The ISA interrupt line.</summary>
    public const int IrqLine = 6;

    /// <summary>The DMA channel READ/WRITE DATA and FORMAT TRACK use.</summary>
    public const int DmaChannel = 2;

    /// <summary>Drives the controller addresses.</summary>
    public const int DriveCount = 4;

    const int SectorSize = 512;

    // DOR bits.
    const byte DorReset = 0x04, DorDmaGate = 0x08;

    // MSR bits.
    const byte MsrRqm = 0x80, MsrDio = 0x40, MsrBusy = 0x10;

    // Status register bits.
    const byte St0Abnormal = 0x40, St0Invalid = 0x80, St0SeekEnd = 0x20, St0EquipCheck = 0x10, St0NotReady = 0x08;
    const byte St1EndOfCylinder = 0x80, St1DataError = 0x20, St1Overrun = 0x10, St1NoData = 0x04,
        St1NotWritable = 0x02, St1MissingAddressMark = 0x01;
    const byte St2DataErrorInData = 0x20, St2WrongCylinder = 0x10;

    // CONFIGURE byte 2: EIS, EFIFO, POLL, FIFOTHR.
    const byte ConfigImpliedSeek = 0x40, ConfigFifoDisable = 0x20, ConfigPollDisable = 0x10;

    sealed class Drive
    {
        public IBlockDevice? Image;
        public int Cylinders, Heads, Sectors, Rate;
        public byte Pcn;
        public int Head;
        public int NextSector = 1;      // the ID READ ID returns next (a stand-in for the rotational position)
        public bool Changed = true;
    }

    readonly IIrqLines irq;
    readonly Dma8237 dma;
    readonly Drive[] drives = [new(), new(), new(), new()];
    readonly byte[] command = new byte[9];
    readonly byte[] result = new byte[10];
    readonly byte[] sector = new byte[SectorSize];
    readonly Queue<(byte St0, byte Pcn)> pendingSense = new();

    byte dor, tdr, rate;
    int commandLength, commandExpected, resultLength, resultPos;
    bool resultClearsInt;
    bool interrupt, irqDriven;
    byte specify1, specify2, config = ConfigFifoDisable, pretrk, perpendicular, lastEot;
    bool locked;

    /// <param name="irq">Interrupt lines; the controller drives IRQ 6.</param>
    /// <param name="dma">The DMA controllers; data moves on channel 2.</param>
    public FloppyController(IIrqLines irq, Dma8237 dma)
    {
        this.irq = irq;
        this.dma = dma;
        Reset();
    }

    /// <summary>Registers ports 0x3F0–0x3F5 and 0x3F7.</summary>
    public void Attach(IoBus io)
    {
        io.Register(BasePort, 6, this);
        io.Register(BasePort + 7, 1, this);
    }

    /// <summary>
    /// Inserts <paramref name="image"/> into drive <paramref name="drive"/> (0–3), or removes the disk when null.
    /// Either way the drive's disk-changed line becomes active.
    /// </summary>
    /// <exception cref="ArgumentException">The image size is not 1474560, 737280, 1228800 or 2949120 bytes.</exception>
    public void InsertDisk(int drive, IBlockDevice? image)
    {
        if ((uint)drive >= DriveCount) throw new ArgumentOutOfRangeException(nameof(drive));
        var d = drives[drive];
        if (image is not null)
        {
            (d.Cylinders, d.Heads, d.Sectors, d.Rate) = image.Length switch
            {
                1474560 => (80, 2, 18, 0),      // 1.44 MB, 500 kbps
                737280 => (80, 2, 9, 2),        // 720 KB, 250 kbps
                1228800 => (80, 2, 15, 0),      // 1.2 MB, 500 kbps
                2949120 => (80, 2, 36, 3),      // 2.88 MB, 1 Mbps
                _ => throw new ArgumentException($"unsupported floppy image size {image.Length}", nameof(image)),
            };
        }
        d.Image = image;
        d.NextSector = 1;
        d.Changed = true;
    }

    /// <summary>
    /// Hardware reset: DOR 0 (controller held in reset, no DMA gate, motors off), data rate 250 kbps, CONFIGURE,
    /// LOCK, SPECIFY and PERPENDICULAR at their defaults, every drive on cylinder 0 with disk-changed active,
    /// IRQ 6 low. Inserted disks stay.
    /// </summary>
    public void Reset()
    {
        dor = 0;
        tdr = 0;
        rate = 2;
        specify1 = specify2 = 0;
        locked = false;
        config = ConfigFifoDisable;
        pretrk = 0;
        perpendicular = 0;
        lastEot = 0;
        foreach (var d in drives)
        {
            d.Pcn = 0;
            d.Head = 0;
            d.NextSector = 1;
            d.Changed = true;
        }
        SoftwareReset();
        interrupt = false;
        irqDriven = false;
        irq.SetIrq(IrqLine, false);
    }

    bool InReset => (dor & DorReset) == 0;

    /// <summary>The state a DOR/DSR reset leaves (82077AA "Software Reset").</summary>
    void SoftwareReset()
    {
        commandLength = 0;
        resultLength = resultPos = 0;
        pendingSense.Clear();
        config = locked ? (byte)(config & 0x2F) : ConfigFifoDisable;
        if (!locked) pretrk = 0;
        perpendicular &= 0x3C;
        SetInterrupt(false);
    }

    /// <summary>Leaving reset: with polling enabled, one "ready changed" status per drive and an interrupt.</summary>
    void ExitReset()
    {
        if ((config & ConfigPollDisable) != 0) return;
        for (int d = 0; d < DriveCount; d++) pendingSense.Enqueue(((byte)(0xC0 | d), drives[d].Pcn));
        SetInterrupt(true);
    }

    void SetInterrupt(bool on)
    {
        interrupt = on;
        bool level = on && (dor & DorDmaGate) != 0;
        if (level == irqDriven) return;
        irqDriven = level;
        irq.SetIrq(IrqLine, level);
    }

    public uint In(ushort port, int size)
    {
        switch (port & 7)
        {
            case 0: return Sra();
            case 1: return (uint)(0xC0 | (dor & 1) << 5 | (dor >> 4) & 3);
            case 2: return dor;
            case 3: return tdr;
            case 4: return Msr();
            case 5: return ReadData();
            case 7: return drives[dor & 3].Changed ? 0x80u : 0x00u;
            default: return 0xFF;
        }
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port & 7)
        {
            case 2: WriteDor(v); break;
            case 3: tdr = (byte)(v & 3); break;
            case 4:
                rate = (byte)(v & 3);
                if ((v & 0x80) != 0 && !InReset)
                {
                    SoftwareReset();        // DSR reset is self-clearing: the controller leaves reset at once
                    ExitReset();
                }
                break;
            case 5: WriteData(v); break;
            case 7: rate = (byte)(v & 3); break;
        }
    }

    uint Sra()
    {
        var d = drives[dor & 3];
        int v = (interrupt ? 0x80 : 0) | (d.Pcn != 0 ? 0x10 : 0) | d.Head << 3 | 0x04
            | (d.Image is null || d.Image.ReadOnly ? 0x02 : 0) | 0x01;
        return (uint)v;
    }

    void WriteDor(byte v)
    {
        bool wasReset = InReset;
        dor = v;
        if (!wasReset && InReset) SoftwareReset();
        else if (wasReset && !InReset) ExitReset();
        SetInterrupt(interrupt);            // the DMA gate bit may have changed
    }

    uint Msr()
    {
        if (InReset) return 0;
        if (resultPos < resultLength) return MsrRqm | MsrDio | MsrBusy;
        return commandLength > 0 ? (uint)(MsrRqm | MsrBusy) : MsrRqm;
    }

    uint ReadData()
    {
        if (InReset || resultPos >= resultLength) return 0;
        if (resultPos == 0 && resultClearsInt) SetInterrupt(false);
        byte b = result[resultPos++];
        if (resultPos == resultLength) resultPos = resultLength = 0;
        return b;
    }

    void WriteData(byte v)
    {
        if (InReset || resultPos < resultLength) return;
        if (commandLength == 0)
        {
            commandExpected = CommandLength(v);
            if (commandExpected == 0)
            {
                Result(false, St0Invalid);
                return;
            }
        }
        command[commandLength++] = v;
        if (commandLength < commandExpected) return;
        commandLength = 0;
        Execute();
    }

    /// <summary>Total bytes (opcode included) of each implemented command, 0 for an invalid opcode.</summary>
    static int CommandLength(byte op)
    {
        if ((op & 0x1F) == 0x06) return 9;          // READ DATA: MT MFM SK 0 0 1 1 0
        if ((op & 0x3F) == 0x05) return 9;          // WRITE DATA: MT MFM 0 0 0 1 0 1
        if ((op & 0xBF) == 0x0A) return 2;          // READ ID: 0 MFM 0 0 1 0 1 0
        if ((op & 0xBF) == 0x0D) return 6;          // FORMAT TRACK: 0 MFM 0 0 1 1 0 1
        if ((op & 0xBF) == 0x8F) return 3;          // RELATIVE SEEK: 1 DIR 0 0 1 1 1 1
        if ((op & 0x7F) == 0x14) return 1;          // LOCK / UNLOCK
        return op switch
        {
            0x03 => 3,      // SPECIFY
            0x04 => 2,      // SENSE DRIVE STATUS
            0x07 => 2,      // RECALIBRATE
            0x08 => 1,      // SENSE INTERRUPT STATUS
            0x0E => 1,      // DUMPREG
            0x0F => 3,      // SEEK
            0x10 => 1,      // VERSION
            0x12 => 2,      // PERPENDICULAR MODE
            0x13 => 4,      // CONFIGURE
            _ => 0,
        };
    }

    /// <summary>Enters the result phase with <paramref name="bytes"/>.</summary>
    void Result(bool clearsInt, params ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(result);
        resultLength = bytes.Length;
        resultPos = 0;
        resultClearsInt = clearsInt;
    }

    void Execute()
    {
        byte op = command[0];
        switch (op & 0x1F)
        {
            case 0x06: ReadWrite(write: false); return;
            case 0x05 when (op & 0x20) == 0: ReadWrite(write: true); return;
            case 0x0A: ReadId(); return;
            case 0x0D: FormatTrack(); return;
            case 0x14: locked = (op & 0x80) != 0; Result(false, (byte)(locked ? 0x10 : 0x00)); return;
        }
        if ((op & 0xBF) == 0x8F)
        {
            var rd = drives[command[1] & 3];
            int target = (op & 0x40) != 0 ? rd.Pcn + command[2] : rd.Pcn - command[2];
            SeekTo(command[1], (byte)Math.Clamp(target, 0, 255));
            return;
        }
        switch (op)
        {
            case 0x03:
                specify1 = command[1];
                specify2 = command[2];
                break;
            case 0x04:
                {
                    var d = drives[command[1] & 3];
                    d.Head = (command[1] >> 2) & 1;
                    bool wp = d.Image is null || d.Image.ReadOnly;
                    Result(false, (byte)((wp ? 0x40 : 0) | 0x20 | (d.Pcn == 0 ? 0x10 : 0) | 0x08 | (command[1] & 7)));
                    break;
                }
            case 0x07: SeekTo((byte)(command[1] & 3), 0); break;
            case 0x08:
                if (pendingSense.TryDequeue(out var s)) Result(false, s.St0, s.Pcn);
                else Result(false, St0Invalid);
                SetInterrupt(false);
                break;
            case 0x0E:
                Result(false, drives[0].Pcn, drives[1].Pcn, drives[2].Pcn, drives[3].Pcn, specify1, specify2, lastEot,
                    (byte)((locked ? 0x80 : 0) | perpendicular), config, pretrk);
                break;
            case 0x0F: SeekTo(command[1], command[2]); break;
            case 0x10: Result(false, 0x90); break;
            case 0x12:
                if ((command[1] & 0x80) != 0) perpendicular = (byte)((perpendicular & 0x03) | (command[1] & 0x3C));
                perpendicular = (byte)((perpendicular & 0x3C) | (command[1] & 0x03));
                break;
            case 0x13:
                config = (byte)(command[2] & 0x7F);
                pretrk = command[3];
                break;
        }
    }

    /// <summary>SEEK/RECALIBRATE: the head moves to <paramref name="cylinder"/> and a seek-end status is queued.</summary>
    void SeekTo(byte select, byte cylinder)
    {
        int unit = select & 3, head = (select >> 2) & 1;
        var d = drives[unit];
        d.Pcn = cylinder;
        d.Head = head;
        if (d.Image is not null) d.Changed = false;     // a step pulse with a disk in clears DSKCHG
        pendingSense.Enqueue(((byte)(St0SeekEnd | head << 2 | unit), cylinder));
        SetInterrupt(true);
    }

    /// <summary>Ends an execution phase: seven result bytes and IRQ 6.</summary>
    void FinishTransfer(byte st0, byte st1, byte st2, byte c, byte h, byte r, byte n)
    {
        Result(true, st0, st1, st2, c, h, r, n);
        SetInterrupt(true);
    }

    /// <summary>Why the drive cannot read the track under the head at all (ST0, ST1), or (0, 0) if it can.</summary>
    (byte St0, byte St1) MediumCheck(Drive d, bool mfm)
    {
        if (d.Image is null) return ((byte)(St0Abnormal | St0NotReady), 0);
        if (!mfm || rate != d.Rate || d.Pcn >= d.Cylinders || d.Head >= d.Heads)
            return (St0Abnormal, St1MissingAddressMark);
        return (0, 0);
    }

    void ReadWrite(bool write)
    {
        byte op = command[0];
        bool mt = (op & 0x80) != 0, mfm = (op & 0x40) != 0;
        int unit = command[1] & 3;
        int head = (command[1] >> 2) & 1;
        byte c = command[2], h = command[3], r = command[4], n = command[5], eot = command[6];
        lastEot = eot;
        var d = drives[unit];
        d.Head = head;
        if ((config & ConfigImpliedSeek) != 0 && d.Pcn != c)
        {
            d.Pcn = c;
            if (d.Image is not null) d.Changed = false;
        }

        var (st0, st1) = MediumCheck(d, mfm);
        byte st2 = 0;
        if (st0 == 0 && write && d.Image!.ReadOnly) (st0, st1) = (St0Abnormal, St1NotWritable);
        if (st0 != 0)
        {
            FinishTransfer((byte)(st0 | head << 2 | unit), st1, 0, c, h, r, n);
            return;
        }

        var image = d.Image!;
        while (true)
        {
            // Find the sector's ID on this track (standard format: PCN, head, 1..SPT, N=2).
            if (c != d.Pcn || h != head || r < 1 || r > d.Sectors || n != 2)
            {
                st0 = St0Abnormal;
                st1 = St1NoData;
                if (c != d.Pcn) st2 = St2WrongCylinder;
                break;
            }
            long offset = ((long)(d.Pcn * d.Heads + head) * d.Sectors + (r - 1)) * SectorSize;
            bool tc;
            if (!write)
            {
                try { image.Read(offset, sector); }
                catch (BlockDeviceException)
                {
                    (st0, st1, st2) = (St0Abnormal, St1DataError, St2DataErrorInData);
                    break;
                }
                int moved = dma.WriteToMemory(DmaChannel, sector, out tc);
                if (!tc && moved < SectorSize)
                {
                    (st0, st1) = (St0Abnormal, St1Overrun);
                    break;
                }
            }
            else
            {
                int moved = dma.ReadFromMemory(DmaChannel, sector, out tc);
                if (!tc && moved < SectorSize)
                {
                    (st0, st1) = (St0Abnormal, St1Overrun);
                    break;
                }
                sector.AsSpan(moved).Clear();           // TC mid-sector: the rest of the sector is written as zeros
                try { image.Write(offset, sector); }
                catch (BlockDeviceException)
                {
                    st0 = St0Abnormal | St0EquipCheck;
                    break;
                }
            }
            d.NextSector = r % d.Sectors + 1;

            // The next sector address (82077AA result-phase table for MT and EOT).
            bool endOfCylinder = false;
            int nextHead = head;
            if (r != eot) r++;
            else if (mt && head == 0)
            {
                h ^= 1;
                r = 1;
                nextHead = 1;
            }
            else
            {
                c++;
                r = 1;
                if (mt) h ^= 1;
                endOfCylinder = true;
            }
            if (tc) break;
            if (endOfCylinder)
            {
                (st0, st1) = (St0Abnormal, St1EndOfCylinder);
                break;
            }
            head = nextHead;
            d.Head = head;
        }
        FinishTransfer((byte)(st0 | head << 2 | unit), st1, st2, c, h, r, n);
    }

    void ReadId()
    {
        int unit = command[1] & 3, head = (command[1] >> 2) & 1;
        var d = drives[unit];
        d.Head = head;
        var (st0, st1) = MediumCheck(d, (command[0] & 0x40) != 0);
        byte r = (byte)d.NextSector;
        if (st0 == 0) d.NextSector = d.NextSector % d.Sectors + 1;
        FinishTransfer((byte)(st0 | head << 2 | unit), st1, 0, d.Pcn, (byte)head, r, 2);
    }

    void FormatTrack()
    {
        int unit = command[1] & 3, head = (command[1] >> 2) & 1;
        byte count = command[3], filler = command[5];
        var d = drives[unit];
        d.Head = head;
        var (st0, st1) = MediumCheck(d, (command[0] & 0x40) != 0);
        if (st0 == 0 && d.Image!.ReadOnly) (st0, st1) = (St0Abnormal, St1NotWritable);
        Span<byte> id = stackalloc byte[4];
        id.Clear();
        if (st0 == 0)
        {
            sector.AsSpan().Fill(filler);
            for (int i = 0; i < count; i++)
            {
                int moved = dma.ReadFromMemory(DmaChannel, id, out bool tc);
                if (moved < id.Length)
                {
                    if (!tc) (st0, st1) = (St0Abnormal, St1Overrun);
                    break;
                }
                if (id[0] == d.Pcn && id[1] == head && id[2] >= 1 && id[2] <= d.Sectors && id[3] == 2)
                {
                    long offset = ((long)(d.Pcn * d.Heads + head) * d.Sectors + (id[2] - 1)) * SectorSize;
                    try { d.Image!.Write(offset, sector); }
                    catch (BlockDeviceException)
                    {
                        st0 = St0Abnormal | St0EquipCheck;
                        break;
                    }
                }
                if (tc) break;
            }
        }
        FinishTransfer((byte)(st0 | head << 2 | unit), st1, 0, id[0], id[1], id[2], id[3]);
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "FDC ": DOR, TDR, data rate, the command and result buffers with their positions, the interrupt
    /// state, SPECIFY/CONFIGURE/PERPENDICULAR/LOCK settings, the pending SENSE INTERRUPT STATUS results, and per drive
    /// whether it holds a disk, its cylinder, head, next sector ID and disk-changed line. The images are the machine's.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("FDC ", 1);
        foreach (var d in drives)
        {
            w.WriteBool(d.Image is not null);
            w.WriteByte(d.Pcn);
            w.WriteByte((byte)d.Head);
            w.WriteByte((byte)d.NextSector);
            w.WriteBool(d.Changed);
        }
        w.WriteBytes(command);
        w.WriteBytes(result);
        w.WriteInt32(pendingSense.Count);
        foreach (var (st0, pcn) in pendingSense)
        {
            w.WriteByte(st0);
            w.WriteByte(pcn);
        }
        foreach (byte b in (ReadOnlySpan<byte>)[dor, tdr, rate]) w.WriteByte(b);
        foreach (int v in (ReadOnlySpan<int>)[commandLength, commandExpected, resultLength, resultPos]) w.WriteByte((byte)v);
        w.WriteBool(resultClearsInt);
        w.WriteBool(interrupt);
        w.WriteBool(irqDriven);
        foreach (byte b in (ReadOnlySpan<byte>)[specify1, specify2, config, pretrk, perpendicular, lastEot]) w.WriteByte(b);
        w.WriteBool(locked);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote. A drive the snapshot has a disk in must hold one here too.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("FDC ", 1);
        for (int i = 0; i < drives.Length; i++)
        {
            var d = drives[i];
            bool hasImage = r.ReadBool($"drive {i} has disk");
            if (hasImage && d.Image is null) throw r.Invalid($"drive {i} has disk", "the snapshot's drive holds a disk, this one is empty");
            if (!hasImage) d.Image = null;
            d.Pcn = r.ReadByte($"drive {i} cylinder");
            d.Head = r.ReadByte($"drive {i} head", 0, 1);
            d.NextSector = r.ReadByte($"drive {i} next sector", 1, 255);
            d.Changed = r.ReadBool($"drive {i} changed");
        }
        r.ReadBytes("command", command);
        r.ReadBytes("result", result);
        int n = r.ReadInt32("pending sense count", 0, 64);
        pendingSense.Clear();
        for (int i = 0; i < n; i++) pendingSense.Enqueue((r.ReadByte("pending st0"), r.ReadByte("pending cylinder")));
        dor = r.ReadByte("dor");
        tdr = r.ReadByte("tdr");
        rate = r.ReadByte("data rate", 0, 3);
        commandLength = r.ReadByte("command length", 0, (byte)(command.Length - 1));
        commandExpected = r.ReadByte("command expected", 0, (byte)command.Length);
        resultLength = r.ReadByte("result length", 0, (byte)result.Length);
        resultPos = r.ReadByte("result position", 0, (byte)resultLength);
        resultClearsInt = r.ReadBool("result clears int");
        interrupt = r.ReadBool("interrupt");
        irqDriven = r.ReadBool("irq level");
        specify1 = r.ReadByte("specify 1");
        specify2 = r.ReadByte("specify 2");
        config = r.ReadByte("configure");
        pretrk = r.ReadByte("precompensation track");
        perpendicular = r.ReadByte("perpendicular");
        lastEot = r.ReadByte("last eot");
        locked = r.ReadBool("lock");
        r.EndSection();
    }
}
