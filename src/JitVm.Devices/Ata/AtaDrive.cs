using System.Buffers.Binary;
using JitVm.Core.Storage;

namespace JitVm.Devices.Ata;

/// <summary>
/// An ATA hard disk (ATA/ATAPI-6, T13 1410D) on an <see cref="AtaChannel"/>, backed by an <see cref="IBlockDevice"/>:
/// its own copy of the Command Block registers (the host's register writes reach both devices on a channel, the
/// command is executed by the selected one), the PIO data-in/data-out protocols and the command set a BIOS and the
/// Linux legacy IDE/ata_piix drivers use.
/// </summary>
/// <remarks>
/// <para>Commands complete synchronously inside the write of the Command register (the device is never observed
/// BSY): a data-in command leaves DRQ set with the first block in the buffer and INTRQ asserted; data-out commands
/// set DRQ without an interrupt and assert INTRQ after each block is committed.</para>
/// <para>Addressing: CHS (through the current translation set by INITIALIZE DEVICE PARAMETERS, default
/// 16 heads × 63 sectors), LBA28 and LBA48. As ATA-2 drives do, the address registers are updated as blocks are
/// transferred: after each block they hold the address of its last sector and the Sector Count the sectors still to
/// transfer; on an error they hold the address of the failing block's first sector.</para>
/// <para>Errors: a range that does not fit the device is refused before any transfer with IDNF; an exception from the
/// block device ends the command with ERR and UNC (for writes, bit 6 is what ATA-6 names WP); a write command to a
/// read-only device is aborted (ABRT) before the data phase, since a fixed disk without the Removable Media Status
/// Notification feature set has no write-protect report. Unknown commands, NOP, PACKET and IDENTIFY PACKET DEVICE
/// (this is not a packet device) end with ABRT.</para>
/// <para>No DMA: IDENTIFY advertises LBA but not DMA, and SET FEATURES refuses DMA transfer modes.</para>
/// </remarks>
public sealed class AtaDrive : IdeDevice
{
    /// <summary>Bytes per sector.</summary>
    public const int SectorSize = 512;

    /// <summary>Largest READ/WRITE MULTIPLE block (IDENTIFY word 47).</summary>
    public const int MaxMultiple = 16;

    internal const byte StatusBsy = 0x80, StatusDrdy = 0x40, StatusDf = 0x20, StatusDsc = 0x10, StatusDrq = 0x08,
        StatusErr = 0x01;

    internal const byte ErrorUnc = 0x40, ErrorIdnf = 0x10, ErrorAbrt = 0x04;

    /// <summary>The Error register's diagnostic code "device passed" (after reset and EXECUTE DEVICE DIAGNOSTIC).</summary>
    internal const byte DiagnosticPassed = 0x01;

    const int Register28Limit = 1 << 28;
    const long MaxChsSectors = 16383L * 16 * 63;   // 16,514,064: above this IDENTIFY reports 16383/16/63

    enum Transfer { None, ReadSectors, WriteSectors, Identify, ReadBuffer, WriteBuffer }
    enum Addressing { Chs, Lba28, Lba48 }

    // Command Block registers. Features, Sector Count and the LBA registers are two-deep for LBA48: a write moves the
    // current value into the "previous content" read back with Device Control HOB set (ATA-6 6.x, 48-bit Address).
    byte features, featuresPrev, count, countPrev, lbaLow, lbaLowPrev, lbaMid, lbaMidPrev, lbaHigh, lbaHighPrev;
    byte device, status, error;

    // Settings (kept across software reset, restored at power-on).
    int multiple;
    int curHeads, curSectors, curCylinders;
    bool chsValid;

    // Transfer state.
    readonly byte[] buffer = new byte[MaxMultiple * SectorSize];
    Transfer transfer;
    Addressing addressing;
    int bufPos, bufLen, blockSectors;
    long nextLba, remaining;
    bool inReset;

