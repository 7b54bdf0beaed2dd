using System.Buffers.Binary;
using System.Text;
using JitVm.Devices;
using JitVm.Devices.Acpi;

namespace JitVm.Machine.Firmware;

/// <summary>
/// The machine's ACPI 1.0 tables (docs/decisions/0016-acpi.md): an RSDP (revision 0) pointing at an RSDT that lists
/// one FADT (revision 1, 116 bytes), whose FIRMWARE_CTRL and DSDT fields point at a FACS and a DSDT. No MADT: the
/// machine has 8259s and no APIC. The FADT describes the <see cref="AcpiPm"/> blocks (SCI on IRQ 9, no SMI_CMD, so
/// the system is always in ACPI mode, no GPE blocks). The DSDT holds \_S5 and, under \_SB, the PCI root bridge
/// (PNP0A03 with its bus, I/O and memory windows) and the PIIX3 ISA bridge with the PS/2 keyboard (PNP0303) and mouse
/// (PNP0F13) — SeaBIOS reads the DSDT and sets up no PS/2 keyboard unless PNP0303 is there.
/// </summary>
/// <remarks>
/// The tables are one blob, <c>etc/acpi/tables</c> (FACS first, so a 64-byte-aligned blob gives the FACS its required
/// alignment, then DSDT, FADT, RSDT), and the RSDP a second, <c>etc/acpi/rsdp</c>. Pointer fields hold offsets into the
/// tables blob; <see cref="Place"/> relocates them for a fixed address (direct Linux boot), and
/// <see cref="TableLoader"/> writes QEMU's linker/loader script that lets SeaBIOS do the same wherever it allocates
/// them (ALLOCATE, ADD_POINTER, ADD_CHECKSUM). Checksums are valid in every form.
/// </remarks>
public sealed class AcpiTables
{
    /// <summary>The fw_cfg file names SeaBIOS's table loader knows (QEMU's).</summary>
    public const string RsdpFile = "etc/acpi/rsdp", TablesFile = "etc/acpi/tables", LoaderFile = "etc/table-loader";

    /// <summary>Header identification: OEMID (6 bytes), OEM table id (8), creator id (4).</summary>
    public const string OemId = "JITVM ", OemTableId = "JITVMPC ", CreatorId = "JTVM";

    public const int HeaderLength = 36, RsdpLength = 20, FacsLength = 64, FadtLength = 116;

    /// <summary>The FADT's CENTURY: the CMOS RAM byte holding the century (<see cref="CmosRtc.Century"/>).</summary>
    public const byte CenturyIndex = CmosRtc.Century;

    /// <summary>
    /// FADT flags: WBINVD works (bit 0), C1 is supported (bit 2), the sleep button is not a fixed feature (bit 5:
    /// there is none), RTC wake status is not in the fixed registers (bit 6). PWR_BUTTON (bit 4) is clear: the power
    /// button is the fixed feature (PWRBTN_STS). TMR_VAL_EXT (bit 8) is clear: the timer has 24 bits.
    /// </summary>
    public const uint FadtFlags = 1u << 0 | 1u << 2 | 1u << 5 | 1u << 6;

    /// <summary>Loader commands (QEMU's hw/acpi/bios-linker-loader.c): each is 128 bytes, the command dword first.</summary>
    public const uint LoaderAllocate = 1, LoaderAddPointer = 2, LoaderAddChecksum = 3;
    public const byte ZoneHigh = 1, ZoneFSeg = 2;
    public const int LoaderEntryLength = 128, LoaderFileNameLength = 56;

    readonly byte[] tables;
    readonly byte[] rsdp;
    /// <summary>4-byte pointer fields (file, offset) whose value is an offset into the tables blob.</summary>
    readonly List<(string File, int Offset)> pointers = new();
    /// <summary>Checksummed ranges: the checksum byte and the range it makes sum to zero.</summary>
    readonly List<(string File, int At, int Start, int Length)> checksums = new();

    AcpiTables(byte[] tables, byte[] rsdp)
    {
        this.tables = tables;
        this.rsdp = rsdp;
    }

    /// <summary>Offsets of the tables in the <see cref="TablesFile"/> blob.</summary>
    public int FacsOffset { get; private init; }
    public int DsdtOffset { get; private init; }
    public int FadtOffset { get; private init; }
    public int RsdtOffset { get; private init; }

