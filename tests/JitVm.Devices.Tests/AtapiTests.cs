using JitVm.Core;
using JitVm.Core.Storage;
using JitVm.Devices.Ata;

namespace JitVm.Devices.Tests;

public class AtapiTests
{
    const byte Drdy = 0x40, Dsc = 0x10, Drq = 0x08, Err = 0x01;
    const byte Done = Drdy | Dsc, DataReady = Drdy | Dsc | Drq, Check = Drdy | Dsc | Err;
    const int Sectors = 8;

    sealed class IrqRecorder : IIrqLines
    {
        public bool High;
        public int Raises;

        public void SetIrq(int irq, bool high)
        {
            Assert.Equal(15, irq);
            if (high && !High) Raises++;
            High = high;
        }
    }

    static byte Pattern(long lba, int i) => i < 4 ? (byte)(lba >> (8 * i)) : (byte)(lba * 7 + i);

    static MemoryBlockDevice Disc()
    {
        var b = new byte[Sectors * 2048];
        for (int s = 0; s < Sectors; s++)
            for (int i = 0; i < 2048; i++) b[s * 2048 + i] = Pattern(s, i);
        return new MemoryBlockDevice(b, readOnly: true);
    }

    /// <summary>Secondary channel with a CD-ROM as master (or slave behind a hard disk).</summary>
    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly IrqRecorder Irq = new();
        public readonly AtaChannel Channel;
        public readonly AtapiDrive Cd;
        public readonly int Dev;

        public Rig(bool withDisc = true, bool slave = false)
        {
            Channel = new AtaChannel(Irq, 15);
            Channel.Attach(Io, 0x170, 0x376);
            Cd = new AtapiDrive(withDisc ? Disc() : null, "JitVm TEST CD");
            if (slave) Channel.AttachDrive(0, new AtaDrive(new MemoryBlockDevice(1024 * 1024), "HD"));
            Channel.AttachCdrom(slave ? 1 : 0, Cd);
            Dev = slave ? 0xB0 : 0xA0;
            Out(6, Dev);
        }

        public void Out(int reg, int v) => Io.Out((ushort)(0x170 + reg), 1, (uint)v);
        public byte In(int reg) => (byte)Io.In((ushort)(0x170 + reg), 1);
        public byte Status() => In(7);
        public byte AltStatus() => (byte)Io.In(0x376, 1);
        public ushort ReadWord() => (ushort)Io.In(0x170, 2);
        public int ByteCount => In(4) | In(5) << 8;

        /// <summary>Issues PACKET with <paramref name="limit"/> and writes the 12-byte packet (as SeaBIOS does).</summary>
        public void Packet(int limit, params byte[] cdb)
        {
            Out(6, Dev);
            Out(1, 0);
            Out(4, limit & 0xFF);
            Out(5, limit >> 8);
            Out(7, 0xA0);
            Assert.Equal(DataReady, AltStatus());
            Assert.Equal(1, In(2));                       // CoD=1 IO=0: the device wants the packet
            var p = new byte[12];
            cdb.CopyTo(p, 0);
            for (int i = 0; i < 12; i += 2) Io.Out(0x170, 2, (uint)(p[i] | p[i + 1] << 8));
        }

        /// <summary>Reads the whole data-in phase (bounded) and checks the completion; returns the bytes.</summary>
        public byte[] DataIn(int limit, params byte[] cdb)
        {
            Packet(limit, cdb);
            var data = new List<byte>();
            for (int block = 0; block < 64 && (AltStatus() & Drq) != 0; block++)
            {
                Assert.Equal(2, In(2));                   // CoD=0 IO=1
                Status();
                int n = ByteCount;
                for (int i = 0; i < n; i += 2)
                {
                    ushort w = ReadWord();
                    data.Add((byte)w);
                    if (i + 1 < n) data.Add((byte)(w >> 8));
                }
            }
            Assert.Equal(Done, Status());
            Assert.Equal(3, In(2));                       // CoD=1 IO=1: completion
            return data.ToArray();
        }

        /// <summary>Runs a command expected to fail; returns (sense key, ASC, ASCQ) from REQUEST SENSE.</summary>
        public (int Key, int Asc, int Ascq) Fails(params byte[] cdb)
        {
            Packet(0x800, cdb);
            Assert.True(Irq.High);
            Assert.Equal(Check, Status());
            Assert.Equal(3, In(2));
            int errorKey = In(1) >> 4;
            var s = DataIn(0x800, 0x03, 0, 0, 0, 18);
            Assert.Equal(errorKey, s[2] & 0x0F);
            return (s[2] & 0x0F, s[12], s[13]);
        }

