using System.Buffers.Binary;
using System.Text;
using JitVm.Devices.Acpi;
using JitVm.Machine.Firmware;

namespace JitVm.Machine.Tests.Acpi;

/// <summary>The ACPI tables: placed at a fixed address, and installed by a loader that follows the fw_cfg script as SeaBIOS does.</summary>
public class AcpiTablesTests
{
    const uint Ram = 32u << 20;

    /// <summary>Guest memory as a sparse map of placed blobs.</summary>
    sealed class Blobs
    {
        readonly List<(uint At, byte[] Data)> blobs = new();
        public void Put(uint at, byte[] data) => blobs.Add((at, data));
        public byte[] Read(uint at, int length)
        {
            var (start, data) = blobs.Single(b => at >= b.At && at + (uint)length <= b.At + (uint)b.Data.Length);
            return data.AsSpan((int)(at - start), length).ToArray();
        }
    }

    static (AcpiWalker Walker, AcpiTables Tables) Placed(uint at)
    {
        var t = AcpiTables.Build(Ram);
        var (tables, rsdp) = t.Place(at);
        uint rsdpAt = (at + (uint)tables.Length + 15) & ~15u;
        var mem = new Blobs();
        mem.Put(at, tables);
        mem.Put(rsdpAt, rsdp);
        var w = new AcpiWalker(mem.Read);
        w.Walk(rsdpAt);
        return (w, t);
    }

    [Fact]
    public void PlacedTablesHaveValidChecksumsLengthsAndPointers()
    {
        var (w, t) = Placed(0x9F000);
        Assert.Equal(0x9F000u + (uint)t.FacsOffset, w.Facs);
        Assert.Equal(0x9F000u + (uint)t.DsdtOffset, w.Dsdt);
        Assert.Equal(0x9F000u + (uint)t.FadtOffset, w.Fadt);
        Assert.Equal(0x9F000u + (uint)t.RsdtOffset, w.Rsdt);
        // Every table lies inside the blob, none overlaps the next.
        var spans = new[] { (w.Facs, 64u), (w.Dsdt, (uint)w.DsdtBytes.Length), (w.Fadt, 116u), (w.Rsdt, 40u) }.OrderBy(s => s.Item1).ToList();
        for (int i = 1; i < spans.Count; i++) Assert.True(spans[i - 1].Item1 + spans[i - 1].Item2 <= spans[i].Item1);
        Assert.Equal(t.Tables.Length, (int)(spans[^1].Item1 + spans[^1].Item2 - 0x9F000));
        // The unplaced blobs are consistent on their own too: base 0.
        Assert.Equal(0, AcpiWalker.Sum(t.Rsdp));
        Assert.Equal((uint)t.RsdtOffset, BinaryPrimitives.ReadUInt32LittleEndian(t.Rsdp[16..]));
        Assert.Throws<ArgumentException>(() => t.Place(0x9F010));       // the FACS needs 64-byte alignment
    }

    [Fact]
    public void TheFadtDescribesThePmBlocksAsTheDeviceHasThem()
    {
        var f = Placed(0x9F000).Walker.FadtBytes;
        Assert.Equal(0, f[44]);                                          // INT_MODEL: dual PIC
        Assert.Equal(AcpiPm.SciIrq, AcpiWalker.U16(f, 46));             // SCI_INT 9
        Assert.Equal(0u, AcpiWalker.U32(f, 48));                         // SMI_CMD: none, always in ACPI mode
        Assert.Equal(0x600u, AcpiWalker.U32(f, 56));                     // PM1a_EVT_BLK
        Assert.Equal(0u, AcpiWalker.U32(f, 60));                         // PM1b_EVT_BLK
        Assert.Equal(0x604u, AcpiWalker.U32(f, 64));                     // PM1a_CNT_BLK
        Assert.Equal(0u, AcpiWalker.U32(f, 68) | AcpiWalker.U32(f, 72));  // PM1b_CNT_BLK, PM2_CNT_BLK
        Assert.Equal(0x608u, AcpiWalker.U32(f, 76));                     // PM_TMR_BLK
        Assert.Equal(0u, AcpiWalker.U32(f, 80) | AcpiWalker.U32(f, 84));  // GPE0_BLK, GPE1_BLK
        Assert.Equal([4, 2, 0, 4, 0, 0], f[88..94]);                     // PM1_EVT_LEN PM1_CNT_LEN PM2_CNT_LEN PM_TM_LEN GPE0/1_BLK_LEN
        Assert.True(AcpiWalker.U16(f, 96) > 100);                        // no C2
        Assert.True(AcpiWalker.U16(f, 98) > 1000);                       // no C3
        Assert.Equal(0x32, f[108]);                                      // CENTURY: the CMOS byte CmosRtc keeps it in
        Assert.Equal(JitVm.Devices.CmosRtc.Century, f[108]);
        uint flags = AcpiWalker.U32(f, 112);
        Assert.True((flags & 1) != 0, "WBINVD");
        Assert.True((flags & 1 << 4) == 0, "the power button is the fixed feature");
        Assert.True((flags & 1 << 8) == 0, "24-bit timer");
    }