    /// <summary>The tables blob as <see cref="TablesFile"/> carries it (pointers are offsets into it).</summary>
    public ReadOnlySpan<byte> Tables => tables;

    /// <summary>The RSDP as <see cref="RsdpFile"/> carries it (RsdtAddress is the RSDT's offset in the tables blob).</summary>
    public ReadOnlySpan<byte> Rsdp => rsdp;

    /// <summary>
    /// Builds the tables for a machine with <paramref name="ramSize"/> bytes of RAM (the PCI memory window starts
    /// there) and the PM blocks at <paramref name="pmBase"/>.
    /// </summary>
    public static AcpiTables Build(uint ramSize, ushort pmBase = AcpiPm.DefaultBase)
    {
        byte[] dsdt = Dsdt(ramSize);
        int facsAt = 0, dsdtAt = FacsLength, fadtAt = Align(dsdtAt + dsdt.Length, 4), rsdtAt = fadtAt + FadtLength;
        int rsdtLength = HeaderLength + 4;
        var blob = new byte[rsdtAt + rsdtLength];
        var t = new AcpiTables(blob, new byte[RsdpLength]) { FacsOffset = facsAt, DsdtOffset = dsdtAt, FadtOffset = fadtAt, RsdtOffset = rsdtAt };
        var b = blob.AsSpan();

        // FACS (ACPI 1.0 layout): signature, length, hardware signature, waking vector, global lock, flags; the rest reserved.
        Encoding.ASCII.GetBytes("FACS", b[facsAt..]);
        BinaryPrimitives.WriteUInt32LittleEndian(b[(facsAt + 4)..], FacsLength);

        dsdt.CopyTo(b[dsdtAt..]);
        t.checksums.Add((TablesFile, dsdtAt + 9, dsdtAt, dsdt.Length));

        var f = b.Slice(fadtAt, FadtLength);
        Header(f, "FACP", FadtLength, revision: 1);
        BinaryPrimitives.WriteUInt32LittleEndian(f[36..], (uint)facsAt);          // FIRMWARE_CTRL
        BinaryPrimitives.WriteUInt32LittleEndian(f[40..], (uint)dsdtAt);          // DSDT
        t.pointers.Add((TablesFile, fadtAt + 36));
        t.pointers.Add((TablesFile, fadtAt + 40));
        f[44] = 0;                                                                // INT_MODEL: dual 8259
        BinaryPrimitives.WriteUInt16LittleEndian(f[46..], AcpiPm.SciIrq);         // SCI_INT
        // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ stay 0: no SMI command port, always in ACPI mode.
        BinaryPrimitives.WriteUInt32LittleEndian(f[56..], (uint)(pmBase + AcpiPm.EventBlockOffset));   // PM1a_EVT_BLK
        BinaryPrimitives.WriteUInt32LittleEndian(f[64..], (uint)(pmBase + AcpiPm.ControlBlockOffset)); // PM1a_CNT_BLK
        BinaryPrimitives.WriteUInt32LittleEndian(f[76..], (uint)(pmBase + AcpiPm.TimerBlockOffset));   // PM_TMR_BLK
        // PM1b, PM2 and both GPE blocks are absent (address and length 0).
        f[88] = AcpiPm.EventBlockLength;                                          // PM1_EVT_LEN
        f[89] = AcpiPm.ControlBlockLength;                                        // PM1_CNT_LEN
        f[91] = AcpiPm.TimerBlockLength;                                          // PM_TM_LEN
        BinaryPrimitives.WriteUInt16LittleEndian(f[96..], 101);                   // P_LVL2_LAT > 100: no C2
        BinaryPrimitives.WriteUInt16LittleEndian(f[98..], 1001);                  // P_LVL3_LAT > 1000: no C3
        f[108] = CenturyIndex;                                                    // CENTURY (DAY_ALRM, MON_ALRM: none)
        BinaryPrimitives.WriteUInt32LittleEndian(f[112..], FadtFlags);
        t.checksums.Add((TablesFile, fadtAt + 9, fadtAt, FadtLength));

        var r = b.Slice(rsdtAt, rsdtLength);
        Header(r, "RSDT", rsdtLength, revision: 1);
        BinaryPrimitives.WriteUInt32LittleEndian(r[36..], (uint)fadtAt);
        t.pointers.Add((TablesFile, rsdtAt + 36));
        t.checksums.Add((TablesFile, rsdtAt + 9, rsdtAt, rsdtLength));

        var p = t.rsdp.AsSpan();
        Encoding.ASCII.GetBytes("RSD PTR ", p);
        Encoding.ASCII.GetBytes(OemId, p[9..]);
        p[15] = 0;                                                                // revision 0: ACPI 1.0, RSDT only
        BinaryPrimitives.WriteUInt32LittleEndian(p[16..], (uint)rsdtAt);
        t.pointers.Add((RsdpFile, 16));
        t.checksums.Add((RsdpFile, 8, 0, RsdpLength));

        t.FixChecksums(blob, t.rsdp);
        return t;
    }

