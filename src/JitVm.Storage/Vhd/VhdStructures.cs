using System.Buffers.Binary;
using System.Text;

namespace JitVm.Storage.Vhd;

/// <summary>VHD disk types (footer "Disk Type" field).</summary>
public enum VhdDiskType : uint
{
    /// <summary>Fixed hard disk: data, then the footer.</summary>
    Fixed = 2,
    /// <summary>Dynamic hard disk: footer copy, dynamic header, BAT, blocks, footer.</summary>
    Dynamic = 3,
    /// <summary>Differencing hard disk: a dynamic disk whose unwritten sectors read from a parent disk.</summary>
    Differencing = 4,
}

/// <summary>CHS geometry as stored in the footer's "Disk Geometry" field.</summary>
public readonly record struct VhdGeometry(ushort Cylinders, byte Heads, byte SectorsPerTrack)
{
    /// <summary>The largest geometry the format can express: 65535 x 16 x 255.</summary>
    public static readonly VhdGeometry Max = new(65535, 16, 255);

    /// <summary>Sectors the geometry addresses.</summary>
    public long TotalSectors => (long)Cylinders * Heads * SectorsPerTrack;

    /// <summary>
    /// The specification's CHS calculation (appendix "CHS Calculation") for a disk of <paramref name="totalSectors"/>
    /// 512-byte sectors. The result may address fewer sectors than requested (it rounds down).
    /// </summary>
    public static VhdGeometry FromSectors(long totalSectors)
    {
        long sectors = Math.Min(totalSectors, 65535L * 16 * 255);
        int spt, heads;
        long cylTimesHeads;
        if (sectors >= 65535L * 16 * 63)
        {
            spt = 255;
            heads = 16;
            cylTimesHeads = sectors / spt;
        }
        else
        {
            spt = 17;
            cylTimesHeads = sectors / spt;
            heads = (int)((cylTimesHeads + 1023) / 1024);
            if (heads < 4) heads = 4;
            if (cylTimesHeads >= heads * 1024L || heads > 16)
            {
                spt = 31;
                heads = 16;
                cylTimesHeads = sectors / spt;
            }
            if (cylTimesHeads >= heads * 1024L)
            {
                spt = 63;
                heads = 16;
                cylTimesHeads = sectors / spt;
            }
        }
        return new VhdGeometry((ushort)(cylTimesHeads / heads), (byte)heads, (byte)spt);
    }
}

/// <summary>The 512-byte hard disk footer (all fields big-endian).</summary>
sealed class VhdFooter
{
    public const int Size = 512;
    public const ulong NoDataOffset = ulong.MaxValue;
    public const uint FileFormatVersion = 0x0001_0000;
    public static readonly DateTime Epoch = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    static ReadOnlySpan<byte> Cookie => "conectix"u8;

    public uint Features = 2; // bit 1 "reserved" must always be set
    public uint Version = FileFormatVersion;
    public ulong DataOffset = NoDataOffset;
    public uint TimeStamp;
    public uint CreatorApplication;
    public uint CreatorVersion;
    public uint CreatorHostOs;
    public ulong OriginalSize;
    public ulong CurrentSize;
    public VhdGeometry Geometry;
    public VhdDiskType DiskType;
    public Guid UniqueId;
    public byte SavedState;

