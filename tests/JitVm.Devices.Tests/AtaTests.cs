using JitVm.Core;
using JitVm.Core.Storage;
using JitVm.Devices.Ata;

namespace JitVm.Devices.Tests;

public class AtaTests
{
    const int Sectors = 64 * 1024 * 1024 / 512;   // 131072
    const byte Drdy = 0x40, Dsc = 0x10, Drq = 0x08, Err = 0x01, Bsy = 0x80;
    const byte Ready = Drdy | Dsc, DataReady = Drdy | Dsc | Drq, Failed = Drdy | Dsc | Err;
    const byte Unc = 0x40, Idnf = 0x10, Abrt = 0x04;

    sealed class IrqRecorder(int line) : IIrqLines
    {
        public bool High;
        public int Raises;

        public void SetIrq(int irq, bool high)
        {
            Assert.Equal(line, irq);
            if (high && !High) Raises++;
            High = high;
        }
    }

    /// <summary>Wraps a block device: counts flushes and fails I/O touching one sector.</summary>
    sealed class FaultyDevice(IBlockDevice inner) : IBlockDevice
    {
        public long BadSector = -1;
        public int Flushes;
        public long Length => inner.Length;
        public bool ReadOnly => inner.ReadOnly;

        void Check(long offset, int length)
        {
            if (BadSector >= 0 && offset <= BadSector * 512 && BadSector * 512 < offset + length)
                throw new BlockDeviceException("bad sector");
        }

        public void Read(long offset, Span<byte> buffer) { Check(offset, buffer.Length); inner.Read(offset, buffer); }
        public void Write(long offset, ReadOnlySpan<byte> data) { Check(offset, data.Length); inner.Write(offset, data); }
        public void Flush() => Flushes++;
    }

    /// <summary>Sector <c>lba</c> holds its LBA in its first four bytes, then bytes (lba * 3 + i) mod 256.</summary>
    static byte PatternByte(long lba, int i) => i < 4 ? (byte)(lba >> (8 * i)) : (byte)(lba * 3 + i);

    static MemoryBlockDevice PatternDisk(bool readOnly = false)
    {
        var bytes = new byte[(long)Sectors * 512];
        for (long s = 0; s < Sectors; s++)
            for (int i = 0; i < 512; i++) bytes[s * 512 + i] = PatternByte(s, i);
        return new MemoryBlockDevice(bytes, readOnly);
    }

    static readonly Lazy<byte[]> PatternImage = new(() => PatternDisk().Contents);

    /// <summary>A primary channel on an I/O bus with a 64 MiB pattern-filled master.</summary>
    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly IrqRecorder Irq;
        public readonly AtaChannel Channel;
        public readonly MemoryBlockDevice Memory;
        public readonly FaultyDevice Disk;
        readonly ushort cmd, ctl;

        public Rig(bool master = true, bool readOnly = false, ushort commandBase = 0x1F0, ushort control = 0x3F6, int irq = 14)
        {
            cmd = commandBase;
            ctl = control;
            Irq = new IrqRecorder(irq);
            Channel = new AtaChannel(Irq, irq);
            Channel.Attach(Io, commandBase, control);
            Memory = new MemoryBlockDevice((byte[])PatternImage.Value.Clone(), readOnly);
            Disk = new FaultyDevice(Memory);
            if (master) Channel.AttachDrive(0, new AtaDrive(Disk, "JitVm TEST DISK", "SN-12345", "FW1"));
        }

        public void Out(int reg, int value) => Io.Out((ushort)(cmd + reg), 1, (uint)value);
        public byte In(int reg) => (byte)Io.In((ushort)(cmd + reg), 1);
        public byte Status() => In(7);
        public byte AltStatus() => (byte)Io.In(ctl, 1);
        public void Control(int value) => Io.Out(ctl, 1, (uint)value);
        public ushort ReadWord() => (ushort)Io.In(cmd, 2);
        public void WriteWord(ushort w) => Io.Out(cmd, 2, w);

