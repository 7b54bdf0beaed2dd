using System.Buffers.Binary;
using System.Text;

namespace JitVm.Machine.Tests.Acpi;

/// <summary>
/// Reads ACPI 1.0 tables the way an OS does, from physical memory given as a read function: the RSDP, the RSDT, its
/// FADT and, through the FADT, the FACS and the DSDT, checking signatures, lengths and checksums on the way; and
/// decodes the DSDT's AML (the subset a static DSDT uses: Scope, Device, Name with integers, strings, buffers and
/// packages) into a name → value map, checking every package length. Written from the specification, independently
/// of the code under test.
/// </summary>
internal sealed class AcpiWalker
{
    readonly Func<uint, int, byte[]> read;

    public AcpiWalker(Func<uint, int, byte[]> read) => this.read = read;

    public uint Rsdp, Rsdt, Fadt, Facs, Dsdt;
    public byte[] FadtBytes = [], DsdtBytes = [];

    public static byte Sum(ReadOnlySpan<byte> b)
    {
        byte s = 0;
        foreach (byte x in b) s += x;
        return s;
    }

    static string Sig(byte[] b, int at = 0) => Encoding.ASCII.GetString(b, at, 4);

    /// <summary>Reads a table with a standard header at <paramref name="at"/>: signature, length and checksum checked.</summary>
    byte[] Table(uint at, string signature, int? expectedLength = null)
    {
        var head = read(at, 36);
        Assert.Equal(signature, Sig(head));
        int length = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(4));
        if (expectedLength is { } e) Assert.Equal(e, length);
        var t = read(at, length);
        Assert.True(Sum(t) == 0, $"{signature} checksum: bytes sum to 0x{Sum(t):X2}");
        Assert.Equal("JITVM ", Encoding.ASCII.GetString(t, 10, 6));
        return t;
    }

    public void Walk(uint rsdp)
    {
        Rsdp = rsdp;
        Assert.Equal(0u, rsdp & 15);
        var p = read(rsdp, 20);
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(p, 0, 8));
        Assert.Equal(0, Sum(p));
        Assert.Equal(0, p[15]);                                 // revision 0: 20 bytes, RSDT only
        Assert.Equal("JITVM ", Encoding.ASCII.GetString(p, 9, 6));
        Rsdt = BinaryPrimitives.ReadUInt32LittleEndian(p.AsSpan(16));
        var rsdt = Table(Rsdt, "RSDT");
        Assert.Equal(1, rsdt[8]);
        int entries = (rsdt.Length - 36) / 4;
        Assert.Equal(36 + 4 * entries, rsdt.Length);
        var sigs = Enumerable.Range(0, entries).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(rsdt.AsSpan(36 + 4 * i))).ToList();
        Assert.Single(sigs);                                    // the FADT only: no MADT on a PIC machine
        Fadt = sigs[0];
        FadtBytes = Table(Fadt, "FACP", 116);
        Assert.Equal(1, FadtBytes[8]);
        Facs = U32(FadtBytes, 36);
        Dsdt = U32(FadtBytes, 40);
        var facs = read(Facs, 64);
        Assert.Equal("FACS", Sig(facs));
        Assert.Equal(64, BinaryPrimitives.ReadInt32LittleEndian(facs.AsSpan(4)));
        Assert.Equal(0u, Facs & 63);                            // 64-byte aligned, as the specification requires
        DsdtBytes = Table(Dsdt, "DSDT");
        Assert.Equal(1, DsdtBytes[8]);                          // revision 1: 32-bit integers
    }

    public static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));
    public static ushort U16(byte[] b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(at));

    // ---------------------------------------------------------------- AML

    /// <summary>An EISA id dword (as stored) back to its string: 3 five-bit letters, 4 hex digits.</summary>
    public static string EisaIdString(uint stored)
    {
        uint v = (stored & 0xFF) << 24 | (stored >> 8 & 0xFF) << 16 | (stored >> 16 & 0xFF) << 8 | stored >> 24;   // big-endian value
        char L(int shift) => (char)('@' + (v >> shift & 0x1F));
        return $"{L(26)}{L(21)}{L(16)}{v & 0xFFFF:X4}";
    }

    /// <summary>Decodes a DSDT's AML body into full names (e.g. "\_SB_.PCI0._HID") and values: uint, string, byte[] (buffer) or object[] (package).</summary>
    public static Dictionary<string, object> Decode(byte[] dsdt)
    {
        var names = new Dictionary<string, object>();
        var devices = new List<string>();
        int end = TermList(dsdt, 36, dsdt.Length, "\\", names, devices);
        Assert.Equal(dsdt.Length, end);
        foreach (var d in devices) names[d] = "Device";
        return names;
    }

    static int PkgLength(byte[] b, int at, out int length)
    {
        int lead = b[at];
        int follow = lead >> 6;
        if (follow == 0) { length = lead & 0x3F; return 1; }
        Assert.Equal(0, lead & 0x30);                           // bits 5-4 must be 0 in multi-byte encodings
        length = lead & 0x0F;
        for (int i = 0; i < follow; i++) length |= b[at + 1 + i] << (4 + 8 * i);
        return 1 + follow;
    }

    static string NameSeg(byte[] b, int at)
    {
        string s = Encoding.ASCII.GetString(b, at, 4);
        Assert.Matches("^[A-Z_][A-Z0-9_]{3}$", s);
        return s;
    }

    static int NameString(byte[] b, int at, string scope, out string full)
    {
        if (b[at] == 0x5C) { full = "\\" + NameSeg(b, at + 1); return 5; }
        full = (scope == "\\" ? "\\" : scope + ".") + NameSeg(b, at);
        return 4;
    }

    static int TermList(byte[] b, int at, int end, string scope, Dictionary<string, object> names, List<string> devices)
    {
        while (at < end)
        {
            switch (b[at])
            {
                case 0x10:                                      // Scope
                {
                    int n = PkgLength(b, at + 1, out int len);
                    int pkgEnd = at + 1 + len;
                    int s = NameString(b, at + 1 + n, "\\", out string name);
                    Assert.Equal(pkgEnd, TermList(b, at + 1 + n + s, pkgEnd, name, names, devices));
                    at = pkgEnd;
                    break;
                }
                case 0x5B when b[at + 1] == 0x82:               // Device
                {
                    int n = PkgLength(b, at + 2, out int len);
                    int pkgEnd = at + 2 + len;
                    int s = NameString(b, at + 2 + n, scope, out string name);
                    devices.Add(name);
                    Assert.Equal(pkgEnd, TermList(b, at + 2 + n + s, pkgEnd, name, names, devices));
                    at = pkgEnd;
                    break;
                }
                case 0x08:                                      // Name
                {
                    int s = NameString(b, at + 1, scope, out string name);
                    Assert.False(names.ContainsKey(name), $"{name} defined twice");
                    at = DataObject(b, at + 1 + s, out object value);
                    names[name] = value;
                    break;
                }
                default:
                    Assert.Fail($"unexpected AML opcode 0x{b[at]:X2} at 0x{at:X}");
                    break;
            }
        }
        return at;
    }

    static int DataObject(byte[] b, int at, out object value)
    {
        switch (b[at])
        {
            case 0x00: value = 0u; return at + 1;
            case 0x01: value = 1u; return at + 1;
            case 0xFF: value = 0xFFFFFFFFu; return at + 1;
            case 0x0A: value = (uint)b[at + 1]; return at + 2;
            case 0x0B: value = (uint)U16(b, at + 1); return at + 3;
            case 0x0C: value = U32(b, at + 1); return at + 5;
            case 0x0D:
            {
                int z = Array.IndexOf(b, (byte)0, at + 1);
                value = Encoding.ASCII.GetString(b, at + 1, z - at - 1);
                return z + 1;
            }
            case 0x11:                                          // Buffer
            {
                int n = PkgLength(b, at + 1, out int len);
                int pkgEnd = at + 1 + len;
                int after = DataObject(b, at + 1 + n, out object size);
                int count = (int)(uint)size;
                Assert.Equal(pkgEnd - after, count);           // the buffer's bytes fill its package exactly
                value = b[after..pkgEnd];
                return pkgEnd;
            }
            case 0x12:                                          // Package
            {
                int n = PkgLength(b, at + 1, out int len);
                int pkgEnd = at + 1 + len;
                int count = b[at + 1 + n];
                var items = new List<object>();
                int p = at + 2 + n;
                while (p < pkgEnd)
                {
                    p = DataObject(b, p, out object item);
                    items.Add(item);
                }
                Assert.Equal(pkgEnd, p);
                Assert.Equal(count, items.Count);
                value = items.ToArray();
                return pkgEnd;
            }
            default:
                Assert.Fail($"unexpected AML data opcode 0x{b[at]:X2} at 0x{at:X}");
                value = 0u;
                return at;
        }
    }

    /// <summary>A resource template's descriptors as (kind, min, max, extra) tuples; the end tag must close it exactly.</summary>
    public static List<(string Kind, uint Min, uint Max, uint Extra)> Resources(byte[] buffer)
    {
        var list = new List<(string, uint, uint, uint)>();
        int at = 0;
        while (true)
        {
            byte tag = buffer[at];
            if ((tag & 0x80) == 0)
            {
                int type = tag >> 3 & 0xF, len = tag & 7;
                switch (type)
                {
                    case 0x0F:
                        Assert.Equal(1, len);
                        Assert.Equal(buffer.Length, at + 2);
                        return list;
                    case 0x08:
                        Assert.Equal(7, len);
                        Assert.Equal(1, buffer[at + 1]);        // 16-bit decode
                        list.Add(("io", U16(buffer, at + 2), U16(buffer, at + 4), buffer[at + 7]));
                        break;
                    case 0x04:
                        Assert.Equal(2, len);
                        ushort mask = U16(buffer, at + 1);
                        list.Add(("irq", (uint)System.Numerics.BitOperations.TrailingZeroCount(mask), (uint)(31 - System.Numerics.BitOperations.LeadingZeroCount((uint)mask)), mask));
                        break;
                    default:
                        Assert.Fail($"unexpected small resource 0x{tag:X2}");
                        break;
                }
                at += 1 + len;
            }
            else
            {
                int len = U16(buffer, at + 1);
                switch (tag)
                {
                    case 0x88:
                        Assert.Equal(13, len);
                        string kind = buffer[at + 3] switch { 1 => "wordio", 2 => "bus", _ => "word?" };
                        uint min = U16(buffer, at + 8), max = U16(buffer, at + 10), length = U16(buffer, at + 14);
                        Assert.Equal(max - min + 1, length);
                        list.Add((kind, min, max, buffer[at + 4]));
                        break;
                    case 0x87:
                        Assert.Equal(23, len);
                        Assert.Equal(0, buffer[at + 3]);
                        uint dmin = U32(buffer, at + 10), dmax = U32(buffer, at + 14);
                        Assert.Equal(dmax - dmin + 1, U32(buffer, at + 22));
                        list.Add(("mem", dmin, dmax, buffer[at + 5]));
                        break;
                    default:
                        Assert.Fail($"unexpected large resource 0x{tag:X2}");
                        break;
                }
                at += 3 + len;
            }
        }
    }
}