    /// <summary>The creator application as text (four ASCII characters).</summary>
    public string CreatorApplicationText
    {
        get
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, CreatorApplication);
            return Encoding.ASCII.GetString(b);
        }
    }

    public static uint FourCc(string s) => BinaryPrimitives.ReadUInt32BigEndian(Encoding.ASCII.GetBytes(s));

    /// <summary>True if <paramref name="b"/> starts with the footer cookie "conectix".</summary>
    public static bool HasCookie(ReadOnlySpan<byte> b) => b.Length >= 8 && b[..8].SequenceEqual(Cookie);

    /// <summary>One's complement of the sum of all bytes, the 4 bytes at <paramref name="skip"/> counted as zero.</summary>
    public static uint Checksum(ReadOnlySpan<byte> b, int skip)
    {
        uint sum = 0;
        for (int i = 0; i < b.Length; i++)
            if (i < skip || i >= skip + 4) sum += b[i];
        return ~sum;
    }

    /// <summary>Parses and validates cookie, checksum, version, disk type, size and saved-state fields.</summary>
    public static VhdFooter Parse(ReadOnlySpan<byte> b, string where)
    {
        if (!HasCookie(b))
            throw new ImageFormatException($"VHD footer cookie ({where}): expected \"conectix\", found \"{Printable(b[..8])}\"");
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(b[64..]);
        uint computed = Checksum(b[..Size], 64);
        if (stored != computed)
            throw new ImageFormatException($"VHD footer checksum ({where}): stored 0x{stored:X8}, computed 0x{computed:X8}");
        var f = new VhdFooter
        {
            Features = BinaryPrimitives.ReadUInt32BigEndian(b[8..]),
            Version = BinaryPrimitives.ReadUInt32BigEndian(b[12..]),
            DataOffset = BinaryPrimitives.ReadUInt64BigEndian(b[16..]),
            TimeStamp = BinaryPrimitives.ReadUInt32BigEndian(b[24..]),
            CreatorApplication = BinaryPrimitives.ReadUInt32BigEndian(b[28..]),
            CreatorVersion = BinaryPrimitives.ReadUInt32BigEndian(b[32..]),
            CreatorHostOs = BinaryPrimitives.ReadUInt32BigEndian(b[36..]),
            OriginalSize = BinaryPrimitives.ReadUInt64BigEndian(b[40..]),
            CurrentSize = BinaryPrimitives.ReadUInt64BigEndian(b[48..]),
            Geometry = new VhdGeometry(BinaryPrimitives.ReadUInt16BigEndian(b[56..]), b[58], b[59]),
            DiskType = (VhdDiskType)BinaryPrimitives.ReadUInt32BigEndian(b[60..]),
            UniqueId = new Guid(b.Slice(68, 16), bigEndian: true),
            SavedState = b[84],
        };
        if (f.Version >> 16 != 1)
            throw new ImageFormatException($"VHD footer file format version ({where}): 0x{f.Version:X8} is not a version 1.x footer");
        if (f.DiskType is not (VhdDiskType.Fixed or VhdDiskType.Dynamic or VhdDiskType.Differencing))
            throw new ImageFormatException($"VHD footer disk type ({where}): {(uint)f.DiskType} is not fixed (2), dynamic (3) or differencing (4)");
        if (f.CurrentSize == 0 || f.CurrentSize % 512 != 0 || f.CurrentSize > long.MaxValue / 2)
            throw new ImageFormatException($"VHD footer current size ({where}): {f.CurrentSize} is not a positive multiple of 512");
        if (f.SavedState > 1)
            throw new ImageFormatException($"VHD footer saved state ({where}): {f.SavedState} is not 0 or 1");
        return f;
    }

    /// <summary>Serialises the footer, checksum included.</summary>
    public byte[] ToBytes()
    {
        var b = new byte[Size];
        Cookie.CopyTo(b);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), Features);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), Version);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), DataOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), TimeStamp);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(28), CreatorApplication);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(32), CreatorVersion);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(36), CreatorHostOs);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(40), OriginalSize);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(48), CurrentSize);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(56), Geometry.Cylinders);
        b[58] = Geometry.Heads;
        b[59] = Geometry.SectorsPerTrack;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(60), (uint)DiskType);
        UniqueId.TryWriteBytes(b.AsSpan(68, 16), bigEndian: true, out _);
        b[84] = SavedState;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(64), Checksum(b, 64));
        return b;
    }

    internal static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (byte c in b) sb.Append(c is >= 0x20 and < 0x7F ? (char)c : '.');
        return sb.ToString();
    }
}

/// <summary>One of the eight parent locator entries of a differencing disk's dynamic header.</summary>
readonly record struct VhdParentLocator(uint PlatformCode, uint DataSpace, uint DataLength, ulong DataOffset)
{
    /// <summary>Platform codes: Windows absolute and relative paths (UTF-16LE), Mac OS X file URL (UTF-8).</summary>
    public const uint W2ku = 0x57326B75, W2ru = 0x57327275, MacX = 0x4D616358;
}