        public ushort[] ReadWords(int n)
        {
            var w = new ushort[n];
            for (int i = 0; i < n; i++) w[i] = ReadWord();
            return w;
        }

        public void Lba28(byte command, long lba, int count)
        {
            Out(6, 0xE0 | (int)(lba >> 24) & 0x0F);
            Out(2, count);
            Out(3, (int)lba & 0xFF);
            Out(4, (int)(lba >> 8) & 0xFF);
            Out(5, (int)(lba >> 16) & 0xFF);
            Out(7, command);
        }

        public void Lba48(byte command, long lba, int count)
        {
            Out(6, 0x40);
            Out(2, count >> 8);
            Out(3, (int)(lba >> 24) & 0xFF);
            Out(4, (int)(lba >> 32) & 0xFF);
            Out(5, (int)(lba >> 40) & 0xFF);
            Out(2, count & 0xFF);
            Out(3, (int)lba & 0xFF);
            Out(4, (int)(lba >> 8) & 0xFF);
            Out(5, (int)(lba >> 16) & 0xFF);
            Out(7, command);
        }

        public ushort[] Identify()
        {
            Out(6, 0xA0);
            Out(7, 0xEC);
            Assert.Equal(DataReady, Status());
            var w = ReadWords(256);
            Assert.Equal(Ready, Status());
            return w;
        }
    }

    static void AssertSector(long lba, ushort[] words, int offsetWords = 0)
    {
        for (int i = 0; i < 256; i++)
        {
            ushort expected = (ushort)(PatternByte(lba, 2 * i) | PatternByte(lba, 2 * i + 1) << 8);
            if (words[offsetWords + i] != expected)
                Assert.Fail($"sector {lba} word {i}: {words[offsetWords + i]:X4} != {expected:X4}");
        }
    }

    static string AtaString(ushort[] w, int first, int words)
    {
        var chars = new char[words * 2];
        for (int i = 0; i < words; i++)
        {
            chars[2 * i] = (char)(w[first + i] >> 8);
            chars[2 * i + 1] = (char)(w[first + i] & 0xFF);
        }
        return new string(chars);
    }

    [Fact]
    public void IdentifyDeviceReportsGeometryCapacityStringsAndChecksum()
    {
        var rig = new Rig();
        rig.Out(6, 0xA0);
        rig.Out(7, 0xEC);
        Assert.True(rig.Irq.High);
        Assert.Equal(DataReady, rig.Status());
        Assert.False(rig.Irq.High);
        var w = rig.ReadWords(256);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(1, rig.Irq.Raises);                 // no interrupt after the data-in block

        Assert.Equal(0x0040, w[0]);
        Assert.Equal(Sectors / (16 * 63), w[1]);          // 130 cylinders
        Assert.Equal(16, w[3]);
        Assert.Equal(63, w[6]);
        Assert.Equal("SN-12345".PadRight(20), AtaString(w, 10, 10));
        Assert.Equal("FW1".PadRight(8), AtaString(w, 23, 4));
        Assert.Equal("JitVm TEST DISK".PadRight(40), AtaString(w, 27, 20));
        Assert.Equal(('J' << 8) | 'i', w[27]);            // first character in the high byte
        Assert.Equal(16, w[47] & 0xFF);
        Assert.NotEqual(0, w[49] & 0x0200);               // LBA
        Assert.Equal(0, w[49] & 0x0100);                  // no DMA
        Assert.Equal(0x0001, w[53] & 0x0001);
        Assert.Equal(Sectors / (16 * 63), w[54]);
        Assert.Equal(16, w[55]);
        Assert.Equal(63, w[56]);
        Assert.Equal(Sectors / (16 * 63) * 16 * 63, w[57] | w[58] << 16);
        Assert.Equal(Sectors, w[60] | w[61] << 16);
        Assert.NotEqual(0, w[80] & 0x0040);               // ATA/ATAPI-6
        Assert.NotEqual(0, w[83] & 0x0400);               // 48-bit supported
        Assert.NotEqual(0, w[86] & 0x0400);               // 48-bit enabled
        Assert.Equal((long)Sectors, w[100] | (long)w[101] << 16 | (long)w[102] << 32 | (long)w[103] << 48);
        Assert.Equal(0xA5, w[255] & 0xFF);
        int sum = 0;
        foreach (ushort v in w) sum += (v & 0xFF) + (v >> 8);
        Assert.Equal(0, sum & 0xFF);
    }

    [Fact]
    public void SoftwareResetLeavesAtaSignatureWithoutInterrupt()
    {
        var rig = new Rig();
        rig.Out(6, 0xB0);                                 // select the (absent) slave
        rig.Out(2, 0x33); rig.Out(3, 0x44); rig.Out(4, 0x55); rig.Out(5, 0x66);
        rig.Control(0x04);                                // SRST
        rig.Control(0x00);
        Assert.Equal(Ready, rig.Status());                 // DEV cleared: the master answers again
        Assert.Equal(1, rig.In(2));
        Assert.Equal(1, rig.In(3));
        Assert.Equal(0, rig.In(4));
        Assert.Equal(0, rig.In(5));
        Assert.Equal(0x01, rig.In(1));                     // diagnostic code: passed
        Assert.Equal(0, rig.In(6) & 0x10);
        Assert.Equal(0, rig.Irq.Raises);
    }

    [Fact]
    public void SoftwareResetAbandonsTransferAndPendingInterrupt()
    {
        var rig = new Rig();
        rig.Lba28(0x20, 10, 2);
        Assert.True(rig.Irq.High);
        rig.Control(0x04);
        Assert.False(rig.Irq.High);
        Assert.Equal(Bsy, rig.AltStatus());
        Assert.Equal(Bsy, rig.In(2));                      // while BSY every register reads as Status
        rig.Control(0x00);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(0xFFFF, rig.ReadWord());              // nothing left to read
    }

    [Fact]
    public void Lba28ReadTransfersThreeSectorsWithOneInterruptEach()
    {
        var rig = new Rig();
        rig.Lba28(0x20, 0x0123AB, 3);
        for (int s = 0; s < 3; s++)
        {
            Assert.True(rig.Irq.High);
            Assert.Equal(s + 1, rig.Irq.Raises);
            Assert.Equal(DataReady, rig.Status());
            Assert.False(rig.Irq.High);
            AssertSector(0x0123AB + s, rig.ReadWords(256));
        }
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(3, rig.Irq.Raises);
        Assert.False(rig.Irq.High);
        // Registers hold the last sector transferred and a zero count.
        Assert.Equal(0, rig.In(2));
        Assert.Equal(0xAD, rig.In(3));
        Assert.Equal(0x23, rig.In(4));
        Assert.Equal(0x01, rig.In(5));
    }

    [Fact]
    public void ThirtyTwoBitDataReadsTransferTwoWords()
    {
        var rig = new Rig();
        rig.Lba28(0x20, 77, 1);
        Assert.Equal(DataReady, rig.Status());
        var words = new ushort[256];
        for (int i = 0; i < 128; i++)
        {
            uint d = rig.Io.In(0x1F0, 4);
            words[2 * i] = (ushort)d;
            words[2 * i + 1] = (ushort)(d >> 16);
        }
        AssertSector(77, words);
        Assert.Equal(Ready, rig.Status());
    }

    [Fact]
    public void WriteSectorsCommitsEachSectorAndInterruptsAfterIt()
    {
        var rig = new Rig();
        rig.Lba28(0x30, 5000, 2);
        Assert.Equal(DataReady, rig.AltStatus());
        Assert.Equal(0, rig.Irq.Raises);                   // first DRQ comes without an interrupt
        for (int s = 0; s < 2; s++)
        {
            for (int i = 0; i < 128; i++) rig.WriteWord((ushort)(0xA000 + s * 0x100 + i));
            Assert.Equal(0, rig.Irq.Raises - s);            // not yet: half the sector
            for (int i = 128; i < 256; i++) rig.WriteWord((ushort)(0xA000 + s * 0x100 + i));
            Assert.Equal(s + 1, rig.Irq.Raises);
            Assert.Equal(s == 0 ? DataReady : Ready, rig.Status());
            Assert.Equal(0xA000 + s * 0x100, rig.Memory.Contents[(5000 + s) * 512] | rig.Memory.Contents[(5000 + s) * 512 + 1] << 8);
        }
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 256; i++)
            {
                int at = (5000 + s) * 512 + 2 * i;
                Assert.Equal(0xA000 + s * 0x100 + i & 0xFFFF, rig.Memory.Contents[at] | rig.Memory.Contents[at + 1] << 8);
            }
        Assert.Equal(PatternByte(5002, 0), rig.Memory.Contents[5002 * 512]);   // neighbour untouched

        rig.Lba28(0x20, 5001, 1);
        Assert.Equal(DataReady, rig.Status());
        var back = rig.ReadWords(256);
        for (int i = 0; i < 256; i++) Assert.Equal(0xA100 + i, back[i]);
    }

    [Fact]
    public void WriteMultipleExtInterruptsOncePerBlock()
    {
        var rig = new Rig();
        rig.Out(2, 2);
        rig.Out(7, 0xC6);                                  // SET MULTIPLE MODE 2
        Assert.Equal(Ready, rig.Status());
        int before = rig.Irq.Raises;
        rig.Lba48(0x39, 20000, 3);
        for (int i = 0; i < 3 * 256; i++)
        {
            Assert.Equal(DataReady, rig.AltStatus());
            rig.WriteWord((ushort)i);
            if (i == 2 * 256 - 1) Assert.Equal(DataReady, rig.Status());
        }
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(2, rig.Irq.Raises - before);           // blocks of 2 and 1 sectors
        Assert.Equal(0x00, rig.Memory.Contents[20002 * 512]);      // word 512 (0x0200) starts the third sector
        Assert.Equal(0x02, rig.Memory.Contents[20002 * 512 + 1]);
        Assert.Equal(0x01, rig.Memory.Contents[20000 * 512 + 2]);  // word 1
        Assert.Equal(PatternByte(20003, 0), rig.Memory.Contents[20003 * 512]);
    }

    [Fact]
    public void Lba48UsesHobPreviousContents()
    {
        var rig = new Rig();
        rig.Out(2, 0xAA); rig.Out(3, 0xBB); rig.Out(4, 0xCC); rig.Out(5, 0xDD);
        rig.Out(2, 0x11); rig.Out(3, 0x22); rig.Out(4, 0x33); rig.Out(5, 0x44);
        Assert.Equal(0x11, rig.In(2));
        rig.Control(0x80);                                 // HOB: read the previous contents
        Assert.Equal(0xAA, rig.In(2));
        Assert.Equal(0xBB, rig.In(3));
        Assert.Equal(0xCC, rig.In(4));
        Assert.Equal(0xDD, rig.In(5));
        rig.Out(2, 0x55);                                  // a Command Block write clears HOB
        Assert.Equal(0x55, rig.In(2));
        Assert.Equal(0x44, rig.In(5));

        // The previous contents are LBA bits 24–47 and the count's high byte.
        rig.Lba48(0x24, 1L << 24, 1);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Idnf, rig.In(1));

        rig.Lba48(0x24, 0x01_2345, 0x0002);
        Assert.Equal(DataReady, rig.Status());
        AssertSector(0x012345, rig.ReadWords(256));
        Assert.Equal(DataReady, rig.Status());
        AssertSector(0x012346, rig.ReadWords(256));
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(0x46, rig.In(3));
        rig.Control(0x80);
        Assert.Equal(0, rig.In(3));                        // LBA bits 24–31 of the last sector
    }

    [Fact]
    public void ChsReadUsesCurrentTranslation()
    {
        var rig = new Rig();
        // Cylinder 2, head 3, sector 4 with the default 16 heads × 63 sectors.
        rig.Out(6, 0xA0 | 3);
        rig.Out(2, 1); rig.Out(3, 4); rig.Out(4, 2); rig.Out(5, 0);
        rig.Out(7, 0x20);
        Assert.Equal(DataReady, rig.Status());
        AssertSector((2 * 16 + 3) * 63 + 3, rig.ReadWords(256));

        // INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors per track.
        rig.Out(6, 0xA0 | 3);
        rig.Out(2, 17);
        rig.Out(7, 0x91);
        Assert.Equal(Ready, rig.Status());
        rig.Out(6, 0xA0 | 2);
        rig.Out(2, 1); rig.Out(3, 3); rig.Out(4, 1); rig.Out(5, 0);
        rig.Out(7, 0x20);
        Assert.Equal(DataReady, rig.Status());
        AssertSector((1 * 4 + 2) * 17 + 2, rig.ReadWords(256));
        var id = rig.Identify();
        Assert.Equal(4, id[55]);
        Assert.Equal(17, id[56]);

        // Sector 0 does not exist.
        rig.Out(6, 0xA0); rig.Out(2, 1); rig.Out(3, 0); rig.Out(4, 0); rig.Out(5, 0);
        rig.Out(7, 0x20);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Idnf, rig.In(1));
    }

    [Fact]
    public void ReadMultipleInterruptsOncePerBlock()
    {
        var rig = new Rig();
        rig.Out(6, 0xE0);
        rig.Out(7, 0xC4);                                  // multiple mode not set yet
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Abrt, rig.In(1));

        rig.Out(2, 4);
        rig.Out(7, 0xC6);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(0x0104, rig.Identify()[59]);
        int before = rig.Irq.Raises;

        rig.Lba28(0xC4, 100, 10);                          // blocks of 4, 4 and 2 sectors
        int sector = 100;
        foreach (int block in new[] { 4, 4, 2 })
        {
            Assert.True(rig.Irq.High);
            Assert.Equal(DataReady, rig.Status());
            for (int s = 0; s < block; s++)
            {
                AssertSector(sector++, rig.ReadWords(256));
                if (s < block - 1) Assert.False(rig.Irq.High);   // no interrupt inside a block
            }
        }
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(3, rig.Irq.Raises - before);

        rig.Out(2, 3);
        rig.Out(7, 0xC6);                                  // not a power of two
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Abrt, rig.In(1));
    }

    [Fact]
    public void OutOfRangeSectorFailsWithIdnf()
    {
        var rig = new Rig();
        rig.Lba28(0x20, Sectors - 1, 2);
        Assert.True(rig.Irq.High);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Idnf, rig.In(1));
        Assert.Equal(0xFFFF, rig.ReadWord());

        rig.Lba28(0x20, Sectors - 1, 1);                   // the last sector itself is fine
        Assert.Equal(DataReady, rig.Status());
        AssertSector(Sectors - 1, rig.ReadWords(256));

        rig.Lba28(0x40, Sectors, 1);                       // READ VERIFY past the end
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Idnf, rig.In(1));
        rig.Lba28(0x40, 10, 5);
        Assert.True(rig.Irq.High);
        Assert.Equal(Ready, rig.Status());                 // verify: no data phase
        Assert.Equal(14, rig.In(3));                       // address of the last sector verified
    }

    [Theory]
    [InlineData(0x00)]   // NOP always aborts
    [InlineData(0xA1)]   // IDENTIFY PACKET DEVICE: not a packet device
    [InlineData(0xA0)]   // PACKET
    [InlineData(0xFF)]
    public void UnknownCommandAborts(int command)
    {
        var rig = new Rig();
        rig.Out(6, 0xA0);
        rig.Out(7, command);
        Assert.True(rig.Irq.High);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Abrt, rig.In(1));
        Assert.Equal(1, rig.In(2));                        // signature left untouched
        Assert.Equal(0, rig.In(4));
    }

    [Fact]
    public void AbsentSlaveReadsZeroStatusAndIgnoresCommands()
    {
        var rig = new Rig();
        rig.Out(6, 0xB0);
        Assert.Equal(0, rig.Status());
        Assert.Equal(0, rig.AltStatus());
        Assert.Equal(0xB0, rig.In(6));
        rig.Out(2, 0x55); rig.Out(3, 0xAA);
        Assert.Equal(0x55, rig.In(2));
        Assert.Equal(0xAA, rig.In(3));
        rig.Out(7, 0xEC);
        Assert.Equal(0, rig.Status());
        Assert.Equal(0, rig.Irq.Raises);
        rig.Out(6, 0xA0);
        Assert.Equal(Ready, rig.Status());

        var empty = new Rig(master: false);
        Assert.Equal(0x7F, empty.Status());
        Assert.Equal(0x7F, empty.AltStatus());
        empty.Out(2, 0x55);
        Assert.NotEqual(0x55, empty.In(2));
    }

    [Fact]
    public void SlaveDriveIsSelectedByDevBitAndDrivesTheLine()
    {
        var rig = new Rig();
        var slaveDisk = new MemoryBlockDevice(8 * 1024 * 1024);
        rig.Channel.AttachDrive(1, new AtaDrive(slaveDisk, "SLAVE"));
        rig.Out(6, 0xB0);
        rig.Out(7, 0xEC);
        Assert.True(rig.Irq.High);
        rig.Out(6, 0xA0);                                  // the master has nothing pending: line released
        Assert.False(rig.Irq.High);
        Assert.Equal(Ready, rig.Status());
        rig.Out(6, 0xB0);
        Assert.True(rig.Irq.High);
        Assert.Equal(DataReady, rig.Status());
        var w = rig.ReadWords(256);
        Assert.Equal(16384, w[60] | w[61] << 16);
        Assert.Equal("SLAVE".PadRight(40), AtaString(w, 27, 20));
    }

    [Fact]
    public void NienSuppressesTheInterruptLineUntilCleared()
    {
        var rig = new Rig();
        rig.Control(0x02);
        rig.Lba28(0x20, 3, 1);
        Assert.False(rig.Irq.High);
        Assert.Equal(0, rig.Irq.Raises);
        Assert.Equal(DataReady, rig.AltStatus());
        rig.Control(0x00);                                 // the pending interrupt is asserted now
        Assert.True(rig.Irq.High);
        rig.Status();
        Assert.False(rig.Irq.High);

        rig.Control(0x02);
        AssertSector(3, rig.ReadWords(256));
        rig.Lba28(0x30, 3, 1);
        for (int i = 0; i < 256; i++) rig.WriteWord(0);
        Assert.Equal(Ready, rig.AltStatus());
        Assert.Equal(1, rig.Irq.Raises);
    }

    [Fact]
    public void StatusReadAcknowledgesButAlternateStatusDoesNot()
    {
        var rig = new Rig();
        rig.Lba28(0x20, 0, 1);
        Assert.True(rig.Irq.High);
        Assert.Equal(DataReady, rig.AltStatus());
        Assert.Equal(DataReady, rig.AltStatus());
        Assert.True(rig.Irq.High);
        Assert.Equal(DataReady, rig.Status());
        Assert.False(rig.Irq.High);
        Assert.Equal(1, rig.Irq.Raises);
    }

    [Fact]
    public void BlockDeviceErrorBecomesUncorrectable()
    {
        var rig = new Rig();
        rig.Disk.BadSector = 402;
        rig.Lba28(0x20, 400, 3);
        Assert.Equal(DataReady, rig.Status());
        AssertSector(400, rig.ReadWords(256));
        Assert.Equal(DataReady, rig.Status());
        AssertSector(401, rig.ReadWords(256));
        Assert.True(rig.Irq.High);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Unc, rig.In(1));
        Assert.Equal(402 & 0xFF, rig.In(3));               // failing sector's address
        Assert.Equal(402 >> 8, rig.In(4));
        Assert.Equal(0xFFFF, rig.ReadWord());

        rig.Lba28(0x30, 402, 1);
        Assert.Equal(DataReady, rig.Status());
        for (int i = 0; i < 256; i++) rig.WriteWord(0x1234);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Unc, rig.In(1));

        rig.Lba28(0x40, 395, 10);                          // READ VERIFY over the bad sector
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Unc, rig.In(1));
    }

    [Fact]
    public void WriteToReadOnlyDeviceIsAbortedBeforeTheDataPhase()
    {
        var rig = new Rig(readOnly: true);
        rig.Lba28(0x30, 10, 1);
        Assert.True(rig.Irq.High);
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Abrt, rig.In(1));
        rig.WriteWord(0xBEEF);
        Assert.Equal(PatternByte(10, 0), rig.Memory.Contents[10 * 512]);
        rig.Lba28(0x20, 10, 1);                            // reads still work
        Assert.Equal(DataReady, rig.Status());
        AssertSector(10, rig.ReadWords(256));
    }

    [Fact]
    public void FlushCacheAndWriteCacheSettingReachTheDevice()
    {
        var rig = new Rig();
        rig.Out(6, 0xA0);
        rig.Out(7, 0xE7);
        Assert.Equal(Ready, rig.Status());
        rig.Out(7, 0xEA);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(2, rig.Disk.Flushes);
        Assert.NotEqual(0, rig.Identify()[85] & 0x20);

        rig.Out(1, 0x82);                                  // SET FEATURES: disable write cache
        rig.Out(7, 0xEF);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(0, rig.Identify()[85] & 0x20);
        rig.Lba28(0x30, 50, 2);
        for (int i = 0; i < 512; i++) rig.WriteWord(1);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(4, rig.Disk.Flushes);                 // write-through: one flush per sector

        rig.Out(1, 0x03); rig.Out(2, 0x0C); rig.Out(7, 0xEF);   // PIO mode 4
        Assert.Equal(Ready, rig.Status());
        rig.Out(1, 0x03); rig.Out(2, 0x45); rig.Out(7, 0xEF);   // Ultra DMA 5: no DMA engine
        Assert.Equal(Failed, rig.Status());
        Assert.Equal(Abrt, rig.In(1));
    }

    [Fact]
    public void ExecuteDeviceDiagnosticRestoresSignatureAndInterrupts()
    {
        var rig = new Rig();
        rig.Lba28(0x20, 1234, 1);
        rig.Status();
        rig.Out(7, 0x90);
        Assert.True(rig.Irq.High);
        Assert.Equal(Ready, rig.Status());
        Assert.Equal(0x01, rig.In(1));
        Assert.Equal(1, rig.In(2));
        Assert.Equal(1, rig.In(3));
        Assert.Equal(0, rig.In(4));
        Assert.Equal(0, rig.In(5));
        Assert.Equal(0xFFFF, rig.ReadWord());              // the read in progress was abandoned
    }

    [Fact]
    public void SecondaryChannelUsesItsOwnPortsAndIrq15()
    {
        var rig = new Rig(commandBase: 0x170, control: 0x376, irq: 15);
        Assert.Null(rig.Io.DeviceAt(0x1F7));
        Assert.Null(rig.Io.DeviceAt(0x3F7));               // the floppy controller's DIR register
        rig.Lba28(0x20, 9, 1);
        Assert.True(rig.Irq.High);
        Assert.Equal(DataReady, (byte)rig.Io.In(0x376, 1));
        Assert.Equal(DataReady, (byte)rig.Io.In(0x177, 1));
        AssertSector(9, rig.ReadWords(256));
    }
}
