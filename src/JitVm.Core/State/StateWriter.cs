using System.Buffers.Binary;
using System.Text;

namespace JitVm.Core.State;

/// <summary>
/// Writes snapshot data: little-endian primitives, raw and length-prefixed byte arrays and strings, grouped into
/// tagged sections (a four-character tag, a 16-bit section version and a 64-bit payload length; sections nest).
/// The layout each component writes is read back by <see cref="StateReader"/> with the same calls in the same order.
/// </summary>
public sealed class StateWriter
{
    byte[] buffer = new byte[4096];
    int length;
    readonly Stack<(string Tag, int LengthAt)> open = new();

    /// <summary>Bytes written so far.</summary>
    public int Length => length;

    /// <summary>The bytes written (all sections must be closed).</summary>
    public ReadOnlySpan<byte> WrittenSpan
    {
        get
        {
            if (open.Count != 0) throw new InvalidOperationException($"section '{open.Peek().Tag}' is still open");
            return buffer.AsSpan(0, length);
        }
    }

    /// <summary>A copy of the bytes written (all sections must be closed).</summary>
    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <summary>
    /// Opens a section: <paramref name="tag"/> (exactly four ASCII characters), <paramref name="version"/>, and a length
    /// filled in by <see cref="EndSection"/>.
    /// </summary>
    public void BeginSection(string tag, ushort version)
    {
        WriteTag(tag);
        WriteUInt16(version);
        open.Push((tag, length));
        WriteInt64(0);
    }

    /// <summary>Closes the innermost open section, recording its payload length.</summary>
    public void EndSection()
    {
        if (open.Count == 0) throw new InvalidOperationException("no section is open");
        var (_, at) = open.Pop();
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(at), length - at - 8);
    }

    internal void WriteTag(string tag)
    {
        if (tag.Length != 4 || tag.Any(c => c is < ' ' or > '~')) throw new ArgumentException("a section tag is four printable ASCII characters", nameof(tag));
        Span<byte> t = Reserve(4);
        for (int i = 0; i < 4; i++) t[i] = (byte)tag[i];
    }

    public void WriteBool(bool value) => WriteByte(value ? (byte)1 : (byte)0);

    public void WriteByte(byte value) => Reserve(1)[0] = value;

    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), value);

    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Reserve(4), value);

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);

    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), value);

    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);

    /// <summary>Bytes whose count the reader knows (a fixed-size register file): no length prefix.</summary>
    public void WriteBytes(ReadOnlySpan<byte> data) => data.CopyTo(Reserve(data.Length));

    /// <summary>A 32-bit length, then the bytes.</summary>
    public void WriteBlob(ReadOnlySpan<byte> data)
    {
        WriteInt32(data.Length);
        WriteBytes(data);
    }

    /// <summary>
    /// Bytes whose count the reader knows, Deflate-compressed behind a 32-bit compressed length (for large, mostly
    /// empty buffers: video planes, sector buffers).
    /// </summary>
    public void WriteCompressed(ReadOnlySpan<byte> data)
    {
        using var packed = new MemoryStream();
        using (var deflate = new System.IO.Compression.DeflateStream(packed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            deflate.Write(data);
        WriteBlob(packed.GetBuffer().AsSpan(0, (int)packed.Length));
    }

    /// <summary>A string as a length-prefixed UTF-8 blob.</summary>
    public void WriteString(string value) => WriteBlob(Encoding.UTF8.GetBytes(value));

    /// <summary>Room for <paramref name="count"/> more bytes, counted as written.</summary>
    public Span<byte> Reserve(int count)
    {
        if (length + count > buffer.Length)
        {
            long size = Math.Max((long)buffer.Length * 2, (long)length + count);
            if (size > Array.MaxLength) size = Math.Max(Array.MaxLength, length + count);
            Array.Resize(ref buffer, (int)size);
        }
        var span = buffer.AsSpan(length, count);
        length += count;
        return span;
    }
}
