using JitVm.Cli.Terminal;

namespace JitVm.Machine.Tests;

/// <summary>The host side of <c>--serial stdio</c>: QEMU's Ctrl-A escape on a terminal, bytes straight through from a pipe.</summary>
public class SerialConsoleTests
{
    static (SerialConsole Console, List<byte> Sent, Func<int> Quits, StringWriter Notices) Make(bool interactive)
    {
        var sent = new List<byte>();
        int quits = 0;
        var notices = new StringWriter();
        return (new SerialConsole(sent.Add, () => quits++, notices, interactive), sent, () => quits, notices);
    }

    [Fact]
    public void OnATerminalCtrlAIsTheEscapeAndCtrlCReachesTheGuest()
    {
        var (c, sent, quits, notices) = Make(interactive: true);
        foreach (byte b in "ls\r"u8.ToArray()) c.Feed(b);
        c.Feed(0x03);                                      // Ctrl-C: the guest's, not ours
        c.Feed(SerialConsole.Escape); c.Feed(SerialConsole.Escape);   // Ctrl-A Ctrl-A: one Ctrl-A for the guest
        c.Feed(SerialConsole.Escape); c.Feed((byte)'h');   // help: nothing sent
        c.Feed(SerialConsole.Escape); c.Feed((byte)'q');   // unknown escape: dropped
        Assert.Equal(0, quits());
        c.Feed(SerialConsole.Escape); c.Feed((byte)'x');
        Assert.Equal(1, quits());
        Assert.Equal(new byte[] { (byte)'l', (byte)'s', (byte)'\r', 0x03, 0x01 }, sent);
        Assert.Contains("C-a x", notices.ToString());
        Assert.Contains("terminating", notices.ToString());
    }

    [Fact]
    public void PipedInputPassesEveryByteIncludingCtrlA()
    {
        var (c, sent, quits, _) = Make(interactive: false);
        byte[] input = [(byte)'e', 0x01, (byte)'x', 0x03, (byte)'\n'];
        foreach (byte b in input) c.Feed(b);
        Assert.Equal(input, sent);
        Assert.Equal(0, quits());
    }
}
