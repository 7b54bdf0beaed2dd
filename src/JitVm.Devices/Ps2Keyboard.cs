using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// A PS/2 (MF2) keyboard on the 8042's keyboard port: the command set a BIOS or OS driver uses, and the host's
/// key events.
/// <para>
/// Host input is always given in scan code set 2, the keyboard's native set: <see cref="SendMake"/> /
/// <see cref="SendBreak"/> take a key's set 2 code, where a value 0xE0nn means the E0-prefixed code nn
/// (right Ctrl = 0xE014, Up = 0xE075); <see cref="SendBytes"/> sends a raw sequence for the keys that are not
/// a simple make/break pair (<see cref="PauseSequence"/>, Print Screen's E0 12 E0 7C). When the guest selects
/// set 1 (command 0xF0 0x01) the keyboard converts the events itself. Set 3 is not supported (refused with
/// 0xFE, after which drivers such as Linux's atkbd stay in set 2). Events are dropped while scanning is
/// disabled (command 0xF5). <see cref="KeyDown"/>/<see cref="KeyUp"/> model a held key: with a clock, the
/// last key pressed repeats its make code at the typematic delay and rate set by 0xF3 (default 500 ms, 10.9/s),
/// as the keyboard does; a host that can only report presses sends its own repeated makes with <see cref="SendMake"/>.
/// </para>
/// </summary>
public sealed class Ps2Keyboard
{
    /// <summary>The marker in the high byte of a <see cref="SendMake"/> code for an E0-prefixed key.</summary>
    public const ushort Extended = 0xE000;

    /// <summary>The set 2 make sequence of the Pause key (it has no break code).</summary>
    public static ReadOnlySpan<byte> PauseSequence => [0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77];

    /// <summary>Bytes the keyboard buffers for the controller before it reports an overrun (the real one holds 16;
    /// this one is deeper so pasted text survives a guest that reads slowly).</summary>
    public const int BufferCapacity = 256;

    const byte Ack = 0xFA, Resend = 0xFE, BatPassed = 0xAA, EchoReply = 0xEE;
    const byte DefaultTypematic = 0x2B;           // 10.9 characters/s after 500 ms

    readonly Action dataReady;
    readonly Queue<byte> replies = new();         // command replies go out ahead of buffered scan codes
    readonly Queue<byte> scanCodes = new();
    byte expecting;                                // the command whose parameter byte comes next; 0 when none
    byte lastSent;
    bool set1Break;

    readonly DeviceTimer? repeat;
    /// <summary>The key that repeats (the last one pressed and still held), or -1.</summary>
    int held = -1;

    internal Ps2Keyboard(Action dataReady, VirtualClock? clock = null)
    {
        this.dataReady = dataReady;
        repeat = clock?.CreateTimer(Repeat);
        Reset();
    }

    /// <summary>Typematic delay before the first repeat: 250 ms × (1 + bits 6:5).</summary>
    public long TypematicDelayNs => 250_000_000L * (((Typematic >> 5) & 3) + 1);

    /// <summary>Typematic period: (8 + bits 2:0) × 2^(bits 4:3) × 4.17 ms.</summary>
    public long TypematicPeriodNs => (8 + (Typematic & 7)) * (1L << ((Typematic >> 3) & 3)) * 4_170_000L;

    /// <summary>A key goes down: its make code now, then (with a clock) repeated while it stays the last key held.</summary>
    public void KeyDown(ushort set2Code)
    {
        SendMake(set2Code);
        held = set2Code;
        repeat?.SetIn(TypematicDelayNs);
    }

    /// <summary>A key goes up: its break code; the repeat stops if it was the repeating key.</summary>
    public void KeyUp(ushort set2Code)
    {
        SendBreak(set2Code);
        if (held == set2Code)
        {
            held = -1;
            repeat?.Cancel();
        }
    }

    void Repeat(long when)
    {
        if (held < 0) return;
        SendMake((ushort)held);
        repeat!.Set(when + TypematicPeriodNs);
    }

