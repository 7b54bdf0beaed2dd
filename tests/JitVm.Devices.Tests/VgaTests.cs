using JitVm.Core;
using JitVm.Devices.Vga;

namespace JitVm.Devices.Tests;

public class VgaTests
{
    // Register tables as a VGA BIOS programs them (IBM VGA mode 3: 80x25 text at B8000; mode 12h: 640x480x16 planar).
    static readonly byte[] Mode3Seq = [0x03, 0x00, 0x03, 0x00, 0x02];
    static readonly byte[] Mode3Crtc = [0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00,
        0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF];
    static readonly byte[] Mode3Attr = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D,
        0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00];
    static readonly byte[] Mode3Gc = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF];

    static readonly byte[] Mode12Seq = [0x03, 0x01, 0x0F, 0x00, 0x06];
    static readonly byte[] Mode12Crtc = [0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xEA, 0x8C, 0xDF, 0x28, 0x00, 0xE7, 0x04, 0xE3, 0xFF];
    static readonly byte[] Mode12Attr = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D,
        0x3E, 0x3F, 0x01, 0x00, 0x0F, 0x00, 0x00];
    static readonly byte[] Mode12Gc = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF];

    const uint TextBase = 0x18000;                                    // 0xB8000 - 0xA0000

    static (VgaDevice Vga, IoBus Io) Create()
    {
        var vga = new VgaDevice();
        var io = new IoBus();
        vga.Attach(io);
        return (vga, io);
    }

    static void SetMode(IoBus io, byte misc, byte[] seq, byte[] crtc, byte[] attr, byte[] gc)
    {
        io.Out(0x3C2, 1, misc);
        io.Out(0x3C4, 2, 0x0100);                                      // sequencer synchronous reset
        for (int i = 1; i < seq.Length; i++) io.Out(0x3C4, 2, (uint)(i | (seq[i] << 8)));
        io.Out(0x3C4, 2, (uint)(seq[0] << 8));
        ushort crtcPort = (misc & 1) != 0 ? (ushort)0x3D4 : (ushort)0x3B4;
        io.Out(crtcPort, 1, 0x11);                                     // clear the write protect first
        io.Out((ushort)(crtcPort + 1), 1, (uint)(io.In((ushort)(crtcPort + 1), 1) & 0x7F));
        for (int i = 0; i < crtc.Length; i++) io.Out(crtcPort, 2, (uint)(i | (crtc[i] << 8)));
        io.In((ushort)(crtcPort + 6), 1);                              // reset the attribute flip-flop
        for (int i = 0; i < attr.Length; i++)
        {
            io.Out(0x3C0, 1, (uint)i);
            io.Out(0x3C0, 1, attr[i]);
        }
        for (int i = 0; i < gc.Length; i++) io.Out(0x3CE, 2, (uint)(i | (gc[i] << 8)));
        io.Out(0x3C0, 1, 0x20);                                        // PAS: palette to the display
    }

    static void SetMode3(IoBus io) => SetMode(io, 0x67, Mode3Seq, Mode3Crtc, Mode3Attr, Mode3Gc);
    static void SetMode12(IoBus io) => SetMode(io, 0xE3, Mode12Seq, Mode12Crtc, Mode12Attr, Mode12Gc);

    static void WriteString(VgaDevice vga, int row, int col, string s, byte attr)
    {
        for (int i = 0; i < s.Length; i++)
        {
            uint a = TextBase + (uint)((row * 80 + col + i) * 2);
            vga.WriteMemory(a, (byte)s[i]);
            vga.WriteMemory(a + 1, attr);
        }
    }

    static void Crtc(IoBus io, int index, int value) => io.Out(0x3D4, 2, (uint)(index | (value << 8)));
    static void Gc(IoBus io, int index, int value) => io.Out(0x3CE, 2, (uint)(index | (value << 8)));
    static void Seq(IoBus io, int index, int value) => io.Out(0x3C4, 2, (uint)(index | (value << 8)));

    static void ClearText(VgaDevice vga)
    {
        for (uint i = 0; i < 80 * 25; i++)
        {
            vga.WriteMemory(TextBase + i * 2, 0x20);
            vga.WriteMemory(TextBase + i * 2 + 1, 0x07);
        }
    }

    [Fact]
    public void Mode3TextWrittenAtB8000ShowsWithItsAttributes()
    {
        var (vga, io) = Create();
        SetMode12(io);
        Assert.False(vga.GetTextScreen().IsTextMode);                  // attribute mode control bit 0 = graphics

        SetMode3(io);
        ClearText(vga);
        WriteString(vga, 0, 0, "Hello", 0x1F);
        vga.WriteMemory(TextBase + 2 * 80 * 2, 0xDB);                  // CP437 full block at row 2
        var screen = vga.GetTextScreen();
        Assert.True(screen.IsTextMode);
        Assert.True(screen.DisplayEnabled);
        Assert.Equal(80, screen.Columns);
        Assert.Equal(25, screen.Rows);
        var lines = vga.ToText().Split('\n');
        Assert.Equal(25, lines.Length);
        Assert.Equal("Hello" + new string(' ', 75), lines[0]);
        Assert.Equal('█', lines[2][0]);
        Assert.Equal((byte)'H', screen.CharacterAt(0, 0));
        Assert.Equal(0x1F, screen.AttributeAt(4, 0));
        Assert.Equal(0x07, screen.AttributeAt(5, 0));
        Assert.Equal(0x1F, vga.ReadMemory(TextBase + 1));               // odd/even read returns the attribute byte
        Assert.Equal((byte)'e', vga.ReadMemory(TextBase + 2));
    }

    [Fact]
    public void Cp437GlyphsMapToUnicode()
    {
        Assert.Equal('☺', Cp437.ToChar(0x01));
        Assert.Equal('⌂', Cp437.ToChar(0x7F));
        Assert.Equal('Ç', Cp437.ToChar(0x80));
        Assert.Equal('╬', Cp437.ToChar(0xCE));
        Assert.Equal('ß', Cp437.ToChar(0xE1));
        Assert.Equal('■', Cp437.ToChar(0xFE));
        Assert.Equal('A', Cp437.ToChar(0x41));
        Assert.Equal(256, Enumerable.Range(0, 256).Select(i => Cp437.ToChar((byte)i)).Distinct().Count() + 1);   // only 0x00 and 0x20 share ' '
    }

    [Fact]
    public void CursorLocationRegistersPlaceTheCursor()
    {
        var (vga, io) = Create();
        SetMode3(io);
        int loc = 3 * 80 + 5;
        Crtc(io, 0x0E, loc >> 8);
        Crtc(io, 0x0F, loc & 0xFF);
        var s = vga.GetTextScreen();
        Assert.True(s.CursorVisible);
        Assert.Equal(3, s.CursorRow);
        Assert.Equal(5, s.CursorColumn);
        io.Out(0x3D4, 1, 0x0E);
        Assert.Equal(loc >> 8, (int)io.In(0x3D5, 1));

        Crtc(io, 0x0A, 0x20 | 0x0D);                                   // cursor start bit 5: cursor off
        Assert.False(vga.GetTextScreen().CursorVisible);
        Crtc(io, 0x0A, 0x0D);
        Assert.True(vga.GetTextScreen().CursorVisible);
        Crtc(io, 0x0E, 0x07);                                          // 0x0700 + 5 = beyond 80x25
        Assert.False(vga.GetTextScreen().CursorVisible);
    }

    [Fact]
    public void StartAddressScrollsTheScreen()
    {
        var (vga, io) = Create();
        SetMode3(io);
        ClearText(vga);
        for (int r = 0; r < 26; r++) WriteString(vga, r, 0, $"Line{r}", 0x07);
        Assert.StartsWith("Line0 ", vga.ToText().Split('\n')[0]);
        long gen = vga.Generation;
        Crtc(io, 0x0C, 0);
        Crtc(io, 0x0D, 80);                                             // one row down (in character units)
        Assert.True(vga.Generation > gen);
        var lines = vga.ToText().Split('\n');
        Assert.StartsWith("Line1 ", lines[0]);
        Assert.StartsWith("Line25", lines[24]);
        Crtc(io, 0x0D, 85);                                             // mid-row start: columns shift too
        Assert.Equal("Line2", vga.GetTextScreen().RowText(0)[75..]);
        Assert.Equal("     ", vga.GetTextScreen().RowText(0)[..5]);
    }

    [Fact]
    public void ReadingInputStatus1ResetsTheAttributeFlipFlop()
    {
        var (vga, io) = Create();
        SetMode3(io);
        io.In(0x3DA, 1);                                               // SetMode's final PAS write left it expecting data
        io.Out(0x3C0, 1, 0x31);                                        // index 0x11 (overscan), PAS kept
        Assert.Equal(0x31u, io.In(0x3C0, 1));                          // 3C0 reads back the index
        io.Out(0x3C0, 1, 0x32);                                        // the flip-flop makes this the data
        Assert.Equal(0x32u, io.In(0x3C1, 1));

        io.Out(0x3C0, 1, 0x31);                                        // index: the flip-flop now expects data
        io.In(0x3DA, 1);                                               // back to the index state
        io.Out(0x3C0, 1, 0x33);                                        // index 0x13 (would be overscan data without the reset)
        io.Out(0x3C0, 1, 0x05);
        Assert.Equal(0x33u, io.In(0x3C0, 1));
        Assert.Equal(0x05u, io.In(0x3C1, 1));                          // horizontal pixel panning
        io.Out(0x3C0, 1, 0x31);
        Assert.Equal(0x32u, io.In(0x3C1, 1));                          // overscan untouched
        io.Out(0x3C0, 1, 0x00);                                        // (data write completes the pair)

        // Palette registers are writable only with PAS = 0; PAS clear also blanks the display.
        io.In(0x3DA, 1);
        io.Out(0x3C0, 1, 0x25); io.Out(0x3C0, 1, 0x2A);                // PAS = 1: ignored
        Assert.Equal(0x05u, io.In(0x3C1, 1));                          // palette 5 keeps its mode 3 value
        io.Out(0x3C0, 1, 0x05); io.Out(0x3C0, 1, 0x2A);                // PAS = 0: loaded
        Assert.Equal(0x2Au, io.In(0x3C1, 1));
        Assert.False(vga.GetTextScreen().DisplayEnabled);
        io.Out(0x3C0, 1, 0x20);
        Assert.True(vga.GetTextScreen().DisplayEnabled);
    }

    [Fact]
    public void DacAutoIncrementsAndMasksToSixBits()
    {
        var (vga, io) = Create();
        io.Out(0x3C8, 1, 10);
        foreach (byte b in new byte[] { 0xFF, 0x41, 0x02, 0x10, 0x20, 0x30 }) io.Out(0x3C9, 1, b);
        Assert.Equal(12u, io.In(0x3C8, 1));                            // write index advanced past two entries
        Assert.Equal(0x00u, io.In(0x3C7, 1));                          // DAC state: write mode
        Assert.Equal(((byte)0x3F, (byte)0x01, (byte)0x02), vga.GetDacEntry(10));
        io.Out(0x3C7, 1, 10);
        Assert.Equal(0x03u, io.In(0x3C7, 1));                          // DAC state: read mode
        var read = Enumerable.Range(0, 7).Select(_ => io.In(0x3C9, 1)).ToArray();
        Assert.Equal(new uint[] { 0x3F, 0x01, 0x02, 0x10, 0x20, 0x30, vga.GetDacEntry(12).R }, read);

        // An entry changes only when its third component is written.
        io.Out(0x3C8, 1, 20);
        io.Out(0x3C9, 1, 0x11);
        io.Out(0x3C9, 1, 0x12);
        Assert.NotEqual((byte)0x11, vga.GetDacEntry(20).R);
        io.Out(0x3C9, 1, 0x13);
        Assert.Equal(((byte)0x11, (byte)0x12, (byte)0x13), vga.GetDacEntry(20));
        io.Out(0x3C6, 1, 0x0F);
        Assert.Equal(0x0Fu, io.In(0x3C6, 1));
    }

    [Fact]
    public void PlanarWriteMode0HonorsMapMaskSetResetAndBitMask()
    {
        var (vga, io) = Create();
        SetMode12(io);
        Assert.Equal(0xE3u, io.In(0x3CC, 1));                          // misc output reads back at 3CC
        // Map mask planes 0 and 2, bit mask 0xF0: only the high nibble of planes 0 and 2 is written.
        Seq(io, 2, 0x05);
        Gc(io, 8, 0xF0);
        vga.ReadMemory(0);                                             // load the latches (all zero)
        vga.WriteMemory(0, 0xFF);
        Assert.Equal(new byte[] { 0xF0, 0x00, 0xF0, 0x00 }, ReadPlanes(vga, io, 0));

        // Set/reset: planes 1 and 3 enabled, set/reset 1010b -> plane 1 ones, plane 3 ones; others get data.
        Seq(io, 2, 0x0F);
        Gc(io, 8, 0x0F);
        Gc(io, 0, 0x0A);
        Gc(io, 1, 0x0A);
        vga.ReadMemory(0);                                             // latches = F0 00 F0 00
        vga.WriteMemory(0, 0x03);
        Assert.Equal(new byte[] { 0xF3, 0x0F, 0xF3, 0x0F }, ReadPlanes(vga, io, 0));

        // Rotate by 4 and XOR with the latches across the whole byte.
        Gc(io, 1, 0x00);
        Gc(io, 8, 0xFF);
        Gc(io, 3, (3 << 3) | 4);
        vga.ReadMemory(0);
        vga.WriteMemory(0, 0x0F);                                      // rotated: 0xF0
        Assert.Equal(new byte[] { 0x03, 0xFF, 0x03, 0xFF }, ReadPlanes(vga, io, 0));
        Gc(io, 3, 0);
    }

    [Fact]
    public void ReadMode1ComparesColorsHonoringDontCare()
    {
        var (vga, io) = Create();
        SetMode12(io);
        // Write mode 2: pixel colors per bit. Pixels 0-3 color 5, pixels 4-7 color 9.
        Gc(io, 5, 0x02);
        Gc(io, 8, 0xF0);
        vga.ReadMemory(8);
        vga.WriteMemory(8, 5);
        Gc(io, 8, 0x0F);
        vga.ReadMemory(8);
        vga.WriteMemory(8, 9);
        Gc(io, 8, 0xFF);
        Assert.Equal(new byte[] { 0xFF, 0x00, 0xF0, 0x0F }, ReadPlanes(vga, io, 8));

        Gc(io, 5, 0x08);                                               // read mode 1
        Gc(io, 2, 5);
        Gc(io, 7, 0x0F);
        Assert.Equal(0xF0, vga.ReadMemory(8));
        Gc(io, 2, 9);
        Assert.Equal(0x0F, vga.ReadMemory(8));
        Gc(io, 2, 1);
        Gc(io, 7, 0x01);                                               // only plane 0 counts: both colors are odd
        Assert.Equal(0xFF, vga.ReadMemory(8));
        Gc(io, 7, 0x00);
        Gc(io, 2, 0);
        Assert.Equal(0xFF, vga.ReadMemory(8));
    }

    [Fact]
    public void WriteModes1To3UseLatchesColorExpansionAndSetReset()
    {
        var (vga, io) = Create();
        SetMode12(io);
        Gc(io, 5, 0x02);
        vga.WriteMemory(0, 0x0C);                                      // color 12 everywhere: planes 2,3 = FF
        Gc(io, 5, 0x01);                                               // write mode 1: copy latches
        vga.ReadMemory(0);
        vga.WriteMemory(100, 0x00);
        Assert.Equal(new byte[] { 0x00, 0x00, 0xFF, 0xFF }, ReadPlanes(vga, io, 100));

        Gc(io, 5, 0x03);                                               // write mode 3
        Gc(io, 0, 0x03);                                               // set/reset color 3
        Gc(io, 8, 0x3C);
        Gc(io, 3, 1);                                                  // rotate right by 1
        vga.ReadMemory(100);
        vga.WriteMemory(100, 0xF0);                                    // rotated 0x78 & 0x3C = 0x38
        Assert.Equal(new byte[] { 0x38, 0x38, 0xC7, 0xC7 }, ReadPlanes(vga, io, 100));
    }

    static byte[] ReadPlanes(VgaDevice vga, IoBus io, uint offset)
    {
        io.Out(0x3CE, 1, 5);
        uint mode = io.In(0x3CF, 1);
        Gc(io, 5, (int)(mode & ~0x18u));                               // read mode 0, no odd/even
        io.Out(0x3C4, 1, 4);
        uint mem = io.In(0x3C5, 1);
        Seq(io, 4, (int)((mem & ~0x08u) | 0x04));                      // sequential addressing
        var r = new byte[4];
        for (int p = 0; p < 4; p++)
        {
            Gc(io, 4, p);
            r[p] = vga.ReadMemory(offset);
        }
        Gc(io, 5, (int)mode);
        Seq(io, 4, (int)mem);
        Gc(io, 4, 0);
        return r;
    }

    [Fact]
    public void MemoryMapSelectChoosesTheWindow()
    {
        var (vga, io) = Create();
        SetMode12(io);
        var cases = new (int Map, uint First, uint End)[] { (0, 0, 0x20000), (1, 0, 0x10000), (2, 0x10000, 0x18000), (3, 0x18000, 0x20000) };
        foreach (var (map, first, end) in cases)
        {
            Gc(io, 6, 0x01 | (map << 2));
            vga.WriteMemory(first, 0x00);
            vga.WriteMemory(first + 0x123, 0xA5);
            Assert.Equal(0xA5, vga.ReadMemory(first + 0x123));         // the window's offset 0x123 is plane offset 0x123
            Assert.Equal(0x00, vga.ReadMemory(first));
            if (first > 0) Assert.Equal(0xFF, vga.ReadMemory(first - 1));
            if (end < 0x20000)
            {
                Assert.Equal(0xFF, vga.ReadMemory(end));
                vga.WriteMemory(end + 0x123, 0x5A);                    // ignored: outside the window
            }
            Assert.Equal(0xA5, vga.ReadMemory(first + 0x123));
            vga.WriteMemory(first + 0x123, 0x00);
        }
        Gc(io, 6, 0x0D);                                               // B8000 window again: B0000 side must read FF
        Assert.Equal(0xFF, vga.ReadMemory(0x10000));
        Assert.Equal(0xFF, vga.ReadMemory(0x20000));                   // beyond the legacy window

        io.Out(0x3C2, 1, 0xE1);                                        // misc bit 1 = 0: RAM access disabled
        Assert.Equal(0xFF, vga.ReadMemory(0x18000));
    }

    [Fact]
    public void OddEvenAndChain4MapAddressesToPlanes()
    {
        var (vga, io) = Create();
        SetMode3(io);
        vga.WriteMemory(TextBase + 6, 0x41);                           // even -> plane 0 at 6
        vga.WriteMemory(TextBase + 7, 0x1E);                           // odd  -> plane 1 at 6
        Assert.Equal(new byte[] { 0x41, 0x1E, 0x00, 0x00 }, ReadPlanes(vga, io, 0x18006));

        // Mode 13h-style chain-4: address bits 0-1 pick the plane, the plane address is A & ~3.
        Seq(io, 4, 0x0E);
        Seq(io, 2, 0x0F);
        Gc(io, 5, 0x40);
        Gc(io, 6, 0x05);
        for (uint i = 0; i < 8; i++) vga.WriteMemory(i, (byte)(0x10 + i));
        Assert.Equal(0x13, vga.ReadMemory(3));
        Assert.Equal(new byte[] { 0x10, 0x11, 0x12, 0x13 }, ReadPlanes(vga, io, 0));
        Assert.Equal(new byte[] { 0x14, 0x15, 0x16, 0x17 }, ReadPlanes(vga, io, 4));
    }

    [Fact]
    public void CrtcWriteProtectGuardsRegisters0To7()
    {
        var (vga, io) = Create();
        SetMode3(io);
        Crtc(io, 0x11, 0x8E);                                          // protect on
        Crtc(io, 0x01, 0x27);
        Crtc(io, 0x07, 0x00);                                          // only bit 4 (line compare bit 8) may change
        Crtc(io, 0x0C, 0x01);                                          // not protected
        io.Out(0x3D4, 1, 0x01);
        Assert.Equal(0x4Fu, io.In(0x3D5, 1));
        io.Out(0x3D4, 1, 0x07);
        Assert.Equal(0x0Fu, io.In(0x3D5, 1));
        io.Out(0x3D4, 1, 0x0C);
        Assert.Equal(0x01u, io.In(0x3D5, 1));
        Assert.Equal(80, vga.GetTextScreen().Columns);

        Crtc(io, 0x11, 0x0E);                                          // protect off
        Crtc(io, 0x01, 0x27);
        Assert.Equal(40, vga.GetTextScreen().Columns);
    }

    [Fact]
    public void MonochromeAddressingMovesCrtcAndStatusPorts()
    {
        var (vga, io) = Create();
        io.Out(0x3C2, 1, 0x66);                                        // bit 0 = 0: 0x3Bx
        Assert.Equal(0xFFu, io.In(0x3D5, 1));
        io.Out(0x3B4, 1, 0x0F);
        io.Out(0x3B5, 1, 0x42);
        Assert.Equal(0x42u, io.In(0x3B5, 1));
        Assert.Equal(0xFFu, io.In(0x3DA, 1));
        io.Out(0x3C0, 1, 0x11);                                        // flip-flop now expects data
        io.In(0x3BA, 1);                                               // mono input status 1 resets it
        io.Out(0x3C0, 1, 0x32);
        Assert.Equal(0x32u, io.In(0x3C0, 1));
        io.Out(0x3BA, 1, 0x01);                                        // feature control write
        Assert.Equal(0x01u, io.In(0x3CA, 1));
        io.Out(0x3C2, 1, 0x67);
        io.Out(0x3D4, 1, 0x0F);
        Assert.Equal(0x42u, io.In(0x3D5, 1));                          // same CRTC, other address
    }

    [Fact]
    public void InputStatus1RetraceAndDisplayEnableToggleAcrossReads()
    {
        var (_, io) = Create();
        // BIOS-style wait: while in retrace; then until retrace. Bounded so a stuck bit fails fast.
        int n = 0;
        while ((io.In(0x3DA, 1) & 8) != 0 && n < 100) n++;
        Assert.True(n < 100);
        n = 0;
        while ((io.In(0x3DA, 1) & 8) == 0 && n < 100) n++;
        Assert.True(n < 100);
        var seen = Enumerable.Range(0, 32).Select(_ => io.In(0x3DA, 1)).ToArray();
        Assert.Contains(seen, v => (v & 1) == 0);
        Assert.Contains(seen, v => (v & 1) == 1 && (v & 8) == 0);
        Assert.Contains(seen, v => (v & 8) != 0);
        Assert.All(seen, v => Assert.True((v & 8) == 0 || (v & 1) == 1));     // retrace implies not displaying
        Assert.All(seen, v => Assert.Equal(0u, v & 0xF6));
    }

    [Fact]
    public void InputStatus1FollowsTheVirtualClockWhenGiven()
    {
        long instr = 0;
        var clock = new VirtualClock(() => instr);
        var vga = new VgaDevice(clock);
        Assert.Equal(0u, vga.In(0x3DA, 1));                            // t = 0: first active line, displaying
        Assert.Equal(0u, vga.In(0x3DA, 1));                            // time stands still: no change
        instr = 31_778 * 412 / 10 + 10;                                // line 412: vertical retrace
        Assert.Equal(9u, vga.In(0x3DA, 1));
        instr = 31_778 * 414 / 10 + 10;                                // after retrace, still vertical blank
        Assert.Equal(1u, vga.In(0x3DA, 1));
        instr = 31_778 * 449 / 10 + 31_778 * 7 / 80;                    // next frame, line 0, in the horizontal blank
        Assert.Equal(1u, vga.In(0x3DA, 1));
    }

    [Fact]
    public void GenerationChangesOnlyWithTheScreen()
    {
        var (vga, io) = Create();
        long g = vga.Generation;
        vga.ReadMemory(TextBase);
        io.In(0x3DA, 1);
        io.Out(0x3D4, 1, 0x0E);
        io.In(0x3D5, 1);
        Assert.Equal(g, vga.Generation);
        vga.WriteMemory(TextBase, (byte)'x');
        Assert.True(vga.Generation > g);
        g = vga.Generation;
        vga.WriteMemory(TextBase, (byte)'x');                          // same value: no visible change
        Assert.Equal(g, vga.Generation);
        Crtc(io, 0x0F, 0x10);
        Assert.True(vga.Generation > g);
        Assert.Equal(vga.Generation, vga.GetTextScreen().Generation);
    }

    [Fact]
    public void ResetLeavesAnEmpty80x25ColorTextMode()
    {
        var (vga, io) = Create();
        SetMode12(io);
        vga.WriteMemory(0, 0x77);
        io.Out(0x3C0, 1, 0x11);                                        // flip-flop left in the data state
        io.Out(0x3C8, 1, 1);
        io.Out(0x3C9, 1, 0x3F);
        vga.Reset();
        Assert.Equal(0x67u, io.In(0x3CC, 1));
        io.Out(0x3C4, 1, 4);
        Assert.Equal(0x02u, io.In(0x3C5, 1));
        io.Out(0x3CE, 1, 6);
        Assert.Equal(0x0Eu, io.In(0x3CF, 1));
        io.Out(0x3C0, 1, 0x30);                                        // index state after reset
        Assert.Equal(0x30u, io.In(0x3C0, 1));
        Assert.Equal(((byte)0x2A, (byte)0x15, (byte)0x00), vga.GetDacEntry(0x14));   // EGA brown
        var s = vga.GetTextScreen();
        Assert.True(s.IsTextMode);
        Assert.Equal((80, 25), (s.Columns, s.Rows));
        Assert.True(s.CursorVisible);
        Assert.Equal((0, 0), (s.CursorColumn, s.CursorRow));
        Assert.All(s.Characters, c => Assert.Equal(0, c));
        Assert.Equal(new string(' ', 80), vga.ToText().Split('\n')[24]);
        Gc(io, 6, 0x05);
        Seq(io, 4, 0x06);
        Gc(io, 5, 0x00);
        Assert.Equal(0x00, vga.ReadMemory(0));                         // video memory cleared
    }

    [Fact]
    public void ArbitraryPortValuesKeepTheScreenWithinBounds()
    {
        var (vga, io) = Create();
        var rng = new Random(1234);
        for (int i = 0; i < 20000; i++)
        {
            ushort port = (ushort)(0x3B0 + rng.Next(0x30));
            if (rng.Next(3) == 0) io.In(port, 1);
            else io.Out(port, rng.Next(3) switch { 0 => 1, 1 => 2, _ => 4 }, (uint)rng.Next());
            if (rng.Next(50) == 0) vga.WriteMemory((uint)rng.Next(0x21000), (byte)rng.Next());
            if (rng.Next(50) == 0) vga.ReadMemory((uint)rng.Next(0x21000));
        }
        var s = vga.GetTextScreen();
        Assert.InRange(s.Columns, 1, VgaTextRenderer.MaxDimension);
        Assert.InRange(s.Rows, 1, VgaTextRenderer.MaxDimension);
        Assert.Equal(s.Rows * (s.Columns + 1) - 1, s.ToText().Length);
    }
}
