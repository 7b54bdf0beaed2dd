using System.Buffers.Binary;
using JitVm.Core.Storage;

namespace JitVm.Devices.Ata;

/// <summary>
/// An ATAPI CD-ROM drive (ATA/ATAPI-6 PACKET command feature set, SFF-8020i / MMC command set) on an
/// <see cref="AtaChannel"/>, reading 2048-byte sectors from an <see cref="IBlockDevice"/> disc image.
/// </summary>
/// <remarks>
/// <para>Reset (power-on, SRST, DEVICE RESET, EXECUTE DEVICE DIAGNOSTIC) leaves the PACKET signature: Sector Count 1,
/// LBA Low 1, LBA Mid 14h, LBA High EBh, Error 01h, and Status 00h (a packet device clears DRDY at reset). IDENTIFY
/// DEVICE is aborted with that signature in the registers so the host recognises the device; IDENTIFY PACKET DEVICE
/// returns the 512-byte packet identify block.</para>
/// <para>PACKET protocol (PIO, no DMA, no overlap): after the PACKET command the device sets DRQ with the interrupt
/// reason (Sector Count) CoD=1 IO=0 and no interrupt (IDENTIFY word 0 bits 6:5 = 10b, DRQ within 50 µs). When the
/// 12-byte packet has been written the command executes synchronously. A data-in phase is sent in DRQ blocks whose
/// size is the byte count limit the host had written to LBA Mid/High before the PACKET command (0 taken as FFFEh,
/// rounded down to even unless it is the last block); for each block the device writes its byte count into LBA
/// Mid/High, sets interrupt reason CoD=0 IO=1, DRQ, and asserts INTRQ. Completion: Status DRDY|DSC (50h; bit 4 is
/// SERV in ATA-6, set here as legacy drives do and as SeaBIOS and Linux accept), interrupt reason CoD=1 IO=1, INTRQ.
/// CHECK CONDITION: Status DRDY|DSC|CHK(ERR), Error = sense key &lt;&lt; 4, sense data kept for REQUEST SENSE.</para>
/// <para>UNIT ATTENTION (06/28/00, "not ready to ready change, medium may have changed") is reported once after a
/// disc becomes available (power-on with a disc, <see cref="InsertMedia"/>, tray closed by START STOP UNIT) by the
/// first command other than INQUIRY, REQUEST SENSE and GET CONFIGURATION.</para>
/// </remarks>
public sealed class AtapiDrive : IdeDevice
{
    /// <summary>Bytes per CD-ROM (mode 1) sector.</summary>
    public const int SectorSize = 2048;

    const byte StatusBsy = 0x80, StatusDrdy = 0x40, StatusDsc = 0x10, StatusDrq = 0x08, StatusErr = 0x01;
    const byte ErrorAbrt = 0x04;
    const byte ReasonCoD = 0x01, ReasonIo = 0x02;
    const int PacketBytes = 12;
    const int MaxBlock = 0xFFFE;

    // SCSI sense keys.
    const byte SenseNone = 0x0, SenseNotReady = 0x2, SenseMediumError = 0x3, SenseIllegalRequest = 0x5,
        SenseUnitAttention = 0x6;

    enum Phase { None, Identify, Packet, DataIn }

    IBlockDevice? media;
    bool trayOpen, locked, unitAttention, inReset;

    byte features, count, lbaLow, lbaMid, lbaHigh, device, status, error;
    byte senseKey, asc, ascq;

    Phase phase;
    readonly byte[] packet = new byte[PacketBytes];
    int packetPos;

    // Data-in: the current DRQ block, and where the rest comes from (a prepared reply or the disc).
    readonly byte[] block = new byte[MaxBlock + 2];
    int blockPos, blockLen, byteLimit;
    byte[] reply = [];
    int replyPos;
    bool fromMedia;
    long mediaPos, remaining;
    readonly byte[] sectorBuf = new byte[SectorSize];
    long cachedSector = -1;