/// <summary>The 1024-byte dynamic disk header (all fields big-endian).</summary>
sealed class VhdDynamicHeader
{
    public const int Size = 1024;
    public const uint HeaderVersion = 0x0001_0000;
    public const int Locators = 8;
    static ReadOnlySpan<byte> Cookie => "cxsparse"u8;

    public ulong DataOffset = ulong.MaxValue;
    public ulong TableOffset;
    public uint Version = HeaderVersion;
    public uint MaxTableEntries;
    public uint BlockSize;
    // Differencing disks only.
    public Guid ParentUniqueId;
    public uint ParentTimeStamp;
    public string ParentName = "";
    public VhdParentLocator[] ParentLocators = new VhdParentLocator[Locators];

    /// <summary>Parses and validates cookie, checksum, version and block size (power of two, at least 4096 bytes).</summary>
    public static VhdDynamicHeader Parse(ReadOnlySpan<byte> b)
    {
        if (!b[..8].SequenceEqual(Cookie))
            throw new ImageFormatException($"VHD dynamic header cookie: expected \"cxsparse\", found \"{VhdFooter.Printable(b[..8])}\"");
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(b[36..]);
        uint computed = VhdFooter.Checksum(b[..Size], 36);
        if (stored != computed)
            throw new ImageFormatException($"VHD dynamic header checksum: stored 0x{stored:X8}, computed 0x{computed:X8}");
        var h = new VhdDynamicHeader
        {
            DataOffset = BinaryPrimitives.ReadUInt64BigEndian(b[8..]),
            TableOffset = BinaryPrimitives.ReadUInt64BigEndian(b[16..]),
            Version = BinaryPrimitives.ReadUInt32BigEndian(b[24..]),
            MaxTableEntries = BinaryPrimitives.ReadUInt32BigEndian(b[28..]),
            BlockSize = BinaryPrimitives.ReadUInt32BigEndian(b[32..]),
            ParentUniqueId = new Guid(b.Slice(40, 16), bigEndian: true),
            ParentTimeStamp = BinaryPrimitives.ReadUInt32BigEndian(b[56..]),
        };
        var name = Encoding.BigEndianUnicode.GetString(b.Slice(64, 512));
        int nul = name.IndexOf('\0');
        h.ParentName = nul < 0 ? name : name[..nul];
        for (int i = 0; i < Locators; i++)
        {
            var e = b.Slice(576 + i * 24, 24);
            h.ParentLocators[i] = new VhdParentLocator(BinaryPrimitives.ReadUInt32BigEndian(e), BinaryPrimitives.ReadUInt32BigEndian(e[4..]),
                BinaryPrimitives.ReadUInt32BigEndian(e[8..]), BinaryPrimitives.ReadUInt64BigEndian(e[16..]));
        }
        if (h.Version >> 16 != 1)
            throw new ImageFormatException($"VHD dynamic header version: 0x{h.Version:X8} is not a version 1.x header");
        if (h.BlockSize < 512 * 8 || (h.BlockSize & (h.BlockSize - 1)) != 0)
            throw new ImageFormatException($"VHD dynamic header block size: {h.BlockSize} is not a power of two of at least 4096 bytes");
        return h;
    }

    /// <summary>Serialises the header (parent fields zero unless set), checksum included.</summary>
    public byte[] ToBytes()
    {
        var b = new byte[Size];
        Cookie.CopyTo(b);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), DataOffset);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), Version);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(28), MaxTableEntries);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(32), BlockSize);
        ParentUniqueId.TryWriteBytes(b.AsSpan(40, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(56), ParentTimeStamp);
        var name = Encoding.BigEndianUnicode.GetBytes(ParentName);
        name.AsSpan(0, Math.Min(name.Length, 512)).CopyTo(b.AsSpan(64));
        for (int i = 0; i < Locators; i++)
        {
            var e = b.AsSpan(576 + i * 24, 24);
            var l = ParentLocators[i];
            BinaryPrimitives.WriteUInt32BigEndian(e, l.PlatformCode);
            BinaryPrimitives.WriteUInt32BigEndian(e[4..], l.DataSpace);
            BinaryPrimitives.WriteUInt32BigEndian(e[8..], l.DataLength);
            BinaryPrimitives.WriteUInt64BigEndian(e[16..], l.DataOffset);
        }
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(36), VhdFooter.Checksum(b, 36));
        return b;
    }
}
