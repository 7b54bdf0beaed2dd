using JitVm.Cli.Display;
using JitVm.Devices.Vga;

namespace JitVm.Machine.Tests;

public class TextConsoleTests
{
    [Fact]
    public void RendersTheTextScreenWithAnsiColoursAndTheCursor()
    {
        var vga = new VgaDevice();                              // reset state: 80x25 colour text at B8000
        vga.WriteMemory(0x18000, (byte)'H');
        vga.WriteMemory(0x18001, 0x1F);                         // bright white on blue
        vga.WriteMemory(0x18002, 0xDB);                         // CP437 full block
        vga.WriteMemory(0x18003, 0x04);                         // red on black
        string ansi = TextConsole.Render(vga.GetTextScreen());
        Assert.StartsWith("\x1b[?25l\x1b[H\x1b[97;44mH\x1b[31;40m\u2588", ansi);
        Assert.Equal(25, ansi.Split("\r\n").Length);
    }

    [Theory]
    [InlineData('a', ConsoleKey.A, false, 0x1C, false)]
    [InlineData('A', ConsoleKey.A, true, 0x1C, true)]
    [InlineData('!', ConsoleKey.D1, true, 0x16, true)]
    [InlineData('/', ConsoleKey.Oem2, false, 0x4A, false)]
    [InlineData('\r', ConsoleKey.Enter, false, 0x5A, false)]
    [InlineData('\0', ConsoleKey.UpArrow, false, 0xE075, false)]
    [InlineData('\0', ConsoleKey.F7, false, 0x83, false)]
    public void TerminalKeysBecomeSet2Scancodes(char ch, ConsoleKey key, bool shift, int code, bool needsShift)
    {
        var info = new ConsoleKeyInfo(ch, key, shift, false, false);
        Assert.True(TextConsole.Scancode(info, out ushort c, out bool s));
        Assert.Equal((ushort)code, c);
        Assert.Equal(needsShift, s);
    }
}
