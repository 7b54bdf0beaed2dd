using JitVm.Core;
using JitVm.Core.Storage;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class FloppyTests
{
    const ushort Dor = 0x3F2, Msr = 0x3F4, Dsr = 0x3F4, Fifo = 0x3F5, Dir = 0x3F7, Ccr = 0x3F7;
    const int Size144 = 1474560, Size720 = 737280;

    sealed class IrqRecorder : IIrqLines
    {
        public bool Level;
        public int Rises;

        public void SetIrq(int irq, bool high)
        {
            if (irq != 6) throw new InvalidOperationException($"FDC drove IRQ {irq}");
            if (high && !Level) Rises++;
            Level = high;
        }
    }

    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly PhysicalMemory Memory = new(1 << 20);
        public readonly IrqRecorder Irq = new();
        public readonly Dma8237 Dma;
        public readonly FloppyController Fdc;

        public Rig(bool reset = true)
        {
            Dma = new Dma8237(Memory);
            Dma.Attach(Io);
            Fdc = new FloppyController(Irq, Dma);
            Fdc.Attach(Io);
            if (reset) ResetController();
        }

        public void Out(ushort port, byte v) => Io.Out(port, 1, v);
        public byte In(ushort port) => (byte)Io.In(port, 1);

        /// <summary>The BIOS reset: DOR reset low then high with the DMA gate, then four SENSE INTERRUPT STATUS.</summary>
        public void ResetController()
        {
            Out(Dor, 0x00);
            Out(Dor, 0x0C);
            for (int i = 0; i < 4; i++) Assert.Equal(new byte[] { (byte)(0xC0 | i), 0 }, SenseInterrupt());
            Irq.Rises = 0;
        }

        /// <summary>Writes a command byte by byte, checking RQM=1, DIO=0 before each as a driver does.</summary>
        public void Command(params byte[] bytes)
        {
            foreach (var b in bytes)
            {
                int tries = 0;
                while ((In(Msr) & 0xC0) != 0x80)
                    Assert.True(++tries < 100, $"FDC not ready for a command byte, MSR={In(Msr):X2}");
                Out(Fifo, b);
            }
        }

        /// <summary>Reads the result phase: bytes while RQM=1 and DIO=1 (bounded).</summary>
        public byte[] Results()
        {
            var r = new List<byte>();
            while ((In(Msr) & 0xC0) == 0xC0)
            {
                r.Add(In(Fifo));
                Assert.True(r.Count <= 16, "result phase does not end");
            }
            Assert.Equal(0x80, In(Msr) & 0xD0);           // back to idle: RQM, not busy
            return [.. r];
        }

        /// <summary>Channel 2 programmed through the DMA ports as a BIOS does (mode 0x46 write / 0x4A read).</summary>
        public void ProgramDma(uint phys, int bytes, bool toMemory)
        {
            Out(0x0A, 0x06);
            Out(0x0C, 0);
            Out(0x0B, toMemory ? (byte)0x46 : (byte)0x4A);
            Out(0x04, (byte)phys);
            Out(0x04, (byte)(phys >> 8));
            Out(0x81, (byte)(phys >> 16));
            Out(0x05, (byte)(bytes - 1));
            Out(0x05, (byte)((bytes - 1) >> 8));
            Out(0x0A, 0x02);
        }

        public byte[] SenseInterrupt()
        {
            Command(0x08);
            return Results();
        }

        public void Seek(int drive, int head, byte cylinder)
        {
            Command(0x0F, (byte)(head << 2 | drive), cylinder);
            Assert.True(Irq.Level);
            Assert.Equal(new byte[] { (byte)(0x20 | head << 2 | drive), cylinder }, SenseInterrupt());
            Assert.False(Irq.Level);
        }
    }

    /// <summary>An image whose every sector is filled with bytes derived from its LBA and offset.</summary>
    static MemoryBlockDevice PatternImage(int size, bool readOnly = false)
    {
        var bytes = new byte[size];
        for (int i = 0; i < size; i++) bytes[i] = (byte)((i >> 9) * 7 + (i & 511));
        return new MemoryBlockDevice(bytes, readOnly);
    }

    static byte[] Sectors(MemoryBlockDevice img, int lba, int count) => img.Contents.AsSpan(lba * 512, count * 512).ToArray();

    static byte[] Mem(Rig r, uint phys, int count)
    {
        var b = new byte[count];
        r.Memory.ReadBytes(phys, b);
        return b;
    }

    [Fact]
    public void ResetRaisesIrq6AndReportsAPollingStatusForEachDrive()
    {
        var r = new Rig(reset: false);
        Assert.Equal(0x00, r.In(Msr));                 // held in reset after power-on (DOR = 0)
        r.Out(Dor, 0x00);
        Assert.False(r.Irq.Level);
        r.Out(Dor, 0x0C);                              // nRESET high, DMA gate on
        Assert.True(r.Irq.Level);
        Assert.Equal(0x80, r.In(Msr));
        for (int d = 0; d < 4; d++)
            Assert.Equal(new byte[] { (byte)(0xC0 | d), 0 }, r.SenseInterrupt());
        Assert.False(r.Irq.Level);
        Assert.Equal(new byte[] { 0x80 }, r.SenseInterrupt());   // nothing pending any more
    }

    [Fact]
    public void DsrSoftwareResetAlsoPollsAndIrqNeedsTheDmaGate()
    {
        var r = new Rig();
        r.Out(Dsr, 0x80);
        Assert.True(r.Irq.Level);
        Assert.Equal(new byte[] { 0xC0, 0 }, r.SenseInterrupt());

        // With the DOR DMA gate off the INT output is not driven (PC/AT mode).
        r.Out(Dor, 0x00);
        r.Out(Dor, 0x04);
        Assert.False(r.Irq.Level);
        Assert.Equal(new byte[] { 0xC0, 0 }, r.SenseInterrupt());
    }

    [Fact]
    public void VersionIs0x90AndLockReportsItsState()
    {
        var r = new Rig();
        r.Command(0x10);
        Assert.Equal(new byte[] { 0x90 }, r.Results());
        r.Command(0x94);
        Assert.Equal(new byte[] { 0x10 }, r.Results());
        r.Command(0x14);
        Assert.Equal(new byte[] { 0x00 }, r.Results());
        Assert.Equal(0, r.Irq.Rises);
    }

    [Fact]
    public void SpecifyAndConfigureHaveNoResultPhaseAndShowInDumpreg()
    {
        var r = new Rig();
        r.Command(0x03, 0xDF, 0x02);
        Assert.Equal(0x80, r.In(Msr));                 // no result phase
        r.Command(0x13, 0x00, 0x57, 0x05);             // EIS, FIFO on, polling off, threshold 7, PRETRK 5
        Assert.Equal(0x80, r.In(Msr));
        r.Seek(1, 0, 9);
        r.Command(0x0E);
        var dump = r.Results();
        Assert.Equal(10, dump.Length);
        Assert.Equal(new byte[] { 0, 9, 0, 0, 0xDF, 0x02 }, dump[..6]);
        Assert.Equal(0x57, dump[8]);
        Assert.Equal(0x05, dump[9]);
        Assert.Equal(1, r.Irq.Rises);                  // only the seek interrupted
    }

    [Fact]
    public void RecalibrateEndsWithSeekEndAndCylinderZero()
    {
        var r = new Rig();
        r.Seek(0, 0, 7);
        r.Command(0x07, 0x00);
        Assert.True(r.Irq.Level);
        Assert.Equal(new byte[] { 0x20, 0 }, r.SenseInterrupt());
        Assert.False(r.Irq.Level);
    }

    [Fact]
    public void SeekMovesToTheCylinderAndSenseDriveStatusFollows()
    {
        var r = new Rig();
        r.Fdc.InsertDisk(1, PatternImage(Size144, readOnly: true));
        r.Command(0x04, 0x01);
        Assert.Equal(new byte[] { 0x40 | 0x20 | 0x10 | 0x08 | 0x01 }, r.Results());   // WP, T0 on drive 1

        r.Command(0x0F, 0x05, 5);                      // head 1, drive 1, cylinder 5
        Assert.Equal(new byte[] { 0x25, 5 }, r.SenseInterrupt());
        r.Command(0x04, 0x05);
        Assert.Equal(new byte[] { 0x40 | 0x20 | 0x08 | 0x04 | 0x01 }, r.Results());   // no longer on track 0
    }

    [Fact]
    public void ReadDataMovesTwoSectorsByDmaAndReportsTheNextSector()
    {
        var r = new Rig();
        var img = PatternImage(Size144);
        r.Fdc.InsertDisk(0, img);
        r.Out(Ccr, 0x00);                              // 500 kbps for 1.44 MB
        r.Seek(0, 0, 1);
        r.ProgramDma(0x12000, 1024, toMemory: true);

        r.Command(0xE6, 0x00, 1, 0, 1, 2, 18, 0x1B, 0xFF);      // READ DATA MT MFM SK, C/H/R/N = 1/0/1/2
        Assert.True(r.Irq.Level);
        Assert.Equal(Sectors(img, 36, 2), Mem(r, 0x12000, 1024));   // LBA (1*2+0)*18 = 36, 37
        Assert.Equal(0, r.Memory.Read8(0x12400));
        Assert.Equal(0x04, r.In(0x08) & 0x0F);        // DMA terminal count on channel 2

        var res = r.Results();
        Assert.False(r.Irq.Level);                     // reading the result clears INT
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 1, 0, 3, 2 }, res);
    }

    [Fact]
    public void MultiTrackReadContinuesFromHead0ToHead1()
    {
        var r = new Rig();
        var img = PatternImage(Size144);
        r.Fdc.InsertDisk(1, img);
        r.Out(Ccr, 0x00);
        r.Seek(1, 0, 2);
        r.ProgramDma(0x20000, 4 * 512, toMemory: true);

        r.Command(0xC6, 0x01, 2, 0, 17, 2, 18, 0x1B, 0xFF);     // MT: (2,0,17) (2,0,18) (2,1,1) (2,1,2)
        int lba = (2 * 2 + 0) * 18 + 16;
        Assert.Equal(Sectors(img, lba, 4), Mem(r, 0x20000, 4 * 512));
        Assert.Equal(new byte[] { 0x05, 0x00, 0x00, 2, 1, 3, 2 }, r.Results());   // ST0 head 1, drive 1
    }

    [Fact]
    public void ReadThroughEndOfTrackWithoutTerminalCountEndsWithEndOfCylinder()
    {
        var r = new Rig();
        var img = PatternImage(Size144);
        r.Fdc.InsertDisk(0, img);
        r.Out(Ccr, 0x00);
        r.ProgramDma(0x30000, 4 * 512, toMemory: true);    // more than the track holds

        r.Command(0x46, 0x00, 0, 0, 17, 2, 18, 0x1B, 0xFF);     // no MT: sectors 17 and 18, then the end
        Assert.Equal(Sectors(img, 16, 2), Mem(r, 0x30000, 1024));
        Assert.Equal(0, r.Memory.Read8(0x30400));
        Assert.Equal(new byte[] { 0x40, 0x80, 0x00, 1, 0, 1, 2 }, r.Results());
    }

    [Fact]
    public void WriteDataStoresMemoryBytesInTheImage()
    {
        var r = new Rig();
        var img = new MemoryBlockDevice(Size144);
        r.Fdc.InsertDisk(0, img);
        r.Out(Ccr, 0x00);
        var data = Enumerable.Range(0, 1024).Select(i => (byte)(i * 13 + 1)).ToArray();
        r.Memory.WriteBytes(0x40000, data);
        r.ProgramDma(0x40000, 1024, toMemory: false);

        r.Command(0xC5, 0x04, 0, 1, 5, 2, 18, 0x1B, 0xFF);      // WRITE DATA, head 1, sectors 5 and 6
        Assert.True(r.Irq.Level);
        Assert.Equal(new byte[] { 0x04, 0x00, 0x00, 0, 1, 7, 2 }, r.Results());
        int lba = (0 * 2 + 1) * 18 + 4;
        Assert.Equal(data, Sectors(img, lba, 2));
        Assert.All(Sectors(img, lba + 2, 1), b => Assert.Equal(0, b));
    }

    [Fact]
    public void WriteToReadOnlyImageReportsNotWritable()
    {
        var r = new Rig();
        var img = PatternImage(Size144, readOnly: true);
        var before = (byte[])img.Contents.Clone();
        r.Fdc.InsertDisk(0, img);
        r.Out(Ccr, 0x00);
        r.ProgramDma(0x40000, 512, toMemory: false);
        r.Command(0xC5, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF);
        Assert.True(r.Irq.Level);
        Assert.Equal(new byte[] { 0x40, 0x02, 0x00, 0, 0, 1, 2 }, r.Results());
        Assert.Equal(before, img.Contents);
    }

    [Fact]
    public void ReadIdReportsTheTrackUnderTheHeadAndNeedsTheRightDataRate()
    {
        var r = new Rig();
        r.Fdc.InsertDisk(0, PatternImage(Size144));
        r.Seek(0, 0, 3);

        r.Out(Ccr, 0x02);                              // 250 kbps: a 1.44 MB disk cannot be read
        r.Command(0x4A, 0x04);
        Assert.True(r.Irq.Level);
        Assert.Equal(new byte[] { 0x44, 0x01, 0x00 }, r.Results()[..3]);   // abnormal, missing address mark

        r.Out(Ccr, 0x00);
        r.Command(0x4A, 0x04);
        Assert.True(r.Irq.Level);
        var res = r.Results();
        Assert.Equal(new byte[] { 0x04, 0x00, 0x00, 3, 1 }, res[..5]);
        Assert.InRange(res[5], 1, 18);
        Assert.Equal(2, res[6]);
    }

    [Fact]
    public void SevenTwentyKilobyteImageUsesNineSectorsAt250Kbps()
    {
        var r = new Rig();
        var img = PatternImage(Size720);
        r.Fdc.InsertDisk(0, img);
        r.Seek(0, 0, 1);
        r.Out(Ccr, 0x02);
        r.ProgramDma(0x10000, 512, toMemory: true);
        r.Command(0x46, 0x04, 1, 1, 9, 2, 9, 0x1B, 0xFF);       // last sector of cylinder 1 head 1
        Assert.Equal(new byte[] { 0x04, 0x00, 0x00, 2, 1, 1, 2 }, r.Results());
        Assert.Equal(Sectors(img, (1 * 2 + 1) * 9 + 8, 1), Mem(r, 0x10000, 512));
    }

    [Fact]
    public void NoDiskEndsWithAbnormalTerminationNotReady()
    {
        var r = new Rig();
        r.Out(Ccr, 0x00);
        r.ProgramDma(0x10000, 512, toMemory: true);
        r.Command(0xE6, 0x02, 0, 0, 1, 2, 18, 0x1B, 0xFF);      // drive 2 is empty
        Assert.True(r.Irq.Level);
        Assert.Equal(0x48 | 0x02, r.Results()[0]);
        Assert.False(r.Dma.IsMasked(2));               // nothing was transferred
    }

    [Fact]
    public void SectorOutsideTheGeometryOrOnAnotherCylinderIsNotFound()
    {
        var r = new Rig();
        r.Fdc.InsertDisk(0, PatternImage(Size144));
        r.Out(Ccr, 0x00);
        r.ProgramDma(0x10000, 512, toMemory: true);
        r.Command(0x46, 0x00, 0, 0, 19, 2, 19, 0x1B, 0xFF);     // sector 19 does not exist
        Assert.Equal(new byte[] { 0x40, 0x04, 0x00, 0, 0, 19, 2 }, r.Results());

        r.Command(0x46, 0x00, 4, 0, 1, 2, 18, 0x1B, 0xFF);      // head is on cylinder 0, not 4
        Assert.Equal(new byte[] { 0x40, 0x04, 0x10, 4, 0, 1, 2 }, r.Results());
        Assert.Equal(0, r.Memory.Read8(0x10000) | r.Memory.Read8(0x10001));
    }

    [Fact]
    public void MaskedDmaChannelGivesOverrun()
    {
        var r = new Rig();
        r.Fdc.InsertDisk(0, PatternImage(Size144));
        r.Out(Ccr, 0x00);
        r.ProgramDma(0x10000, 512, toMemory: true);
        r.Out(0x0A, 0x06);                             // mask channel 2 again
        r.Command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF);
        Assert.Equal(new byte[] { 0x40, 0x10, 0x00 }, r.Results()[..3]);
    }

    [Fact]
    public void DiskChangeBitIsSetByInsertionAndClearedBySeek()
    {
        var r = new Rig();
        r.Out(Dor, 0x1C);                              // drive 0 selected, motor on
        Assert.Equal(0x80, r.In(Dir) & 0x80);          // power-on: changed
        r.Seek(0, 0, 1);
        Assert.Equal(0x80, r.In(Dir) & 0x80);          // no disk: a seek cannot clear it
        r.Fdc.InsertDisk(0, PatternImage(Size144));
        r.Seek(0, 0, 0);
        Assert.Equal(0x00, r.In(Dir) & 0x80);
        r.Fdc.InsertDisk(0, null);
        Assert.Equal(0x80, r.In(Dir) & 0x80);
        r.Out(Dor, 0x2D);                              // drive 1 selected: still changed since power-on
        Assert.Equal(0x80, r.In(Dir) & 0x80);
    }

    [Fact]
    public void InvalidCommandAnswers0x80WithoutInterrupt()
    {
        var r = new Rig();
        r.Out(Fifo, 0x18);                             // PART ID is not an 82077AA command
        Assert.Equal(0xD0, r.In(Msr));                 // result phase
        Assert.Equal(new byte[] { 0x80 }, r.Results());
        Assert.Equal(0, r.Irq.Rises);
        r.Command(0x10);                               // the controller still works
        Assert.Equal(new byte[] { 0x90 }, r.Results());
    }

    [Fact]
    public void UnsupportedImageSizeIsRejected()
    {
        var r = new Rig();
        Assert.Throws<ArgumentException>(() => r.Fdc.InsertDisk(0, new MemoryBlockDevice(1000 * 512)));
    }
}
