using System.Text;

namespace JitVm.Devices.Vga;

/// <summary>A snapshot of the VGA's text screen: characters and attributes row by row, the cursor and the mode.</summary>
public sealed class TextScreen
{
    internal TextScreen(int columns, int rows, byte[] characters, byte[] attributes, int cursorColumn, int cursorRow,
        bool cursorVisible, bool isTextMode, bool displayEnabled, long generation)
    {
        Columns = columns;
        Rows = rows;
        Characters = characters;
        Attributes = attributes;
        CursorColumn = cursorColumn;
        CursorRow = cursorRow;
        CursorVisible = cursorVisible;
        IsTextMode = isTextMode;
        DisplayEnabled = displayEnabled;
        Generation = generation;
    }

    /// <summary>Characters per row (CRTC horizontal display end + 1).</summary>
    public int Columns { get; }
    /// <summary>Rows (displayed scan lines / character height).</summary>
    public int Rows { get; }
    /// <summary>CP437 character codes, <see cref="Columns"/> × <see cref="Rows"/>, row-major.</summary>
    public byte[] Characters { get; }
    /// <summary>Attribute bytes (foreground bits 0–3, background bits 4–6, blink/intensity bit 7), row-major.</summary>
    public byte[] Attributes { get; }
    /// <summary>Cursor column (meaningful when <see cref="CursorVisible"/>).</summary>
    public int CursorColumn { get; }
    /// <summary>Cursor row (meaningful when <see cref="CursorVisible"/>).</summary>
    public int CursorRow { get; }
    /// <summary>The cursor is enabled (cursor start bit 5 clear, start line ≤ end line) and on the screen.</summary>
    public bool CursorVisible { get; }
    /// <summary>The attribute controller is in alphanumeric mode (mode control bit 0 = 0).</summary>
    public bool IsTextMode { get; }
    /// <summary>The picture is shown: attribute PAS set and the sequencer's screen-off bit (clocking mode bit 5) clear.</summary>
    public bool DisplayEnabled { get; }
    /// <summary>The device's <see cref="VgaDevice.Generation"/> when this snapshot was taken.</summary>
    public long Generation { get; }

    /// <summary>The character code at (<paramref name="column"/>, <paramref name="row"/>).</summary>
    public byte CharacterAt(int column, int row) => Characters[row * Columns + column];

    /// <summary>The attribute at (<paramref name="column"/>, <paramref name="row"/>).</summary>
    public byte AttributeAt(int column, int row) => Attributes[row * Columns + column];

    /// <summary>One row as Unicode (CP437 mapped, full width).</summary>
    public string RowText(int row)
    {
        var sb = new StringBuilder(Columns);
        for (int c = 0; c < Columns; c++) sb.Append(Cp437.ToChar(Characters[row * Columns + c]));
        return sb.ToString();
    }

    /// <summary>All rows, each full width, CP437 mapped to Unicode, joined by '\n' (no trailing newline).</summary>
    public string ToText()
    {
        var sb = new StringBuilder((Columns + 1) * Rows);
        for (int r = 0; r < Rows; r++)
        {
            if (r > 0) sb.Append('\n');
            for (int c = 0; c < Columns; c++) sb.Append(Cp437.ToChar(Characters[r * Columns + c]));
        }
        return sb.ToString();
    }
}

/// <summary>
/// Reads the text screen the CRTC would display: geometry from the CRTC (horizontal display end, vertical display
/// end with overflow bits, maximum scan line with double scanning, offset), characters from plane 0 and attributes
/// from plane 1 starting at the CRTC start address, with the CRTC's byte/word/doubleword address mapping.
/// </summary>
public static class VgaTextRenderer
{
    /// <summary>Largest column or row count reported (a bound on what garbage CRTC values can ask for).</summary>
    public const int MaxDimension = 256;

    /// <summary>Takes a snapshot of <paramref name="vga"/>'s text screen.</summary>
    public static TextScreen Render(VgaDevice vga)
    {
        var crtc = vga.Crtc;
        int columns = Math.Clamp(crtc[0x01] + 1, 1, MaxDimension);
        int lines = crtc[0x12] | ((crtc[0x07] & 0x02) << 7) | ((crtc[0x07] & 0x40) << 3);
        lines += 1;
        int charHeight = (crtc[0x09] & 0x1F) + 1;
        if ((crtc[0x09] & 0x80) != 0) charHeight *= 2;               // double scanning: each line shown twice
        int rows = Math.Clamp(lines / charHeight, 1, MaxDimension);
        int stride = crtc[0x13] * 2;                                  // MA advance per character row
        if (stride == 0) stride = columns;
        int start = (crtc[0x0C] << 8) | crtc[0x0D];

        var chars = new byte[columns * rows];
        var attrs = new byte[columns * rows];
        byte[] p0 = vga.Planes[0], p1 = vga.Planes[1];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                int pa = PlaneAddress(crtc, (start + r * stride + c) & 0xFFFF);
                chars[r * columns + c] = p0[pa];
                attrs[r * columns + c] = p1[pa];
            }

        int cursor = (crtc[0x0E] << 8) | crtc[0x0F];
        int delta = (cursor - start) & 0xFFFF;
        int cursorRow = delta / stride, cursorColumn = delta % stride;
        bool cursorOn = (crtc[0x0A] & 0x20) == 0 && (crtc[0x0A] & 0x1F) <= (crtc[0x0B] & 0x1F);
        bool onScreen = cursorRow < rows && cursorColumn < columns;
        return new TextScreen(columns, rows, chars, attrs, cursorColumn, cursorRow, cursorOn && onScreen,
            (vga.Attr[0x10] & 1) == 0, vga.AttributePaletteSource && (vga.Seq[1] & 0x20) == 0, vga.Generation);
    }

    /// <summary>
    /// The plane address the CRTC fetches for memory address <paramref name="ma"/>: doubleword mode (underline
    /// location bit 6) shifts left by 2, word mode (mode control bit 6 = 0) shifts left by 1 with MA15 (mode control
    /// bit 5 = 1) or MA13 in bit 0, byte mode uses MA as is.
    /// </summary>
    static int PlaneAddress(byte[] crtc, int ma)
    {
        if ((crtc[0x14] & 0x40) != 0) return (ma << 2) & 0xFFFF;
        if ((crtc[0x17] & 0x40) == 0)
        {
            int low = (crtc[0x17] & 0x20) != 0 ? (ma >> 15) & 1 : (ma >> 13) & 1;
            return ((ma << 1) | low) & 0xFFFF;
        }
        return ma & 0xFFFF;
    }
}
