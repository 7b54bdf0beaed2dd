using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Serilog;

namespace JitVm.Machine.Debugging;

/// <summary>
/// A GDB remote-serial-protocol server for a <see cref="Machine"/> (<c>jitvm run --gdb tcp:HOST:PORT</c>). From
/// <see cref="Start"/> on, the machine is held stopped before its first instruction until a debugger connects and
/// lets it run (QEMU's <c>-s -S</c>; see docs/decisions/0013-gdb-stub.md). One connection is served at a time; a
/// debugger that detaches or disconnects leaves the machine running, and the next one to connect stops it again.
/// </summary>
public sealed class GdbStub : IDisposable
{
    readonly TcpListener listener;
    readonly GdbTarget target;
    readonly RunControl control;
    readonly Thread acceptThread;
    volatile GdbSession? session;
    volatile bool disposed;

    GdbStub(Machine machine, IPEndPoint endpoint)
    {
        target = new GdbTarget(machine);
        control = new RunControl
        {
            Stopped = cause => session?.OnStopped(cause),
            Ended = result => session?.OnExited(result),
        };
        listener = new TcpListener(endpoint);
        listener.Start(1);
        machine.Debugger = control;
        acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "gdb-stub" };
        acceptThread.Start();
    }

    /// <summary>
    /// Listens on <paramref name="endpoint"/> (port 0: any free port, see <see cref="Endpoint"/>) and attaches to
    /// <paramref name="machine"/>, which from now on stays stopped until a debugger resumes it. Call it before
    /// <see cref="Machine.Run"/> (the stub assumes the machine is not in a slice). Throws
    /// <see cref="SocketException"/> when the address cannot be bound.
    /// </summary>
    public static GdbStub Start(Machine machine, IPEndPoint endpoint) => new(machine, endpoint);

    /// <summary>Where the stub listens (with the port chosen when 0 was asked for).</summary>
    public IPEndPoint Endpoint => (IPEndPoint)listener.LocalEndpoint;

    /// <summary>A debugger is connected.</summary>
    public bool Connected => session is not null;

    void AcceptLoop()
    {
        while (!disposed)
        {
            TcpClient client;
            try
            {
                client = listener.AcceptTcpClient();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                break;
            }
            using (client)
            {
                client.NoDelay = true;
                Log.Information("gdb: connection from {Remote}", client.Client.RemoteEndPoint);
                var s = new GdbSession(client.GetStream(), target, control);
                session = s;
                if (disposed) s.Close();
                try
                {
                    s.Run();
                }
                finally
                {
                    session = null;
                }
                Log.Information("gdb: connection closed");
            }
        }
    }

    /// <summary>Stops listening and closes a connection (after it has sent what was due, such as the exit reply).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        listener.Stop();
        session?.Close();
        acceptThread.Join(TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// Parses QEMU's <c>-gdb</c> device syntax for TCP: <c>tcp:HOST:PORT</c>, where an empty host (<c>tcp::1234</c>)
    /// means 127.0.0.1 and HOST is an IP address (IPv6 in brackets) or <c>localhost</c>.
    /// </summary>
    public static bool TryParseEndpoint(string spec, out IPEndPoint? endpoint, out string? error)
    {
        endpoint = null;
        error = null;
        if (!spec.StartsWith("tcp:", StringComparison.Ordinal))
        {
            error = $"invalid --gdb '{spec}' (use tcp:HOST:PORT or tcp::PORT)";
            return false;
        }
        string rest = spec[4..];
        int colon = rest.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            error = $"invalid --gdb '{spec}': no port (use tcp:HOST:PORT or tcp::PORT)";
            return false;
        }
        string host = rest[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        IPAddress? address = host switch
        {
            "" => IPAddress.Loopback,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var a) ? a : null,
        };
        if (address is null)
        {
            error = $"invalid --gdb '{spec}': '{host}' is not an IP address";
            return false;
        }
        endpoint = new IPEndPoint(address, port);
        return true;
    }
}
