using System.Buffers.Binary;
using System.Text;

namespace JitVm.Core.State;

/// <summary>
/// Reads what <see cref="StateWriter"/> wrote. Every read names the field it reads; a read past the end of the data
/// or of the current section, a section with another tag or a newer version, a section not read to its end, a value
/// outside the range the caller gives, all raise <see cref="SnapshotFormatException"/> naming the section path and the
/// field. No other exception escapes a read.
/// </summary>
public sealed class StateReader
{
    readonly ReadOnlyMemory<byte> data;
    int position;
    readonly Stack<(string Tag, int End)> open = new();

    public StateReader(ReadOnlyMemory<byte> data) => this.data = data;

    /// <summary>Offset of the next byte to read.</summary>
    public int Position => position;

    /// <summary>Where reads must stop: the end of the innermost open section, else the end of the data.</summary>
    int Limit => open.Count > 0 ? open.Peek().End : data.Length;

    /// <summary>Bytes left in the innermost open section (or the data).</summary>
    public int Remaining => Limit - position;

    /// <summary>"section A/B, field 'x'" for messages.</summary>
    string Where(string field)
    {
        string path = open.Count == 0 ? "file header" : "section " + string.Join("/", open.Reverse().Select(s => s.Tag.TrimEnd()));
        return $"{path}, field '{field}' (offset {position})";
    }

    /// <summary>An error about <paramref name="field"/> in the current section, for the caller to throw.</summary>
    public SnapshotFormatException Invalid(string field, string problem) => new($"snapshot {Where(field)}: {problem}");

    ReadOnlySpan<byte> Take(string field, int count)
    {
        if (count < 0 || count > Remaining)
            throw Invalid(field, open.Count > 0 ? $"needs {count} bytes but the section has {Remaining} left (truncated or corrupt)" : $"needs {count} bytes but the snapshot has {Remaining} left (truncated)");
        var span = data.Span.Slice(position, count);
        position += count;
        return span;
    }

    /// <summary>
    /// Opens the next section, which must carry <paramref name="tag"/> and a version from 1 to
    /// <paramref name="maxVersion"/>; returns the version.
    /// </summary>
    public ushort BeginSection(string tag, ushort maxVersion)
    {
        string found = ReadTag("tag of section '" + tag + "'");
        if (found != tag) throw Invalid("tag", $"expected section '{tag}', found '{Printable(found)}'");
        ushort version = ReadUInt16("version of section '" + tag + "'");
        if (version == 0 || version > maxVersion)
            throw Invalid("version of section '" + tag + "'", $"version {version} is not supported (this build reads 1 to {maxVersion})");
        long len = ReadInt64("length of section '" + tag + "'");
        if (len < 0 || len > Remaining) throw Invalid("length of section '" + tag + "'", $"length {len} runs past the end of the enclosing data ({Remaining} bytes left; truncated or corrupt)");
        open.Push((tag, position + (int)len));
        return version;
    }

    /// <summary>Closes the innermost section; its payload must have been read exactly.</summary>
    public void EndSection()
    {
        if (open.Count == 0) throw new InvalidOperationException("no section is open");
        if (position != open.Peek().End) throw Invalid("end", $"{open.Peek().End - position} bytes left unread (corrupt, or written by a different layout)");
        open.Pop();
    }

    /// <summary>The tag of the next section without consuming anything (null at the end of the enclosing data).</summary>
    public string? PeekTag() => Remaining >= 4 ? Encoding.ASCII.GetString(data.Span.Slice(position, 4)) : null;

    internal string ReadTag(string field) => Encoding.ASCII.GetString(Take(field, 4));

    static string Printable(string s) => new(s.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());

    public bool ReadBool(string field)
    {
        byte b = Take(field, 1)[0];
        if (b > 1) { position--; throw Invalid(field, $"boolean is {b}, not 0 or 1"); }
        return b != 0;
    }

    public byte ReadByte(string field) => Take(field, 1)[0];

    /// <summary>A byte that must lie in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public byte ReadByte(string field, byte min, byte max) => (byte)Check(field, ReadByte(field), min, max, 1);

    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(field, 2));

    public int ReadInt32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(field, 4));

    /// <summary>An int that must lie in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int ReadInt32(string field, int min, int max) => (int)Check(field, ReadInt32(field), min, max, 4);

    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(field, 4));

    public long ReadInt64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(field, 8));

    /// <summary>A long that must lie in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public long ReadInt64(string field, long min, long max) => Check(field, ReadInt64(field), min, max, 8);

    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(field, 8));

    /// <summary>An enum stored as a byte; the value must be one of <typeparamref name="T"/>'s named values.</summary>
    public T ReadEnum<T>(string field) where T : struct, Enum
    {
        byte b = ReadByte(field);
        var value = (T)Enum.ToObject(typeof(T), b);
        if (!Enum.IsDefined(value)) { position--; throw Invalid(field, $"{b} is not a valid {typeof(T).Name}"); }
        return value;
    }

    long Check(string field, long value, long min, long max, int size)
    {
        if (value >= min && value <= max) return value;
        position -= size;
        throw Invalid(field, $"value {value} is outside {min}..{max}");
    }

    /// <summary>Exactly <paramref name="destination"/>.Length bytes (written by <see cref="StateWriter.WriteBytes"/>).</summary>
    public void ReadBytes(string field, Span<byte> destination) => Take(field, destination.Length).CopyTo(destination);

    /// <summary>Exactly <paramref name="count"/> bytes, as a view into the snapshot data.</summary>
    public ReadOnlySpan<byte> ReadSpan(string field, int count) => Take(field, count);

    /// <summary>A length-prefixed blob of at most <paramref name="maxLength"/> bytes.</summary>
    public byte[] ReadBlob(string field, int maxLength)
    {
        int n = ReadInt32(field + " length", 0, maxLength);
        return Take(field, n).ToArray();
    }

    /// <summary>A length-prefixed blob whose length must be exactly <paramref name="destination"/>.Length.</summary>
    public void ReadBlob(string field, Span<byte> destination)
    {
        int n = ReadInt32(field + " length", destination.Length, destination.Length);
        Take(field, n).CopyTo(destination);
    }

    /// <summary>What <see cref="StateWriter.WriteCompressed"/> wrote: exactly <paramref name="destination"/>.Length bytes once inflated.</summary>
    public void ReadCompressed(string field, Span<byte> destination)
    {
        int n = ReadInt32(field + " compressed length", 0, Remaining);
        var packed = Take(field, n).ToArray();
        try
        {
            using var inflate = new System.IO.Compression.DeflateStream(new MemoryStream(packed), System.IO.Compression.CompressionMode.Decompress);
            inflate.ReadExactly(destination);
            if (inflate.ReadByte() >= 0) throw Invalid(field, $"inflates to more than {destination.Length} bytes");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new SnapshotFormatException($"snapshot {Where(field)}: compressed data corrupt or of the wrong size ({e.Message})", e);
        }
    }

    /// <summary>A length-prefixed UTF-8 string of at most <paramref name="maxBytes"/> bytes.</summary>
    public string ReadString(string field, int maxBytes)
    {
        int n = ReadInt32(field + " length", 0, maxBytes);
        var bytes = Take(field, n);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid(field, "not valid UTF-8");
        }
    }
}
