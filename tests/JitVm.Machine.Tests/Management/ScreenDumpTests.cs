using System.Buffers.Binary;
using System.IO.Compression;
using JitVm.Machine.Management;

namespace JitVm.Machine.Tests.Management;

/// <summary>
/// screendump: the VGA text screen as a PNG, decoded here with an independent reader (chunk CRCs checked bit by bit,
/// IDAT inflated, filters undone) and compared pixel by pixel with the glyphs of Debian's console font file.
/// </summary>
public class ScreenDumpTests
{
    const string FontFile = "/usr/share/consolefonts/default8x16.psf.gz";

    /// <summary>Glyph <paramref name="index"/> of the font file, read here without the emulator's font loader.</summary>
    static byte[] GlyphFromFile(int index)
    {
        using var gz = new GZipStream(File.OpenRead(FontFile), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var psf = ms.ToArray();
        Assert.Equal(new byte[] { 0x36, 0x04 }, psf[..2]);                 // PSF1
        Assert.Equal(16, psf[3]);
        return psf.AsSpan(4 + index * 16, 16).ToArray();
    }

    static uint BitwiseCrc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320 & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    /// <summary>Decodes an 8-bit RGB, non-interlaced PNG into (width, height, pixels).</summary>
    static (int W, int H, byte[] Rgb) DecodePng(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int p = 8, w = 0, h = 0;
        var idat = new MemoryStream();
        bool end = false;
        while (!end)
        {
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(p));
            string type = System.Text.Encoding.ASCII.GetString(png, p + 4, 4);
            var body = png.AsSpan(p + 8, len);
            Assert.Equal(BitwiseCrc(png.AsSpan(p + 4, len + 4)), BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(p + 8 + len)));
            switch (type)
            {
                case "IHDR":
                    w = (int)BinaryPrimitives.ReadUInt32BigEndian(body);
                    h = (int)BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, body[8..13].ToArray());
                    break;
                case "IDAT": idat.Write(body); break;
                case "IEND": end = true; break;
            }
            p += 12 + len;
        }
        Assert.Equal(png.Length, p);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        var data = raw.ToArray();
        int stride = w * 3;
        Assert.Equal((stride + 1) * h, data.Length);
        var rgb = new byte[stride * h];
        for (int y = 0; y < h; y++)
        {
            byte filter = data[y * (stride + 1)];
            for (int x = 0; x < stride; x++)
            {
                byte v = data[y * (stride + 1) + 1 + x];
                byte left = x >= 3 ? rgb[y * stride + x - 3] : (byte)0, up = y > 0 ? rgb[(y - 1) * stride + x] : (byte)0;
                rgb[y * stride + x] = filter switch { 0 => v, 1 => (byte)(v + left), 2 => (byte)(v + up), _ => throw new InvalidDataException("filter " + filter) };
            }
        }
        return (w, h, rgb);
    }

    [Fact]
    public void TheTextScreenIsDrawnWithTheConsoleFontInItsColours()
    {
        var m = TestGuests.MachineFor(TestGuests.Counter(out _));
        // Row 0: "A" yellow on blue, then a horizontal line (C4h) and a full block (DBh), both line-drawing codes; row 1 col 3: 01h (smiley).
        void Put(int col, int row, byte ch, byte attr)
        {
            m.Memory.Write8(0xB8000 + (uint)(row * 80 + col) * 2, ch);
            m.Memory.Write8(0xB8000 + (uint)(row * 80 + col) * 2 + 1, attr);
        }
        for (int i = 0; i < 80 * 25; i++) Put(i % 80, i / 80, 0x20, 0x07);
        Put(0, 0, (byte)'A', 0x1E);
        Put(1, 0, 0xC4, 0x1E);
        Put(2, 0, 0xDB, 0x4F);
        Put(3, 1, 0x01, 0x0A);
        // The cursor (scan lines 14-15 of its cell) at column 5 of row 2.
        ushort cursor = 2 * 80 + 5;
        m.Io.Out(0x3D4, 1, 0x0E); m.Io.Out(0x3D5, 1, (uint)(cursor >> 8));
        m.Io.Out(0x3D4, 1, 0x0F); m.Io.Out(0x3D5, 1, (uint)(cursor & 0xFF));
        string file = Path.Combine(Path.GetTempPath(), $"jitvm-screen-{Guid.NewGuid():N}.png");
        try
        {
            var vm = new VmInstance("screen", m);
            using var host = TestGuests.Host(vm);
            Assert.Equal($"{file}: 720x400 PNG\n", new MonitorInterpreter(host).Execute("screendump " + file));
            var (w, h, rgb) = DecodePng(File.ReadAllBytes(file));
            Assert.Equal((720, 400), (w, h));
            (byte, byte, byte) Px(int x, int y) => (rgb[(y * w + x) * 3], rgb[(y * w + x) * 3 + 1], rgb[(y * w + x) * 3 + 2]);
            var blue = ((byte)0, (byte)0, (byte)0xAA);
            var yellow = ((byte)0xFF, (byte)0xFF, (byte)0x55);
            var red = ((byte)0xAA, (byte)0, (byte)0);
            var white = ((byte)0xFF, (byte)0xFF, (byte)0xFF);
            var black = ((byte)0, (byte)0, (byte)0);
            var lightGreen = ((byte)0x55, (byte)0xFF, (byte)0x55);

            void CheckCell(int col, int row, int glyph, (byte, byte, byte) fg, (byte, byte, byte) bg, bool lineGraphics)
            {
                var bits = GlyphFromFile(glyph);
                Assert.Contains(bits, b => b != 0);
                for (int line = 0; line < 16; line++)
                    for (int x = 0; x < 9; x++)
                    {
                        bool on = x < 8 ? (bits[line] & (0x80 >> x)) != 0 : lineGraphics && (bits[line] & 1) != 0;
                        Assert.True(Px(col * 9 + x, row * 16 + line) == (on ? fg : bg), $"cell ({col},{row}) pixel ({x},{line})");
                    }
            }
            CheckCell(0, 0, 'A', yellow, blue, lineGraphics: false);
            CheckCell(1, 0, 0xC4, yellow, blue, lineGraphics: true);
            CheckCell(2, 0, 0xDB, white, red, lineGraphics: true);
            CheckCell(3, 1, 0x01, lightGreen, black, lineGraphics: false);
            var grey = ((byte)0xAA, (byte)0xAA, (byte)0xAA);
            for (int x = 0; x < 9; x++)
            {
                Assert.Equal(black, Px(5 * 9 + x, 2 * 16 + 13));
                Assert.Equal(grey, Px(5 * 9 + x, 2 * 16 + 14));
                Assert.Equal(grey, Px(5 * 9 + x, 2 * 16 + 15));
            }
            // 'A' of this font: rows 2..9 hold its shape; its ninth column stays background; blanks are background.
            Assert.Equal(blue, Px(8, 5));
            Assert.Equal(black, Px(100, 200));
            // The horizontal line runs through the ninth column into the next cell.
            int lineRow = Enumerable.Range(0, 16).First(l => GlyphFromFile(0xC4)[l] == 0xFF);
            Assert.Equal(yellow, Px(9 + 8, lineRow));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void TheFontLoaderReadsBothPsfVersionsAndRefusesGarbage()
    {
        var builtIn = BitmapFont.BuiltIn;
        Assert.NotNull(builtIn);
        Assert.Equal(16, builtIn!.Height);
        var a = GlyphFromFile('A');
        for (int l = 0; l < 16; l++) Assert.Equal(a[l], builtIn.Row((byte)'A', l));

        // A PSF2 font of 2 glyphs, 8x4, whose Unicode table maps glyph 1 to 'B': code 'B' gets glyph 1.
        var psf2 = new List<byte>();
        void U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); psf2.AddRange(b); }
        U32(0x864AB572); U32(0); U32(32); U32(1); U32(2); U32(4); U32(4); U32(8);
        psf2.AddRange(new byte[] { 0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB, 0xCC, 0xDD });
        psf2.AddRange(new byte[] { (byte)'A', 0xFF, (byte)'B', 0xFF });
        var font = BitmapFont.Parse(psf2.ToArray());
        Assert.Equal(4, font.Height);
        Assert.Equal(0xAA, font.Row((byte)'B', 0));
        Assert.Equal(0x44, font.Row((byte)'A', 3));

        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => BitmapFont.Parse(new byte[40])).Message);
        Assert.Contains("runs past", Assert.Throws<InvalidDataException>(() => BitmapFont.Parse(new byte[] { 0x36, 0x04, 0, 16, 1, 2 })).Message);
        psf2[28] = 9;
        Assert.Contains("width 9", Assert.Throws<InvalidDataException>(() => BitmapFont.Parse(psf2.ToArray())).Message);
    }

    [Fact]
    public void AGraphicsModeIsReportedNotDrawn()
    {
        var m = TestGuests.MachineFor(TestGuests.Counter(out _));
        m.Io.Out(0x3DA, 1, 0);                                         // reset the attribute flip-flop
        m.Io.Out(0x3C0, 1, 0x30);                                      // mode control, palette source on
        m.Io.Out(0x3C0, 1, 0x01);                                      // graphics
        var vm = new VmInstance("g", m);
        using var host = TestGuests.Host(vm);
        Assert.Contains("graphics mode", new MonitorInterpreter(host).Execute("screendump /tmp/never-written.png"));
    }
}