    /// <summary>
    /// The DSDT (revision 1: 32-bit integers): \_S5 with the PIIX4 soft-off type, and under \_SB the PCI root bridge
    /// with its _CRS (bus numbers 0–255, the configuration ports 0xCF8–0xCFF, I/O windows around them, the VGA window
    /// and the hole from the end of RAM to the I/O APIC's range) and, as its device 1 function 0, the ISA bridge with
    /// the 8042's keyboard (ports 60h/64h, IRQ 1) and mouse (IRQ 12).
    /// </summary>
    static byte[] Dsdt(uint ramSize)
    {
        const uint pciHoleEnd = 0xFEBFFFFF;                       // below where an I/O APIC would be (0xFEC00000)
        uint holeStart = Math.Min(ramSize, 0xE0000000u);
        byte[] body = Aml.Concat(
            Aml.Name("_S5", Aml.Package(AcpiPm.SoftOffSleepType, AcpiPm.SoftOffSleepType, 0, 0)),
            Aml.Scope("\\_SB",
                Aml.Device("PCI0",
                    Aml.Name("_HID", Aml.EisaId("PNP0A03")),
                    Aml.Name("_UID", Aml.Integer(0)),
                    Aml.Name("_CRS", Aml.ResourceTemplate(
                        Aml.WordBusNumber(0x00, 0xFF),
                        Aml.Io(0x0CF8, 0x0CF8, 1, 8),
                        Aml.WordIo(0x0000, 0x0CF7),
                        Aml.WordIo(0x0D00, 0xFFFF),
                        Aml.DWordMemory(0x000A0000, 0x000BFFFF, cacheable: true),
                        Aml.DWordMemory(holeStart, pciHoleEnd, cacheable: false))),
                    Aml.Device("ISA",
                        Aml.Name("_ADR", Aml.Integer(0x00010000)),           // PCI device 1, function 0: the PIIX3
                        Aml.Device("KBD",
                            Aml.Name("_HID", Aml.EisaId("PNP0303")),
                            Aml.Name("_CRS", Aml.ResourceTemplate(Aml.Io(0x60, 0x60, 1, 1), Aml.Io(0x64, 0x64, 1, 1), Aml.IrqNoFlags(1)))),
                        Aml.Device("MOU",
                            Aml.Name("_HID", Aml.EisaId("PNP0F13")),
                            Aml.Name("_CRS", Aml.ResourceTemplate(Aml.IrqNoFlags(12))))))));
        var dsdt = new byte[HeaderLength + body.Length];
        Header(dsdt, "DSDT", dsdt.Length, revision: 1);
        body.CopyTo(dsdt, HeaderLength);
        return dsdt;
    }

    /// <summary>The common 36-byte header: signature, length, revision, checksum (left 0), OEM and creator fields.</summary>
    static void Header(Span<byte> t, string signature, int length, byte revision)
    {
        Encoding.ASCII.GetBytes(signature, t);
        BinaryPrimitives.WriteUInt32LittleEndian(t[4..], (uint)length);
        t[8] = revision;
        Encoding.ASCII.GetBytes(OemId, t[10..]);
        Encoding.ASCII.GetBytes(OemTableId, t[16..]);
        BinaryPrimitives.WriteUInt32LittleEndian(t[24..], 1);                     // OEM revision
        Encoding.ASCII.GetBytes(CreatorId, t[28..]);
        BinaryPrimitives.WriteUInt32LittleEndian(t[32..], 1);                     // creator revision
    }

    static int Align(int value, int alignment) => (value + alignment - 1) & -alignment;

    void FixChecksums(byte[] tablesBlob, byte[] rsdpBlob)
    {
        foreach (var (file, at, start, length) in checksums)
        {
            byte[] data = file == TablesFile ? tablesBlob : rsdpBlob;
            data[at] = 0;
            byte sum = 0;
            for (int i = start; i < start + length; i++) sum += data[i];
            data[at] = (byte)-sum;
        }
    }

