using System.Text;

namespace JitVm.Machine.Debugging;

/// <summary>What the byte stream from the debugger held: one of <see cref="GdbInputKind"/>.</summary>
internal enum GdbInputKind
{
    /// <summary>A packet whose checksum matched; <see cref="GdbInput.Payload"/> holds its data, escapes not undone.</summary>
    Packet,
    /// <summary>A packet whose checksum did not match (or was not two hex digits): answered with '-'.</summary>
    BadChecksum,
    /// <summary>A packet longer than <see cref="GdbPacketCodec.MaxPayload"/>: its data was dropped.</summary>
    Overflow,
    /// <summary>'+': the debugger acknowledged our last packet.</summary>
    Ack,
    /// <summary>'-': the debugger asks for our last packet again.</summary>
    Nack,
    /// <summary>The 0x03 byte outside a packet: stop the running target (Ctrl-C).</summary>
    Interrupt,
}

internal readonly record struct GdbInput(GdbInputKind Kind, byte[]? Payload = null);

/// <summary>
/// The remote serial protocol's framing (GDB manual, "Remote Protocol", "Overview"): <c>$data#cc</c> where cc is
/// the modulo-256 sum of the data bytes as sent, in two hex digits; inside binary data <c>}</c> escapes the next
/// byte, which is XORed with 0x20 (<c>#</c>, <c>$</c>, <c>}</c> and, in replies, <c>*</c> must be escaped).
/// The decoder is a byte-at-a-time state machine: bytes outside a packet other than '+', '-', '$' and 0x03 are
/// ignored, a '$' inside a packet starts a new one (the debugger gave up on the old), and a packet longer than
/// <see cref="MaxPayload"/> is read to its end and reported as <see cref="GdbInputKind.Overflow"/>, so no input
/// can make it allocate without bound. Run-length encoding is never produced and not expected.
/// </summary>
internal sealed class GdbPacketCodec
{
    /// <summary>The largest packet we accept (advertised as <c>PacketSize</c>), in payload bytes as sent.</summary>
    public const int MaxPayload = 0x4000;

    enum State { Idle, Data, Check1, Check2 }

    State state;
    readonly List<byte> data = new();
    bool overflow;
    int checkHigh;

    /// <summary>Bytes seen outside any packet that meant nothing (line noise, a confused client).</summary>
    public long IgnoredBytes { get; private set; }

    /// <summary>Feeds received bytes; complete inputs are appended to <paramref name="output"/>.</summary>
    public void Feed(ReadOnlySpan<byte> bytes, List<GdbInput> output)
    {
        foreach (byte b in bytes) Feed(b, output);
    }

    void Feed(byte b, List<GdbInput> output)
    {
        switch (state)
        {
            case State.Idle:
                switch (b)
                {
                    case (byte)'$': StartPacket(); break;
                    case (byte)'+': output.Add(new GdbInput(GdbInputKind.Ack)); break;
                    case (byte)'-': output.Add(new GdbInput(GdbInputKind.Nack)); break;
                    case 0x03: output.Add(new GdbInput(GdbInputKind.Interrupt)); break;
                    default: IgnoredBytes++; break;
                }
                break;
            case State.Data:
                if (b == (byte)'#') state = State.Check1;
                else if (b == (byte)'$') StartPacket();
                else if (data.Count < MaxPayload) data.Add(b);
                else overflow = true;
                break;
            case State.Check1:
                checkHigh = HexValue(b);
                state = State.Check2;
                break;
            case State.Check2:
                state = State.Idle;
                int low = HexValue(b);
                if (overflow)
                {
                    output.Add(new GdbInput(GdbInputKind.Overflow));
                    break;
                }
                byte[] payload = data.ToArray();
                bool ok = checkHigh >= 0 && low >= 0 && (checkHigh << 4 | low) == Checksum(payload);
                output.Add(ok ? new GdbInput(GdbInputKind.Packet, payload) : new GdbInput(GdbInputKind.BadChecksum));
                break;
        }
    }

    void StartPacket()
    {
        state = State.Data;
        data.Clear();
        overflow = false;
    }

    /// <summary>The modulo-256 sum of <paramref name="bytes"/>.</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes)
    {
        int sum = 0;
        foreach (byte b in bytes) sum += b;
        return (byte)sum;
    }

    /// <summary>A complete packet for <paramref name="payload"/>: escaped, framed and checksummed.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var escaped = new List<byte>(payload.Length + 4) { (byte)'$' };
        foreach (byte b in payload)
        {
            if (b is (byte)'$' or (byte)'#' or (byte)'}' or (byte)'*')
            {
                escaped.Add((byte)'}');
                escaped.Add((byte)(b ^ 0x20));
            }
            else escaped.Add(b);
        }
        byte sum = Checksum(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(escaped)[1..]);
        escaped.Add((byte)'#');
        escaped.Add(HexDigit(sum >> 4));
        escaped.Add(HexDigit(sum & 0xF));
        return escaped.ToArray();
    }

    /// <summary>A complete packet for an ASCII reply.</summary>
    public static byte[] Frame(string payload) => Frame(Encoding.Latin1.GetBytes(payload));

    /// <summary>Undoes <c>}</c> escapes in binary data; false when the data ends in a lone <c>}</c>.</summary>
    public static bool TryUnescape(ReadOnlySpan<byte> data, out byte[] bytes)
    {
        var list = new List<byte>(data.Length);
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != (byte)'}') list.Add(data[i]);
            else if (++i < data.Length) list.Add((byte)(data[i] ^ 0x20));
            else
            {
                bytes = [];
                return false;
            }
        }
        bytes = list.ToArray();
        return true;
    }

    public static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    static byte HexDigit(int v) => (byte)"0123456789abcdef"[v];

    /// <summary>Parses a hex number of at most 8 digits (no sign, no prefix).</summary>
    public static bool TryParseHex(ReadOnlySpan<char> text, out uint value)
    {
        value = 0;
        if (text.Length is 0 or > 8) return false;
        foreach (char c in text)
        {
            int d = c < 128 ? HexValue((byte)c) : -1;
            if (d < 0) return false;
            value = value << 4 | (uint)d;
        }
        return true;
    }

    /// <summary>Decodes hex pairs into bytes; false on an odd length or a non-hex character.</summary>
    public static bool TryDecodeHex(ReadOnlySpan<char> text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length % 2 != 0) return false;
        var result = new byte[text.Length / 2];
        for (int i = 0; i < result.Length; i++)
        {
            int hi = text[2 * i] < 128 ? HexValue((byte)text[2 * i]) : -1;
            int lo = text[2 * i + 1] < 128 ? HexValue((byte)text[2 * i + 1]) : -1;
            if (hi < 0 || lo < 0) return false;
            result[i] = (byte)(hi << 4 | lo);
        }
        bytes = result;
        return true;
    }

    /// <summary>Appends <paramref name="bytes"/> as lower-case hex pairs.</summary>
    public static void AppendHex(StringBuilder sb, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            sb.Append((char)HexDigit(b >> 4));
            sb.Append((char)HexDigit(b & 0xF));
        }
    }

    /// <summary>A little-endian 32-bit value as 8 hex digits (the register format).</summary>
    public static string HexLe32(uint v)
    {
        var sb = new StringBuilder(8);
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        AppendHex(sb, b);
        return sb.ToString();
    }
}