    [Fact]
    public void TheDsdtDecodesToS5AndThePciAndPs2Devices()
    {
        var w = Placed(0x9F000).Walker;
        var names = AcpiWalker.Decode(w.DsdtBytes);
        var s5 = Assert.IsType<object[]>(names["\\_S5_"]);
        Assert.Equal([(uint)AcpiPm.SoftOffSleepType, (uint)AcpiPm.SoftOffSleepType, 0u, 0u], s5.Cast<uint>());
        Assert.Equal("Device", names["\\_SB_.PCI0"]);
        Assert.Equal("PNP0A03", AcpiWalker.EisaIdString((uint)names["\\_SB_.PCI0._HID"]));
        Assert.Equal(0u, names["\\_SB_.PCI0._UID"]);
        Assert.Equal(0x00010000u, names["\\_SB_.PCI0.ISA_._ADR"]);     // the PIIX3 at 00:01.0
        Assert.Equal("PNP0303", AcpiWalker.EisaIdString((uint)names["\\_SB_.PCI0.ISA_.KBD_._HID"]));
        Assert.Equal("PNP0F13", AcpiWalker.EisaIdString((uint)names["\\_SB_.PCI0.ISA_.MOU_._HID"]));
        Assert.Equal(
            [("bus", 0u, 0xFFu, 0x0Cu), ("io", 0xCF8u, 0xCF8u, 8u), ("wordio", 0u, 0xCF7u, 0x0Cu), ("wordio", 0xD00u, 0xFFFFu, 0x0Cu),
             ("mem", 0xA0000u, 0xBFFFFu, 3u), ("mem", Ram, 0xFEBFFFFFu, 1u)],
            AcpiWalker.Resources((byte[])names["\\_SB_.PCI0._CRS"]));
        Assert.Equal([("io", 0x60u, 0x60u, 1u), ("io", 0x64u, 0x64u, 1u), ("irq", 1u, 1u, 2u)],
            AcpiWalker.Resources((byte[])names["\\_SB_.PCI0.ISA_.KBD_._CRS"]));
        Assert.Equal([("irq", 12u, 12u, 0x1000u)], AcpiWalker.Resources((byte[])names["\\_SB_.PCI0.ISA_.MOU_._CRS"]));
        Assert.Equal(13, names.Count);                                   // nothing else
    }

    [Fact]
    public void TheLoaderScriptRunLikeSeaBiosInstallsTheSameTables()
    {
        var t = AcpiTables.Build(Ram);
        var files = new Dictionary<string, byte[]>
        {
            [AcpiTables.RsdpFile] = t.Rsdp.ToArray(),
            [AcpiTables.TablesFile] = t.Tables.ToArray(),
        };
        byte[] script = t.TableLoader();
        Assert.Equal(0, script.Length % 128);
        var placed = new Dictionary<string, uint>();
        uint nextHigh = 0x01FDF000, nextFSeg = 0x000F5A30;
        string Name(int at) => Encoding.ASCII.GetString(script, at, 56).TrimEnd('\0');
        var seen = new List<uint>();
        for (int e = 0; e < script.Length; e += 128)
        {
            uint command = BinaryPrimitives.ReadUInt32LittleEndian(script.AsSpan(e));
            seen.Add(command);
            switch (command)
            {
                case 1:                                                  // ALLOCATE file, align, zone
                {
                    string file = Name(e + 4);
                    uint align = BinaryPrimitives.ReadUInt32LittleEndian(script.AsSpan(e + 60));
                    byte zone = script[e + 64];
                    Assert.True(align != 0 && (align & (align - 1)) == 0, "alignment is a power of two");
                    ref uint next = ref zone == 2 ? ref nextFSeg : ref nextHigh;
                    Assert.True(zone is 1 or 2);
                    if (file == AcpiTables.RsdpFile) Assert.Equal(2, zone);   // the RSDP must be where an OS scans
                    next = (next + align - 1) & ~(align - 1);
                    placed[file] = next;
                    next += (uint)files[file].Length;
                    break;
                }
                case 2:                                                  // ADD_POINTER pointer file, pointee file, offset, size
                {
                    string dest = Name(e + 4), src = Name(e + 60);
                    int offset = BinaryPrimitives.ReadInt32LittleEndian(script.AsSpan(e + 116));
                    byte size = script[e + 120];
                    Assert.Equal(4, size);
                    Assert.True(placed.ContainsKey(dest) && placed.ContainsKey(src), "ALLOCATE comes first");
                    var field = files[dest].AsSpan(offset, 4);
                    BinaryPrimitives.WriteUInt32LittleEndian(field, BinaryPrimitives.ReadUInt32LittleEndian(field) + placed[src]);
                    break;
                }
                case 3:                                                  // ADD_CHECKSUM file, offset, start, length
                {
                    var data = files[Name(e + 4)];
                    int at = BinaryPrimitives.ReadInt32LittleEndian(script.AsSpan(e + 60));
                    int start = BinaryPrimitives.ReadInt32LittleEndian(script.AsSpan(e + 64));
                    int length = BinaryPrimitives.ReadInt32LittleEndian(script.AsSpan(e + 68));
                    data[at] -= AcpiWalker.Sum(data.AsSpan(start, length));
                    break;
                }
                default:
                    Assert.Fail($"unknown loader command {command}");
                    break;
            }
        }
        Assert.Equal([1u, 1u, 2u, 2u, 2u, 2u, 3u, 3u, 3u, 3u], seen);   // 2 allocations, 4 pointers, 4 checksums
        var mem = new Blobs();
        mem.Put(placed[AcpiTables.RsdpFile], files[AcpiTables.RsdpFile]);
        mem.Put(placed[AcpiTables.TablesFile], files[AcpiTables.TablesFile]);
        new AcpiWalker(mem.Read).Walk(placed[AcpiTables.RsdpFile]);
        // Byte for byte what placing them there directly gives.
        var (tables, rsdp) = t.Place(placed[AcpiTables.TablesFile]);
        Assert.Equal(tables, files[AcpiTables.TablesFile]);
        Assert.Equal(rsdp, files[AcpiTables.RsdpFile]);
    }

