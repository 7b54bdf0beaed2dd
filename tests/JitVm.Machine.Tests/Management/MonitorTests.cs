using System.Net.Sockets;
using System.Text;
using JitVm.Cli.Terminal;
using JitVm.Machine.Management;

namespace JitVm.Machine.Tests.Management;

/// <summary>The human monitor: its commands on a paused VM, the console's Ctrl-A c, and the monitor socket.</summary>
public class MonitorTests
{
    static (VmInstance Vm, VmHost Host, MonitorInterpreter Monitor) Paused(out uint loop)
    {
        var vm = new VmInstance("m", TestGuests.MachineFor(TestGuests.Counter(out loop)));
        var host = TestGuests.Host(vm);
        vm.Start(paused: true);
        return (vm, host, new MonitorInterpreter(host));
    }

    [Fact]
    public void InspectionAndStepping()
    {
        var (vm, host, mon) = Paused(out uint loop);
        using var _ = host;
        Assert.Equal("VM status: paused\n", mon.Execute("info status"));
        // xor eax,eax; inc eax; mov [counter],eax: EAX = 1, the counter written, EIP at the JMP.
        Assert.Equal($"0008:{loop + 6:x8}\n", mon.Execute("step 3"));
        string regs = mon.Execute("info registers");
        Assert.Contains("EAX=00000001 ", regs);
        Assert.Contains($"EIP={loop + 6:x8} ", regs);
        Assert.Contains("CS =0008 00000000 ffffffff", regs);
        Assert.Contains("CR0=00000011", regs);
        Assert.Equal("00200000: 0x00000001\n", mon.Execute("xp /1xw 0x200000"));
        Assert.Equal("00200000: 0x01 0x00 0x00 0x00\n", mon.Execute("x /4xb 0x200000"));
        Assert.Equal("00200000: 1 0\n", mon.Execute("xp /2dh 0x200000"));
        Assert.Equal($"0x{loop + 6:x8}:  jmp short {loop:X8}h\n", mon.Execute("x /1i $eip"));
        Assert.Contains("inc eax", mon.Execute($"x /2i $eip-6"));
        Assert.StartsWith("Error: invalid format", mon.Execute("xp /5000xb 0"));
        Assert.StartsWith("Error: unknown register", mon.Execute("x /4xw $nope"));
        Assert.StartsWith("Error: invalid format", mon.Execute("x /4q 0"));

        string jit = mon.Execute("info jit");
        Assert.Contains("instructions: 3\n", jit);
        string tlb = mon.Execute("info tlb");
        Assert.Contains("paging off", tlb);
        Assert.Contains("00200000: 00200000 R", tlb);         // the counter's page, cached by the store
        string devices = mon.Execute("info devices");
        Assert.Contains("io   0020-0021  Pic8259Pair", devices);
        Assert.Contains("io   03f8-03ff  Uart16550", devices);
        Assert.Contains("mmio 000a0000-000bffff  VgaDevice", devices);
        Assert.Equal("no block devices\n", mon.Execute("info block"));
        Assert.Contains("* m: paused", mon.Execute("info vms"));
        Assert.StartsWith("unknown command: 'frobnicate'", mon.Execute("frobnicate now"));
        Assert.StartsWith("Error: no VM named 'zz'", mon.Execute("vm zz"));
        Assert.Contains("screendump", mon.Execute("help"));

        mon.Execute("system_reset");
        Assert.Contains("EAX=2badb002", mon.Execute("info registers"));
        Assert.Equal("VM status: paused\n", mon.Execute("info status"));
        mon.Execute("cont");
        Assert.Equal(VmStatus.Running, vm.Status);
        Assert.StartsWith("Error: VM m is running", mon.Execute("step"));
        mon.Execute("stop");
        Assert.Equal(VmStatus.Paused, vm.Status);
        mon.Execute("quit");
        Assert.Equal("VM status: shutdown (quit)\n", mon.Execute("info status"));
    }

