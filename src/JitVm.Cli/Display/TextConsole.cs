using System.Collections.Concurrent;
using System.Text;
using JitVm.Devices;
using JitVm.Devices.Vga;

namespace JitVm.Cli.Display;

/// <summary>
/// <c>--display text</c>: draws the VGA text screen in the terminal (ANSI colours, redrawn when it changed, at most
/// <see cref="MaxFramesPerSecond"/> times a second) and turns the terminal's keys into PS/2 set-2 scancodes for the
/// keyboard controller. Runs on the machine's thread (from <c>Machine.SliceEnded</c>); only the key reader is
/// another thread, and it hands keys over through a queue.
/// </summary>
public sealed class TextConsole
{
    public const int MaxFramesPerSecond = 25;

    readonly VgaDevice vga;
    readonly Keyboard8042 keyboard;
    readonly TextWriter output;
    readonly ConcurrentQueue<ConsoleKeyInfo> keys = new();
    readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    long drawnGeneration = -1;
    TimeSpan lastDraw = TimeSpan.FromHours(-1);

    public TextConsole(VgaDevice vga, Keyboard8042 keyboard, TextWriter output, bool readKeys)
    {
        this.vga = vga;
        this.keyboard = keyboard;
        this.output = output;
        if (readKeys && !Console.IsInputRedirected)
        {
            var reader = new Thread(() =>
            {
                while (true) keys.Enqueue(Console.ReadKey(intercept: true));
            }) { IsBackground = true, Name = "jitvm-keys" };
            reader.Start();
        }
    }

    /// <summary>Called between slices: delivers pending keys and redraws the screen if it changed.</summary>
    public void Update()
    {
        while (keys.TryDequeue(out var key)) Press(key);
        var now = clock.Elapsed;
        if (vga.Generation == drawnGeneration || now - lastDraw < TimeSpan.FromSeconds(1.0 / MaxFramesPerSecond)) return;
        drawnGeneration = vga.Generation;
        lastDraw = now;
        output.Write(Render(vga.GetTextScreen()));
        output.Flush();
    }

    // VGA colour index (blue = 1, red = 4) → ANSI colour index (red = 1, blue = 4).
    static readonly int[] AnsiColour = [0, 4, 2, 6, 1, 5, 3, 7];

    /// <summary>The screen as ANSI text: home, then each row with colour changes, then the cursor.</summary>
    public static string Render(TextScreen screen)
    {
        var sb = new StringBuilder("\x1b[?25l\x1b[H");
        if (!screen.IsTextMode) return sb.Append("\x1b[2J(graphics mode)\x1b[0m").ToString();
        int current = -1;
        for (int r = 0; r < screen.Rows; r++)
        {
            for (int c = 0; c < screen.Columns; c++)
            {
                int a = screen.AttributeAt(c, r);
                if (a != current)
                {
                    int fg = a & 0xF, bg = (a >> 4) & 0x7;
                    sb.Append("\x1b[").Append(fg >= 8 ? 90 + AnsiColour[fg & 7] : 30 + AnsiColour[fg]).Append(';').Append(40 + AnsiColour[bg]).Append('m');
                    current = a;
                }
                sb.Append(Cp437.ToChar(screen.CharacterAt(c, r)));
            }
            sb.Append("\x1b[0m\x1b[K");
            current = -1;
            if (r + 1 < screen.Rows) sb.Append("\r\n");
        }
        if (screen.CursorVisible) sb.Append("\x1b[").Append(screen.CursorRow + 1).Append(';').Append(screen.CursorColumn + 1).Append("H\x1b[?25h");
        return sb.ToString();
    }

    const ushort LeftShift = 0x12, LeftCtrl = 0x14, LeftAlt = 0x11;

    void Press(ConsoleKeyInfo key)
    {
        if (!Scancode(key, out ushort code, out bool shift)) return;
        bool ctrl = (key.Modifiers & ConsoleModifiers.Control) != 0, alt = (key.Modifiers & ConsoleModifiers.Alt) != 0;
        var k = keyboard.Keyboard;
        if (ctrl) k.SendMake(LeftCtrl);
        if (alt) k.SendMake(LeftAlt);
        if (shift) k.SendMake(LeftShift);
        k.SendMake(code);
        k.SendBreak(code);
        if (shift) k.SendBreak(LeftShift);
        if (alt) k.SendBreak(LeftAlt);
        if (ctrl) k.SendBreak(LeftCtrl);
    }

    /// <summary>The set-2 make code of a terminal key, and whether Shift must be held for the character.</summary>
    public static bool Scancode(ConsoleKeyInfo key, out ushort code, out bool shift)
    {
        shift = (key.Modifiers & ConsoleModifiers.Shift) != 0;
        code = key.Key switch
        {
            ConsoleKey.Enter => 0x5A,
            ConsoleKey.Backspace => 0x66,
            ConsoleKey.Tab => 0x0D,
            ConsoleKey.Escape => 0x76,
            ConsoleKey.Spacebar => 0x29,
            ConsoleKey.UpArrow => 0xE075,
            ConsoleKey.DownArrow => 0xE072,
            ConsoleKey.LeftArrow => 0xE06B,
            ConsoleKey.RightArrow => 0xE074,
            ConsoleKey.Home => 0xE06C,
            ConsoleKey.End => 0xE069,
            ConsoleKey.PageUp => 0xE07D,
            ConsoleKey.PageDown => 0xE07A,
            ConsoleKey.Insert => 0xE070,
            ConsoleKey.Delete => 0xE071,
            >= ConsoleKey.F1 and <= ConsoleKey.F12 => FunctionKeys[key.Key - ConsoleKey.F1],
            _ => 0,
        };
        if (code != 0) return true;
        char ch = key.KeyChar;
        int i = Unshifted.IndexOf(ch);
        if (i >= 0) { code = Codes[i]; return true; }
        i = Shifted.IndexOf(ch);
        if (i >= 0) { code = Codes[i]; shift = true; return true; }
        // Control characters typed with Ctrl (Ctrl-C arrives as '\x03'): the letter's key, Ctrl held by the caller.
        if (ch is >= '\x01' and <= '\x1A') { code = Codes[Unshifted.IndexOf((char)('a' + ch - 1))]; return true; }
        return false;
    }

    static readonly ushort[] FunctionKeys = [0x05, 0x06, 0x04, 0x0C, 0x03, 0x0B, 0x83, 0x0A, 0x01, 0x09, 0x78, 0x07];
    const string Unshifted = "abcdefghijklmnopqrstuvwxyz1234567890-=[]\\;',./` ";
    const string Shifted = "ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+{}|:\"<>?~ ";
    static readonly ushort[] Codes =
    [
        0x1C, 0x32, 0x21, 0x23, 0x24, 0x2B, 0x34, 0x33, 0x43, 0x3B, 0x42, 0x4B, 0x3A, 0x31, 0x44, 0x4D, 0x15, 0x2D,
        0x1B, 0x2C, 0x3C, 0x2A, 0x1D, 0x22, 0x35, 0x1A,
        0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36, 0x3D, 0x3E, 0x46, 0x45,
        0x4E, 0x55, 0x54, 0x5B, 0x5D, 0x4C, 0x52, 0x41, 0x49, 0x4A, 0x0E, 0x29,
    ];
}
