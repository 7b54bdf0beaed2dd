using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using JitVm.Devices.Vga;

namespace JitVm.Machine.Management;

/// <summary>
/// An 8-pixel-wide console font, indexed by CP437 code (the VGA character generator's order). Read from a PC Screen
/// Font file (PSF1 or PSF2, optionally gzipped): when the file has a Unicode table, each CP437 code takes the glyph
/// that maps to its Unicode character (<see cref="Cp437"/>), so fonts in another order work too; otherwise glyph
/// <c>n</c> is code <c>n</c>.
/// </summary>
public sealed class BitmapFont
{
    const string ResourceName = "JitVm.Machine.Management.screen-font.psf.gz";

    readonly byte[] glyphs;

    BitmapFont(int height, byte[] glyphs)
    {
        Height = height;
        this.glyphs = glyphs;
    }

    /// <summary>Scan lines per glyph.</summary>
    public int Height { get; }

    /// <summary>Row <paramref name="line"/> of CP437 code <paramref name="code"/>'s glyph: bit 7 is the leftmost pixel.</summary>
    public byte Row(byte code, int line) => glyphs[code * Height + line];

    static BitmapFont? builtIn;
    static bool builtInLoaded;

    /// <summary>
    /// The font embedded at build time (Debian's console-data default8x16, the IBM VGA font), or null when the build
    /// machine did not have it.
    /// </summary>
    public static BitmapFont? BuiltIn
    {
        get
        {
            if (!builtInLoaded)
            {
                using var s = typeof(BitmapFont).Assembly.GetManifestResourceStream(ResourceName);
                builtIn = s is null ? null : Load(s);
                builtInLoaded = true;
            }
            return builtIn;
        }
    }

    /// <summary>Reads a PSF1 or PSF2 font, gzipped or not. Throws <see cref="InvalidDataException"/> naming the bad field.</summary>
    public static BitmapFont Load(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        byte[] data = buffer.ToArray();
        if (data.Length >= 2 && data[0] == 0x1F && data[1] == 0x8B)
        {
            using var gz = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            gz.CopyTo(plain);
            data = plain.ToArray();
        }
        return Parse(data);
    }

    /// <summary>Parses an uncompressed PSF1 or PSF2 font.</summary>
    public static BitmapFont Parse(ReadOnlySpan<byte> data)
    {
        int count, height, bytesPerGlyph, headerSize;
        bool hasTable;
        int width = 8;
        if (data.Length >= 4 && data[0] == 0x36 && data[1] == 0x04)
        {
            // PSF1: magic 36 04, mode (bit 0: 512 glyphs, bits 1/2: Unicode table), char size (= height, width 8).
            count = (data[2] & 1) != 0 ? 512 : 256;
            hasTable = (data[2] & 6) != 0;
            height = bytesPerGlyph = data[3];
            headerSize = 4;
        }
        else if (data.Length >= 32 && BinaryPrimitives.ReadUInt32LittleEndian(data) == 0x864AB572)
        {
            headerSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[8..]);
            hasTable = (BinaryPrimitives.ReadUInt32LittleEndian(data[12..]) & 1) != 0;
            count = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[16..]);
            bytesPerGlyph = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[20..]);
            height = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[24..]);
            width = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[28..]);
            if (headerSize < 32 || headerSize > data.Length) throw new InvalidDataException($"PSF2 headersize {headerSize} is out of range");
            if (count is <= 0 or > 65536) throw new InvalidDataException($"PSF2 length {count} is out of range");
        }
        else throw new InvalidDataException("not a PSF font (magic)");
        if (width != 8) throw new InvalidDataException($"PSF width {width}: only 8-pixel fonts are supported");
        if (height is < 1 or > 32 || bytesPerGlyph != height) throw new InvalidDataException($"PSF glyph height {height} / size {bytesPerGlyph} is not supported");
        long glyphBytes = (long)count * bytesPerGlyph;
        if (headerSize + glyphBytes > data.Length) throw new InvalidDataException($"PSF glyph data ({count} glyphs) runs past the end of the file");
        ReadOnlySpan<byte> bitmaps = data.Slice(headerSize, (int)glyphBytes);

        // Which glyph shows each Unicode character (the first glyph listing it wins).
        var byChar = new Dictionary<int, int>();
        if (hasTable)
        {
            bool psf2 = headerSize != 4;
            int p = headerSize + (int)glyphBytes;
            for (int glyph = 0; glyph < count && p < data.Length; glyph++)
            {
                if (psf2)
                {
                    // UTF-8 sequences, 0xFE starts a multi-character sequence (skipped), 0xFF ends the glyph's entry.
                    int end = data[p..].IndexOf((byte)0xFF);
                    if (end < 0) break;
                    var entry = data.Slice(p, end);
                    int seq = entry.IndexOf((byte)0xFE);
                    if (seq >= 0) entry = entry[..seq];
                    foreach (var rune in Encoding.UTF8.GetString(entry).EnumerateRunes()) byChar.TryAdd(rune.Value, glyph);
                    p += end + 1;
                }
                else
                {
                    // UCS-2 little-endian, 0xFFFE starts a sequence (skipped), 0xFFFF ends the glyph's entry.
                    bool inSequence = false;
                    while (p + 1 < data.Length)
                    {
                        int u = BinaryPrimitives.ReadUInt16LittleEndian(data[p..]);
                        p += 2;
                        if (u == 0xFFFF) break;
                        if (u == 0xFFFE) inSequence = true;
                        else if (!inSequence) byChar.TryAdd(u, glyph);
                    }
                }
            }
        }

        var glyphs = new byte[256 * height];
        for (int code = 0; code < 256; code++)
        {
            int glyph = byChar.TryGetValue(Cp437.ToChar((byte)code), out int g) ? g : code < count ? code : 0;
            bitmaps.Slice(glyph * bytesPerGlyph, height).CopyTo(glyphs.AsSpan(code * height));
        }
        return new BitmapFont(height, glyphs);
    }
}
