using System.Globalization;
using System.Text;

namespace JitVm.Machine.Management;

/// <summary>
/// The human monitor (QEMU's HMP): one text command line in, its text output back. Serves the console's Ctrl-A c,
/// the monitor socket and the API's <c>human-monitor-command</c>. Commands act on the current VM, which
/// <c>vm NAME</c> selects when a host runs several. Never throws: every failure is a line of output.
/// </summary>
public sealed class MonitorInterpreter
{
    readonly VmHost host;
    string? current;

    public MonitorInterpreter(VmHost host, string? vm = null)
    {
        this.host = host;
        current = vm;
    }

    /// <summary>The prompt shown before each command.</summary>
    public const string Prompt = "(jitvm) ";

    /// <summary>The VM commands go to (null: the only one).</summary>
    public string? CurrentVm => current;

    public const string Help =
        "info status|registers|jit|tlb|devices|block|snapshots|vms   show machine state\n" +
        "stop | cont | step [N]             pause, resume, run N instructions of a paused VM\n" +
        "x /FMT ADDR | xp /FMT ADDR         dump memory at a linear (x) or physical (xp) address;\n" +
        "                                   FMT = [count][x|d|u|o|c|i][b|h|w|g], ADDR = number, $reg, a+b\n" +
        "sendkey KEYS                       press a key combination (ctrl-alt-delete, shift-a, ret)\n" +
        "screendump FILE.png                write the VGA text screen as a PNG\n" +
        "savevm TAG | loadvm TAG | delvm TAG   take, restore, delete a snapshot (kept in memory)\n" +
        "system_reset                       reset the machine\n" +
        "vm NAME                            address another VM of this host\n" +
        "quit                               end the VM\n";

    /// <summary>Runs one command line; returns what it prints (possibly empty), each line ending in '\n'.</summary>
    public string Execute(string line)
    {
        try
        {
            return Run(line.Trim());
        }
        catch (VmCommandException e)
        {
            return "Error: " + e.Message + "\n";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException or InvalidDataException)
        {
            return "Error: " + e.Message + "\n";
        }
    }

    string Run(string line)
    {
        if (line.Length == 0) return "";
        var words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        string cmd = words[0];
        string[] args = words[1..];
        switch (cmd)
        {
            case "help" or "?" or "h":
                return Help;
            case "info":
                return Info(args);
            case "vm":
                if (args.Length != 1) return "usage: vm NAME\n" + VmsText();
                current = host.Resolve(args[0]).Name;
                return "";
            case "stop":
                Vm.Stop();
                return "";
            case "cont" or "c":
                Vm.Continue();
                return "";
            case "step" or "s":
            {
                int n = args.Length == 0 ? 1 : ParseInt(args[0], "count");
                var vm = Vm;
                vm.Step(n);
                return vm.OnMachine(() => Eip(vm));
            }
            case "x" or "xp":
                return Examine(args, physical: cmd == "xp");
            case "sendkey":
            {
                if (args.Length is < 1 or > 2) return "usage: sendkey KEYS [HOLD_MS]\n";
                if (!KeyNames.TryParseCombination(args[0], out var codes, out string? error)) return "Error: " + error + "\n";
                SendKeys(Vm, codes);
                return "";
            }
            case "screendump":
            {
                if (args.Length != 1) return "usage: screendump FILE.png\n";
                var vm = Vm;
                var (w, h) = vm.OnMachine(() => ScreenDump.WritePng(vm.Machine.Vga, args[0]));
                return $"{args[0]}: {w}x{h} PNG\n";
            }
            case "savevm":
            {
                if (args.Length != 1) return "usage: savevm TAG\n";
                int bytes = Vm.SaveSnapshot(args[0]);
                return $"snapshot '{args[0]}' saved ({bytes} bytes)\n";
            }
            case "loadvm":
                if (args.Length != 1) return "usage: loadvm TAG\n";
                Vm.LoadSnapshot(args[0]);
                return "";
            case "delvm":
                if (args.Length != 1) return "usage: delvm TAG\n";
                return Vm.DeleteSnapshot(args[0]) ? "" : $"Error: no snapshot '{args[0]}'\n";
            case "system_reset":
                Vm.Reset();
                return "";
            case "quit" or "q":
                Vm.Quit();
                return "";
            default:
                return $"unknown command: '{cmd}' (help lists the commands)\n";
        }
    }

    VmInstance Vm => host.Resolve(current);

    static string Eip(VmInstance vm)
    {
        var c = vm.Machine.Cpu;
        return $"{c.Seg[JitVm.Cpu.SegReg.CS].Selector:x4}:{c.Eip:x8}\n";
    }