    /// <summary>Creates a drive holding <paramref name="media"/> (null: no disc).</summary>
    /// <param name="media">Disc image; its length must be a multiple of 2048 bytes.</param>
    /// <param name="model">Model number (up to 40 ASCII characters; also the INQUIRY product, 16 characters).</param>
    /// <param name="serial">Serial number (up to 20 ASCII characters).</param>
    /// <param name="firmware">Firmware revision (up to 8 ASCII characters; INQUIRY revision, 4 characters).</param>
    public AtapiDrive(IBlockDevice? media, string model = "JitVm CD-ROM", string serial = "JVCD00000001", string firmware = "1.0")
    {
        CheckMedia(media);
        this.media = media;
        Model = model;
        Serial = serial;
        Firmware = firmware;
        PowerOn();
    }

    /// <summary>Model number reported by IDENTIFY PACKET DEVICE.</summary>
    public string Model { get; }

    /// <summary>Serial number reported by IDENTIFY PACKET DEVICE.</summary>
    public string Serial { get; }

    /// <summary>Firmware revision reported by IDENTIFY PACKET DEVICE.</summary>
    public string Firmware { get; }

    /// <summary>The disc in the drive (null when empty), whether or not the tray is open.</summary>
    public IBlockDevice? Media => media;

    /// <summary>The guest opened the tray (START STOP UNIT with LoEj); the disc is not readable until it is closed
    /// or a disc is inserted.</summary>
    public bool TrayOpen => trayOpen;

    /// <summary>The guest prevents medium removal (PREVENT ALLOW MEDIUM REMOVAL).</summary>
    public bool Locked => locked;

    /// <summary>The last block-device error reported to the guest as MEDIUM ERROR, for diagnostics.</summary>
    public Exception? LastIoError { get; private set; }

    /// <summary>Puts <paramref name="disc"/> in the drive and closes the tray (null: empty drive). A disc arriving
    /// makes the drive report UNIT ATTENTION once.</summary>
    public void InsertMedia(IBlockDevice? disc)
    {
        CheckMedia(disc);
        media = disc;
        trayOpen = false;
        cachedSector = -1;
        unitAttention = disc is not null;
    }

    /// <summary>Removes the disc (the drive becomes empty; reads report NOT READY, medium not present).</summary>
    public void Eject() => InsertMedia(null);

    static void CheckMedia(IBlockDevice? disc)
    {
        if (disc is not null && disc.Length % SectorSize != 0)
            throw new ArgumentException("a CD-ROM image must be a multiple of 2048 bytes long", nameof(disc));
    }

    bool MediaPresent => media is not null && !trayOpen;

    long Capacity => media is null ? 0 : media.Length / SectorSize;

    // ---- Reset and register file ---------------------------------------------------------------------------------

    internal override void PowerOn()
    {
        inReset = false;
        trayOpen = false;
        locked = false;
        features = 0;
        SetSense(SenseNone, 0, 0);
        unitAttention = media is not null;
        cachedSector = -1;
        Signature();
        device = 0;
    }

    internal override void EnterSoftReset()
    {
        inReset = true;
        phase = Phase.None;
        InterruptPending = false;
        status = StatusBsy;
    }

    internal override void LeaveSoftReset()
    {
        inReset = false;
        Signature();
        device = 0;
    }

    /// <summary>The PACKET feature set signature (ATA-6 9.12): Status 00h, Error 01h (diagnostic passed).</summary>
    void Signature()
    {
        phase = Phase.None;
        blockPos = blockLen = 0;
        count = 1;
        lbaLow = 1;
        lbaMid = 0x14;
        lbaHigh = 0xEB;
        device &= 0x10;
        error = 0x01;
        status = 0;
        InterruptPending = false;
    }

