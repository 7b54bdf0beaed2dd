using System.Text.Json.Nodes;
using JitVm.Machine.Management;
using static JitVm.Machine.Tests.Management.ManagementApiTests;

namespace JitVm.Machine.Tests.Management;

/// <summary>
/// The acceptance run of the API: a VM started, stopped, its registers read, a snapshot saved, run on, the snapshot
/// loaded, the guest shown to continue from the saved point, then quit — all over the Unix socket.
/// </summary>
public class SnapshotApiTests
{
    [Fact]
    public void ApiDrivesAVmThroughStopRegistersSavevmContLoadvmAndQuit()
    {
        var vm = new VmInstance("guest", TestGuests.MachineFor(TestGuests.Counter(out uint loop)));
        using var host = TestGuests.Host(vm);
        string path = SocketPath();
        using var server = ManagementServer.Start(host, new ManagementEndpoints { QmpUnixPath = path });
        vm.Start(paused: true);
        using var c = QmpClient.ConnectUnix(path);
        Assert.NotNull(c.Greeting["QMP"]);
        c.Ok("qmp_capabilities");
        Assert.Equal("paused", (string)c.Ok("query-status")["status"]!);

        // Start it, let it count, stop it.
        c.Ok("cont");
        c.WaitForEvent("RESUME", "guest");
        TestGuests.WaitUntil(() => (long)c.Ok("query-status")["instructions"]! > 50_000, "the guest to run");
        c.Ok("stop");
        Assert.Equal("host", (string)c.WaitForEvent("STOP", "guest")["data"]!["reason"]!);
        Assert.Equal("paused", (string)c.Ok("query-status")["status"]!);
        var saved = c.Ok("query-registers").AsObject();
        uint savedEax = U(saved["eax"]!), savedEip = U(saved["eip"]!);
        Assert.True(savedEax > 10_000, $"EAX {savedEax}");
        Assert.InRange(savedEip, loop, loop + 16);
        string savedCounter = (string)c.Ok("read-memory", new JsonObject { ["address"] = TestGuests.CounterAddress, ["size"] = 4, ["physical"] = true })["data"]!;

        c.Ok("savevm", new JsonObject { ["tag"] = "point" });
        Assert.Equal("point", (string)c.Ok("query-snapshots")[0]!["tag"]!);

        // Run on past the saved point.
        c.Ok("cont");
        TestGuests.WaitUntil(() => (long)c.Ok("query-status")["instructions"]! > (long)saved["instructions"]! + 300_000, "the guest to run on");
        c.Ok("stop");
        uint laterEax = U(c.Ok("query-registers")["eax"]!);
        Assert.True(laterEax > savedEax + 50_000, $"EAX went from {savedEax} to {laterEax}");

        // Back to the saved point: registers and memory as they were.
        c.Ok("loadvm", new JsonObject { ["tag"] = "point" });
        var restored = c.Ok("query-registers").AsObject();
        Assert.Equal(savedEax, U(restored["eax"]!));
        Assert.Equal(savedEip, U(restored["eip"]!));
        Assert.Equal(U(saved["eflags"]!), U(restored["eflags"]!));
        Assert.Equal(savedCounter, (string)c.Ok("read-memory", new JsonObject { ["address"] = TestGuests.CounterAddress, ["size"] = 4, ["physical"] = true })["data"]!);

        // The guest continues from there: one loop (three instructions) counts exactly one more.
        var stepped = c.Ok("step", new JsonObject { ["count"] = 3 });
        Assert.Equal(savedEax + 1, U(c.Ok("query-registers")["eax"]!));
        Assert.Equal(savedEip, U(stepped["eip"]!));
        c.Ok("cont");
        TestGuests.WaitUntil(() => (long)c.Ok("query-status")["instructions"]! > (long)restored["instructions"]! + 30_000, "the restored guest to run");
        c.Ok("stop");
        uint afterEax = U(c.Ok("query-registers")["eax"]!);
        Assert.True(afterEax > savedEax + 1, $"EAX {afterEax} after resuming from {savedEax}");

        c.Ok("quit");
        var shutdown = c.WaitForEvent("SHUTDOWN", "guest");
        Assert.Equal("quit", (string)shutdown["data"]!["reason"]!);
        Assert.False((bool)shutdown["data"]!["guest"]!);
        Assert.Equal("shutdown", (string)c.Ok("query-status")["status"]!);
        var after = c.Execute("cont");
        Assert.Contains("not running", (string)after["error"]!["desc"]!);
    }

    [Fact]
    public void TheMonitorSavesWhileRunningAndLoadsTaggedSnapshots()
    {
        var vm = new VmInstance("snap", TestGuests.MachineFor(TestGuests.Counter(out _)));
        using var host = TestGuests.Host(vm);
        var mon = new MonitorInterpreter(host);
        vm.Start(paused: true);
        mon.Execute("step 3");                                  // EAX = 1
        Assert.StartsWith("snapshot 'one' saved (", mon.Execute("savevm one"));
        mon.Execute("step 3");                                  // EAX = 2
        mon.Execute("savevm two");
        Assert.Equal(["one", "two"], vm.Snapshots.Select(s => s.Tag));
        Assert.Contains("one  ", mon.Execute("info snapshots"));

        // Taken while the guest runs: the state of one slice boundary, loadable later.
        mon.Execute("cont");
        TestGuests.WaitUntil(() => vm.Machine.Cpu.InstructionCount > 100_000, "the guest to run");
        mon.Execute("savevm running");
        mon.Execute("stop");
        uint runningEax = vm.OnMachine(() => vm.Machine.Cpu.Eax);

        Assert.Equal("", mon.Execute("loadvm one"));
        Assert.Contains("EAX=00000001 ", mon.Execute("info registers"));
        Assert.Equal("00200000: 0x00000001\n", mon.Execute("xp /1xw 0x200000"));
        mon.Execute("loadvm two");
        Assert.Contains("EAX=00000002 ", mon.Execute("info registers"));
        mon.Execute("loadvm running");
        uint restored = vm.OnMachine(() => vm.Machine.Cpu.Eax);
        Assert.True(restored > 1000 && restored < runningEax, $"EAX {restored} (saved while running), {runningEax} later");
        Assert.Equal("VM status: paused\n", mon.Execute("info status"));

        Assert.Equal("Error: no snapshot 'three' (savevm makes one)\n", mon.Execute("loadvm three"));
        Assert.Equal("", mon.Execute("delvm one"));
        Assert.Equal("Error: no snapshot 'one'\n", mon.Execute("delvm one"));
        Assert.Equal("usage: savevm TAG\n", mon.Execute("savevm"));
    }
}
