namespace JitVm.Devices;

/// <summary>
/// A minimal standard PS/2 mouse (ID 0x00, no wheel) on the 8042's auxiliary port: enough of the command set
/// for BIOS and OS probes (reset, identify, enable/disable, rate, resolution, scaling, status, stream/remote
/// mode), and 3-byte movement packets from <see cref="SendMovement"/> while reporting is enabled in stream mode.
/// Wrap mode and the wheel extensions are not implemented (0xEE/0xEC are refused with 0xFE).
/// </summary>
public sealed class Ps2Mouse
{
    const byte Ack = 0xFA, Resend = 0xFE, BatPassed = 0xAA, DeviceId = 0x00;

    readonly Action dataReady;
    readonly Queue<byte> replies = new();         // command replies go out ahead of buffered packets
    readonly Queue<byte> packets = new();
    byte expecting;                       // 0xE8 or 0xF3 while their parameter is due; 0 otherwise
    byte lastSent, buttons;

    internal Ps2Mouse(Action dataReady)
    {
        this.dataReady = dataReady;
        Reset();
    }

    /// <summary>Whether data reporting is on (0xF4), i.e. stream-mode movement produces packets.</summary>
    public bool ReportingEnabled { get; private set; }

    /// <summary>Samples per second set by 0xF3 (default 100).</summary>
    public byte SampleRate { get; private set; }

    /// <summary>Resolution code 0–3 set by 0xE8 (1, 2, 4, 8 counts/mm; default 2).</summary>
    public byte Resolution { get; private set; }

    /// <summary>2:1 scaling (0xE7) rather than 1:1 (0xE6).</summary>
    public bool Scaling2To1 { get; private set; }

    /// <summary>Remote mode (0xF0): packets only on request (0xEB); stream mode (0xEA) is the default.</summary>
    public bool RemoteMode { get; private set; }

    /// <summary>
    /// Reports a movement and the button state: <paramref name="dx"/> right-positive, <paramref name="dy"/>
    /// up-positive (the PS/2 convention), each clamped to −256..255 with the overflow bit set when clamped;
    /// <paramref name="buttons"/> bit 0 left, bit 1 right, bit 2 middle. Sends a packet only in stream mode
    /// with reporting enabled; the button state is kept for status and read-data replies either way.
    /// </summary>
    public void SendMovement(int dx, int dy, int buttons)
    {
        this.buttons = (byte)(buttons & 7);
        if (!ReportingEnabled || RemoteMode) return;
        Packet(dx, dy);
        dataReady();
    }

    void Packet(int dx, int dy)
    {
        bool xOverflow = dx is < -256 or > 255, yOverflow = dy is < -256 or > 255;
        dx = Math.Clamp(dx, -256, 255);
        dy = Math.Clamp(dy, -256, 255);
        int head = buttons | 0x08 | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0)
                   | (xOverflow ? 0x40 : 0) | (yOverflow ? 0x80 : 0);
        packets.Enqueue((byte)head);
        packets.Enqueue((byte)dx);
        packets.Enqueue((byte)dy);
    }

    internal bool HasData => replies.Count > 0 || packets.Count > 0;

    /// <summary>The next byte on the wire to the controller (only called when <see cref="HasData"/>).</summary>
    internal byte TakeByte() => lastSent = replies.Count > 0 ? replies.Dequeue() : packets.Dequeue();

    /// <summary>Power-on state: defaults, reporting off, nothing buffered.</summary>
    internal void Reset()
    {
        replies.Clear();
        packets.Clear();
        SetDefaults();
        expecting = 0;
        lastSent = 0;
        buttons = 0;
    }

    void SetDefaults()
    {
        SampleRate = 100;
        Resolution = 2;
        Scaling2To1 = false;
        RemoteMode = false;
        ReportingEnabled = false;
    }

    /// <summary>A byte from the controller (command 0xD4 followed by the byte on port 0x60).</summary>
    internal void Receive(byte b)
    {
        if (expecting != 0)
        {
            if (expecting == 0xE8) Resolution = (byte)(b & 3);
            else SampleRate = b;
            expecting = 0;
            Reply(Ack);
            return;
        }
        switch (b)
        {
            case 0xFF:                                    // reset: ACK, BAT passed, device ID
                Reset();
                Reply(Ack, BatPassed, DeviceId);
                break;
            case 0xFE: Reply(lastSent); break;
            case 0xF6:                                    // set defaults
                packets.Clear();
                SetDefaults();
                Reply(Ack);
                break;
            case 0xF5:                                    // disable data reporting
                packets.Clear();
                ReportingEnabled = false;
                Reply(Ack);
                break;
            case 0xF4:
                packets.Clear();
                ReportingEnabled = true;
                Reply(Ack);
                break;
            case 0xF3 or 0xE8:                            // sample rate / resolution: a parameter follows
                expecting = b;
                Reply(Ack);
                break;
            case 0xF2: Reply(Ack, DeviceId); break;
            case 0xF0: RemoteMode = true; Reply(Ack); break;
            case 0xEA: RemoteMode = false; Reply(Ack); break;
            case 0xEB:                                    // read data: ACK, then one packet with no movement
                packets.Clear();
                Packet(0, 0);
                Reply(Ack);
                break;
            case 0xE9:                                    // status: mode/buttons, resolution, sample rate
                int status = (RemoteMode ? 0x40 : 0) | (ReportingEnabled ? 0x20 : 0) | (Scaling2To1 ? 0x10 : 0)
                             | ((buttons & 1) << 2) | ((buttons & 4) >> 1) | ((buttons & 2) >> 1);
                Reply(Ack, (byte)status, Resolution, SampleRate);
                break;
            case 0xE7: Scaling2To1 = true; Reply(Ack); break;
            case 0xE6: Scaling2To1 = false; Reply(Ack); break;
            default: Reply(Resend); break;
        }
    }

    void Reply(params ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) replies.Enqueue(b);
        dataReady();
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>Writes the mouse's part of section "KBC ": queues, command state, buttons and settings.</summary>
    internal void SaveState(Core.State.StateWriter w)
    {
        Ps2Keyboard.SaveQueue(w, replies);
        Ps2Keyboard.SaveQueue(w, packets);
        w.WriteByte(expecting);
        w.WriteByte(lastSent);
        w.WriteByte(buttons);
        w.WriteBool(ReportingEnabled);
        w.WriteByte(SampleRate);
        w.WriteByte(Resolution);
        w.WriteBool(Scaling2To1);
        w.WriteBool(RemoteMode);
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    internal void LoadState(Core.State.StateReader r)
    {
        Ps2Keyboard.LoadQueue(r, "mouse replies", replies, int.MaxValue);
        Ps2Keyboard.LoadQueue(r, "mouse packets", packets, int.MaxValue);
        expecting = r.ReadByte("mouse expecting");
        lastSent = r.ReadByte("mouse last sent");
        buttons = r.ReadByte("mouse buttons", 0, 7);
        ReportingEnabled = r.ReadBool("mouse reporting");
        SampleRate = r.ReadByte("mouse sample rate");
        Resolution = r.ReadByte("mouse resolution", 0, 3);
        Scaling2To1 = r.ReadBool("mouse scaling");
        RemoteMode = r.ReadBool("mouse remote mode");
    }
}