    [Fact]
    public void SendkeyTypesSetTwoCodesTheControllerTranslates()
    {
        var (vm, host, mon) = Paused(out _);
        using var hostScope = host;
        Assert.Equal("", mon.Execute("sendkey ctrl-alt-delete"));
        // With the 8042's translation on (its default command byte), the guest reads set 1: make codes in order, breaks reversed.
        var bytes = vm.OnMachine(() => Enumerable.Range(0, 8).Select(i => (byte)vm.Machine.Io.In(0x60, 1)).ToArray());
        Assert.Equal(new byte[] { 0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D }, bytes);
        mon.Execute("sendkey shift-a");
        bytes = vm.OnMachine(() => Enumerable.Range(0, 4).Select(i => (byte)vm.Machine.Io.In(0x60, 1)).ToArray());
        Assert.Equal(new byte[] { 0x2A, 0x1E, 0x9E, 0xAA }, bytes);
        Assert.Equal("Error: unknown key 'nosuchkey'\n", mon.Execute("sendkey ctrl-nosuchkey"));
    }

    [Fact]
    public void CtrlACSwitchesTheConsoleBetweenGuestAndMonitor()
    {
        var (vm, host, mon) = Paused(out _);
        using var hostScope = host;
        var sent = new List<byte>();
        var terminal = new StringWriter();
        var console = new SerialConsole(sent.Add, () => { }, terminal, interactive: true)
        {
            Monitor = new MonitorConsole(mon.Execute, terminal),
        };
        foreach (byte b in "ls"u8) console.Feed(b);
        console.Feed(SerialConsole.Escape);
        console.Feed((byte)'c');
        foreach (byte b in "info statuss"u8) console.Feed(b);
        console.Feed(0x7F);                                     // Backspace
        console.Feed((byte)'\r');
        Assert.Contains("(jitvm) info statuss\b \b\r\nVM status: paused\r\n(jitvm) ", terminal.ToString());
        console.Feed(SerialConsole.Escape);
        console.Feed((byte)'c');
        foreach (byte b in "pwd"u8) console.Feed(b);
        Assert.Equal("lspwd"u8.ToArray(), sent.ToArray());
        Assert.Contains("back to the guest", terminal.ToString());
        console.Feed(SerialConsole.Escape);
        console.Feed((byte)'h');
        Assert.Contains("C-a c", terminal.ToString());
        Assert.Equal(VmStatus.Paused, vm.Status);
    }

    [Fact]
    public void TheMonitorSocketAnswersCommandLines()
    {
        var (vm, host, _) = Paused(out _);
        using var __ = host;
        string path = Path.Combine(Path.GetTempPath(), $"jitvm-mon-{Guid.NewGuid():N}.sock");
        using var server = ManagementServer.Start(host, new ManagementEndpoints { MonitorUnixPath = path });
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        s.ReceiveTimeout = 20_000;
        using var stream = new NetworkStream(s);
        string ReadUntilPrompt()
        {
            var sb = new StringBuilder();
            var one = new byte[1];
            while (!sb.ToString().EndsWith(MonitorInterpreter.Prompt, StringComparison.Ordinal))
            {
                if (stream.Read(one) == 0) throw new IOException("closed");
                sb.Append((char)one[0]);
            }
            return sb.ToString();
        }
        Assert.Contains("JitVm monitor", ReadUntilPrompt());
        stream.Write("info status\n"u8);
        Assert.Equal("VM status: paused\n(jitvm) ", ReadUntilPrompt());
        stream.Write("cont\ninfo status\n"u8);
        Assert.Equal("(jitvm) ", ReadUntilPrompt());
        Assert.Equal("VM status: running\n(jitvm) ", ReadUntilPrompt());
        stream.Write("bogus\n"u8);
        Assert.StartsWith("unknown command: 'bogus'", ReadUntilPrompt());
        server.Dispose();
        Assert.False(File.Exists(path));
    }
}