    string Info(string[] args)
    {
        if (args.Length != 1) return "usage: info status|registers|jit|tlb|devices|block|snapshots|vms\n";
        if (args[0] == "vms") return VmsText();
        var vm = Vm;
        switch (args[0])
        {
            case "status":
            {
                var s = vm.Status;
                string text = $"VM status: {VmInstance.StatusName(s)}";
                if (s is VmStatus.Shutdown or VmStatus.InternalError)
                    text += $" ({vm.ExitReasonName}{(vm.Result?.Message is { } msg ? ": " + msg : "")})";
                return text + "\n";
            }
            case "registers": return vm.OnMachine(() => VmInspector.RegistersText(vm.Machine));
            case "jit": return vm.OnMachine(() => VmInspector.JitText(vm.Machine));
            case "tlb": return vm.OnMachine(() => VmInspector.TlbText(vm.Machine));
            case "devices": return vm.OnMachine(() => VmInspector.DevicesText(vm.Machine));
            case "block": return VmInspector.BlockText(vm);
            case "snapshots":
            {
                var list = vm.Snapshots;
                if (list.Count == 0) return "no snapshots\n";
                var sb = new StringBuilder();
                foreach (var (tag, bytes) in list) sb.Append($"{tag}  {bytes} bytes\n");
                return sb.ToString();
            }
            default:
                return $"info: unknown item '{args[0]}' (status, registers, jit, tlb, devices, block, snapshots, vms)\n";
        }
    }

    string VmsText()
    {
        var sb = new StringBuilder();
        foreach (var v in host.Vms)
            sb.Append($"{(v.Name == (current ?? (host.Vms.Count == 1 ? v.Name : null)) ? '*' : ' ')} {v.Name}: {VmInstance.StatusName(v.Status)}\n");
        return sb.ToString();
    }

    string Examine(string[] args, bool physical)
    {
        int count = 1, size = 4;
        char format = 'x';
        int at = 0;
        if (args.Length > 0 && args[0].StartsWith('/'))
        {
            if (!TryParseFormat(args[0][1..], ref count, ref format, ref size)) return $"Error: invalid format '{args[0]}'\n";
            at = 1;
        }
        if (args.Length - at != 1) return $"usage: {(physical ? "xp" : "x")} /FMT ADDR\n";
        var vm = Vm;
        string expression = args[at];
        return vm.OnMachine(() =>
        {
            uint address = EvaluateAddress(vm, expression);
            return VmInspector.Dump(vm.Machine, address, count, format, size, physical);
        });
    }

    /// <summary>QEMU's /FMT: an optional count, a format letter and a size letter in any order.</summary>
    internal static bool TryParseFormat(string text, ref int count, ref char format, ref int size)
    {
        int i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
        if (i > 0 && (!int.TryParse(text.AsSpan(0, i), NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > 4096)) return false;
        for (; i < text.Length; i++)
        {
            char ch = text[i];
            if ("xduoci".Contains(ch)) format = ch;
            else if (ch == 'b') size = 1;
            else if (ch == 'h') size = 2;
            else if (ch == 'w') size = 4;
            else if (ch == 'g') size = 8;
            else return false;
        }
        return true;
    }

    /// <summary>An address: terms (0x hex, decimal, $register) joined by + and -.</summary>
    static uint EvaluateAddress(VmInstance vm, string text)
    {
        uint total = 0;
        int sign = 1, i = 0;
        bool any = false;
        while (i < text.Length)
        {
            int end = text.IndexOfAny(['+', '-'], i);
            if (end < 0) end = text.Length;
            string term = text[i..end];
            if (term.Length == 0) throw new VmCommandException($"invalid address '{text}'");
            uint v;
            if (term.StartsWith('$'))
            {
                if (!VmInspector.TryGetRegister(vm.Machine, term[1..], out v)) throw new VmCommandException($"unknown register '{term}'");
            }
            else if (term.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                if (!uint.TryParse(term.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)) throw new VmCommandException($"invalid number '{term}'");
            }
            else if (!uint.TryParse(term, NumberStyles.None, CultureInfo.InvariantCulture, out v)) throw new VmCommandException($"invalid number '{term}'");
            total = sign > 0 ? total + v : total - v;
            any = true;
            if (end < text.Length) sign = text[end] == '+' ? 1 : -1;
            i = end + 1;
            if (end == text.Length - 1) throw new VmCommandException($"invalid address '{text}'");
        }
        if (!any) throw new VmCommandException("an address is needed");
        return total;
    }

    static int ParseInt(string text, string what) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : throw new VmCommandException($"invalid {what} '{text}'");

    /// <summary>Presses the keys in order and releases them in reverse, between slices (the keyboard belongs to the machine's thread).</summary>
    internal static void SendKeys(VmInstance vm, IReadOnlyList<ushort> codes)
    {
        vm.OnMachine(() =>
        {
            var k = vm.Machine.Keyboard.Keyboard;
            foreach (var c in codes) k.SendMake(c);
            for (int i = codes.Count - 1; i >= 0; i--) k.SendBreak(codes[i]);
            return true;
        });
    }
}
