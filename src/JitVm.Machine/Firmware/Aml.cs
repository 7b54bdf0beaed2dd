using System.Buffers.Binary;
using System.Text;

namespace JitVm.Machine.Firmware;

/// <summary>
/// The few AML encodings the DSDT needs, written from the ACPI specification (ACPI 6.5 §20.2, "AML Grammar
/// Definition"; resource descriptors §6.4): name strings, package lengths, integers, Name, Scope, Device, Buffer and
/// Package, and the ISA/address-space resource descriptors of a _CRS. Each returns a new array; they run once per
/// machine.
/// </summary>
internal static class Aml
{
    public const byte ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08, BytePrefix = 0x0A, WordPrefix = 0x0B, DWordPrefix = 0x0C,
        ScopeOp = 0x10, BufferOp = 0x11, PackageOp = 0x12, ExtOpPrefix = 0x5B, DeviceOp = 0x82, RootChar = 0x5C;

    /// <summary>
    /// PkgLength for a package whose contents after the PkgLength are <paramref name="contentLength"/> bytes: the
    /// encoded value counts its own bytes too. One byte holds up to 63; longer ones put the byte count in bits 7–6 of the
    /// lead byte, the low nibble in its bits 3–0 and the rest in the following bytes.
    /// </summary>
    public static byte[] PkgLength(int contentLength)
    {
        if (contentLength + 1 <= 0x3F) return [(byte)(contentLength + 1)];
        for (int extra = 1; extra <= 3; extra++)
        {
            int total = contentLength + 1 + extra;
            if (total >= 1 << (4 + 8 * extra)) continue;
            var b = new byte[1 + extra];
            b[0] = (byte)(extra << 6 | total & 0xF);
            for (int i = 1; i <= extra; i++) b[i] = (byte)(total >> (4 + 8 * (i - 1)));
            return b;
        }
        throw new ArgumentOutOfRangeException(nameof(contentLength), "an AML package is at most 2^28 bytes");
    }

    /// <summary>A NameString of one segment, optionally rooted: "\\_SB" → '\' "_SB_"; short names are padded with '_'.</summary>
    public static byte[] NameString(string name)
    {
        bool rooted = name.StartsWith('\\');
        string seg = rooted ? name[1..] : name;
        if (seg.Length is 0 or > 4 || !(seg[0] is >= 'A' and <= 'Z' or '_') || seg.Any(c => !(c is >= 'A' and <= 'Z' or >= '0' and <= '9' or '_')))
            throw new ArgumentException($"'{name}' is not a one-segment AML name", nameof(name));
        var b = new List<byte>(5);
        if (rooted) b.Add(RootChar);
        b.AddRange(Encoding.ASCII.GetBytes(seg.PadRight(4, '_')));
        return b.ToArray();
    }

    /// <summary>The shortest integer encoding: ZeroOp, OneOp, or a byte/word/dword constant.</summary>
    public static byte[] Integer(uint value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        <= 0xFF => [BytePrefix, (byte)value],
        <= 0xFFFF => [WordPrefix, (byte)value, (byte)(value >> 8)],
        _ => [DWordPrefix, (byte)value, (byte)(value >> 8), (byte)(value >> 16), (byte)(value >> 24)],
    };

