using System.Net;
using System.Text.Json.Nodes;
using JitVm.Core.Storage;
using JitVm.Machine.Management;

namespace JitVm.Machine.Tests.Management;

/// <summary>
/// The JSON API end to end over real sockets: two VMs in one process where one dies; events; the TCP token.
/// </summary>
public class ManagementApiTests
{
    internal static string SocketPath() => Path.Combine(Path.GetTempPath(), $"jitvm-test-{Guid.NewGuid():N}.sock");

    internal static uint U(JsonNode n) => (uint)n;

    [Fact]
    public void TwoVmsRunAtOnceAndATripleFaultStopsOnlyItsOwn()
    {
        var counter = new VmInstance("counter", TestGuests.MachineFor(TestGuests.Counter(out _)));
        var faulty = new VmInstance("faulty", TestGuests.MachineFor(TestGuests.TripleFault(spin: 300_000)));
        using var host = TestGuests.Host(counter, faulty);
        string path = SocketPath();
        using var server = ManagementServer.Start(host, new ManagementEndpoints { QmpUnixPath = path });
        using var c = QmpClient.ConnectUnix(path);
        c.Ok("qmp_capabilities");
        counter.Start();
        faulty.Start();

        var shutdown = c.WaitForEvent("SHUTDOWN", "faulty");
        Assert.Equal("triple-fault", (string)shutdown["data"]!["reason"]!);
        Assert.True((bool)shutdown["data"]!["guest"]!);

        var vms = c.Ok("query-vms").AsArray().ToDictionary(v => (string)v!["vm"]!, v => v!.AsObject());
        Assert.Equal("shutdown", (string)vms["faulty"]["status"]!);
        Assert.Equal("triple-fault", (string)vms["faulty"]["reason"]!);
        Assert.Equal("running", (string)vms["counter"]["status"]!);
        Assert.Contains("triple-fault", (string)c.Ok("human-monitor-command", new JsonObject { ["vm"] = "faulty", ["command-line"] = "info status" })!);

        // The other VM goes on running after the fault: its count keeps growing.
        long before = (long)c.Ok("query-status", new JsonObject { ["vm"] = "counter" })["instructions"]!;
        TestGuests.WaitUntil(() => (long)c.Ok("query-status", new JsonObject { ["vm"] = "counter" })["instructions"]! > before + 100_000, "the surviving VM to run on");
        Assert.Equal("running", (string)c.Ok("query-status", new JsonObject { ["vm"] = "counter" })["status"]!);
        c.Ok("stop", new JsonObject { ["vm"] = "counter" });
        Assert.True(U(c.Ok("query-registers", new JsonObject { ["vm"] = "counter" })["eax"]!) > 0);
        // Without a name, a host of two VMs refuses to guess.
        Assert.Contains("say which one", (string)c.Execute("query-status")["error"]!["desc"]!);
        Assert.Contains("no VM named", (string)c.Execute("query-status", new JsonObject { ["vm"] = "nope" })["error"]!["desc"]!);
    }

    [Fact]
    public void AHostExceptionInADeviceStopsOnlyItsVmAndSaysWhy()
    {
        var counter = new VmInstance("counter", TestGuests.MachineFor(TestGuests.Counter(out _)));
        var broken = TestGuests.MachineFor(TestGuests.WritesCrashPort(spin: 10_000));
        broken.Io.Register(TestGuests.CrashPort, 1, new TestGuests.ThrowingDevice());
        var crashing = new VmInstance("crashing", broken);
        using var host = TestGuests.Host(counter, crashing);
        var events = new List<VmEvent>();
        host.Event += e => { lock (events) events.Add(e); };
        counter.Start();
        crashing.Start();

        Assert.True(crashing.WaitForExit(TimeSpan.FromSeconds(20)));
        Assert.Equal(VmStatus.InternalError, crashing.Status);
        Assert.Contains("test device failure (write 01 to port 05F0)", crashing.ErrorMessage!);
        VmEvent shutdown;
        lock (events) shutdown = events.Single(e => e.Name == "SHUTDOWN" && e.Vm == "crashing");
        Assert.Equal("host-error", (string)shutdown.Data["reason"]!);
        Assert.Contains("test device failure", (string)shutdown.Data["message"]!);
        // Its state can still be inspected, and the other VM is unaffected.
        Assert.Contains("VM status: internal-error", new MonitorInterpreter(host, "crashing").Execute("info status"));
        Assert.Equal(VmStatus.Running, counter.Status);
        long n = counter.Machine.Cpu.InstructionCount;
        TestGuests.WaitUntil(() => counter.Machine.Cpu.InstructionCount > n + 100_000, "the other VM to run on");
        counter.Quit();
        Assert.Equal(ExitReason.Quit, counter.Result!.Reason);
    }

