using System.Net;
using System.Security.Cryptography;
using JitVm.Machine;
using JitVm.Machine.Management;

namespace JitVm.Cli.Commands;

/// <summary>
/// <c>jitvm run</c>'s management side: the machine as the one VM ("vm0") of a <see cref="VmHost"/>, so the console
/// monitor (Ctrl-A c), <c>--monitor unix:PATH</c> and <c>--qmp unix:PATH|tcp:HOST:PORT</c> can stop, inspect and
/// snapshot it. The run stays on the calling thread.
/// </summary>
internal sealed class RunManagement : IDisposable
{
    readonly ManagementServer? server;

    RunManagement(VmHost host, VmInstance vm, ManagementServer? server)
    {
        Host = host;
        Vm = vm;
        this.server = server;
    }

    public VmHost Host { get; }
    public VmInstance Vm { get; }

    /// <summary>A monitor interpreter for the console.</summary>
    public MonitorInterpreter NewMonitor() => new(Host);

    /// <summary>Where the TCP API listens, when it does.</summary>
    public IPEndPoint? QmpTcpEndpoint => server?.QmpTcpEndpoint;

    /// <summary>
    /// Parses the options and starts the listeners. Returns null (and no error) when nothing asks for management
    /// and there is no console monitor; null with <paramref name="error"/> set on a bad option or a bind failure.
    /// </summary>
    public static RunManagement? Create(Machine.Machine machine, bool consoleMonitor, string? monitorSpec, string? qmpSpec, string? tokenFile, out string? error)
    {
        error = null;
        if (!consoleMonitor && monitorSpec is null && qmpSpec is null) return null;
        var endpoints = new ManagementEndpoints();
        if (monitorSpec is not null)
        {
            if (!monitorSpec.StartsWith("unix:", StringComparison.Ordinal) || monitorSpec.Length == 5)
            {
                error = $"invalid --monitor '{monitorSpec}' (use unix:PATH)";
                return null;
            }
            endpoints = endpoints with { MonitorUnixPath = monitorSpec[5..] };
        }
        if (qmpSpec is not null)
        {
            if (qmpSpec.StartsWith("unix:", StringComparison.Ordinal) && qmpSpec.Length > 5)
                endpoints = endpoints with { QmpUnixPath = qmpSpec[5..] };
            else if (Machine.Debugging.GdbStub.TryParseEndpoint(qmpSpec, out var ep, out _))
            {
                if (!TryLoadOrCreateToken(tokenFile ?? "jitvm-qmp.token", out string? token, out error)) return null;
                endpoints = endpoints with { QmpTcp = ep, Token = token };
            }
            else
            {
                error = $"invalid --qmp '{qmpSpec}' (use unix:PATH or tcp:HOST:PORT)";
                return null;
            }
        }
        var host = new VmHost();
        var vm = new VmInstance("vm0", machine);
        host.Add(vm);
        ManagementServer? server = null;
        if (endpoints.QmpUnixPath is not null || endpoints.QmpTcp is not null || endpoints.MonitorUnixPath is not null)
        {
            try
            {
                server = ManagementServer.Start(host, endpoints);
                if (server.QmpTcpEndpoint is { } tcp) Console.Error.WriteLine($"qmp: listening on tcp:{tcp} (token in {tokenFile ?? "jitvm-qmp.token"})");
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                error = $"cannot listen for management: {e.Message}";
                return null;
            }
        }
        return new RunManagement(host, vm, server);
    }

    /// <summary>
    /// The TCP API's token: read from <paramref name="path"/> (trimmed) when the file exists, else 32 random bytes in
    /// hex written there, readable by the owner only.
    /// </summary>
    public static bool TryLoadOrCreateToken(string path, out string? token, out string? error)
    {
        token = null;
        error = null;
        try
        {
            if (File.Exists(path))
            {
                token = File.ReadAllText(path).Trim();
                if (token.Length < 16)
                {
                    error = $"the token in {path} is shorter than 16 characters";
                    token = null;
                    return false;
                }
                return true;
            }
            token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var f = new FileStream(path, options))
            using (var w = new StreamWriter(f))
                w.WriteLine(token);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"cannot read or create the token file {path}: {e.Message}";
            return false;
        }
    }

    /// <summary>Runs the machine on this thread until it ends.</summary>
    public RunResult Run() => Vm.Run();

    public void Dispose() => server?.Dispose();
}
