using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Serilog;

namespace JitVm.Machine.Management;

/// <summary>Where the management server listens.</summary>
public sealed record ManagementEndpoints
{
    /// <summary>The JSON API on a Unix socket (no token: the socket file is made 0600).</summary>
    public string? QmpUnixPath { get; init; }
    /// <summary>The JSON API on TCP (use 127.0.0.1); needs <see cref="Token"/>.</summary>
    public IPEndPoint? QmpTcp { get; init; }
    /// <summary>The secret TCP clients present in <c>qmp_capabilities</c>.</summary>
    public string? Token { get; init; }
    /// <summary>The human monitor on a Unix socket (0600).</summary>
    public string? MonitorUnixPath { get; init; }
}

/// <summary>
/// The API and monitor listeners of a <see cref="VmHost"/>: every connection is served on its own task, and nothing
/// a client sends can end the accept loops or reach a VM's thread except through the command it names.
/// </summary>
public sealed class ManagementServer : IDisposable
{
    readonly VmHost host;
    readonly QmpCommands commands;
    readonly List<Socket> listeners = new();
    readonly List<string> socketFiles = new();
    readonly ConcurrentDictionary<int, Task> connections = new();
    readonly CancellationTokenSource stopping = new();
    readonly byte[]? token;

    ManagementServer(VmHost host, string? token)
    {
        this.host = host;
        commands = new QmpCommands(host);
        this.token = token is null ? null : Encoding.UTF8.GetBytes(token);
    }

    /// <summary>Where the TCP API listens (with the port chosen when 0 was asked for), or null.</summary>
    public IPEndPoint? QmpTcpEndpoint { get; private set; }

    /// <summary>Connections served so far.</summary>
    public int ConnectionCount => connectionCount;
    int connectionCount;

    /// <summary>
    /// Binds every endpoint given and starts accepting. Throws <see cref="SocketException"/> (or
    /// <see cref="ArgumentException"/> for TCP without a token) before anything is served.
    /// </summary>
    public static ManagementServer Start(VmHost host, ManagementEndpoints endpoints)
    {
        if (endpoints.QmpTcp is not null && string.IsNullOrEmpty(endpoints.Token))
            throw new ArgumentException("the TCP API needs a token");
        var server = new ManagementServer(host, endpoints.QmpTcp is null ? null : endpoints.Token);
        try
        {
            if (endpoints.QmpUnixPath is { } qmp) server.Listen(server.BindUnix(qmp), s => server.ServeQmp(s, needsToken: false));
            if (endpoints.QmpTcp is { } tcp)
            {
                var l = new Socket(tcp.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                l.Bind(tcp);
                l.Listen(16);
                server.QmpTcpEndpoint = (IPEndPoint)l.LocalEndPoint!;
                server.Listen(l, s => server.ServeQmp(s, needsToken: true));
            }
            if (endpoints.MonitorUnixPath is { } mon) server.Listen(server.BindUnix(mon), server.ServeMonitor);
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return server;
    }

    Socket BindUnix(string path)
    {
        // A socket file left by a process that is gone is replaced; a live one (something accepts) is not.
        if (File.Exists(path))
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            catch (SocketException e) when (e.SocketErrorCode != SocketError.AddressAlreadyInUse)
            {
                File.Delete(path);
            }
        }
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            s.Listen(16);
        }
        catch
        {
            s.Dispose();
            throw;
        }
        socketFiles.Add(path);
        return s;
    }

    void Listen(Socket listener, Func<Stream, Task> serve)
    {
        listeners.Add(listener);
        _ = Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(stopping.Token);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    if (stopping.IsCancellationRequested) return;
                    Log.Warning("management: accept failed: {Message}", e.Message);
                    continue;
                }
                int id = Interlocked.Increment(ref connectionCount);
                var registered = new TaskCompletionSource();
                var connection = Task.Run(async () =>
                {
                    await registered.Task;
                    try
                    {
                        using var stream = new NetworkStream(client, ownsSocket: true);
                        await serve(stream);
                    }
                    catch (Exception e)
                    {
                        // Whatever happens on one connection stays there.
                        Log.Warning(e, "management: connection ended with an error");
                    }
                    finally
                    {
                        connections.TryRemove(id, out _);
                    }
                });
                connections[id] = connection;
                registered.SetResult();
            }
        });
    }

    Task ServeQmp(Stream stream, bool needsToken) =>
        new QmpSession(stream, host, commands, needsToken ? token : null).RunAsync(stopping.Token);

    /// <summary>The human monitor over a socket: a banner and prompt, then one command per line.</summary>
    async Task ServeMonitor(Stream stream)
    {
        var monitor = new MonitorInterpreter(host);
        var encoding = new UTF8Encoding(false);
        using var reader = new StreamReader(stream, encoding, false, 4096, leaveOpen: true);
        await using var writer = new StreamWriter(stream, encoding, 4096, leaveOpen: true) { NewLine = "\n", AutoFlush = true };
        await writer.WriteAsync("JitVm monitor - type 'help' for more information\n" + MonitorInterpreter.Prompt);
        while (!stopping.IsCancellationRequested)
        {
            string? line = await ReadLimitedLineAsync(reader, 64 * 1024, stopping.Token);
            if (line is null) return;
            string output = await Task.Run(() => monitor.Execute(line));
            await writer.WriteAsync(output + MonitorInterpreter.Prompt);
        }
    }

    static async Task<string?> ReadLimitedLineAsync(StreamReader reader, int max, CancellationToken cancel)
    {
        var sb = new StringBuilder();
        var one = new char[1];
        while (true)
        {
            int n = await reader.ReadAsync(one.AsMemory(), cancel);
            if (n == 0) return sb.Length > 0 ? sb.ToString() : null;
            if (one[0] == '\n') return sb.ToString().TrimEnd('\r');
            if (sb.Length < max) sb.Append(one[0]);
        }
    }

    /// <summary>Stops listening, closes every connection and removes the socket files.</summary>
    public void Dispose()
    {
        if (stopping.IsCancellationRequested) return;
        stopping.Cancel();
        foreach (var l in listeners) l.Dispose();
        Task.WaitAll(connections.Values.ToArray(), TimeSpan.FromSeconds(2));
        foreach (var f in socketFiles)
        {
            try { File.Delete(f); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