    /// <summary>
    /// EISAID("PNPxxxx") as the dword ASL makes of it: three letters of five bits each (A = 1) then four hex digits,
    /// stored big-endian (so "PNP0A03" is the bytes 41 D0 0A 03).
    /// </summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7 || id[..3].Any(c => c is < 'A' or > 'Z') || !uint.TryParse(id[3..], System.Globalization.NumberStyles.HexNumber, null, out uint product))
            throw new ArgumentException($"'{id}' is not an EISA id (three letters, four hex digits)", nameof(id));
        uint vendor = (uint)((id[0] - '@') << 10 | (id[1] - '@') << 5 | (id[2] - '@'));
        var b = new byte[5];
        b[0] = DWordPrefix;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(1), vendor << 16 | product);
        return b;
    }

    /// <summary>Name(name, value): DefName := NameOp NameString DataRefObject.</summary>
    public static byte[] Name(string name, byte[] value) => [NameOp, .. NameString(name), .. value];

    /// <summary>Scope(name) { terms }: DefScope := ScopeOp PkgLength NameString TermList.</summary>
    public static byte[] Scope(string name, params byte[][] terms) => WithPkgLength([ScopeOp], [.. NameString(name), .. Concat(terms)]);

    /// <summary>Device(name) { terms }: DefDevice := ExtOpPrefix DeviceOp PkgLength NameString TermList.</summary>
    public static byte[] Device(string name, params byte[][] terms) => WithPkgLength([ExtOpPrefix, DeviceOp], [.. NameString(name), .. Concat(terms)]);

    /// <summary>Buffer() { bytes }: DefBuffer := BufferOp PkgLength BufferSize ByteList.</summary>
    public static byte[] Buffer(byte[] data) => WithPkgLength([BufferOp], [.. Integer((uint)data.Length), .. data]);

    /// <summary>Package(n) { integers }: DefPackage := PackageOp PkgLength NumElements PackageElementList.</summary>
    public static byte[] Package(params uint[] elements)
    {
        if (elements.Length > 255) throw new ArgumentException("a Package holds at most 255 elements", nameof(elements));
        return WithPkgLength([PackageOp], [(byte)elements.Length, .. Concat(elements.Select(Integer).ToArray())]);
    }

    static byte[] WithPkgLength(byte[] op, byte[] content) => [.. op, .. PkgLength(content.Length), .. content];

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    // ---------------------------------------------------------------- resource descriptors (ACPI 6.5 §6.4)

    /// <summary>ResourceTemplate() { descriptors }: the descriptors then an end tag (checksum 0: "treat as valid"), as a Buffer.</summary>
    public static byte[] ResourceTemplate(params byte[][] descriptors) => Buffer([.. Concat(descriptors), 0x79, 0x00]);

    /// <summary>IO(Decode16, min, max, alignment, length): the small I/O port descriptor (type 08h, 7 bytes).</summary>
    public static byte[] Io(ushort min, ushort max, byte alignment, byte length) =>
        [0x47, 0x01, (byte)min, (byte)(min >> 8), (byte)max, (byte)(max >> 8), alignment, length];

    /// <summary>IRQNoFlags() { irq }: the small IRQ descriptor without its information byte (type 04h, 2 bytes: edge, active high).</summary>
    public static byte[] IrqNoFlags(int irq) => [0x22, (byte)(1 << irq), (byte)(1 << irq >> 8)];

    /// <summary>
    /// A Word Address Space Descriptor (large item 08h) the device produces with fixed ends and positive decode:
    /// resource type 1 = I/O (type flags 3: ISA and non-ISA ranges), 2 = bus numbers.
    /// </summary>
    static byte[] WordSpace(byte type, byte typeFlags, ushort min, ushort max)
    {
        var b = new byte[16];
        b[0] = 0x88;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(1), 13);
        b[3] = type;
        b[4] = 0x0C;                                            // _MAF and _MIF fixed, positive decode, producer
        b[5] = typeFlags;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), min);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(10), max);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(14), (ushort)(max - min + 1));
        return b;
    }

    /// <summary>WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, max - min + 1).</summary>
    public static byte[] WordBusNumber(ushort min, ushort max) => WordSpace(2, 0, min, max);

    /// <summary>WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, max - min + 1).</summary>
    public static byte[] WordIo(ushort min, ushort max) => WordSpace(1, 3, min, max);

    /// <summary>
    /// DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable or NonCacheable, ReadWrite, 0, min, max,
    /// 0, max - min + 1): the DWord Address Space Descriptor (large item 07h) of a memory window.
    /// </summary>
    public static byte[] DWordMemory(uint min, uint max, bool cacheable)
    {
        var b = new byte[26];
        b[0] = 0x87;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(1), 23);
        b[3] = 0;                                               // memory
        b[4] = 0x0C;
        b[5] = (byte)(cacheable ? 0x03 : 0x01);                 // _RW read-write; _MEM cacheable (1) or not (0)
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(10), min);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(14), max);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(22), max - min + 1);
        return b;
    }
}