        public void ClearUnitAttention() => Assert.Equal((6, 0x28, 0), Fails(0x00));
    }

    static string AtaString(ushort[] w, int first, int words)
    {
        var c = new char[words * 2];
        for (int i = 0; i < words; i++) { c[2 * i] = (char)(w[first + i] >> 8); c[2 * i + 1] = (char)(w[first + i] & 0xFF); }
        return new string(c);
    }

    [Fact]
    public void SoftResetLeavesThePacketSignature()
    {
        var rig = new Rig();
        rig.Out(2, 0x55);
        rig.Out(4, 0);
        Io(rig, 0x04);
        Assert.Equal(0x80, rig.AltStatus());               // BSY while SRST is held
        Io(rig, 0x00);
        Assert.Equal(1, rig.In(2));
        Assert.Equal(1, rig.In(3));
        Assert.Equal(0x14, rig.In(4));
        Assert.Equal(0xEB, rig.In(5));
        Assert.Equal(1, rig.In(1));
        Assert.Equal(0, rig.Status());                     // packet devices clear DRDY at reset

        rig.Out(7, 0x90);                                  // EXECUTE DEVICE DIAGNOSTIC: same signature, interrupt
        Assert.True(rig.Irq.High);
        Assert.Equal(0xEB, rig.In(5));
        Assert.Equal(0x14, rig.In(4));
        Assert.Equal(1, rig.In(1));
    }

    static void Io(Rig rig, int control) => rig.Io.Out(0x376, 1, (uint)control);

    [Fact]
    public void IdentifyDeviceAbortsKeepingTheSignatureAndIdentifyPacketAnswers()
    {
        var rig = new Rig();
        rig.Out(4, 0x12);
        rig.Out(5, 0x34);
        rig.Out(7, 0xEC);
        Assert.True(rig.Irq.High);
        Assert.Equal(Check, rig.Status());
        Assert.Equal(0x04, rig.In(1));                     // ABRT
        Assert.Equal(0x14, rig.In(4));
        Assert.Equal(0xEB, rig.In(5));

        rig.Out(7, 0xA1);
        Assert.True(rig.Irq.High);
        Assert.Equal(DataReady, rig.Status());
        var w = new ushort[256];
        for (int i = 0; i < 256; i++) w[i] = rig.ReadWord();
        Assert.Equal(Done, rig.Status());
        Assert.Equal(0x85C0, w[0]);
        Assert.Equal("JitVm TEST CD".PadRight(40), AtaString(w, 27, 20));
        Assert.Equal(0x0200, w[49] & 0x0300);              // LBA, no DMA
        int sum = 0;
        foreach (var v in w) sum += (v & 0xFF) + (v >> 8);
        Assert.Equal(0, sum & 0xFF);

        rig.Out(7, 0xC8);                                  // READ DMA: not for a packet device
        Assert.Equal(Check, rig.Status());
        Assert.Equal(0x04, rig.In(1));
        rig.Out(7, 0x08);                                  // DEVICE RESET: signature, no interrupt
        Assert.False(rig.Irq.High);
        Assert.Equal(0xEB, rig.In(5));
        Assert.Equal(0, rig.Status());
    }

    [Fact]
    public void UnitAttentionIsReportedOnceThenTheUnitIsReady()
    {
        var rig = new Rig();
        rig.Packet(0x800, 0x00);
        Assert.Equal(Check, rig.Status());
        Assert.Equal(0x60, rig.In(1));                     // UNIT ATTENTION in Error bits 7:4
        var s = rig.DataIn(0x800, 0x03, 0, 0, 0, 18);
        Assert.Equal(18, s.Length);
        Assert.Equal(0x70, s[0]);
        Assert.Equal((6, 0x28, 0), (s[2], s[12], s[13]));
        rig.Packet(0x800, 0x00);
        Assert.True(rig.Irq.High);
        Assert.Equal(Done, rig.Status());
        Assert.Equal(3, rig.In(2));

        rig.Cd.InsertMedia(Disc());                        // a new disc: attention again
        rig.ClearUnitAttention();
        Assert.Empty(rig.DataIn(0x800, 0x00));
    }

    [Fact]
    public void EmptyDriveReportsMediumNotPresent()
    {
        var rig = new Rig(withDisc: false);
        Assert.Equal((2, 0x3A, 0), rig.Fails(0x00));
        var s = rig.DataIn(0x800, 0x03, 0, 0, 0, 18);      // sense is cleared once reported
        Assert.Equal(0, s[2]);
        Assert.Equal((2, 0x3A, 0), rig.Fails(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0));
        Assert.Equal((2, 0x3A, 0), rig.Fails(0x25));
        var short8 = rig.DataIn(0x800, 0x03, 0, 0, 0, 8);  // allocation length honoured
        Assert.Equal(8, short8.Length);
    }

    [Fact]
    public void InquiryDescribesARemovableCdRom()
    {
        var rig = new Rig();
        var d = rig.DataIn(0x800, 0x12, 0, 0, 0, 36);      // INQUIRY is not blocked by UNIT ATTENTION
        Assert.Equal(36, d.Length);
        Assert.Equal(0x05, d[0]);
        Assert.Equal(0x80, d[1]);
        Assert.Equal("JitVm   ", System.Text.Encoding.ASCII.GetString(d, 8, 8));
        Assert.Equal("JitVm TEST CD   ", System.Text.Encoding.ASCII.GetString(d, 16, 16));
        Assert.Equal(5, rig.DataIn(0x800, 0x12, 0, 0, 0, 5).Length);
        Assert.Equal((5, 0x24, 0), rig.Fails(0x12, 1, 0x80, 0, 36));   // EVPD not supported
    }

    [Fact]
    public void ReadCapacityReportsLastLbaAnd2048()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        var d = rig.DataIn(0x800, 0x25);
        Assert.Equal(new byte[] { 0, 0, 0, Sectors - 1, 0, 0, 8, 0 }, d);
    }

    [Fact]
    public void Read10InByteCountLimitedBlocksWithInterruptsPerPhase()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        int raises = rig.Irq.Raises;
        rig.Packet(2048, 0x28, 0, 0, 0, 0, 3, 0, 0, 2, 0);
        for (int block = 0; block < 2; block++)
        {
            Assert.True(rig.Irq.High);
            Assert.Equal(raises + block + 1, rig.Irq.Raises);
            Assert.Equal(DataReady, rig.Status());
            Assert.False(rig.Irq.High);
            Assert.Equal(2, rig.In(2));
            Assert.Equal(2048, rig.ByteCount);
            for (int i = 0; i < 2048; i += 2)
            {
                ushort w = rig.ReadWord();
                Assert.Equal(Pattern(3 + block, i), (byte)w);
                Assert.Equal(Pattern(3 + block, i + 1), (byte)(w >> 8));
            }
        }
        Assert.True(rig.Irq.High);
        Assert.Equal(raises + 3, rig.Irq.Raises);
        Assert.Equal(Done, rig.Status());
        Assert.Equal(3, rig.In(2));
        Assert.Equal(0xFFFF, rig.ReadWord());               // no more data
    }

    [Fact]
    public void Read12AndLargeLimitSpanSectors()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        rig.Packet(0xFFFF, 0xA8, 0, 0, 0, 0, 5, 0, 0, 0, 3);
        Assert.Equal(DataReady, rig.Status());
        Assert.Equal(3 * 2048, rig.ByteCount);             // one block: the whole transfer fits the limit
        var d = rig.DataIn(0x800, 0xA8, 0, 0, 0, 0, 5, 0, 0, 0, 3);
        Assert.Equal(3 * 2048, d.Length);
        for (int i = 0; i < d.Length; i++) Assert.Equal(Pattern(5 + i / 2048, i % 2048), d[i]);
        var odd = rig.DataIn(1000, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0);   // 1000-byte blocks across the sector
        Assert.Equal(2048, odd.Length);
        Assert.Equal(Pattern(0, 2047), odd[2047]);
    }

    [Fact]
    public void OutOfRangeAndUnknownCommandsAreIllegalRequests()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        Assert.Equal((5, 0x21, 0), rig.Fails(0x28, 0, 0, 0, 0, Sectors - 1, 0, 0, 2, 0));
        Assert.Equal((5, 0x21, 0), rig.Fails(0xA8, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF));
        Assert.Equal((5, 0x20, 0), rig.Fails(0xFF));
        Assert.Equal((5, 0x20, 0), rig.Fails(0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0));   // WRITE(10) on a CD-ROM
    }

    [Fact]
    public void ReadTocFormat0ListsTrack1AndLeadOut()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        var d = rig.DataIn(0x800, 0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24, 0);
        Assert.Equal(20, d.Length);
        Assert.Equal(new byte[] { 0, 18, 1, 1 }, d[..4]);
        Assert.Equal(new byte[] { 0, 0x14, 1, 0, 0, 0, 0, 0 }, d[4..12]);
        Assert.Equal(new byte[] { 0, 0x14, 0xAA, 0, 0, 0, 0, Sectors }, d[12..20]);
        var msf = rig.DataIn(0x800, 0x43, 2, 0, 0, 0, 0, 0, 0x03, 0x24, 0);
        Assert.Equal(new byte[] { 0, 0, 2, 0 }, msf[8..12]);              // 00:02:00
        Assert.Equal(new byte[] { 0, 0, 2, 8 }, msf[16..20]);             // 8 + 150 frames = 00:02:08
        Assert.Equal(12, rig.DataIn(0x800, 0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0).Length);
    }

    [Fact]
    public void ModeSenseCapabilitiesPageHonoursAllocationLength()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        var full = rig.DataIn(0x800, 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 128, 0);
        Assert.Equal(8 + 20, full.Length);
        Assert.Equal(26, full[0] << 8 | full[1]);          // mode data length excludes itself
        Assert.Equal(0x2A, full[8]);
        Assert.Equal(0x12, full[9]);
        Assert.Equal(0x08, full[8 + 6] & 0x08);            // eject supported
        var cut = rig.DataIn(0x800, 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 12, 0);
        Assert.Equal(full[..12], cut);
        var all = rig.DataIn(0x800, 0x5A, 0, 0x3F, 0, 0, 0, 0, 0x01, 0, 0);
        Assert.Contains((byte)0x2A, all[8..]);
        Assert.True(all.Length > full.Length);
        Assert.Equal((5, 0x24, 0), rig.Fails(0x5A, 0, 0x05, 0, 0, 0, 0, 0, 128, 0));
    }

    [Fact]
    public void HardDiskMasterAndCdRomSlaveShareTheChannel()
    {
        var rig = new Rig(slave: true);
        rig.Out(6, 0xA0);
        rig.Out(7, 0xEC);                                  // the disk answers IDENTIFY DEVICE
        Assert.Equal(DataReady, rig.Status());
        var w = new ushort[256];
        for (int i = 0; i < 256; i++) w[i] = rig.ReadWord();
        Assert.Equal(0x0040, w[0]);
        Assert.Equal(Done, rig.Status());

        Io(rig, 0x04);
        Io(rig, 0x00);
        rig.Out(6, 0xA0);
        Assert.Equal(0, rig.In(4));                        // ATA signature on the master
        rig.Out(6, 0xB0);
        Assert.Equal(0x14, rig.In(4));                     // packet signature on the slave
        Assert.Equal(0xEB, rig.In(5));

        rig.ClearUnitAttention();
        var d = rig.DataIn(0x800, 0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0);
        Assert.Equal(Pattern(1, 100), d[100]);
        rig.Out(6, 0xA0);                                  // master still works
        rig.Out(2, 1); rig.Out(3, 0); rig.Out(4, 0); rig.Out(5, 0); rig.Out(6, 0xE0);
        rig.Out(7, 0x20);
        Assert.Equal(DataReady, rig.Status());
    }

    [Fact]
    public void GuestEjectAndLockFollowStartStopAndPrevent()
    {
        var rig = new Rig();
        rig.ClearUnitAttention();
        Assert.Empty(rig.DataIn(0x800, 0x1E, 0, 0, 0, 1));                   // prevent removal
        Assert.Equal((5, 0x53, 2), rig.Fails(0x1B, 0, 0, 0, 0x02));
        Assert.False(rig.Cd.TrayOpen);
        Assert.Empty(rig.DataIn(0x800, 0x1E, 0, 0, 0, 0));
        Assert.Empty(rig.DataIn(0x800, 0x1B, 0, 0, 0, 0x02));                 // eject
        Assert.True(rig.Cd.TrayOpen);
        Assert.Equal((2, 0x3A, 0), rig.Fails(0x00));
        Assert.Empty(rig.DataIn(0x800, 0x1B, 0, 0, 0, 0x03));                 // load
        rig.ClearUnitAttention();
        Assert.Empty(rig.DataIn(0x800, 0x00));
    }

    [Fact]
    public void MediaReadErrorIsMediumError()
    {
        var rig = new Rig();
        rig.Cd.InsertMedia(new FailingDisc());
        rig.ClearUnitAttention();
        Assert.Equal((3, 0x11, 0), rig.Fails(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0));
    }

    sealed class FailingDisc : IBlockDevice
    {
        public long Length => 4 * 2048;
        public bool ReadOnly => true;
        public void Read(long offset, Span<byte> buffer) => throw new BlockDeviceException("bad");
        public void Write(long offset, ReadOnlySpan<byte> data) => throw new BlockDeviceException("ro");
        public void Flush() { }
    }

    [Fact]
    public void GetConfigurationReportsCdRomProfile()
    {
        var rig = new Rig();
        var d = rig.DataIn(0x800, 0x46, 0, 0, 0, 0, 0, 0, 0, 64, 0);           // allowed during UNIT ATTENTION
        Assert.Equal(0x0008, d[6] << 8 | d[7]);
        Assert.Equal(d.Length - 4, d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3]);
        Assert.Equal(0x0008, d[12] << 8 | d[13]);                              // profile list entry
        var empty = new Rig(withDisc: false);
        var e = empty.DataIn(0x800, 0x46, 0, 0, 0, 0, 0, 0, 0, 64, 0);
        Assert.Equal(0, e[6] << 8 | e[7]);
    }
}
