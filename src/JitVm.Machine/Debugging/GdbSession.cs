using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Serilog;

namespace JitVm.Machine.Debugging;

/// <summary>
/// One debugger connection speaking the remote serial protocol (GDB manual, "Remote Protocol"), all-stop, one
/// thread (id 1). A reader thread turns the socket's bytes into inputs; this session's thread takes those inputs
/// and the machine's stop and exit notices from one queue, in order, so it never blocks on the socket while the
/// guest runs and never touches guest state unless the machine is parked (<see cref="RunControl.Access{T}"/>).
/// </summary>
/// <remarks>
/// Packets other than Ctrl-C that arrive while the guest runs (the debugger is not supposed to send any in all-stop
/// mode) are acknowledged and answered after the stop. Any request that cannot be parsed gets <c>E01</c>, a memory
/// access with no mapping <c>E14</c>, an unknown packet the empty reply; nothing a client sends ends the session
/// except closing the connection or <c>k</c>.
/// </remarks>
internal sealed class GdbSession
{
    /// <summary>The largest memory transfer one m/M/X packet may ask for (its reply must fit in a packet).</summary>
    public const int MaxTransfer = GdbPacketCodec.MaxPayload / 2 - 16;

    const int SigInt = 2, SigTrap = 5;

    abstract record Event;
    sealed record InputEvent(GdbInput Input) : Event;
    sealed record StoppedEvent(StopCause Cause) : Event;
    sealed record ExitedEvent(RunResult Result) : Event;
    sealed record ClosedEvent : Event;

    readonly Stream stream;
    readonly GdbTarget target;
    readonly RunControl control;
    readonly BlockingCollection<Event> events = new();
    readonly Queue<byte[]> deferred = new();

    bool noAck;
    byte[]? lastSent;
    /// <summary>A c/s was sent (or a stop was requested on connect) and its stop reply is still due.</summary>
    bool awaitingStop;
    /// <summary>The stop being waited for was requested by connecting: no reply is due for it.</summary>
    bool silentStop;
    bool interruptSent;
    bool closing;
    /// <summary>The debugger detached (D): the machine runs on and later requests are refused.</summary>
    bool detached;
    int lastSignal = SigTrap;
    RunResult? exited;

    public GdbSession(Stream stream, GdbTarget target, RunControl control)
    {
        this.stream = stream;
        this.target = target;
        this.control = control;
    }

    /// <summary>The machine stopped for the debugger (called on the machine's thread).</summary>
    public void OnStopped(StopCause cause) => Post(new StoppedEvent(cause));

    /// <summary>The run ended (called on the machine's thread).</summary>
    public void OnExited(RunResult result) => Post(new ExitedEvent(result));

    /// <summary>Ends the session from outside (the stub is being disposed).</summary>
    public void Close() => Post(new ClosedEvent());

    void Post(Event e)
    {
        try { events.Add(e); }
        catch (InvalidOperationException) { }       // the session has ended
    }