    /// <summary>Creates a hard disk on <paramref name="disk"/> with the identification strings IDENTIFY reports.</summary>
    /// <param name="disk">Contents; its length is truncated to whole sectors.</param>
    /// <param name="model">Model number (up to 40 ASCII characters).</param>
    /// <param name="serial">Serial number (up to 20 ASCII characters).</param>
    /// <param name="firmware">Firmware revision (up to 8 ASCII characters).</param>
    public AtaDrive(IBlockDevice disk, string model = "JitVm HARDDISK", string serial = "JV0000000001", string firmware = "1.0")
    {
        Disk = disk;
        Model = model;
        Serial = serial;
        Firmware = firmware;
        TotalSectors = Math.Max(0, disk.Length / SectorSize);
        SectorsPerTrack = 63;
        Heads = 16;
        Cylinders = (int)Math.Min(16383, Math.Min(TotalSectors, MaxChsSectors) / (Heads * SectorsPerTrack));
        PowerOn();
    }

    /// <summary>The backing store.</summary>
    public IBlockDevice Disk { get; }

    /// <summary>Model number reported by IDENTIFY DEVICE.</summary>
    public string Model { get; }

    /// <summary>Serial number reported by IDENTIFY DEVICE.</summary>
    public string Serial { get; }

    /// <summary>Firmware revision reported by IDENTIFY DEVICE.</summary>
    public string Firmware { get; }

    /// <summary>Addressable sectors (LBA48 capacity).</summary>
    public long TotalSectors { get; }

    /// <summary>Default cylinders (IDENTIFY word 1): capacity / (16 × 63), at most 16383.</summary>
    public int Cylinders { get; }

    /// <summary>Default heads (IDENTIFY word 3): 16.</summary>
    public int Heads { get; }

    /// <summary>Default sectors per track (IDENTIFY word 6): 63.</summary>
    public int SectorsPerTrack { get; }

    /// <summary>Current READ/WRITE MULTIPLE block size in sectors (0 = multiple mode disabled).</summary>
    public int MultipleCount => multiple;

    /// <summary>Write cache enabled (SET FEATURES 02h/82h). When disabled each block is flushed before it is
    /// acknowledged.</summary>
    public bool WriteCacheEnabled { get; private set; }

    /// <summary>The last block-device error turned into a guest-visible UNC, for diagnostics.</summary>
    public Exception? LastIoError { get; private set; }

    /// <summary>Power-on / hardware reset: defaults for every setting, then the reset signature.</summary>
    internal override void PowerOn()
    {
        multiple = 0;
        WriteCacheEnabled = true;
        curHeads = Heads;
        curSectors = SectorsPerTrack;
        curCylinders = Cylinders;
        chsValid = true;
        features = featuresPrev = countPrev = lbaLowPrev = lbaMidPrev = lbaHighPrev = 0;
        inReset = false;
        Signature();
        device = 0;
    }

    /// <summary>SRST asserted: the device is BSY until it is released.</summary>
    internal override void EnterSoftReset()
    {
        inReset = true;
        transfer = Transfer.None;
        InterruptPending = false;
        status = StatusBsy;
    }

    /// <summary>SRST released: reset signature in the registers, device 0 selected, no interrupt (ATA-6 9.2).</summary>
    internal override void LeaveSoftReset()
    {
        inReset = false;
        Signature();
        device = 0;
    }

    /// <summary>The ATA reset signature: Sector Count 1, LBA Low 1, LBA Mid/High 0, diagnostic code, DRDY|DSC.</summary>
    void Signature()
    {
        transfer = Transfer.None;
        bufPos = bufLen = 0;
        count = 1;
        lbaLow = 1;
        lbaMid = lbaHigh = 0;
        device &= 0x10;
        error = DiagnosticPassed;
        status = StatusDrdy | StatusDsc;
        InterruptPending = false;
    }

    // ---- Register file -------------------------------------------------------------------------------------------

    internal override void WriteRegister(int reg, byte value)
    {
        if (inReset) return;   // registers are not accessible while BSY
        switch (reg)
        {
            case 1: featuresPrev = features; features = value; break;
            case 2: countPrev = count; count = value; break;
            case 3: lbaLowPrev = lbaLow; lbaLow = value; break;
            case 4: lbaMidPrev = lbaMid; lbaMid = value; break;
            case 5: lbaHighPrev = lbaHigh; lbaHigh = value; break;
            case 6: device = value; break;
        }
    }

