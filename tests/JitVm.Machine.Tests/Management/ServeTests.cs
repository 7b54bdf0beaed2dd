using JitVm.Cli.Commands;
using JitVm.Machine.Management;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace JitVm.Machine.Tests.Management;

/// <summary><c>jitvm serve</c>: its configuration file, the process serving several VMs by name, and per-VM log context.</summary>
public class ServeTests
{
    static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"jitvm-serve-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void ServeRunsTheConfiguredVmsAndQuitsOnRequest()
    {
        string dir = TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "vms.json"), """
                {
                  // comments and trailing commas are allowed
                  "qmp": { "unix": "api.sock" },
                  "vms": [
                    { "name": "loop", "workload": "integer-loop", "iterations": 20000, "clock": "deterministic", "engine": "interp",
                      "debugcon": "file:loop.out" },
                    { "name": "later", "workload": "mixed", "iterations": 10, "paused": true, "memory": "8M", },
                  ]
                }
                """);
            var stderr = new StringWriter();
            int exit = -1;
            var serve = new Thread(() => exit = ServeCommand.Serve(Path.Combine(dir, "vms.json"), stderr));
            serve.Start();
            string socket = Path.Combine(dir, "api.sock");
            TestGuests.WaitUntil(() => File.Exists(socket) && stderr.ToString().Contains("serve: 2 VM(s)"), "the server to listen");
            using (var c = QmpClient.ConnectUnix(socket))
            {
                c.Ok("qmp_capabilities");
                TestGuests.WaitUntil(() => (string)c.Ok("query-status", new() { ["vm"] = "loop" })["status"]! == "shutdown", "the workload to finish");
                var vms = c.Ok("query-vms").AsArray();
                Assert.Equal(["loop", "later"], vms.Select(v => (string)v!["vm"]!));
                Assert.Equal("debug-exit", (string)vms[0]!["reason"]!);
                Assert.Equal("paused", (string)vms[1]!["status"]!);
                c.Ok("cont", new() { ["vm"] = "later" });
                c.WaitForEvent("SHUTDOWN", "later");
                c.Ok("server-quit");
            }
            Assert.True(serve.Join(TimeSpan.FromSeconds(20)));
            Assert.Equal(0, exit);
            string err = stderr.ToString();
            Assert.Contains("vm loop: exit: reason=debug-exit", err);
            Assert.Contains("vm later: exit: reason=debug-exit", err);
            Assert.Contains("checksum", File.ReadAllText(Path.Combine(dir, "loop.out")));
            Assert.False(File.Exists(socket));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("""{"vms": []}""", "vms: a non-empty array")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a", "memroy": "16M"}]}""", "vms[0].memroy: unknown member")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a", "memory": "lots"}]}""", "vms[0].memory: invalid size 'lots'")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a"}, {"name": "a"}]}""", "the name 'a' is used twice")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a b"}]}""", "vms[0].name: 'a b' must be")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a", "engine": "fast"}]}""", "vms[0].engine: 'fast' is not one of")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a", "workload": "nope"}]}""", "vms[0].workload: no workload 'nope'")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a", "serial": "stdio"}]}""", "vms[0].serial: use none or file:PATH")]
    [InlineData("""{"qmp": {"unix": "a", "tcp": "nowhere"}, "vms": [{"name": "a"}]}""", "qmp.tcp: 'nowhere' is not HOST:PORT")]
    [InlineData("""{"qmp": {"unix": "a"}, "vms": [{"name": "a", "paused": "yes"}]}""", "vms[0].paused: must be true or false")]
    [InlineData("""[1]""", "must be a JSON object")]
    [InlineData("""{"vms": [""", "not valid JSON")]
    public void ConfigurationErrorsNameTheField(string json, string message)
    {
        var e = Assert.Throws<ServeConfigException>(() => ServeConfig.Parse(json, "/tmp"));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void TcpDefaultsToLoopbackAndPathsResolveAgainstTheConfigDirectory()
    {
        var cfg = ServeConfig.Parse("""{"qmp": {"tcp": ":4444"}, "vms": [{"name": "a", "hda": "disk.img", "serial": "file:out/a.txt"}]}""", "/srv/vms");
        Assert.Equal("127.0.0.1:4444", cfg.QmpTcp!.ToString());
        Assert.Equal("/srv/vms/jitvm-qmp.token", cfg.TokenFile);
        Assert.Equal("/srv/vms/disk.img", cfg.Vms[0].HardDisks[0]);
        Assert.Equal("file:/srv/vms/out/a.txt", cfg.Vms[0].Serial);
        Assert.True(cfg.Vms[0].NoReboot);
    }

    [Fact]
    public void TheTokenFileIsCreatedPrivateAndReadBack()
    {
        string dir = TempDir();
        try
        {
            string path = Path.Combine(dir, "t.token");
            Assert.True(RunManagement.TryLoadOrCreateToken(path, out string? made, out _));
            Assert.Equal(64, made!.Length);
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.True(RunManagement.TryLoadOrCreateToken(path, out string? read, out _));
            Assert.Equal(made, read);
            File.WriteAllText(path, "short");
            Assert.False(RunManagement.TryLoadOrCreateToken(path, out _, out string? error));
            Assert.Contains("shorter than 16", error);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    sealed class Collector : ILogEventSink
    {
        public readonly List<(LogEvent Event, string? Thread)> Events = new();
        public void Emit(LogEvent e)
        {
            lock (Events) Events.Add((e, Thread.CurrentThread.Name));
        }
    }

    [Fact]
    public void EveryLogEventFromAVmsThreadCarriesItsName()
    {
        var sink = new Collector();
        var saved = Log.Logger;
        Log.Logger = new LoggerConfiguration().MinimumLevel.Verbose().Enrich.FromLogContext().Enrich.With<VmLogEnricher>().WriteTo.Sink(sink).CreateLogger();
        try
        {
            // Two VMs whose machines log: an unclaimed port write (Debug) and a final halt (Information).
            string a = "log-a-" + Guid.NewGuid().ToString("N")[..6], b = "log-b-" + Guid.NewGuid().ToString("N")[..6];
            var vms = new[] { a, b }.Select(n => new VmInstance(n, TestGuests.MachineFor(TestGuests.WritesCrashPort(spin: 1000)))).ToArray();
            foreach (var vm in vms) vm.Start();
            foreach (var vm in vms) Assert.True(vm.WaitForExit(TimeSpan.FromSeconds(20)));
            foreach (var name in new[] { a, b })
            {
                List<LogEvent> mine;
                lock (sink.Events) mine = sink.Events.Where(e => e.Thread == "vm-" + name).Select(e => e.Event).ToList();
                Assert.True(mine.Count >= 4, $"{mine.Count} events from {name}'s thread");
                foreach (var e in mine)
                {
                    Assert.True(e.Properties.TryGetValue(VmInstance.LogProperty, out var v), $"no VM name on '{e.MessageTemplate.Text}'");
                    Assert.Equal(name, ((ScalarValue)v).Value);
                    Assert.Equal($"vm={name} ", ((ScalarValue)e.Properties[VmLogEnricher.PrefixProperty]).Value);
                }
                Assert.Contains(mine, e => e.MessageTemplate.Text.StartsWith("unhandled I/O"));
                Assert.Contains(mine, e => e.MessageTemplate.Text.StartsWith("halted at"));
            }
            // An event logged elsewhere has no VM name and an empty prefix.
            Log.Information("not from a VM");
            lock (sink.Events)
            {
                var outside = sink.Events.Last(e => e.Event.MessageTemplate.Text == "not from a VM").Event;
                Assert.False(outside.Properties.ContainsKey(VmInstance.LogProperty));
                Assert.Equal("", ((ScalarValue)outside.Properties[VmLogEnricher.PrefixProperty]).Value);
            }
        }
        finally
        {
            Log.Logger = saved;
        }
    }
}
