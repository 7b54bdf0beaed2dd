using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Serilog;

namespace JitVm.Machine.Management;

/// <summary>
/// One API connection: the greeting, the capabilities handshake (with the token on TCP), then one JSON request per
/// line, answered in order, with the VMs' events interleaved once the handshake is done. A request that is not
/// valid JSON, not an object, names no command or an unknown one, or has wrong arguments gets an error reply and
/// the connection goes on; only a client that fails the token check <see cref="MaxAuthFailures"/> times is cut off.
/// Replies and events go through a queue written by their own task, so a VM's thread never waits for a slow client
/// (events beyond <see cref="MaxQueuedEvents"/> unsent are dropped for that client).
/// </summary>
internal sealed class QmpSession
{
    /// <summary>Longest request line accepted; a longer one is answered with an error and skipped.</summary>
    public const int MaxLineBytes = 1 << 20;
    public const int MaxQueuedEvents = 1000;
    public const int MaxAuthFailures = 5;
    const int MaxDepth = 64;

    static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = MaxDepth };

    /// <summary>Replies are not HTML: quotes and apostrophes stay as they are (any non-ASCII is still escaped).</summary>
    static readonly JsonSerializerOptions WriteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    readonly Stream stream;
    readonly VmHost host;
    readonly QmpCommands commands;
    readonly byte[]? token;
    readonly Channel<(string Text, bool IsEvent)> outgoing = Channel.CreateUnbounded<(string, bool)>(new UnboundedChannelOptions { SingleReader = true });
    int queuedEvents;
    bool negotiated;
    int authFailures;

    /// <param name="token">The token TCP clients must present in <c>qmp_capabilities</c> (null: none needed, Unix socket).</param>
    public QmpSession(Stream stream, VmHost host, QmpCommands commands, byte[]? token)
    {
        this.stream = stream;
        this.host = host;
        this.commands = commands;
        this.token = token;
    }

    /// <summary>Serves the connection until the client closes it (or the host shuts down).</summary>
    public async Task RunAsync(CancellationToken cancel)
    {
        var writer = Task.Run(WriteLoop, CancellationToken.None);
        Send(new JsonObject
        {
            ["QMP"] = new JsonObject
            {
                ["version"] = new JsonObject { ["jitvm"] = new JsonObject { ["major"] = 0, ["minor"] = 15, ["micro"] = 0 }, ["package"] = "jitvm" },
                ["capabilities"] = new JsonArray("vms"),
            },
        });
        Action<VmEvent> onEvent = OnEvent;
        host.Event += onEvent;
        try
        {
            await ReadLoop(cancel);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            host.Event -= onEvent;
            outgoing.Writer.TryComplete();
            // What was queued goes out, but a client that does not read cannot hold the connection open: after two
            // seconds the caller closes the socket, which ends the write.
            if (await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)) == writer)
            {
                try { await writer; }
                catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
            }
            else _ = writer.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }
    }

    async Task ReadLoop(CancellationToken cancel)
    {
        var buffer = new byte[64 * 1024];
        var line = new MemoryStream();
        bool skipping = false;
        while (!cancel.IsCancellationRequested)
        {
            int n = await stream.ReadAsync(buffer, cancel);
            if (n == 0) return;
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)'\n') continue;
                if (!skipping)
                {
                    line.Write(buffer, start, i - start);
                    if (line.Length > MaxLineBytes) SendError(null, "GenericError", $"request longer than {MaxLineBytes} bytes");
                    else if (!Handle(line.GetBuffer().AsSpan(0, (int)line.Length))) return;
                }
                skipping = false;
                line.SetLength(0);
                start = i + 1;
            }
            if (skipping) continue;
            line.Write(buffer, start, n - start);
            if (line.Length > MaxLineBytes)
            {
                SendError(null, "GenericError", $"request longer than {MaxLineBytes} bytes");
                line.SetLength(0);
                skipping = true;
            }
        }
    }

    /// <summary>One request line; false when the connection must close (too many token failures).</summary>
    bool Handle(ReadOnlySpan<byte> text)
    {
        if (IsBlank(text)) return true;
        JsonNode? request;
        try
        {
            using var doc = JsonDocument.Parse(text.ToArray(), ParseOptions);
            request = doc.RootElement.ValueKind == JsonValueKind.Object ? JsonObject.Create(doc.RootElement.Clone()) : null;
            if (request is null)
            {
                SendError(null, "GenericError", $"QMP input must be a JSON object, not {Article(doc.RootElement.ValueKind)}");
                return true;
            }
            // Builds the members now, so a duplicate member name is reported here as bad input (ArgumentException).
            _ = request.AsObject().Count;
        }
        catch (JsonException e)
        {
            SendError(null, "GenericError", "JSON parse error: " + FirstLine(e.Message));
            return true;
        }
        catch (ArgumentException e)
        {
            // Invalid UTF-8 from the reader, or duplicate member names, surface as ArgumentException.
            SendError(null, "GenericError", "JSON parse error: " + FirstLine(e.Message));
            return true;
        }
        var obj = request.AsObject();
        JsonNode? id = obj["id"]?.DeepClone();
        try
        {
            foreach (var (key, _) in obj)
                if (key is not ("execute" or "arguments" or "id")) throw QmpError.Generic($"QMP input member '{key}' is unexpected");
            if (obj["execute"] is not { } exec) throw QmpError.Generic("QMP input lacks member 'execute'");
            if (exec.GetValueKind() != JsonValueKind.String) throw QmpError.Generic("QMP input member 'execute' must be a string");
            JsonObject? arguments = null;
            if (obj.TryGetPropertyValue("arguments", out var args))
            {
                if (args?.GetValueKind() != JsonValueKind.Object) throw QmpError.Generic("QMP input member 'arguments' must be an object");
                arguments = args.AsObject();
            }
            string name = exec.GetValue<string>();
            if (name == "qmp_capabilities")
            {
                if (negotiated) throw new QmpError("CommandNotFound", "Capabilities negotiation is already complete, command ignored");
                Negotiate(arguments);
                SendReturn(id, new JsonObject());
                return true;
            }
            if (!negotiated) throw new QmpError("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
            var result = commands.Execute(name, arguments);
            SendReturn(id, result ?? new JsonObject());
        }
        catch (QmpError e)
        {
            SendError(id, e.Class, e.Message);
            if (authFailures >= MaxAuthFailures) return false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug in a command must not take the server (or a VM) down: report it as the reply.
            Log.Error(e, "qmp: command failed");
            SendError(id, "GenericError", $"internal error: {e.GetType().Name}: {e.Message}");
        }
        return true;
    }

    void Negotiate(JsonObject? arguments)
    {
        string? presented = null;
        if (arguments is not null)
            foreach (var (key, value) in arguments)
            {
                if (key == "enable")
                {
                    // QEMU's optional capabilities ("oob"): none is offered, so only an empty list is accepted.
                    if (value is not JsonArray { Count: 0 }) throw QmpError.Generic("Parameter 'enable' lists a capability this server does not offer");
                }
                else if (key == "token")
                {
                    if (value?.GetValueKind() != JsonValueKind.String) throw QmpError.Generic("Invalid parameter type for 'token', expected: string");
                    presented = value.GetValue<string>();
                }
                else throw QmpError.Generic($"Parameter '{key}' is unexpected");
            }
        if (token is not null)
        {
            byte[] given = Encoding.UTF8.GetBytes(presented ?? "");
            if (given.Length != token.Length || !CryptographicOperations.FixedTimeEquals(given, token))
            {
                authFailures++;
                Log.Warning("qmp: a TCP client presented a wrong token ({Failures} of {Max})", authFailures, MaxAuthFailures);
                throw QmpError.Generic("authentication failed: qmp_capabilities needs the server's token");
            }
        }
        negotiated = true;
    }

    void OnEvent(VmEvent e)
    {
        if (!negotiated) return;
        if (Interlocked.Increment(ref queuedEvents) > MaxQueuedEvents)
        {
            Interlocked.Decrement(ref queuedEvents);
            return;
        }
        var data = (JsonObject)e.Data.DeepClone();
        data["vm"] = e.Vm;
        long us = e.Timestamp.ToUnixTimeMilliseconds() * 1000 + e.Timestamp.Ticks / 10 % 1000;
        var message = new JsonObject
        {
            ["event"] = e.Name,
            ["data"] = data,
            ["timestamp"] = new JsonObject { ["seconds"] = us / 1_000_000, ["microseconds"] = us % 1_000_000 },
        };
        if (!outgoing.Writer.TryWrite((message.ToJsonString(WriteOptions), true))) Interlocked.Decrement(ref queuedEvents);
    }

    void SendReturn(JsonNode? id, JsonNode result)
    {
        var o = new JsonObject { ["return"] = result };
        if (id is not null) o["id"] = id;
        Send(o);
    }

    void SendError(JsonNode? id, string errorClass, string description)
    {
        var o = new JsonObject { ["error"] = new JsonObject { ["class"] = errorClass, ["desc"] = description } };
        if (id is not null) o["id"] = id;
        Send(o);
    }

    void Send(JsonObject o) => outgoing.Writer.TryWrite((o.ToJsonString(WriteOptions), false));

    /// <summary>
    /// Writes queued replies and events until the queue is completed (the connection is over): what was queued before
    /// the end still goes out (the reply to <c>server-quit</c>), unless the client stops reading.
    /// </summary>
    async Task WriteLoop()
    {
        await foreach (var (text, isEvent) in outgoing.Reader.ReadAllAsync(CancellationToken.None))
        {
            if (isEvent) Interlocked.Decrement(ref queuedEvents);
            var bytes = Encoding.UTF8.GetBytes(text + "\r\n");
            await stream.WriteAsync(bytes);
            await stream.FlushAsync();
        }
    }

    static bool IsBlank(ReadOnlySpan<byte> text)
    {
        foreach (byte b in text)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        return true;
    }

    static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }

    static string Article(JsonValueKind k) => k switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
