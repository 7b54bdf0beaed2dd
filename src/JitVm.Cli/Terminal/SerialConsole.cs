using System.Diagnostics;

namespace JitVm.Cli.Terminal;

/// <summary>
/// The host side of <c>--serial stdio</c>: what is typed goes to the guest's COM1, byte for byte, as with QEMU's
/// <c>-serial mon:stdio</c>. On a terminal, stdin is put in raw mode (no echo, no line editing, no signals: Ctrl-C
/// reaches the guest) and restored afterwards; Ctrl-A is the escape: <c>Ctrl-A x</c> stops the machine,
/// <c>Ctrl-A Ctrl-A</c> sends one Ctrl-A, <c>Ctrl-A h</c> lists the keys. Piped input is passed through unchanged
/// (no escape), so a script can drive the guest.
/// </summary>
internal sealed class SerialConsole : IDisposable
{
    public const byte Escape = 0x01;

    readonly Action<byte> send;
    readonly Action quit;
    readonly TextWriter notices;
    readonly bool interactive;
    string? savedTerminal;
    bool escaped;

    volatile bool inputEnded;

    /// <summary>stdin has ended (end of file, or closed under us): nothing more will come from the host.</summary>
    public bool InputEnded => inputEnded;

    /// <summary>The monitor <c>Ctrl-A c</c> switches to (null: there is none, the key is ignored).</summary>
    public MonitorConsole? Monitor { get; set; }

    /// <param name="send">Hands a byte to the guest's serial port (called on the reader thread).</param>
    /// <param name="quit">Stops the machine (Ctrl-A x).</param>
    /// <param name="notices">Where the console's own messages go (the terminal; "\r\n" line ends in raw mode).</param>
    /// <param name="interactive">stdin is a terminal: raw mode and the Ctrl-A escape.</param>
    public SerialConsole(Action<byte> send, Action quit, TextWriter notices, bool interactive)
    {
        this.send = send;
        this.quit = quit;
        this.notices = notices;
        this.interactive = interactive;
    }

    /// <summary>Starts reading stdin on a background thread (after putting a terminal in raw mode).</summary>
    public void Start()
    {
        if (interactive)
        {
            savedTerminal = Stty("-g")?.Trim();
            if (savedTerminal is not null) Stty("raw -echo");
        }
        var stdin = Console.OpenStandardInput();
        new Thread(() =>
        {
            var buffer = new byte[256];
            try
            {
                int n;
                while ((n = stdin.Read(buffer, 0, buffer.Length)) > 0)
                    for (int i = 0; i < n; i++) Feed(buffer[i]);
            }
            catch (IOException) { }                       // stdin closed under us: nothing more to send
            inputEnded = true;
        }) { IsBackground = true, Name = "jitvm-serial-in" }.Start();
    }

    /// <summary>One byte from the host: the escape state machine on a terminal, straight through otherwise.</summary>
    public void Feed(byte b)
    {
        if (!interactive)
        {
            send(b);
            return;
        }
        if (!escaped)
        {
            if (b == Escape) escaped = true;
            else if (Monitor is { Active: true } monitor) monitor.Feed(b);
            else send(b);
            return;
        }
        escaped = false;
        switch (b)
        {
            case (byte)'x':
            case (byte)'X':
                notices.Write("\r\nQEMU-style escape: terminating the VM\r\n");
                quit();
                break;
            case Escape:
                send(Escape);
                break;
            case (byte)'c':
            case (byte)'C':
                if (Monitor is { } m) m.Toggle();
                else notices.Write("\r\n(no monitor in this run)\r\n");
                break;
            case (byte)'h':
            case (byte)'?':
                notices.Write("\r\nC-a h    print this help\r\nC-a x    exit the VM\r\nC-a c    switch between the console and the monitor\r\nC-a C-a  send C-a to the guest\r\n");
                break;
            default:
                break;                                    // unknown escapes are dropped, as QEMU's mux does
        }
    }

    public void Dispose()
    {
        if (savedTerminal is not null) Stty(savedTerminal);
        savedTerminal = null;
    }

    /// <summary>Runs stty on our terminal (its stdin is ours); its output, or null when stty is unavailable or fails.</summary>
    static string? Stty(string arguments)
    {
        try
        {
            var psi = new ProcessStartInfo("stty", arguments) { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null) return null;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
    }
}