    [Fact]
    public void TheMachineOffersTheThreeFilesThroughFwCfg()
    {
        var m = new Machine(new MachineConfig { MemoryBytes = Ram });
        // The file directory through the ports, as firmware reads it: BE32 count, then 64-byte entries.
        m.Io.Out(0x510, 2, 0x19);
        byte Next() => (byte)m.Io.In(0x511, 1);
        uint count = (uint)(Next() << 24 | Next() << 16 | Next() << 8 | Next());
        var dir = new Dictionary<string, (uint Size, ushort Key)>();
        for (int i = 0; i < count; i++)
        {
            var e = Enumerable.Range(0, 64).Select(_ => Next()).ToArray();
            dir[Encoding.ASCII.GetString(e, 8, 56).TrimEnd('\0')] = (BinaryPrimitives.ReadUInt32BigEndian(e), BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4)));
        }
        Assert.Equal((uint)m.AcpiTables.Rsdp.Length, dir[AcpiTables.RsdpFile].Size);
        Assert.Equal((uint)m.AcpiTables.Tables.Length, dir[AcpiTables.TablesFile].Size);
        Assert.Equal((uint)m.AcpiTables.TableLoader().Length, dir[AcpiTables.LoaderFile].Size);
        m.Io.Out(0x510, 2, dir[AcpiTables.RsdpFile].Key);
        Assert.Equal("RSD PTR ", new string(Enumerable.Range(0, 8).Select(_ => (char)Next()).ToArray()));
        // The PM registers answer at 0x600: SCI_EN reads 1.
        Assert.Equal(1u, m.Io.In(0x604, 2));
    }

    [Theory]
    [InlineData(0, new byte[] { 0x01 })]
    [InlineData(62, new byte[] { 0x3F })]
    [InlineData(63, new byte[] { 0x41, 0x04 })]                          // 63 + 2 = 65 = 0x41: nibble 1, then 4
    [InlineData(4093, new byte[] { 0x4F, 0xFF })]                        // 4095 fits two bytes
    [InlineData(4094, new byte[] { 0x81, 0x00, 0x01 })]                  // 4097 needs three
    public void PkgLengthCountsItselfAndGrowsAtTheSpecificationsLimits(int content, byte[] expected) =>
        Assert.Equal(expected, Aml.PkgLength(content));

    [Fact]
    public void AmlPrimitivesEncodeAsTheSpecificationSays()
    {
        Assert.Equal([0x0C, 0x41, 0xD0, 0x0A, 0x03], Aml.EisaId("PNP0A03"));
        Assert.Equal([0x0C, 0x41, 0xD0, 0x03, 0x03], Aml.EisaId("PNP0303"));
        Assert.Equal([0x00], Aml.Integer(0));
        Assert.Equal([0x01], Aml.Integer(1));
        Assert.Equal([0x0A, 0x05], Aml.Integer(5));
        Assert.Equal([0x0B, 0x34, 0x12], Aml.Integer(0x1234));
        Assert.Equal([0x0C, 0x00, 0x00, 0x01, 0x00], Aml.Integer(0x10000));
        Assert.Equal([0x5C, (byte)'_', (byte)'S', (byte)'B', (byte)'_'], Aml.NameString("\\_SB"));
        // Name(_S5, Package(4){0, 0, 0, 0})
        Assert.Equal([0x08, (byte)'_', (byte)'S', (byte)'5', (byte)'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00], Aml.Name("_S5", Aml.Package(0, 0, 0, 0)));
        Assert.Throws<ArgumentException>(() => Aml.NameString("TOOLONG"));
        Assert.Throws<ArgumentException>(() => Aml.EisaId("PNP0A0"));
    }
}