    /// <summary>Serves the connection until it closes, <c>k</c> kills the guest, or <see cref="Close"/>.</summary>
    public void Run()
    {
        var reader = new Thread(ReadLoop) { IsBackground = true, Name = "gdb-reader" };
        reader.Start();
        exited = control.Result;
        // A debugger that connects to a running machine finds it stopped (QEMU stops the VM on a connection too).
        if (exited is null && !control.IsStopped)
        {
            awaitingStop = silentStop = true;
            control.Pause();
        }
        try
        {
            while (!closing)
            {
                switch (events.Take())
                {
                    case InputEvent { Input: var input }:
                        OnInput(input);
                        break;
                    case StoppedEvent { Cause: var cause }:
                        OnStop(cause);
                        break;
                    case ExitedEvent { Result: var result }:
                        exited = result;
                        if (awaitingStop)
                        {
                            awaitingStop = false;
                            if (!silentStop) Send(ExitReply());
                            silentStop = false;
                            DrainDeferred();
                        }
                        break;
                    case ClosedEvent:
                        closing = true;
                        break;
                }
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        finally
        {
            Detach();
            events.CompleteAdding();
        }
    }

    void ReadLoop()
    {
        var codec = new GdbPacketCodec();
        var buffer = new byte[4096];
        var inputs = new List<GdbInput>();
        try
        {
            while (true)
            {
                int n = stream.Read(buffer, 0, buffer.Length);
                if (n <= 0) break;
                inputs.Clear();
                codec.Feed(buffer.AsSpan(0, n), inputs);
                foreach (var input in inputs) Post(new InputEvent(input));
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        Close();
    }

    void OnInput(GdbInput input)
    {
        switch (input.Kind)
        {
            case GdbInputKind.Ack:
                break;
            case GdbInputKind.Nack:
                if (!noAck && lastSent is not null) stream.Write(lastSent);
                break;
            case GdbInputKind.BadChecksum:
                if (!noAck) WriteRaw((byte)'-');
                break;
            case GdbInputKind.Interrupt:
                if (awaitingStop && !interruptSent)
                {
                    interruptSent = true;
                    control.Pause();
                }
                break;
            case GdbInputKind.Overflow:
                if (!noAck) WriteRaw((byte)'+');
                Send("E01");
                break;
            case GdbInputKind.Packet:
                if (!noAck) WriteRaw((byte)'+');
                if (awaitingStop) deferred.Enqueue(input.Payload!);
                else Handle(input.Payload!);
                break;
        }
    }

    void OnStop(StopCause cause)
    {
        if (!awaitingStop) return;
        awaitingStop = false;
        interruptSent = false;
        lastSignal = cause == StopCause.Interrupt ? SigInt : SigTrap;
        if (silentStop) silentStop = false;
        else Send(StopReply(cause));
        DrainDeferred();
    }

    void DrainDeferred()
    {
        while (!awaitingStop && !closing && deferred.TryDequeue(out var packet)) Handle(packet);
    }

    /// <summary>The debugger is gone: its breakpoints go, and a machine it held stopped runs on.</summary>
    void Detach()
    {
        control.RunOnMachine(target.ClearBreakpoints);
        control.Release();
    }

    void Handle(byte[] payload)
    {
        string? reply;
        try
        {
            reply = Dispatch(payload);
        }
        catch (Exception e) when (e is not IOException and not ObjectDisposedException)
        {
            // A bug in a handler must not end the session (or the machine): the request fails.
            Log.Debug(e, "gdb: request failed");
            reply = "E01";
        }
        if (reply is not null && !awaitingStop && !closing) Send(reply);
    }

    /// <summary>The reply to one packet; null when none is due now (a resume, a kill).</summary>
    string? Dispatch(byte[] payload)
    {
        if (detached) return "E01";
        if (payload.Length > 0 && payload[0] == (byte)'X') return WriteBinary(payload);
        string p = Encoding.Latin1.GetString(payload);
        if (p.Length == 0) return "";
        switch (p[0])
        {
            case '?':
                return exited is not null ? ExitReply() : Access(() => StopReplyFor(lastSignal));
            case 'g':
                return p.Length == 1 ? Access(() => Hex(target.ReadRegisters())) : "E01";
            case 'G':
                return GdbPacketCodec.TryDecodeHex(p.AsSpan(1), out var block) && Access(() => target.WriteRegisters(block)) ? "OK" : "E01";
            case 'p':
            {
                if (!GdbPacketCodec.TryParseHex(p.AsSpan(1), out uint n) || n >= GdbTarget.RegisterCount) return "E01";
                return Access(() => Hex(target.ReadRegister((int)n)));
            }
            case 'P':
            {
                int eq = p.IndexOf('=');
                if (eq < 0 || !GdbPacketCodec.TryParseHex(p.AsSpan(1, eq - 1), out uint n) || n >= GdbTarget.RegisterCount ||
                    !GdbPacketCodec.TryDecodeHex(p.AsSpan(eq + 1), out var value) || value.Length != GdbTarget.RegisterSize((int)n)) return "E01";
                return Access(() => target.WriteRegister((int)n, value)) ? "OK" : "E01";
            }
            case 'm':
            {
                if (!TryAddressLength(p.AsSpan(1), out uint addr, out int len)) return "E01";
                if (len == 0) return "";
                var bytes = Access(() => target.ReadMemory(addr, len));
                return bytes is null ? "E14" : Hex(bytes);
            }
            case 'M':
            {
                int colon = p.IndexOf(':');
                if (colon < 0 || !TryAddressLength(p.AsSpan(1, colon - 1), out uint addr, out int len) ||
                    !GdbPacketCodec.TryDecodeHex(p.AsSpan(colon + 1), out var data) || data.Length != len) return "E01";
                return Access(() => target.WriteMemory(addr, data)) ? "OK" : "E14";
            }
            case 'c':
            case 's':
            {
                uint? addr = null;
                if (p.Length > 1)
                {
                    if (!GdbPacketCodec.TryParseHex(p.AsSpan(1), out uint a)) return "E01";
                    addr = a;
                }
                return Resume(p[0] == 's', addr);
            }
            case 'C':
            case 'S':
            {
                // Cnn[;addr]: the signal is the debugger's to pass to a process; a machine has none, so it is ignored.
                int semi = p.IndexOf(';');
                uint? addr = null;
                if (!GdbPacketCodec.TryParseHex(p.AsSpan(1, (semi < 0 ? p.Length : semi) - 1), out _)) return "E01";
                if (semi >= 0)
                {
                    if (!GdbPacketCodec.TryParseHex(p.AsSpan(semi + 1), out uint a)) return "E01";
                    addr = a;
                }
                return Resume(p[0] == 'S', addr);
            }
            case 'Z':
            case 'z':
                return Breakpoint(p);
            case 'H':
                return "OK";
            case 'T':
                return IsOurThread(p.AsSpan(1)) ? "OK" : "E01";
            case 'k':
                Kill();
                return null;
            case 'D':
                Detach();
                detached = true;
                return "OK";
            case 'q':
            case 'Q':
                return Query(p);
            case 'v':
                return VerbosePacket(p);
            default:
                return "";
        }
    }

    string? Query(string p)
    {
        if (p.StartsWith("qSupported", StringComparison.Ordinal))
            return $"PacketSize={GdbPacketCodec.MaxPayload:x};qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+";
        if (p == "QStartNoAckMode")
        {
            Send("OK");
            noAck = true;
            return null;
        }
        if (p.StartsWith("qXfer:features:read:", StringComparison.Ordinal)) return ReadFeatures(p["qXfer:features:read:".Length..]);
        return p switch
        {
            "qAttached" => "1",
            "qC" => "QC01",
            "qfThreadInfo" => "m01",
            "qsThreadInfo" => "l",
            "qOffsets" => "Text=0;Data=0;Bss=0",
            "qSymbol::" => "OK",
            _ => "",
        };
    }

    /// <summary>qXfer:features:read:ANNEX:OFFSET,LENGTH: a piece of the target description ('m' more follows, 'l' last).</summary>
    static string ReadFeatures(string args)
    {
        int colon = args.LastIndexOf(':');
        if (colon < 0) return "E01";
        if (args[..colon] != "target.xml") return "E00";
        if (!TryAddressLength(args.AsSpan(colon + 1), out uint offset, out int length)) return "E01";
        string xml = GdbTarget.TargetXml;
        if (offset >= xml.Length) return "l";
        int take = (int)Math.Min(length, xml.Length - offset);
        return (offset + take < xml.Length ? "m" : "l") + xml.Substring((int)offset, take);
    }

    string? VerbosePacket(string p)
    {
        if (p == "vCont?") return "vCont;c;C;s;S";
        if (p.StartsWith("vCont;", StringComparison.Ordinal))
        {
            // The leftmost action naming our thread (or all threads) applies.
            foreach (string action in p[6..].Split(';'))
            {
                int colon = action.IndexOf(':');
                if (colon >= 0 && !IsOurThread(action.AsSpan(colon + 1))) continue;
                string verb = colon < 0 ? action : action[..colon];
                if (verb.Length == 0) return "E01";
                switch (verb[0])
                {
                    case 'c' when verb.Length == 1:
                    case 'C' when verb.Length == 3 && GdbPacketCodec.TryParseHex(verb.AsSpan(1), out _):
                        return Resume(false, null);
                    case 's' when verb.Length == 1:
                    case 'S' when verb.Length == 3 && GdbPacketCodec.TryParseHex(verb.AsSpan(1), out _):
                        return Resume(true, null);
                    default:
                        return "E01";
                }
            }
            return "E01";
        }
        if (p.StartsWith("vKill", StringComparison.Ordinal))
        {
            Send("OK");
            Kill();
            return null;
        }
        return "";
    }

    /// <summary>Z/z TYPE,ADDR,KIND: types 0 (software) and 1 (hardware) are host breakpoints; watchpoints are not supported.</summary>
    string Breakpoint(string p)
    {
        string[] parts = p[1..].Split(';')[0].Split(',');
        if (parts.Length != 3 || parts[0].Length != 1 || !GdbPacketCodec.TryParseHex(parts[1], out uint addr) ||
            !GdbPacketCodec.TryParseHex(parts[2], out _)) return "E01";
        bool hardware;
        switch (parts[0][0])
        {
            case '0': hardware = false; break;
            case '1': hardware = true; break;
            case >= '2' and <= '4': return "";
            default: return "E01";
        }
        if (p[0] == 'Z')
        {
            Access(() => { target.InsertBreakpoint(addr, hardware); return true; });
            return "OK";
        }
        return Access(() => target.RemoveBreakpoint(addr, hardware)) ? "OK" : "E01";
    }

    /// <summary>X ADDR,LENGTH:BINARY — memory write with escaped binary data (a zero length probes for support).</summary>
    string WriteBinary(byte[] payload)
    {
        int colon = Array.IndexOf(payload, (byte)':');
        if (colon < 0) return "E01";
        string header = Encoding.Latin1.GetString(payload, 1, colon - 1);
        if (!TryAddressLength(header, out uint addr, out int len) ||
            !GdbPacketCodec.TryUnescape(payload.AsSpan(colon + 1), out var data) || data.Length != len) return "E01";
        if (len == 0) return "OK";
        return Access(() => target.WriteMemory(addr, data)) ? "OK" : "E14";
    }

    string? Resume(bool step, uint? address)
    {
        if (exited is not null) return ExitReply();
        Access(() =>
        {
            if (address is { } a) target.SetEip(a);
            target.PrepareResume(step);
            return true;
        });
        if (!control.Resume(step)) return exited is not null ? ExitReply() : "E01";
        awaitingStop = true;
        interruptSent = false;
        return null;
    }

    void Kill()
    {
        control.Kill();
        closing = true;
    }

    static bool IsOurThread(ReadOnlySpan<char> id) =>
        id is "-1" or "0" or "1" or "01" or "p1" or "p1.1" or "p1.-1" or "p-1.-1" or "p01.01";

    string StopReply(StopCause cause)
    {
        int signal = cause == StopCause.Interrupt ? SigInt : SigTrap;
        return Access(() =>
        {
            string reply = StopReplyFor(signal);
            if (cause == StopCause.Breakpoint)
                reply += target.BreakpointKindAt(target.LinearPc) switch { false => "swbreak:;", true => "hwbreak:;", null => "" };
            return reply;
        });
    }

    /// <summary>T packet: the signal, EIP, ESP and EBP (so the debugger needs no 'g' to show where it stopped), thread 1.</summary>
    string StopReplyFor(int signal)
    {
        var sb = new StringBuilder();
        sb.Append('T').Append(signal.ToString("x2", CultureInfo.InvariantCulture));
        foreach (int r in (ReadOnlySpan<int>)[GdbTarget.EipRegister, GdbTarget.EspRegister, GdbTarget.EbpRegister])
            sb.Append(r.ToString("x2", CultureInfo.InvariantCulture)).Append(':').Append(Hex(target.ReadRegister(r))).Append(';');
        sb.Append("thread:01;");
        return sb.ToString();
    }

    /// <summary>W packet: the run ended; its status is the guest's debug-exit status (0 for any other end).</summary>
    string ExitReply() => "W" + ((exited?.GuestExitCode ?? 0) & 0xFF).ToString("x2", CultureInfo.InvariantCulture);

    T Access<T>(Func<T> access) => control.Access(access);

    static bool TryAddressLength(ReadOnlySpan<char> text, out uint address, out int length)
    {
        address = 0;
        length = 0;
        int comma = text.IndexOf(',');
        if (comma < 0 || !GdbPacketCodec.TryParseHex(text[..comma], out address) ||
            !GdbPacketCodec.TryParseHex(text[(comma + 1)..], out uint len) || len > MaxTransfer) return false;
        length = (int)len;
        return true;
    }

    static string Hex(byte[] bytes)
    {
        var sb = new StringBuilder(bytes.Length * 2);
        GdbPacketCodec.AppendHex(sb, bytes);
        return sb.ToString();
    }

    void Send(string reply)
    {
        lastSent = GdbPacketCodec.Frame(reply);
        stream.Write(lastSent);
        stream.Flush();
    }

    void WriteRaw(byte b)
    {
        stream.WriteByte(b);
    }
}