    internal override byte ReadRegister(int reg, bool hob)
    {
        // While BSY, a read of any Command Block register returns the Status register.
        if ((status & StatusBsy) != 0) return status;
        return reg switch
        {
            1 => error,
            2 => hob ? countPrev : count,
            3 => hob ? lbaLowPrev : lbaLow,
            4 => hob ? lbaMidPrev : lbaMid,
            5 => hob ? lbaHighPrev : lbaHigh,
            6 => device,
            _ => status,
        };
    }

    internal override byte Status => status;

    // ---- Data register -------------------------------------------------------------------------------------------

    /// <summary>One 16-bit read of the Data register (all ones when no data-in transfer is in progress).</summary>
    internal override ushort ReadData()
    {
        if ((status & StatusDrq) == 0 || !IsDataIn || bufPos >= bufLen) return 0xFFFF;
        ushort w = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(bufPos));
        bufPos += 2;
        if (bufPos >= bufLen) DataInBlockDone();
        return w;
    }

    /// <summary>One 16-bit write of the Data register (ignored unless a data-out transfer wants data).</summary>
    internal override void WriteData(ushort value)
    {
        if ((status & StatusDrq) == 0 || IsDataIn || transfer == Transfer.None || bufPos >= bufLen) return;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(bufPos), value);
        bufPos += 2;
        if (bufPos >= bufLen) DataOutBlockDone();
    }

    bool IsDataIn => transfer is Transfer.ReadSectors or Transfer.Identify or Transfer.ReadBuffer;

    void DataInBlockDone()
    {
        if (transfer == Transfer.ReadSectors && remaining > 0)
        {
            LoadReadBlock();
            return;
        }
        // PIO data-in: no interrupt after the last block has been read.
        transfer = Transfer.None;
        status = StatusDrdy | StatusDsc;
    }

    void DataOutBlockDone()
    {
        if (transfer == Transfer.WriteBuffer)
        {
            Complete();
            return;
        }
        int n = bufLen / SectorSize;
        try
        {
            Disk.Write(nextLba * SectorSize, buffer.AsSpan(0, n * SectorSize));
            if (!WriteCacheEnabled) Disk.Flush();
        }
        catch (Exception e) when (e is BlockDeviceException or IOException)
        {
            IoFailure(e, nextLba);
            return;
        }
        Advance(n);
        if (remaining > 0) StartWriteBlock();
        else Complete();
    }

    // ---- Command execution ---------------------------------------------------------------------------------------

    /// <summary>Executes <paramref name="command"/> written to the Command register while this device is selected.</summary>
    internal override void Command(byte command)
    {
        if (inReset) return;
        // Writing the Command register negates INTRQ; a new command abandons any transfer in progress.
        InterruptPending = false;
        channel?.UpdateIrq();
        transfer = Transfer.None;
        error = 0;
        status = StatusDrdy | StatusDsc;

        switch (command)
        {
            case 0xEC: Identify(); break;
            case 0x20 or 0x21: StartRead(Addressing28(), multipleMode: false); break;
            case 0x24: StartRead(Addressing.Lba48, multipleMode: false); break;
            case 0xC4: StartRead(Addressing28(), multipleMode: true); break;
            case 0x29: StartRead(Addressing.Lba48, multipleMode: true); break;
            case 0x30 or 0x31: StartWrite(Addressing28(), multipleMode: false); break;
            case 0x34: StartWrite(Addressing.Lba48, multipleMode: false); break;
            case 0xC5: StartWrite(Addressing28(), multipleMode: true); break;
            case 0x39: StartWrite(Addressing.Lba48, multipleMode: true); break;
            case 0x40 or 0x41: Verify(Addressing28()); break;
            case 0x42: Verify(Addressing.Lba48); break;
            case 0xC6: SetMultiple(); break;
            case 0xEF: SetFeatures(); break;
            case 0x91: InitializeDeviceParameters(); break;
            case >= 0x10 and <= 0x1F: Complete(); break;                       // RECALIBRATE
            case 0x70: Seek(); break;
            case 0xE7 or 0xEA: FlushCache(); break;
            case 0xE0 or 0xE1 or 0xE2 or 0xE3 or 0xE6:                          // STANDBY/IDLE (IMMEDIATE), SLEEP
            case 0x94 or 0x95 or 0x96 or 0x97 or 0x99:                          // their ATA-1 opcodes
                Complete();
                break;
            case 0xE5 or 0x98:                                                  // CHECK POWER MODE: active or idle
                count = 0xFF;
                Complete();
                break;
            case 0xE4: StartBuffer(Transfer.ReadBuffer); break;
            case 0xE8: StartBuffer(Transfer.WriteBuffer); break;
            default: Abort(ErrorAbrt); break;                                   // incl. NOP, PACKET, IDENTIFY PACKET
        }
    }

    /// <summary>EXECUTE DEVICE DIAGNOSTIC as seen by one device: the reset signature and the "passed" code. The
    /// channel raises the interrupt through device 0.</summary>
    internal override void Diagnose(bool interrupt)
    {
        if (inReset) return;
        Signature();
        if (interrupt) RaiseInterrupt();
    }

    Addressing Addressing28() => (device & 0x40) != 0 ? Addressing.Lba28 : Addressing.Chs;

    void Complete()
    {
        transfer = Transfer.None;
        status = StatusDrdy | StatusDsc;
        RaiseInterrupt();
    }

    void Abort(byte errorBits)
    {
        transfer = Transfer.None;
        error = errorBits;
        status = StatusDrdy | StatusDsc | StatusErr;
        RaiseInterrupt();
    }

    void IoFailure(Exception e, long lba)
    {
        LastIoError = e;
        SetAddress(lba);
        Abort(ErrorUnc);
    }

    /// <summary>Decodes the starting sector and count of the command; false (with the command aborted) when the
    /// address is invalid or the range does not fit the device.</summary>
    bool DecodeRange(Addressing mode, out long lba, out long sectors)
    {
        addressing = mode;
        lba = 0;
        long limit = TotalSectors;
        switch (mode)
        {
            case Addressing.Lba48:
                sectors = count | countPrev << 8;
                if (sectors == 0) sectors = 65536;
                lba = lbaLow | (long)lbaMid << 8 | (long)lbaHigh << 16 | (long)lbaLowPrev << 24 |
                      (long)lbaMidPrev << 32 | (long)lbaHighPrev << 40;
                break;
            case Addressing.Lba28:
                sectors = count == 0 ? 256 : count;
                lba = lbaLow | lbaMid << 8 | lbaHigh << 16 | (device & 0x0F) << 24;
                limit = Math.Min(limit, Register28Limit);
                break;
            default:
                sectors = count == 0 ? 256 : count;
                int cyl = lbaMid | lbaHigh << 8, head = device & 0x0F, sector = lbaLow;
                if (!chsValid || sector == 0 || sector > curSectors || head >= curHeads || cyl >= curCylinders)
                {
                    Abort(ErrorIdnf);
                    return false;
                }
                lba = ((long)cyl * curHeads + head) * curSectors + sector - 1;
                limit = Math.Min(limit, (long)curCylinders * curHeads * curSectors);
                break;
        }
        if (lba + sectors > limit)
        {
            Abort(ErrorIdnf);
            return false;
        }
        return true;
    }

    /// <summary>A block of <paramref name="n"/> sectors was transferred: the registers show its last sector and the count left.</summary>
    void Advance(int n)
    {
        SetAddress(nextLba + n - 1);
        nextLba += n;
        remaining -= n;
        SetCount(remaining);
    }

    void StartRead(Addressing mode, bool multipleMode)
    {
        if (BeginTransfer(mode, multipleMode, Transfer.ReadSectors)) LoadReadBlock();
    }

    /// <summary>
    /// The common start of a PIO read or write: multiple mode must be set for the MULTIPLE commands, a write needs a
    /// writable disk (else ABRT), and the range must be on the disk (else IDNF); then the transfer state is set.
    /// </summary>
    bool BeginTransfer(Addressing mode, bool multipleMode, Transfer kind)
    {
        if ((multipleMode && multiple == 0) || (kind == Transfer.WriteSectors && Disk.ReadOnly))
        {
            Abort(ErrorAbrt);
            return false;
        }
        if (!DecodeRange(mode, out long lba, out long sectors)) return false;
        transfer = kind;
        blockSectors = multipleMode ? multiple : 1;
        nextLba = lba;
        remaining = sectors;
        return true;
    }

    /// <summary>Reads the next DRQ block from the disk into the buffer, sets DRQ and asserts INTRQ.</summary>
    void LoadReadBlock()
    {
        int n = (int)Math.Min(remaining, blockSectors);
        try
        {
            Disk.Read(nextLba * SectorSize, buffer.AsSpan(0, n * SectorSize));
        }
        catch (Exception e) when (e is BlockDeviceException or IOException)
        {
            IoFailure(e, nextLba);
            return;
        }
        Advance(n);
        bufPos = 0;
        bufLen = n * SectorSize;
        status = StatusDrdy | StatusDsc | StatusDrq;
        RaiseInterrupt();
    }

    void StartWrite(Addressing mode, bool multipleMode)
    {
        // PIO data-out: the first DRQ comes without an interrupt.
        if (BeginTransfer(mode, multipleMode, Transfer.WriteSectors)) StartWriteBlockNoIrq();
    }

    void StartWriteBlockNoIrq()
    {
        bufPos = 0;
        bufLen = (int)Math.Min(remaining, blockSectors) * SectorSize;
        status = StatusDrdy | StatusDsc | StatusDrq;
    }

    void StartWriteBlock()
    {
        StartWriteBlockNoIrq();
        RaiseInterrupt();
    }

    void Verify(Addressing mode)
    {
        if (!DecodeRange(mode, out long lba, out long sectors)) return;
        var scratch = buffer.AsSpan(0, MaxMultiple * SectorSize);
        for (long done = 0; done < sectors;)
        {
            int n = (int)Math.Min(MaxMultiple, sectors - done);
            try
            {
                Disk.Read((lba + done) * SectorSize, scratch[..(n * SectorSize)]);
            }
            catch (Exception e) when (e is BlockDeviceException or IOException)
            {
                IoFailure(e, lba + done);
                return;
            }
            done += n;
        }
        SetAddress(lba + sectors - 1);
        SetCount(0);
        Complete();
    }

    void Seek()
    {
        if (!DecodeRange(Addressing28(), out _, out _)) return;
        Complete();
    }

    void StartBuffer(Transfer kind)
    {
        transfer = kind;
        bufPos = 0;
        bufLen = SectorSize;
        status = StatusDrdy | StatusDsc | StatusDrq;
        if (kind == Transfer.ReadBuffer) RaiseInterrupt();
    }

    void SetMultiple()
    {
        int n = count;
        if (n == 0 || (n <= MaxMultiple && (n & (n - 1)) == 0))
        {
            multiple = n;
            Complete();
        }
        else Abort(ErrorAbrt);
    }

    void SetFeatures()
    {
        switch (features)
        {
            case 0x02: WriteCacheEnabled = true; Complete(); break;
            case 0x82: WriteCacheEnabled = false; Complete(); break;
            case 0x03:
                // Transfer mode in Sector Count: 00h/01h PIO default, 08h+n PIO flow-control mode n (0–4).
                // DMA modes (20h+n multiword, 40h+n Ultra) are refused: no DMA engine.
                if (count is 0x00 or 0x01 || (count >= 0x08 && count <= 0x0C)) Complete();
                else Abort(ErrorAbrt);
                break;
            case 0x55 or 0xAA or 0x66 or 0xCC: Complete(); break;   // read look-ahead, revert to defaults
            default: Abort(ErrorAbrt); break;
        }
    }

    void InitializeDeviceParameters()
    {
        int heads = (device & 0x0F) + 1, sectors = count;
        if (sectors == 0)
        {
            chsValid = false;
            Abort(ErrorAbrt);
            return;
        }
        curHeads = heads;
        curSectors = sectors;
        curCylinders = (int)Math.Min(65535, Math.Min(TotalSectors, MaxChsSectors) / (heads * sectors));
        chsValid = true;
        Complete();
    }

    void FlushCache()
    {
        try
        {
            Disk.Flush();
        }
        catch (Exception e) when (e is BlockDeviceException or IOException)
        {
            LastIoError = e;
            Abort(ErrorUnc);
            return;
        }
        Complete();
    }

    void Identify()
    {
        var words = IdentifyData();
        for (int i = 0; i < 256; i++) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(i * 2), words[i]);
        transfer = Transfer.Identify;
        bufPos = 0;
        bufLen = SectorSize;
        status = StatusDrdy | StatusDsc | StatusDrq;
        RaiseInterrupt();
    }

    /// <summary>Writes <paramref name="lba"/> back into the address registers in the command's addressing mode.</summary>
    void SetAddress(long lba)
    {
        switch (addressing)
        {
            case Addressing.Lba48:
                lbaLow = (byte)lba; lbaMid = (byte)(lba >> 8); lbaHigh = (byte)(lba >> 16);
                lbaLowPrev = (byte)(lba >> 24); lbaMidPrev = (byte)(lba >> 32); lbaHighPrev = (byte)(lba >> 40);
                break;
            case Addressing.Lba28:
                lbaLow = (byte)lba; lbaMid = (byte)(lba >> 8); lbaHigh = (byte)(lba >> 16);
                device = (byte)(device & 0xF0 | (int)(lba >> 24) & 0x0F);
                break;
            default:
                int perCylinder = curHeads * curSectors;
                long cyl = lba / perCylinder;
                int head = (int)(lba / curSectors % curHeads), sector = (int)(lba % curSectors) + 1;
                lbaLow = (byte)sector; lbaMid = (byte)cyl; lbaHigh = (byte)(cyl >> 8);
                device = (byte)(device & 0xF0 | head);
                break;
        }
    }

    void SetCount(long sectors)
    {
        count = (byte)sectors;
        if (addressing == Addressing.Lba48) countPrev = (byte)(sectors >> 8);
    }

    // ---- IDENTIFY DEVICE -----------------------------------------------------------------------------------------

    /// <summary>The 256-word IDENTIFY DEVICE block as the drive currently answers it (ATA-6 table 27).</summary>
    public ushort[] IdentifyData()
    {
        var w = new ushort[256];
        long lba28 = Math.Min(TotalSectors, Register28Limit - 1);
        w[0] = 0x0040;                                   // ATA device, fixed (not removable)
        w[1] = (ushort)Cylinders;
        w[3] = (ushort)Heads;
        w[6] = (ushort)SectorsPerTrack;
        PutString(w, 10, 20, Serial);
        PutString(w, 23, 8, Firmware);
        PutString(w, 27, 40, Model);
        w[47] = 0x8000 | MaxMultiple;                    // bits 15:8 = 80h, maximum sectors per READ/WRITE MULTIPLE
        w[49] = 0x0E00;                                  // LBA, IORDY supported and can be disabled; no DMA
        w[50] = 0x4000;
        w[51] = 0x0200;                                  // obsolete PIO timing mode 2
        w[53] = 0x0003;                                  // words 54–58 and 64–70 valid (no word 88: no Ultra DMA)
        if (chsValid)
        {
            w[54] = (ushort)curCylinders;
            w[55] = (ushort)curHeads;
            w[56] = (ushort)curSectors;
            uint chsCapacity = (uint)Math.Min((long)curCylinders * curHeads * curSectors, TotalSectors);
            w[57] = (ushort)chsCapacity;
            w[58] = (ushort)(chsCapacity >> 16);
        }
        if (multiple != 0) w[59] = (ushort)(0x0100 | multiple);
        w[60] = (ushort)lba28;
        w[61] = (ushort)(lba28 >> 16);
        w[64] = 0x0003;                                  // PIO modes 3 and 4
        w[65] = w[66] = w[67] = w[68] = 120;             // cycle times (ns)
        w[80] = 0x0078;                                  // ATA-3 .. ATA/ATAPI-6
        w[82] = 0x0020;                                  // write cache
        w[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400;       // FLUSH CACHE EXT, FLUSH CACHE, 48-bit Address
        w[84] = 0x4000;
        w[85] = (ushort)(WriteCacheEnabled ? 0x0020 : 0);
        w[86] = 0x2000 | 0x1000 | 0x0400;
        w[87] = 0x4000;
        w[100] = (ushort)TotalSectors;
        w[101] = (ushort)(TotalSectors >> 16);
        w[102] = (ushort)(TotalSectors >> 32);
        w[103] = (ushort)(TotalSectors >> 48);
        // Word 255: signature A5h in the low byte, and a high byte making the sum of all 512 bytes zero mod 256.
        w[255] = 0x00A5;
        int sum = 0;
        foreach (ushort v in w) sum += (v & 0xFF) + (v >> 8);
        w[255] |= (ushort)(((256 - (sum & 0xFF)) & 0xFF) << 8);
        return w;
    }

    /// <summary>ATA strings: space padded, two characters per word with the first in the high byte.</summary>
    internal static void PutString(ushort[] w, int first, int chars, string text)
    {
        for (int i = 0; i < chars; i += 2)
        {
            int hi = i < text.Length ? text[i] & 0x7F : ' ';
            int lo = i + 1 < text.Length ? text[i + 1] & 0x7F : ' ';
            w[first + i / 2] = (ushort)(hi << 8 | lo);
        }
    }

    // ---------------------------------------------------------------- snapshots

    private protected override void SaveDeviceState(Core.State.StateWriter w)
    {
        foreach (byte b in (ReadOnlySpan<byte>)[features, featuresPrev, count, countPrev, lbaLow, lbaLowPrev, lbaMid, lbaMidPrev,
                     lbaHigh, lbaHighPrev, device, status, error])
            w.WriteByte(b);
        w.WriteByte((byte)multiple);
        w.WriteByte((byte)curHeads);
        w.WriteByte((byte)curSectors);
        w.WriteUInt16((ushort)curCylinders);
        w.WriteBool(chsValid);
        w.WriteBool(WriteCacheEnabled);
        w.WriteCompressed(buffer);
        w.WriteByte((byte)transfer);
        w.WriteByte((byte)addressing);
        w.WriteInt32(bufPos);
        w.WriteInt32(bufLen);
        w.WriteInt32(blockSectors);
        w.WriteInt64(nextLba);
        w.WriteInt64(remaining);
        w.WriteBool(inReset);
    }

    private protected override void LoadDeviceState(Core.State.StateReader r)
    {
        features = r.ReadByte("features");
        featuresPrev = r.ReadByte("features (previous)");
        count = r.ReadByte("sector count");
        countPrev = r.ReadByte("sector count (previous)");
        lbaLow = r.ReadByte("lba low");
        lbaLowPrev = r.ReadByte("lba low (previous)");
        lbaMid = r.ReadByte("lba mid");
        lbaMidPrev = r.ReadByte("lba mid (previous)");
        lbaHigh = r.ReadByte("lba high");
        lbaHighPrev = r.ReadByte("lba high (previous)");
        device = r.ReadByte("device");
        status = r.ReadByte("status");
        error = r.ReadByte("error");
        multiple = r.ReadByte("multiple count", 0, MaxMultiple);
        curHeads = r.ReadByte("current heads", 1, 16);
        curSectors = r.ReadByte("current sectors per track", 1, 255);
        curCylinders = r.ReadUInt16("current cylinders");
        chsValid = r.ReadBool("chs valid");
        WriteCacheEnabled = r.ReadBool("write cache");
        r.ReadCompressed("buffer", buffer);
        transfer = r.ReadEnum<Transfer>("transfer");
        addressing = r.ReadEnum<Addressing>("addressing");
        // The buffer holds whole sectors; the data port moves words inside it (the position passes the length once a
        // block is done).
        bufPos = r.ReadInt32("buffer position", 0, buffer.Length);
        if ((bufPos & 1) != 0) throw r.Invalid("buffer position", "must be even");
        bufLen = r.ReadInt32("buffer length", 0, buffer.Length);
        if (bufLen % SectorSize != 0) throw r.Invalid("buffer length", "not a whole number of sectors");
        blockSectors = r.ReadInt32("block sectors", 0, MaxMultiple);
        nextLba = r.ReadInt64("next lba", 0, 1L << 49);
        remaining = r.ReadInt64("sectors remaining", 0, 1L << 16);
        inReset = r.ReadBool("in reset");
        LastIoError = null;
    }
}
