using JitVm.Devices.Vga;

namespace JitVm.Machine.Management;

/// <summary>
/// The monitor's <c>screendump</c>: the VGA text screen drawn as a mode-3 monitor shows it, 9-pixel character cells
/// (the ninth column repeats the eighth for the line-drawing codes C0h–DFh, as with the attribute controller's line
/// graphics enable) of <see cref="BitmapFont.Height"/> lines, colours from the DAC through the default attribute
/// palette, the cursor as an underline on the last two lines of its cell, blink off (bit 7 selects blinking, so the
/// background takes bits 4–6 only).
/// </summary>
public static class ScreenDump
{
    /// <summary>Pixels per character cell horizontally.</summary>
    public const int CellWidth = 9;

    /// <summary>The attribute controller's palette after a mode-3 set: text colour index → DAC entry.</summary>
    static readonly byte[] DefaultPalette = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F];

    /// <summary>The screen's pixels: width, height and 24-bit RGB rows. Throws <see cref="InvalidOperationException"/> in a graphics mode.</summary>
    public static (int Width, int Height, byte[] Rgb) Render(VgaDevice vga, BitmapFont font)
    {
        var screen = vga.GetTextScreen();
        if (!screen.IsTextMode) throw new InvalidOperationException("the VGA is in a graphics mode; only text screens can be dumped");
        int width = screen.Columns * CellWidth, height = screen.Rows * font.Height;
        var rgb = new byte[width * height * 3];
        if (!screen.DisplayEnabled) return (width, height, rgb);
        Span<(byte R, byte G, byte B)> colours = stackalloc (byte, byte, byte)[16];
        for (int i = 0; i < 16; i++)
        {
            var (r, g, b) = vga.GetDacEntry(DefaultPalette[i]);
            // 6-bit DAC components to 8 bits (63 → 255).
            colours[i] = ((byte)(r << 2 | r >> 4), (byte)(g << 2 | g >> 4), (byte)(b << 2 | b >> 4));
        }
        for (int row = 0; row < screen.Rows; row++)
            for (int col = 0; col < screen.Columns; col++)
            {
                byte ch = screen.CharacterAt(col, row), attr = screen.AttributeAt(col, row);
                var fg = colours[attr & 0x0F];
                var bg = colours[(attr >> 4) & 0x07];
                bool lineGraphics = ch is >= 0xC0 and <= 0xDF;
                bool cursor = screen.CursorVisible && screen.CursorRow == row && screen.CursorColumn == col;
                for (int line = 0; line < font.Height; line++)
                {
                    int bits = font.Row(ch, line) << 1;                       // 9 columns: bit 8 leftmost
                    if (lineGraphics) bits |= (bits >> 1) & 1;                // the ninth column repeats the eighth
                    if (cursor && line >= font.Height - 2) bits = 0x1FF;
                    int p = ((row * font.Height + line) * width + col * CellWidth) * 3;
                    for (int x = 0; x < CellWidth; x++, p += 3)
                    {
                        var c = (bits & (0x100 >> x)) != 0 ? fg : bg;
                        rgb[p] = c.R;
                        rgb[p + 1] = c.G;
                        rgb[p + 2] = c.B;
                    }
                }
            }
        return (width, height, rgb);
    }

    /// <summary>Renders the screen and writes it to <paramref name="path"/> as a PNG; returns the image size.</summary>
    public static (int Width, int Height) WritePng(VgaDevice vga, string path, BitmapFont? font = null)
    {
        font ??= BitmapFont.BuiltIn ?? throw new InvalidOperationException(
            "no screen font was built in (install Debian's console-data package and rebuild)");
        var (w, h, rgb) = Render(vga, font);
        using var f = File.Create(path);
        PngEncoder.Write(f, w, h, rgb);
        return (w, h);
    }
}
