using System.Text;

namespace JitVm.Cli.Terminal;

/// <summary>
/// The monitor on the console (<c>Ctrl-A c</c> switches between it and the guest's serial port, as QEMU's mux does):
/// while <see cref="Active"/>, typed bytes build a command line (echoed; Backspace edits, Enter runs it) and the
/// command's output is written to the terminal with raw-mode line ends.
/// </summary>
internal sealed class MonitorConsole
{
    readonly Func<string, string> execute;
    readonly TextWriter terminal;
    readonly StringBuilder line = new();

    /// <param name="execute">Runs one command line and returns its output (the monitor interpreter).</param>
    /// <param name="terminal">Where the prompt, echo and output go.</param>
    public MonitorConsole(Func<string, string> execute, TextWriter terminal)
    {
        this.execute = execute;
        this.terminal = terminal;
    }

    /// <summary>Typed bytes go to the monitor rather than the guest.</summary>
    public bool Active { get; private set; }

    /// <summary>Ctrl-A c: enters the monitor (banner and prompt) or goes back to the guest.</summary>
    public void Toggle()
    {
        Active = !Active;
        line.Clear();
        Write(Active ? "\nJitVm monitor - type 'help' for more information (Ctrl-A c returns to the guest)\n" + Machine.Management.MonitorInterpreter.Prompt
                     : "\n[back to the guest console]\n");
    }

    /// <summary>One typed byte while the monitor is active.</summary>
    public void Feed(byte b)
    {
        switch (b)
        {
            case (byte)'\r' or (byte)'\n':
            {
                Write("\n");
                string command = line.ToString();
                line.Clear();
                string output = execute(command);
                Write(output + (Active ? Machine.Management.MonitorInterpreter.Prompt : ""));
                break;
            }
            case 0x7F or 0x08:
                if (line.Length > 0)
                {
                    line.Length--;
                    Write("\b \b");
                }
                break;
            case 0x15:                                            // Ctrl-U: drop the line
                line.Clear();
                Write("\n" + Machine.Management.MonitorInterpreter.Prompt);
                break;
            default:
                if (b >= 0x20 && b < 0x7F && line.Length < 4096)
                {
                    line.Append((char)b);
                    Write(((char)b).ToString());
                }
                break;
        }
    }

    void Write(string text)
    {
        terminal.Write(text.Replace("\n", "\r\n"));
        terminal.Flush();
    }
}
