using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace JitVm.Machine.Tests.Management;

/// <summary>A test client for the JSON API: sends one request per line, reads replies, keeps events aside.</summary>
internal sealed class QmpClient : IDisposable
{
    readonly Socket socket;
    readonly NetworkStream stream;
    readonly StreamReader reader;
    readonly List<JsonObject> events = new();

    QmpClient(Socket socket)
    {
        this.socket = socket;
        socket.ReceiveTimeout = 20_000;
        stream = new NetworkStream(socket, ownsSocket: true);
        reader = new StreamReader(stream, new UTF8Encoding(false));
        Greeting = ReadMessage();
    }

    public JsonObject Greeting { get; }

    public static QmpClient ConnectUnix(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        return new QmpClient(s);
    }

    public static QmpClient ConnectTcp(IPEndPoint endpoint)
    {
        var s = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.Connect(endpoint);
        return new QmpClient(s);
    }

    /// <summary>The events received so far (in order).</summary>
    public IReadOnlyList<JsonObject> Events => events;

    public JsonObject ReadMessage()
    {
        string? line = reader.ReadLine() ?? throw new IOException("the server closed the connection");
        return JsonNode.Parse(line)!.AsObject();
    }

    /// <summary>The next reply (a "return" or "error" object), keeping events that arrive before it.</summary>
    public JsonObject ReadReply()
    {
        while (true)
        {
            var m = ReadMessage();
            if (m.ContainsKey("event")) events.Add(m);
            else return m;
        }
    }

    public void SendRaw(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        stream.Write(bytes);
    }

    public void SendRawBytes(byte[] bytes) => stream.Write(bytes);

    /// <summary>Sends a command and returns its reply.</summary>
    public JsonObject Execute(string command, JsonObject? arguments = null)
    {
        var o = new JsonObject { ["execute"] = command };
        if (arguments is not null) o["arguments"] = arguments;
        SendRaw(o.ToJsonString());
        return ReadReply();
    }

    /// <summary>Sends a command that must succeed and returns its "return" value.</summary>
    public JsonNode Ok(string command, JsonObject? arguments = null)
    {
        var reply = Execute(command, arguments);
        Assert.True(reply.ContainsKey("return"), $"{command} failed: {reply.ToJsonString()}");
        return reply["return"]!;
    }

    /// <summary>Waits for an event called <paramref name="name"/> (from the VM named, if given).</summary>
    public JsonObject WaitForEvent(string name, string? vm = null)
    {
        bool Match(JsonObject e) => (string)e["event"]! == name && (vm is null || (string?)e["data"]?["vm"] == vm);
        var found = events.FirstOrDefault(Match);
        while (found is null)
        {
            var m = ReadMessage();
            Assert.True(m.ContainsKey("event"), $"expected only events while waiting for {name}, got {m.ToJsonString()}");
            events.Add(m);
            if (Match(m)) found = m;
        }
        events.Remove(found);
        return found;
    }

    public void Dispose()
    {
        reader.Dispose();
        stream.Dispose();
        socket.Dispose();
    }
}
