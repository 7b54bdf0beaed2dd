using System.CommandLine;
using System.Runtime.InteropServices;
using JitVm.Machine.Management;
using Serilog;

namespace JitVm.Cli.Commands;

/// <summary>
/// <c>jitvm serve --config vms.json</c>: several machines in one process, each on its own thread, managed through the
/// JSON API (and the monitor socket) by name. Runs until <c>server-quit</c>, SIGINT or SIGTERM; then quits every VM
/// still running and prints one exit summary line per VM on stderr.
/// </summary>
internal static class ServeCommand
{
    public static Command Build()
    {
        var cmd = new Command("serve", "Run the VMs of a configuration file in one process, managed through a JSON API (QMP-like) on a Unix socket");
        var config = new Option<FileInfo>("--config") { Description = "The configuration (JSON: qmp, monitor, vms; see docs/decisions/0015-management.md)", Required = true };
        cmd.Options.Add(config);
        cmd.SetAction(r =>
        {
            GlobalOptions.ConfigureLogging(r);
            return Serve(r.GetValue(config)!.FullName, Console.Error);
        });
        return cmd;
    }

    /// <summary>Loads the configuration, starts the VMs and the API, waits for the end; the process exit code.</summary>
    internal static int Serve(string configPath, TextWriter stderr, VmHost? hostForTests = null)
    {
        ServeConfig cfg;
        try { cfg = ServeConfig.Load(configPath); }
        catch (ServeConfigException e)
        {
            stderr.WriteLine($"error: {configPath}: {e.Message}");
            return 2;
        }
        if (cfg.QmpUnix is null && cfg.QmpTcp is null && cfg.MonitorUnix is null)
        {
            stderr.WriteLine($"error: {configPath}: give qmp.unix, qmp.tcp or monitor.unix (nothing could manage the VMs)");
            return 2;
        }
        var built = new List<BuiltVm>();
        var host = hostForTests ?? new VmHost();
        try
        {
            foreach (var spec in cfg.Vms)
            {
                var b = BuiltVm.Build(spec);
                built.Add(b);
                host.Add(b.Vm);
            }
        }
        catch (ServeConfigException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            foreach (var b in built) b.Dispose();
            return 2;
        }
        string? token = null;
        if (cfg.QmpTcp is not null && !RunManagement.TryLoadOrCreateToken(cfg.TokenFile!, out token, out string? tokenError))
        {
            stderr.WriteLine($"error: {tokenError}");
            foreach (var b in built) b.Dispose();
            return 2;
        }
        ManagementServer server;
        try
        {
            server = ManagementServer.Start(host, new ManagementEndpoints
            {
                QmpUnixPath = cfg.QmpUnix,
                QmpTcp = cfg.QmpTcp,
                Token = token,
                MonitorUnixPath = cfg.MonitorUnix,
            });
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            stderr.WriteLine($"error: cannot listen for management: {e.Message}");
            foreach (var b in built) b.Dispose();
            return 2;
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; host.RequestQuit(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; host.RequestQuit(); });
        foreach (var b in built)
        {
            var spec = cfg.Vms.First(s => s.Name == b.Vm.Name);
            b.Vm.Start(paused: spec.Paused);
        }
        stderr.WriteLine($"serve: {built.Count} VM(s) ({string.Join(", ", built.Select(b => b.Vm.Name))})" +
                         (cfg.QmpUnix is { } u ? $"; qmp on unix:{u}" : "") +
                         (server.QmpTcpEndpoint is { } t ? $"; qmp on tcp:{t} (token in {cfg.TokenFile})" : "") +
                         (cfg.MonitorUnix is { } m ? $"; monitor on unix:{m}" : ""));
        Log.Information("serve: waiting for server-quit or a signal");
        host.WaitForQuit(Timeout.InfiniteTimeSpan);
        server.Dispose();
        host.Dispose();
        foreach (var b in built)
        {
            b.Vm.WaitForExit(TimeSpan.FromSeconds(10));
            b.Dispose();
            if (b.Vm.Result is { } r)
                stderr.WriteLine($"vm {b.Vm.Name}: {r.Summary}{(b.Vm.ErrorMessage is { } err ? $" error=\"{err}\"" : "")}");
        }
        return 0;
    }
}