    /// <summary>A disk whose writes fail as a broken host file would.</summary>
    sealed class FailingDisk : IBlockDevice
    {
        public long Length => 1 << 20;
        public bool ReadOnly => false;
        public void Read(long offset, Span<byte> buffer) => buffer.Clear();
        public void Write(long offset, ReadOnlySpan<byte> data) => throw new BlockDeviceException("simulated host I/O error");
        public void Flush() { }
    }

    [Fact]
    public void EventsReportStopResumeResetAndBlockIoErrors()
    {
        var disk = new ObservedBlockDevice("ide0-hd0", "failing.img", new FailingDisk());
        var machine = new Machine(new MachineConfig
        {
            Kernel = new JitVm.Machine.Boot.KernelImage(TestGuests.WritesDiskSector()),
            MemoryBytes = 4 << 20,
            Clock = JitVm.Core.ClockMode.Deterministic,
            HardDisks = [disk],
        });
        var vm = new VmInstance("disky", machine, [disk]);
        using var host = TestGuests.Host(vm);
        string path = SocketPath();
        using var server = ManagementServer.Start(host, new ManagementEndpoints { QmpUnixPath = path });
        using var c = QmpClient.ConnectUnix(path);
        c.Ok("qmp_capabilities");
        vm.Start();

        var io = c.WaitForEvent("BLOCK_IO_ERROR", "disky");
        Assert.Equal("ide0-hd0", (string)io["data"]!["device"]!);
        Assert.Equal("write", (string)io["data"]!["operation"]!);
        Assert.Contains("simulated host I/O error", (string)io["data"]!["reason"]!);
        Assert.True((long)io["timestamp"]!["seconds"]! > 1_600_000_000);
        var block = c.Ok("query-block").AsArray();
        Assert.Equal("failing.img", (string)block[0]!["file"]!);
        Assert.Equal(1, (long)block[0]!["errors"]!);

        c.Ok("stop");
        c.WaitForEvent("STOP", "disky");
        c.Ok("system_reset");
        var reset = c.WaitForEvent("RESET", "disky");
        Assert.False((bool)reset["data"]!["guest"]!);
        // A reset of a Multiboot machine enters the kernel again: EAX holds the boot magic, and it stays paused.
        Assert.Equal(0x2BADB002u, U(c.Ok("query-registers")["eax"]!));
        Assert.Equal("paused", (string)c.Ok("query-status")["status"]!);
        c.Ok("cont");
        c.WaitForEvent("RESUME", "disky");
        c.WaitForEvent("BLOCK_IO_ERROR", "disky");
        c.Ok("quit");
        c.WaitForEvent("SHUTDOWN", "disky");
    }

    [Fact]
    public void TcpNeedsTheTokenInTheHandshake()
    {
        var vm = new VmInstance("t", TestGuests.MachineFor(TestGuests.Counter(out _)));
        using var host = TestGuests.Host(vm);
        const string token = "0123456789abcdef-test-token";
        using var server = ManagementServer.Start(host, new ManagementEndpoints { QmpTcp = new IPEndPoint(IPAddress.Loopback, 0), Token = token });
        Assert.Equal(IPAddress.Loopback, server.QmpTcpEndpoint!.Address);
        vm.Start(paused: true);

        using (var c = QmpClient.ConnectTcp(server.QmpTcpEndpoint))
        {
            Assert.Equal("CommandNotFound", (string)c.Execute("query-status")["error"]!["class"]!);
            Assert.Contains("authentication failed", (string)c.Execute("qmp_capabilities")["error"]!["desc"]!);
            Assert.Contains("authentication failed", (string)c.Execute("qmp_capabilities", new JsonObject { ["token"] = "wrong" })["error"]!["desc"]!);
            Assert.Contains("expected: string", (string)c.Execute("qmp_capabilities", new JsonObject { ["token"] = 5 })["error"]!["desc"]!);
            Assert.Equal("CommandNotFound", (string)c.Execute("query-status")["error"]!["class"]!);
            c.Ok("qmp_capabilities", new JsonObject { ["token"] = token });
            Assert.Equal("paused", (string)c.Ok("query-status")["status"]!);
        }
        // Five wrong tokens and the server hangs up.
        using (var c = QmpClient.ConnectTcp(server.QmpTcpEndpoint))
        {
            for (int i = 0; i < QmpSession.MaxAuthFailures; i++)
                Assert.Contains("authentication failed", (string)c.Execute("qmp_capabilities", new JsonObject { ["token"] = "guess" + i })["error"]!["desc"]!);
            Assert.Throws<IOException>(() => c.ReadMessage());
        }
        Assert.Throws<ArgumentException>(() => ManagementServer.Start(host, new ManagementEndpoints { QmpTcp = new IPEndPoint(IPAddress.Loopback, 0) }));
    }
}
