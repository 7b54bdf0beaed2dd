using JitVm.Core;
using JitVm.Devices.Pci;

namespace JitVm.Devices.Tests;

public class PciTests
{
    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly PciBus Bus = new();
        public readonly I440fx Host = new();
        public readonly Piix3 Isa = new();
        public readonly Piix3Ide Ide = new();

        public Rig()
        {
            Bus.Add(0, 0, Host);
            Bus.Add(1, 0, Isa);
            Bus.Add(1, 1, Ide);
            Bus.Attach(Io);
        }

        /// <summary>Mechanism #1 read as a BIOS does: dword address to 0xCF8, then 0xCFC + (reg &amp; 3).</summary>
        public uint Read(int dev, int fn, int reg, int size = 4)
        {
            Io.Out(0xCF8, 4, 0x8000_0000u | (uint)dev << 11 | (uint)fn << 8 | (uint)(reg & 0xFC));
            return Io.In((ushort)(0xCFC + (reg & 3)), size);
        }

        public void Write(int dev, int fn, int reg, int size, uint value)
        {
            Io.Out(0xCF8, 4, 0x8000_0000u | (uint)dev << 11 | (uint)fn << 8 | (uint)(reg & 0xFC));
            Io.Out((ushort)(0xCFC + (reg & 3)), size, value);
        }
    }

    /// <summary>A plain function whose device logic can raise a status bit, as a bus master would on an abort.</summary>
    sealed class TestFunction() : PciFunction(0x1234, 0x5678, 0x01, 0x020000)
    {
        public void SignalReceivedMasterAbort() => Set16(StatusOffset, (ushort)(Get16(StatusOffset) | 0x2000));
        public void SignalParityError() => Set16(StatusOffset, (ushort)(Get16(StatusOffset) | 0x8000));
    }

    [Fact]
    public void BusScanFindsHostBridgeIsaBridgeAndIdeWithTheirClassCodes()
    {
        var r = new Rig();
        var found = new List<(int Dev, int Fn, uint Id)>();
        for (int dev = 0; dev < 32; dev++)
        {
            uint id = r.Read(dev, 0, 0x00);
            if (id == 0xFFFFFFFF) continue;
            found.Add((dev, 0, id));
            bool multi = (r.Read(dev, 0, 0x0E, 1) & 0x80) != 0;
            for (int fn = 1; multi && fn < 8; fn++)
                if (r.Read(dev, fn, 0x00) is var fid and not 0xFFFFFFFF) found.Add((dev, fn, fid));
        }
        Assert.Equal([(0, 0, 0x1237_8086u), (1, 0, 0x7000_8086u), (1, 1, 0x7010_8086u)], found);

        Assert.Equal(0x0600_0002u, r.Read(0, 0, 0x08));          // class 06 00 00, revision 02
        Assert.Equal(0x060100u, r.Read(1, 0, 0x08) >> 8);         // PCI-to-ISA bridge
        Assert.Equal(0x010180u, r.Read(1, 1, 0x08) >> 8);         // IDE, bus master, legacy
        Assert.Equal(0xFFFFFFFFu, r.Read(5, 0, 0x00));            // 00:05.0 absent
        Assert.Equal(0xFFFFFFFFu, r.Read(0, 1, 0x00));            // host bridge has no function 1
    }

    [Fact]
    public void HeaderTypeMultiFunctionBitOnlyOnThePiix3()
    {
        var r = new Rig();
        Assert.Equal(0x00u, r.Read(0, 0, 0x0E, 1));
        Assert.Equal(0x80u, r.Read(1, 0, 0x0E, 1));
        Assert.Equal(0x00u, r.Read(1, 1, 0x0E, 1));
        Assert.Equal(0x0080_0000u, r.Read(1, 0, 0x0C) & 0x00FF_0000);   // the same byte seen through a dword read
    }

    [Fact]
    public void ConfigAddressReadsBackWithLowBitsAndReservedBitsClearAndIgnoresNarrowAccesses()
    {
        var r = new Rig();
        r.Io.Out(0xCF8, 4, 0x8000_0A47);
        Assert.Equal(0x8000_0A44u, r.Io.In(0xCF8, 4));
        r.Io.Out(0xCF8, 4, 0xFFFF_FFFF);
        Assert.Equal(0x80FF_FFFCu, r.Io.In(0xCF8, 4));             // bits 30:24 reserved, 1:0 zero
        r.Io.Out(0xCF8, 1, 0x00);                                  // not a dword: ordinary I/O, not latched
        r.Io.Out(0xCF8, 2, 0x0000);
        Assert.Equal(0x80FF_FFFCu, r.Io.In(0xCF8, 4));
        Assert.Equal(0x80FF_FFFCu, r.Bus.ConfigAddress);
    }

    [Fact]
    public void ByteAndWordAccessesAtDataPortOffsetsSelectBytesWithinTheDword()
    {
        var r = new Rig();
        r.Io.Out(0xCF8, 4, 0x8000_0800);                           // 00:01.0, register 0
        Assert.Equal(0x86u, r.Io.In(0xCFC, 1));
        Assert.Equal(0x80u, r.Io.In(0xCFD, 1));
        Assert.Equal(0x7000u, r.Io.In(0xCFE, 2));
        Assert.Equal(0x70u, r.Io.In(0xCFF, 1));
        Assert.Equal(0x0080u, r.Io.In(0xCFD, 2));                  // bytes 1..2: 0x80, 0x00
        // A word access at 0xCFF runs past CONFIG_DATA: the upper byte floats.
        Assert.Equal(0xFF70u, r.Io.In(0xCFF, 2));

        // Byte write into the middle of a dword: PIRQC is byte 2 of the dword at 0x60.
        r.Io.Out(0xCF8, 4, 0x8000_0860);
        r.Io.Out(0xCFE, 1, 0x0A);
        Assert.Equal(0x800A_8080u, r.Io.In(0xCFC, 4));
        Assert.Equal(10, r.Isa.PirqToIrq(2));
    }

    [Fact]
    public void IdentificationRegistersAreReadOnly()
    {
        var r = new Rig();
        r.Write(1, 1, 0x00, 4, 0xFFFF_FFFF);
        r.Write(1, 1, 0x08, 4, 0x0000_0000);
        r.Write(1, 1, 0x0E, 1, 0xFF);
        Assert.Equal(0x7010_8086u, r.Read(1, 1, 0x00));
        Assert.Equal(0x010180u, r.Read(1, 1, 0x08) >> 8);
        Assert.Equal(0x00u, r.Read(1, 1, 0x0E, 1));
    }

    [Fact]
    public void IdeBusMasterBarSizingAndRelocation()
    {
        var r = new Rig();
        var changes = new List<int>();
        r.Ide.BarChanged += changes.Add;

        Assert.Equal(0x0000_0001u, r.Read(1, 1, 0x20));             // I/O BAR, not yet placed
        r.Write(1, 1, 0x20, 4, 0xFFFF_FFFF);
        uint sized = r.Read(1, 1, 0x20);
        Assert.Equal(0xFFFF_FFF1u, sized);                          // 16-byte I/O region (all 32 bits implemented)
        Assert.Equal(16u, ~(sized & ~3u) + 1);                      // size as SeaBIOS computes it

        r.Write(1, 1, 0x20, 4, 0xC00F);                             // low bits below the size are ignored
        Assert.Equal(0xC001u, r.Read(1, 1, 0x20));
        Assert.Equal(0xC000, r.Ide.BusMasterBase);
        Assert.False(r.Ide.BusMasterDecoded);

        r.Write(1, 1, 0x04, 2, 0x0005);                             // I/O space + bus master enable
        Assert.Equal(0x0005u, r.Read(1, 1, 0x04, 2));
        Assert.True(r.Ide.BusMasterDecoded);
        Assert.True(r.Ide.BusMasterEnabled);
        Assert.Equal([4, 4, 4], changes);                           // sized, placed, decoding enabled

        // Unimplemented BARs stay 0 even after all ones (spec: the BIOS sees size 0 and skips them).
        r.Write(1, 1, 0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(0u, r.Read(1, 1, 0x10));
        Assert.Equal(3, changes.Count);
    }

    [Fact]
    public void MemoryBarSizingOnAGenericFunction()
    {
        var r = new Rig();
        var f = new TestFunction();
        f.DefineBar(0, 0x1000, isIo: false);
        r.Bus.Add(3, 0, f);

        Assert.Equal(0u, r.Read(3, 0, 0x10));
        r.Write(3, 0, 0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_F000u, r.Read(3, 0, 0x10));
        r.Write(3, 0, 0x10, 4, 0xFEBF_0000);
        Assert.Equal(0xFEBF_0000u, f.BarBase(0));
        // Byte write to the top byte only moves that byte.
        r.Write(3, 0, 0x13, 1, 0xE0);
        Assert.Equal(0xE0BF_0000u, r.Read(3, 0, 0x10));
        r.Write(3, 0, 0x04, 2, 0x0002);
        Assert.True(f.IsBarDecoded(0));
    }

    [Fact]
    public void StatusErrorBitsAreWriteOneToClear()
    {
        var r = new Rig();
        var f = new TestFunction();
        r.Bus.Add(3, 0, f);
        f.SignalReceivedMasterAbort();
        f.SignalParityError();
        Assert.Equal(0xA000u, r.Read(3, 0, 0x06, 2));
        r.Write(3, 0, 0x06, 2, 0x0000);                             // writing 0 changes nothing
        Assert.Equal(0xA000u, r.Read(3, 0, 0x06, 2));
        r.Write(3, 0, 0x06, 2, 0x2000);                             // clears only the bit written as 1
        Assert.Equal(0x8000u, r.Read(3, 0, 0x06, 2));
        // A dword write to the command register with zeros in the status half leaves status alone.
        r.Write(3, 0, 0x04, 4, 0x0000_0007);
        Assert.Equal(0x8000_0007u, r.Read(3, 0, 0x04));
        // Interrupt line is read/write scratch; interrupt pin is read-only.
        r.Write(3, 0, 0x3C, 2, 0x0B0B);
        Assert.Equal(0x000Bu, r.Read(3, 0, 0x3C, 2));
    }

    [Fact]
    public void HostBridgeCommandAndStatusDefaults()
    {
        var r = new Rig();
        Assert.Equal(0x0280_0006u, r.Read(0, 0, 0x04));
        r.Write(0, 0, 0x04, 2, 0x0000);                             // MAE and BME are hardwired
        Assert.Equal(0x0006u, r.Read(0, 0, 0x04, 2));
        r.Write(0, 0, 0x04, 2, 0xFFFF);
        Assert.Equal(0x0146u, r.Read(0, 0, 0x04, 2));
    }

    [Fact]
    public void PamWritesReachTheCallbackWithTheirRegions()
    {
        var r = new Rig();
        var seen = new List<(int Pam, byte Value)>();
        r.Host.PamChanged = (i, v) => seen.Add((i, v));

        r.Write(0, 0, 0x59, 1, 0x3F);                               // F0000h read/write; low nibble reserved
        Assert.Equal([(0, (byte)0x30)], seen);
        Assert.Equal(0x30u, r.Read(0, 0, 0x59, 1));

        seen.Clear();
        r.Write(0, 0, 0x5C, 4, 0x3311_2233);                       // PAM3..PAM6 in one dword
        Assert.Equal([(3, (byte)0x33), (4, (byte)0x22), (5, (byte)0x11), (6, (byte)0x33)], seen);

        seen.Clear();
        r.Write(0, 0, 0x5A, 2, 0xFF12);                             // PAM1 = 0x12, PAM2 = 0x33 (reserved bits dropped)
        Assert.Equal([(1, (byte)0x12), (2, (byte)0x33)], seen);
        Assert.Equal(0x12, r.Host.Pam(1));

        Assert.Equal((0xF0000u, 0x10000u), I440fx.PamRange(0, true));
        Assert.Equal((0xC0000u, 0x4000u), I440fx.PamRange(1, false));
        Assert.Equal((0xC4000u, 0x4000u), I440fx.PamRange(1, true));
        Assert.Equal((0xEC000u, 0x4000u), I440fx.PamRange(6, true));

        // Writes elsewhere do not report PAMs.
        seen.Clear();
        r.Write(0, 0, 0x60, 4, 0x0202_0202);
        Assert.Empty(seen);
        Assert.Equal(0x0202_0202u, r.Read(0, 0, 0x60));             // DRBs stored
    }

    [Fact]
    public void SmramBaseSegmentIsHardwired()
    {
        var r = new Rig();
        Assert.Equal(0x02u, r.Read(0, 0, 0x72, 1));
        r.Write(0, 0, 0x72, 1, 0xFF);
        Assert.Equal(0x7Au, r.Read(0, 0, 0x72, 1));                // bit 7 reserved, C_BASE_SEG = 010b
        Assert.Equal(0x7A, r.Host.Smram);
    }

    [Fact]
    public void PirqRoutingDefaultsDisabledAndFollowsProgramming()
    {
        var r = new Rig();
        var seen = new List<(int Pirq, int Irq)>();
        r.Isa.PirqChanged = (p, i) => seen.Add((p, i));
        Assert.Equal(0x8080_8080u, r.Read(1, 0, 0x60));
        for (int p = 0; p < 4; p++) Assert.Equal(-1, r.Isa.PirqToIrq(p));

        r.Write(1, 0, 0x60, 4, 0x0B0A_0B0A);                        // PIRQA/C -> 10, PIRQB/D -> 11
        Assert.Equal([10, 11, 10, 11], Enumerable.Range(0, 4).Select(r.Isa.PirqToIrq));
        Assert.Equal([(0, 10), (1, 11), (2, 10), (3, 11)], seen);

        r.Write(1, 0, 0x61, 1, 0x8B);                               // IRQEN# set: disabled again
        Assert.Equal(-1, r.Isa.PirqToIrq(1));
        r.Write(1, 0, 0x62, 1, 0x7D);                               // reserved bits 6:4 read 0; IRQ 13 reserved
        Assert.Equal(0x0Du, r.Read(1, 0, 0x62, 1));
        Assert.Equal(-1, r.Isa.PirqToIrq(2));
        r.Write(1, 0, 0x63, 1, 0x02);                               // IRQ 2 is reserved too
        Assert.Equal(-1, r.Isa.PirqToIrq(3));

        Assert.Equal(0x02u, r.Read(1, 0, 0x69, 1));                 // TOM default
        r.Write(1, 0, 0x82, 1, 0x0F);
        Assert.Equal(0x0Fu, r.Read(1, 0, 0x82, 1));                 // deterministic latency control stored
    }

    [Fact]
    public void EnableBitClearMeansNoConfigurationCycle()
    {
        var r = new Rig();
        var seen = new List<(int, byte)>();
        r.Host.PamChanged = (i, v) => seen.Add((i, v));
        r.Io.Out(0xCF8, 4, 0x0000_0000);                            // 00:00.0 register 0, but disabled
        Assert.Equal(0xFFFF_FFFFu, r.Io.In(0xCFC, 4));
        Assert.Equal(0xFFu, r.Io.In(0xCFD, 1));
        r.Io.Out(0xCF8, 4, 0x0000_0058);
        r.Io.Out(0xCFD, 1, 0x30);                                   // would be PAM0
        Assert.Empty(seen);
        Assert.Equal(0x00u, r.Read(0, 0, 0x59, 1));

        // Only bus 0 exists.
        r.Io.Out(0xCF8, 4, 0x8001_0000);
        Assert.Equal(0xFFFF_FFFFu, r.Io.In(0xCFC, 4));
    }

    [Fact]
    public void ResetRestoresPowerOnValuesAndReportsThem()
    {
        var r = new Rig();
        r.Write(0, 0, 0x5F, 1, 0x33);
        r.Write(1, 0, 0x60, 1, 0x05);
        r.Write(1, 1, 0x20, 4, 0xD000);
        r.Write(1, 1, 0x04, 2, 0x0001);
        var pams = new List<(int, byte)>();
        var pirqs = new List<(int, int)>();
        var bars = new List<int>();
        r.Host.PamChanged = (i, v) => pams.Add((i, v));
        r.Isa.PirqChanged = (p, i) => pirqs.Add((p, i));
        r.Ide.BarChanged += bars.Add;

        r.Bus.Reset();
        Assert.Equal(0u, r.Bus.ConfigAddress);
        Assert.Equal(0x00u, r.Read(0, 0, 0x5F, 1));
        Assert.Equal(0x8080_8080u, r.Read(1, 0, 0x60));
        Assert.Equal(0x1u, r.Read(1, 1, 0x20));
        Assert.False(r.Ide.BusMasterDecoded);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => (i, (byte)0)), pams);
        Assert.Equal(Enumerable.Range(0, 4).Select(p => (p, -1)), pirqs);
        Assert.Equal([4], bars);
    }

    [Fact]
    public void AddingTwiceToOneSlotIsRejected()
    {
        var bus = new PciBus();
        bus.Add(2, 0, new TestFunction());
        Assert.Throws<InvalidOperationException>(() => bus.Add(2, 0, new TestFunction()));
        Assert.Throws<ArgumentOutOfRangeException>(() => bus.Add(32, 0, new TestFunction()));
    }
}