    internal override void WriteRegister(int reg, byte value)
    {
        if (inReset) return;
        switch (reg)
        {
            case 1: features = value; break;
            case 2: count = value; break;
            case 3: lbaLow = value; break;
            case 4: lbaMid = value; break;
            case 5: lbaHigh = value; break;
            case 6: device = value; break;
        }
    }

    internal override byte ReadRegister(int reg, bool hob)
    {
        // No 48-bit registers: HOB reads the same values. While BSY every register reads as Status.
        if ((status & StatusBsy) != 0) return status;
        return reg switch
        {
            1 => error,
            2 => count,
            3 => lbaLow,
            4 => lbaMid,
            5 => lbaHigh,
            6 => device,
            _ => status,
        };
    }

    internal override byte Status => status;

    // ---- Data register -------------------------------------------------------------------------------------------

    internal override ushort ReadData()
    {
        if ((status & StatusDrq) == 0 || phase is not (Phase.Identify or Phase.DataIn) || blockPos >= blockLen)
            return 0xFFFF;
        ushort w = BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(blockPos));
        blockPos += 2;
        if (blockPos >= blockLen)
        {
            if (phase == Phase.Identify)
            {
                // PIO data-in (ATA protocol): no interrupt after the last block.
                phase = Phase.None;
                status = StatusDrdy | StatusDsc;
            }
            else if (remaining > 0) SendBlock();
            else Complete();
        }
        return w;
    }

    internal override void WriteData(ushort value)
    {
        if ((status & StatusDrq) == 0 || phase != Phase.Packet || packetPos >= PacketBytes) return;
        packet[packetPos++] = (byte)value;
        packet[packetPos++] = (byte)(value >> 8);
        if (packetPos >= PacketBytes) ExecutePacket();
    }

    // ---- ATA commands --------------------------------------------------------------------------------------------

    internal override void Command(byte command)
    {
        if (inReset) return;
        if (command == 0x08)
        {
            // DEVICE RESET: accepted in any state; the signature, no interrupt (ATA-6 device reset protocol).
            Signature();
            channel?.UpdateIrq();
            return;
        }
        InterruptPending = false;
        channel?.UpdateIrq();
        phase = Phase.None;
        error = 0;
        status = StatusDrdy | StatusDsc;
        switch (command)
        {
            case 0xA1: IdentifyPacket(); break;
            case 0xA0: StartPacket(); break;
            case 0xEF: SetFeatures(); break;
            case 0xE0 or 0xE1 or 0xE2 or 0xE3 or 0x94 or 0x95 or 0x96 or 0x97:   // STANDBY/IDLE (IMMEDIATE)
                CompleteAta();
                break;
            case 0xE5 or 0x98:                                                  // CHECK POWER MODE: active/idle
                count = 0xFF;
                CompleteAta();
                break;
            case 0xEC:
                // IDENTIFY DEVICE: a PACKET device aborts it and shows its signature (ATA-6 8.15).
                count = 1;
                lbaLow = 1;
                lbaMid = 0x14;
                lbaHigh = 0xEB;
                AbortAta();
                break;
            default: AbortAta(); break;                                         // incl. NOP (always aborted)
        }
    }

    internal override void Diagnose(bool interrupt)
    {
        if (inReset) return;
        Signature();
        if (interrupt) RaiseInterrupt();
    }

    void CompleteAta()
    {
        phase = Phase.None;
        status = StatusDrdy | StatusDsc;
        RaiseInterrupt();
    }

    void AbortAta()
    {
        phase = Phase.None;
        error = ErrorAbrt;
        status = StatusDrdy | StatusDsc | StatusErr;
        RaiseInterrupt();
    }

    void SetFeatures()
    {
        switch (features)
        {
            case 0x03:
                // Transfer mode: PIO default or PIO flow-control modes 0–4; DMA modes refused (no DMA).
                if (count is 0x00 or 0x01 || (count >= 0x08 && count <= 0x0C)) CompleteAta();
                else AbortAta();
                break;
            case 0x02 or 0x82 or 0x55 or 0xAA or 0x66 or 0xCC or 0x31 or 0x95: CompleteAta(); break;
            default: AbortAta(); break;
        }
    }

    void IdentifyPacket()
    {
        var w = IdentifyData();
        for (int i = 0; i < 256; i++) BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(i * 2), w[i]);
        phase = Phase.Identify;
        blockPos = 0;
        blockLen = 512;
        status = StatusDrdy | StatusDsc | StatusDrq;
        RaiseInterrupt();
    }

    /// <summary>The 256-word IDENTIFY PACKET DEVICE block (ATA/ATAPI-6 table 33).</summary>
    public ushort[] IdentifyData()
    {
        var w = new ushort[256];
        w[0] = 0x85C0;                 // ATAPI, device type 05h (CD-ROM), removable, DRQ within 50 µs, 12-byte packets
        AtaDrive.PutString(w, 10, 20, Serial);
        AtaDrive.PutString(w, 23, 8, Firmware);
        AtaDrive.PutString(w, 27, 40, Model);
        w[49] = 0x0E00;                // IORDY supported and can be disabled, LBA; no DMA, no overlap
        w[51] = 0x0200;                // obsolete PIO timing mode 2
        w[53] = 0x0002;                // words 64–70 valid
        w[64] = 0x0003;                // PIO modes 3 and 4
        w[67] = w[68] = 120;           // PIO cycle times (ns)
        w[80] = 0x0070;                // ATA/ATAPI-4 .. ATA/ATAPI-6
        w[82] = 0x0210;                // DEVICE RESET, PACKET feature set
        w[83] = 0x4000;
        w[84] = 0x4000;
        w[85] = 0x0210;
        w[87] = 0x4000;
        w[255] = 0x00A5;
        int sum = 0;
        foreach (ushort v in w) sum += (v & 0xFF) + (v >> 8);
        w[255] |= (ushort)(((256 - (sum & 0xFF)) & 0xFF) << 8);
        return w;
    }

    // ---- PACKET protocol -----------------------------------------------------------------------------------------

    void StartPacket()
    {
        if ((features & 0x01) != 0)
        {
            // DMA requested: this device has no DMA.
            AbortAta();
            count = ReasonCoD | ReasonIo;
            return;
        }
        int limit = lbaMid | lbaHigh << 8;
        if (limit is 0 or 0xFFFF) limit = MaxBlock;
        byteLimit = limit;
        packetPos = 0;
        phase = Phase.Packet;
        count = ReasonCoD;
        status = StatusDrdy | StatusDsc | StatusDrq;
    }

    /// <summary>Sends the next DRQ block of the data-in phase (reading the disc as needed).</summary>
    void SendBlock()
    {
        int n = remaining <= byteLimit ? (int)remaining : Math.Max(2, byteLimit & ~1);
        if (fromMedia)
        {
            for (int done = 0; done < n;)
            {
                long sector = mediaPos / SectorSize;
                int offset = (int)(mediaPos % SectorSize);
                if (sector != cachedSector)
                {
                    try
                    {
                        media!.Read(sector * SectorSize, sectorBuf);
                    }
                    catch (Exception e) when (e is BlockDeviceException or IOException)
                    {
                        LastIoError = e;
                        cachedSector = -1;
                        CheckCondition(SenseMediumError, 0x11, 0x00);   // unrecovered read error
                        return;
                    }
                    cachedSector = sector;
                }
                int take = Math.Min(n - done, SectorSize - offset);
                sectorBuf.AsSpan(offset, take).CopyTo(block.AsSpan(done));
                done += take;
                mediaPos += take;
            }
        }
        else
        {
            reply.AsSpan(replyPos, n).CopyTo(block);
            replyPos += n;
        }
        block[n] = 0;   // pad byte of an odd-length block
        remaining -= n;
        blockPos = 0;
        blockLen = n;
        phase = Phase.DataIn;
        lbaMid = (byte)n;
        lbaHigh = (byte)(n >> 8);
        count = ReasonIo;
        status = StatusDrdy | StatusDsc | StatusDrq;
        RaiseInterrupt();
    }

    /// <summary>Command completed: CoD=1 IO=1, DRDY, INTRQ.</summary>
    void Complete()
    {
        phase = Phase.None;
        count = ReasonCoD | ReasonIo;
        status = StatusDrdy | StatusDsc;
        RaiseInterrupt();
    }

    /// <summary>CHECK CONDITION: sense data kept, Error = sense key in bits 7:4, CHK (ERR) in Status.</summary>
    void CheckCondition(byte key, byte code, byte qualifier)
    {
        SetSense(key, code, qualifier);
        phase = Phase.None;
        remaining = 0;
        error = (byte)(key << 4);
        count = ReasonCoD | ReasonIo;
        status = StatusDrdy | StatusDsc | StatusErr;
        RaiseInterrupt();
    }

    void SetSense(byte key, byte code, byte qualifier)
    {
        senseKey = key;
        asc = code;
        ascq = qualifier;
    }

    /// <summary>Starts the data-in phase with <paramref name="data"/> cut to <paramref name="allocation"/> bytes.</summary>
    void Reply(byte[] data, int allocation)
    {
        int n = Math.Min(data.Length, allocation);
        if (n == 0)
        {
            Complete();
            return;
        }
        reply = data;
        replyPos = 0;
        fromMedia = false;
        remaining = n;
        SendBlock();
    }

    static int Be16(ReadOnlySpan<byte> p, int at) => p[at] << 8 | p[at + 1];
    static long Be32(ReadOnlySpan<byte> p, int at) => (uint)(p[at] << 24 | p[at + 1] << 16 | p[at + 2] << 8 | p[at + 3]);

    bool NeedMedia()
    {
        if (MediaPresent) return true;
        CheckCondition(SenseNotReady, 0x3A, 0x00);   // medium not present
        return false;
    }

    void IllegalRequest(byte code) => CheckCondition(SenseIllegalRequest, code, 0x00);

    void ExecutePacket()
    {
        byte op = packet[0];
        status = StatusDrdy | StatusDsc;
        error = 0;
        remaining = 0;
        if (op != 0x03) SetSense(SenseNone, 0, 0);   // sense data lasts until the next command
        if (unitAttention && op is not (0x03 or 0x12 or 0x46))
        {
            unitAttention = false;
            CheckCondition(SenseUnitAttention, 0x28, 0x00);
            return;
        }
        switch (op)
        {
            case 0x00: if (NeedMedia()) Complete(); break;                        // TEST UNIT READY
            case 0x03: RequestSense(); break;
            case 0x12: Inquiry(); break;
            case 0x1B: StartStopUnit(); break;
            case 0x1E: locked = (packet[4] & 0x01) != 0; Complete(); break;         // PREVENT ALLOW MEDIUM REMOVAL
            case 0x25: ReadCapacity(); break;
            case 0x28: Read(Be32(packet, 2), Be16(packet, 7)); break;               // READ(10)
            case 0xA8: Read(Be32(packet, 2), Be32(packet, 6)); break;               // READ(12)
            case 0x2B: Seek(Be32(packet, 2)); break;                                // SEEK(10)
            case 0x43: ReadToc(); break;
            case 0x46: GetConfiguration(); break;
            case 0x51: ReadDiscInformation(); break;
            case 0x5A: ModeSense(); break;
            default: IllegalRequest(0x20); break;                                   // invalid command operation code
        }
    }

    void RequestSense()
    {
        if (senseKey == SenseNone && unitAttention)
        {
            unitAttention = false;
            SetSense(SenseUnitAttention, 0x28, 0x00);
        }
        var d = new byte[18];
        d[0] = 0x70;            // current error, fixed format
        d[2] = senseKey;
        d[7] = 10;              // additional sense length
        d[12] = asc;
        d[13] = ascq;
        SetSense(SenseNone, 0, 0);
        Reply(d, packet[4]);
    }

    void Inquiry()
    {
        if ((packet[1] & 0x01) != 0 || packet[2] != 0)
        {
            IllegalRequest(0x24);   // no vital product data pages
            return;
        }
        var d = new byte[36];
        d[0] = 0x05;            // CD/DVD device
        d[1] = 0x80;            // removable medium
        d[2] = 0x00;
        d[3] = 0x21;            // ATAPI version 2, response data format 1 (SFF-8020i)
        d[4] = 31;              // additional length
        PutAscii(d, 8, 8, "JitVm");
        PutAscii(d, 16, 16, Model);
        PutAscii(d, 32, 4, Firmware);
        Reply(d, Be16(packet, 3));
    }

    static void PutAscii(byte[] d, int at, int length, string text)
    {
        for (int i = 0; i < length; i++) d[at + i] = i < text.Length ? (byte)(text[i] & 0x7F) : (byte)' ';
    }

    void StartStopUnit()
    {
        bool loadEject = (packet[4] & 0x02) != 0, start = (packet[4] & 0x01) != 0;
        if (loadEject)
        {
            if (start)
            {
                if (trayOpen)
                {
                    trayOpen = false;
                    unitAttention = media is not null;
                }
            }
            else
            {
                if (locked)
                {
                    CheckCondition(SenseIllegalRequest, 0x53, 0x02);   // medium removal prevented
                    return;
                }
                trayOpen = true;
            }
        }
        Complete();
    }

    void ReadCapacity()
    {
        if (!NeedMedia()) return;
        var d = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(d, (uint)Math.Max(0, Capacity - 1));
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(4), SectorSize);
        Reply(d, d.Length);
    }

    void Read(long lba, long sectors)
    {
        if (!NeedMedia()) return;
        if (lba + sectors > Capacity)
        {
            IllegalRequest(0x21);   // logical block address out of range
            return;
        }
        if (sectors == 0)
        {
            Complete();
            return;
        }
        fromMedia = true;
        mediaPos = lba * SectorSize;
        remaining = sectors * SectorSize;
        SendBlock();
    }

    void Seek(long lba)
    {
        if (!NeedMedia()) return;
        if (lba >= Capacity) IllegalRequest(0x21);
        else Complete();
    }

    /// <summary>Writes a track start address as an LBA or as MSF (LBA + 150 frames, 00h M S F).</summary>
    static void PutAddress(byte[] d, int at, long lba, bool msf)
    {
        if (!msf)
        {
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(at), (uint)lba);
            return;
        }
        long frames = lba + 150;
        d[at] = 0;
        d[at + 1] = (byte)(frames / (60 * 75));
        d[at + 2] = (byte)(frames / 75 % 60);
        d[at + 3] = (byte)(frames % 75);
    }

    void ReadToc()
    {
        if (!NeedMedia()) return;
        bool msf = (packet[1] & 0x02) != 0;
        int format = packet[2] & 0x0F;
        if (format == 0) format = packet[9] >> 6;   // SFF-8020i placed the format in byte 9 bits 7:6
        int startTrack = packet[6], allocation = Be16(packet, 7);
        byte[] d;
        switch (format)
        {
            case 0:
                if (startTrack > 1 && startTrack != 0xAA)
                {
                    IllegalRequest(0x24);
                    return;
                }
                bool withTrack1 = startTrack <= 1;
                d = new byte[4 + 8 * (withTrack1 ? 2 : 1)];
                int at = 4;
                if (withTrack1)
                {
                    d[at + 1] = 0x14;   // ADR 1, control 4: data track
                    d[at + 2] = 1;
                    PutAddress(d, at + 4, 0, msf);
                    at += 8;
                }
                d[at + 1] = 0x14;
                d[at + 2] = 0xAA;       // lead-out
                PutAddress(d, at + 4, Capacity, msf);
                break;
            case 1:                     // session information: one session starting at track 1
                d = new byte[12];
                d[5] = 0x14;
                d[6] = 1;
                PutAddress(d, 8, 0, msf);
                break;
            default:
                IllegalRequest(0x24);
                return;
        }
        BinaryPrimitives.WriteUInt16BigEndian(d, (ushort)(d.Length - 2));
        d[2] = 1;                       // first track / session
        d[3] = 1;                       // last track / session
        Reply(d, allocation);
    }

    void GetConfiguration()
    {
        int requestType = packet[1] & 0x03, start = Be16(packet, 2);
        if (requestType == 3)
        {
            IllegalRequest(0x24);
            return;
        }
        bool present = MediaPresent;
        var features = new List<(int Code, bool Current, byte[] Bytes)>
        {
            // Profile List: CD-ROM (0008h), current when a disc is present.
            (0x0000, true, [0x00, 0x00, 0x03, 0x04, 0x00, 0x08, (byte)(present ? 1 : 0), 0x00]),
            // Core: physical interface ATAPI (00000002h).
            (0x0001, true, [0x00, 0x01, 0x03, 0x04, 0x00, 0x00, 0x00, 0x02]),
            // Removable Medium: tray loading, eject, lock.
            (0x0003, true, [0x00, 0x03, 0x03, 0x04, 0x29, 0x00, 0x00, 0x00]),
            // Random Readable: 2048-byte blocks, blocking 1.
            (0x0010, present, [0x00, 0x10, (byte)(present ? 1 : 0), 0x08, 0x00, 0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00]),
        };
        var d = new List<byte>(new byte[8]);
        foreach (var (code, current, bytes) in features)
        {
            bool take = requestType switch
            {
                0 => code >= start,
                1 => code >= start && current,
                _ => code == start,
            };
            if (take) d.AddRange(bytes);
        }
        var data = d.ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(data.Length - 4));
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6), (ushort)(present ? 0x0008 : 0));
        Reply(data, Be16(packet, 7));
    }

    void ReadDiscInformation()
    {
        if (!NeedMedia()) return;
        var d = new byte[34];
        d[1] = 32;                      // disc information length
        d[2] = 0x0E;                    // last session complete, disc complete
        d[3] = 1;                       // first track
        d[4] = 1;                       // sessions
        d[5] = 1;                       // first track in last session
        d[6] = 1;                       // last track in last session
        d[8] = 0x00;                    // CD-DA or CD-ROM disc
        d.AsSpan(16, 8).Fill(0xFF);     // no next session: lead-in / lead-out start unspecified
        Reply(d, Be16(packet, 7));
    }

    void ModeSense()
    {
        int control = packet[2] >> 6, page = packet[2] & 0x3F;
        if (control == 3)
        {
            CheckCondition(SenseIllegalRequest, 0x39, 0x00);   // saving parameters not supported
            return;
        }
        bool changeable = control == 1;
        var d = new List<byte>(new byte[8]);
        if (page is 0x01 or 0x3F)
            d.AddRange(changeable ? [0x01, 0x06, 0, 0, 0, 0, 0, 0] : [0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0]);
        if (page is 0x2A or 0x3F)
        {
            var p = new byte[20];
            p[0] = 0x2A;
            p[1] = 0x12;
            if (!changeable)
            {
                p[4] = 0x00;                                  // no audio play, no multi-session
                p[6] = (byte)(0x29 | (locked ? 0x02 : 0));     // tray, eject, lock (state in bit 1)
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(8), 4224);   // maximum speed 24× (kB/s)
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), 256);   // volume levels
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(12), 512);   // buffer (kB)
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(14), 4224);  // current speed
            }
            d.AddRange(p);
        }
        if (d.Count == 8)
        {
            IllegalRequest(0x24);
            return;
        }
        var data = d.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)(data.Length - 2));
        data[2] = (byte)(MediaPresent ? 0x01 : 0x70);   // medium type: 120 mm CD-ROM data / no disc
        Reply(data, Be16(packet, 7));
    }

    // ---------------------------------------------------------------- snapshots

    private protected override void SaveDeviceState(Core.State.StateWriter w)
    {
        w.WriteBool(media is not null);
        w.WriteBool(trayOpen);
        w.WriteBool(locked);
        w.WriteBool(unitAttention);
        w.WriteBool(inReset);
        foreach (byte b in (ReadOnlySpan<byte>)[features, count, lbaLow, lbaMid, lbaHigh, device, status, error, senseKey, asc, ascq])
            w.WriteByte(b);
        w.WriteByte((byte)phase);
        w.WriteBytes(packet);
        w.WriteInt32(packetPos);
        w.WriteCompressed(block);
        w.WriteInt32(blockPos);
        w.WriteInt32(blockLen);
        w.WriteInt32(byteLimit);
        w.WriteBlob(reply);
        w.WriteInt32(replyPos);
        w.WriteBool(fromMedia);
        w.WriteInt64(mediaPos);
        w.WriteInt64(remaining);
    }

    /// <summary>
    /// Reads what <see cref="SaveDeviceState"/> wrote. A disc the guest ejected stays out; a snapshot with a disc needs
    /// one in this drive (the machine checks it is the same image). The sector cache starts empty.
    /// </summary>
    private protected override void LoadDeviceState(Core.State.StateReader r)
    {
        bool hasMedia = r.ReadBool("has media");
        if (hasMedia && media is null) throw r.Invalid("has media", "the snapshot's CD-ROM drive holds a disc, this one is empty");
        trayOpen = r.ReadBool("tray open");
        locked = r.ReadBool("locked");
        unitAttention = r.ReadBool("unit attention");
        inReset = r.ReadBool("in reset");
        features = r.ReadByte("features");
        count = r.ReadByte("sector count");
        lbaLow = r.ReadByte("lba low");
        lbaMid = r.ReadByte("lba mid");
        lbaHigh = r.ReadByte("lba high");
        device = r.ReadByte("device");
        status = r.ReadByte("status");
        error = r.ReadByte("error");
        senseKey = r.ReadByte("sense key");
        asc = r.ReadByte("asc");
        ascq = r.ReadByte("ascq");
        phase = r.ReadEnum<Phase>("phase");
        r.ReadBytes("packet", packet);
        packetPos = r.ReadInt32("packet position", 0, PacketBytes);
        if ((packetPos & 1) != 0) throw r.Invalid("packet position", "must be even");
        r.ReadCompressed("block", block);
        blockPos = r.ReadInt32("block position", 0, block.Length);
        if ((blockPos & 1) != 0) throw r.Invalid("block position", "must be even");
        blockLen = r.ReadInt32("block length", 0, MaxBlock);
        byteLimit = r.ReadInt32("byte limit", 0, MaxBlock);
        reply = r.ReadBlob("reply", 1 << 20);
        replyPos = r.ReadInt32("reply position", 0, reply.Length);
        fromMedia = r.ReadBool("from media");
        mediaPos = r.ReadInt64("media position", 0, 1L << 48);
        remaining = r.ReadInt64("bytes remaining", 0, 1L << 48);
        if (!fromMedia && remaining > reply.Length - replyPos) throw r.Invalid("bytes remaining", "runs past the end of the prepared reply");
        if (fromMedia && remaining > 0 && !hasMedia) throw r.Invalid("bytes remaining", "a transfer from the disc with no disc in the drive");
        if (!hasMedia) media = null;
        cachedSector = -1;
        LastIoError = null;
    }
}