    /// <summary>
    /// The tables for guest-physical address <paramref name="tablesBase"/> (64-byte aligned): every pointer made
    /// absolute and every checksum fixed. The RSDP that goes with them is returned too (place it 16-byte aligned).
    /// </summary>
    public (byte[] Tables, byte[] Rsdp) Place(uint tablesBase)
    {
        if ((tablesBase & 63) != 0) throw new ArgumentException("the tables need 64-byte alignment (the FACS is first)", nameof(tablesBase));
        byte[] t = (byte[])tables.Clone(), r = (byte[])rsdp.Clone();
        foreach (var (file, offset) in pointers)
        {
            var field = (file == TablesFile ? t : r).AsSpan(offset, 4);
            BinaryPrimitives.WriteUInt32LittleEndian(field, BinaryPrimitives.ReadUInt32LittleEndian(field) + tablesBase);
        }
        FixChecksums(t, r);
        return (t, r);
    }

    /// <summary>
    /// The linker/loader script: ALLOCATE the RSDP in the F segment (16-byte aligned, where an OS scans for it) and
    /// the tables in high memory (64-byte aligned, for the FACS); ADD_POINTER for each pointer field (the field holds
    /// an offset into the tables, to which the loader adds their address); ADD_CHECKSUM for each table and the RSDP.
    /// </summary>
    public byte[] TableLoader()
    {
        var commands = new List<byte[]>
        {
            Allocate(RsdpFile, 16, ZoneFSeg),
            Allocate(TablesFile, 64, ZoneHigh),
        };
        foreach (var (file, offset) in pointers) commands.Add(AddPointer(file, TablesFile, offset, 4));
        foreach (var (file, at, start, length) in checksums) commands.Add(AddChecksum(file, at, start, length));
        return commands.SelectMany(c => c).ToArray();
    }

    static byte[] Entry(uint command)
    {
        var e = new byte[LoaderEntryLength];
        BinaryPrimitives.WriteUInt32LittleEndian(e, command);
        return e;
    }

    static void FileName(Span<byte> field, string name)
    {
        if (Encoding.ASCII.GetByteCount(name) >= LoaderFileNameLength) throw new ArgumentException($"'{name}' is too long for a loader command");
        Encoding.ASCII.GetBytes(name, field);
    }

    static byte[] Allocate(string file, uint alignment, byte zone)
    {
        var e = Entry(LoaderAllocate);
        FileName(e.AsSpan(4, LoaderFileNameLength), file);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4 + LoaderFileNameLength), alignment);
        e[4 + LoaderFileNameLength + 4] = zone;
        return e;
    }

    /// <summary>ADD_POINTER: in <paramref name="pointerFile"/> at <paramref name="offset"/>, add the address of <paramref name="pointeeFile"/>.</summary>
    static byte[] AddPointer(string pointerFile, string pointeeFile, int offset, byte size)
    {
        var e = Entry(LoaderAddPointer);
        FileName(e.AsSpan(4, LoaderFileNameLength), pointerFile);
        FileName(e.AsSpan(4 + LoaderFileNameLength, LoaderFileNameLength), pointeeFile);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4 + 2 * LoaderFileNameLength), (uint)offset);
        e[4 + 2 * LoaderFileNameLength + 4] = size;
        return e;
    }

    /// <summary>ADD_CHECKSUM: subtract the byte sum of [start, start + length) of <paramref name="file"/> from the byte at <paramref name="at"/>.</summary>
    static byte[] AddChecksum(string file, int at, int start, int length)
    {
        var e = Entry(LoaderAddChecksum);
        FileName(e.AsSpan(4, LoaderFileNameLength), file);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4 + LoaderFileNameLength), (uint)at);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4 + LoaderFileNameLength + 4), (uint)start);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4 + LoaderFileNameLength + 8), (uint)length);
        return e;
    }

    /// <summary>Offers the tables to the firmware: <see cref="RsdpFile"/>, <see cref="TablesFile"/> and <see cref="LoaderFile"/>.</summary>
    public void AddTo(FwCfg fwCfg)
    {
        fwCfg.AddFile(RsdpFile, (byte[])rsdp.Clone());
        fwCfg.AddFile(TablesFile, (byte[])tables.Clone());
        fwCfg.AddFile(LoaderFile, TableLoader());
    }
}