    /// <summary>LED state from command 0xED: bit 0 Scroll Lock, bit 1 Num Lock, bit 2 Caps Lock.</summary>
    public byte Leds { get; private set; }

    /// <summary>The scan code set the keyboard sends (1 or 2).</summary>
    public int ScancodeSet { get; private set; }

    /// <summary>Whether key events are reported (0xF4 enables, 0xF5 disables, reset enables).</summary>
    public bool ScanningEnabled { get; private set; }

    /// <summary>The typematic rate/delay byte last set by command 0xF3.</summary>
    public byte Typematic { get; private set; }

    /// <summary>Presses the key with set 2 code <paramref name="set2Code"/> (0x00–0xFF, or 0xE000 | code for E0 keys).</summary>
    public void SendMake(ushort set2Code)
    {
        Span<byte> seq = stackalloc byte[2];
        SendBytes(Encode(set2Code, seq, breakCode: false));
    }

    /// <summary>Releases the key with set 2 code <paramref name="set2Code"/> (sent as F0 nn, or E0 F0 nn).</summary>
    public void SendBreak(ushort set2Code)
    {
        Span<byte> seq = stackalloc byte[3];
        SendBytes(Encode(set2Code, seq, breakCode: true));
    }

    /// <summary>
    /// Sends a raw set 2 byte sequence as one event (converted to set 1 if the guest selected it). Dropped while
    /// scanning is disabled; if it does not fit in the buffer it is dropped and an overrun code sent instead.
    /// </summary>
    public void SendBytes(ReadOnlySpan<byte> set2Bytes)
    {
        if (!ScanningEnabled || set2Bytes.IsEmpty) return;
        if (scanCodes.Count + set2Bytes.Length > BufferCapacity - 1)
        {
            byte overrun = ScancodeSet == 1 ? (byte)0xFF : (byte)0x00;
            if (scanCodes.Count < BufferCapacity) scanCodes.Enqueue(overrun);
        }
        else
        {
            foreach (byte b in set2Bytes)
            {
                if (ScancodeSet == 2) scanCodes.Enqueue(b);
                else if (ScancodeTranslation.Translate(b, ref set1Break) is { } x) scanCodes.Enqueue(x);
            }
        }
        dataReady();
    }

    static ReadOnlySpan<byte> Encode(ushort code, Span<byte> seq, bool breakCode)
    {
        int n = 0;
        if ((code & 0xFF00) == Extended) seq[n++] = 0xE0;
        else if (code > 0xFF) throw new ArgumentOutOfRangeException(nameof(code), "a set 2 code 0x00-0xFF or 0xE000-0xE0FF");
        if (breakCode) seq[n++] = 0xF0;
        seq[n++] = (byte)code;
        return seq[..n];
    }

    internal bool HasData => replies.Count > 0 || scanCodes.Count > 0;

    /// <summary>The next byte on the wire to the controller (only called when <see cref="HasData"/>).</summary>
    internal byte TakeByte()
    {
        lastSent = replies.Count > 0 ? replies.Dequeue() : scanCodes.Dequeue();
        return lastSent;
    }

    /// <summary>Power-on state: defaults, scanning on, LEDs off, nothing buffered.</summary>
    internal void Reset()
    {
        replies.Clear();
        scanCodes.Clear();
        held = -1;
        repeat?.Cancel();
        SetDefaults();
        ScanningEnabled = true;
        Leds = 0;
        expecting = 0;
        lastSent = 0;
    }

    void SetDefaults()
    {
        ScancodeSet = 2;
        Typematic = DefaultTypematic;
        set1Break = false;
    }

    /// <summary>A byte from the controller (the guest wrote it to port 0x60).</summary>
    internal void Receive(byte b)
    {
        // Every parameter is below 0x80; a command byte in a parameter's place starts that command instead.
        if (expecting != 0 && b < 0x80)
        {
            Parameter(expecting, b);
            expecting = 0;
            return;
        }
        expecting = 0;
        switch (b)
        {
            case 0xFF:                                   // reset: ACK, then the BAT result
                Reset();
                Reply(Ack, BatPassed);
                break;
            case 0xFE: Reply(lastSent); break;           // resend the last byte sent
            case 0xF6:                                   // set defaults, keep scanning state
                scanCodes.Clear();
                SetDefaults();
                Reply(Ack);
                break;
            case 0xF5:                                   // defaults and stop scanning
                scanCodes.Clear();
                SetDefaults();
                ScanningEnabled = false;
                Reply(Ack);
                break;
            case 0xF4:                                   // enable: clears the buffer and scans
                scanCodes.Clear();
                ScanningEnabled = true;
                Reply(Ack);
                break;
            case >= 0xF7 and <= 0xFA: Reply(Ack); break; // set-3 key attributes: accepted, no effect in set 2
            case 0xF3 or 0xF0 or 0xED:                   // typematic, scan code set, LEDs: a parameter follows
                expecting = b;
                Reply(Ack);
                break;
            case 0xF2: Reply(Ack, 0xAB, 0x83); break;    // MF2 keyboard ID
            case 0xEE: Reply(EchoReply); break;
            default: Reply(Resend); break;
        }
    }

    void Parameter(byte command, byte b)
    {
        switch (command)
        {
            case 0xED:
                Leds = (byte)(b & 0x07);
                Reply(Ack);
                break;
            case 0xF3:
                Typematic = b;
                Reply(Ack);
                break;
            default:                                     // 0xF0
                if (b == 0) Reply(Ack, (byte)ScancodeSet);
                else if (b is 1 or 2)
                {
                    ScancodeSet = b;
                    set1Break = false;
                    Reply(Ack);
                }
                else Reply(Resend);                      // set 3 (or nonsense) is not supported
                break;
        }
    }

    void Reply(params ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) replies.Enqueue(b);
        dataReady();
    }

    // ---------------------------------------------------------------- snapshots

    internal static void SaveQueue(Core.State.StateWriter w, Queue<byte> q)
    {
        w.WriteInt32(q.Count);
        foreach (byte b in q) w.WriteByte(b);
    }

    internal static void LoadQueue(Core.State.StateReader r, string field, Queue<byte> q, int max)
    {
        int n = r.ReadInt32(field + " count", 0, max);
        var bytes = r.ReadSpan(field, n);
        q.Clear();
        foreach (byte b in bytes) q.Enqueue(b);
    }

    /// <summary>Writes the keyboard's part of section "KBC ": queues, command state, settings and the held key.</summary>
    internal void SaveState(Core.State.StateWriter w)
    {
        SaveQueue(w, replies);
        SaveQueue(w, scanCodes);
        w.WriteByte(expecting);
        w.WriteByte(lastSent);
        w.WriteBool(set1Break);
        w.WriteInt32(held);
        w.WriteByte(Leds);
        w.WriteByte((byte)ScancodeSet);
        w.WriteBool(ScanningEnabled);
        w.WriteByte(Typematic);
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote (the repeat timer's deadline is the clock's).</summary>
    internal void LoadState(Core.State.StateReader r)
    {
        LoadQueue(r, "keyboard replies", replies, int.MaxValue);
        LoadQueue(r, "keyboard scan codes", scanCodes, int.MaxValue);
        expecting = r.ReadByte("keyboard expecting");
        lastSent = r.ReadByte("keyboard last sent");
        set1Break = r.ReadBool("keyboard set 1 break");
        held = r.ReadInt32("keyboard held key", -1, 0xFFFF);
        Leds = r.ReadByte("keyboard leds");
        ScancodeSet = r.ReadByte("keyboard scan code set", 1, 2);
        ScanningEnabled = r.ReadBool("keyboard scanning");
        Typematic = r.ReadByte("keyboard typematic");
    }
}
