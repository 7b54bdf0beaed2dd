using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace JitVm.Conformance.SingleStep;

/// <summary>The file-level header and metadata of a MOO test file.</summary>
public sealed record MooHeader(int Major, int Minor, uint TestCount, string CpuId, uint Opcode, string Mnemonic, int CpuMode);

/// <summary>A register file as stored in REGS (16-bit) or RG32 (32-bit) chunks: values for the registers whose mask bit is set.</summary>
public sealed class MooRegisters
{
    public MooRegisters(bool is32, uint mask, uint[] values)
    {
        Is32 = is32;
        Mask = mask;
        Values = values;
    }

    /// <summary>RG32 layout rather than REGS.</summary>
    public bool Is32 { get; }
    /// <summary>Bit i set = register i present (see <see cref="Names16"/> / <see cref="Names32"/>).</summary>
    public uint Mask { get; }
    /// <summary>Indexed by register bit position; entries whose bit is clear are 0.</summary>
    public uint[] Values { get; }

    public static readonly string[] Names16 = ["ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags"];
    public static readonly string[] Names32 = ["cr0", "cr3", "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "cs", "ds", "es", "fs", "gs", "ss", "eip", "eflags", "dr6", "dr7"];

    public string[] Names => Is32 ? Names32 : Names16;
    public bool Has(int bit) => (Mask & (1u << bit)) != 0;

    public bool TryGet(string name, out uint value)
    {
        int bit = Array.IndexOf(Names, name);
        value = bit >= 0 && Has(bit) ? Values[bit] : 0;
        return bit >= 0 && Has(bit);
    }
}

/// <summary>Initial or final machine state of a test.</summary>
public sealed class MooState
{
    public MooRegisters? Registers { get; init; }
    /// <summary>Per-register AND masks of the defined bits (RMSK/RM32), if given.</summary>
    public MooRegisters? RegisterMask { get; init; }
    public IReadOnlyList<(uint Address, byte Value)> Ram { get; init; } = [];
}

/// <summary>One test: an instruction and the states before and after it.</summary>
public sealed class MooTest
{
    public int Index { get; init; }
    public string Name { get; init; } = "";
    public byte[] Bytes { get; init; } = [];
    public required MooState Initial { get; init; }
    public required MooState Final { get; init; }
    /// <summary>Vector and physical address of the pushed FLAGS image, when an exception/interrupt ran.</summary>
    public (int Vector, uint FlagsAddress)? Exception { get; init; }
    public string Hash { get; init; } = "";
}

/// <summary>A parsed MOO file.</summary>
public sealed class MooFile
{
    public required MooHeader Header { get; init; }
    /// <summary>File-wide undefined-state masks (RMSK/RM32 at top level), if any.</summary>
    public MooRegisters? RegisterMask { get; init; }
    public required IReadOnlyList<MooTest> Tests { get; init; }
}

/// <summary>The file is not a well-formed MOO container.</summary>
public sealed class MooFormatException(string message) : Exception(message);

/// <summary>
/// Reads MOO files (<c>.MOO</c> or gzip-compressed <c>.MOO.gz</c>), written from the container description in
/// FORMAT.md: chunks of id + length + payload, unknown ids skipped, every length checked against its parent.
/// </summary>
public static class MooReader
{
    /// <summary>Decompressed files larger than this are rejected rather than read into memory.</summary>
    public const int MaxFileBytes = 512 << 20;

    public static MooFile Load(string path)
    {
        byte[] data;
        try
        {
            using var fs = File.OpenRead(path);
            data = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? Decompress(fs) : ReadAll(fs);
        }
        catch (InvalidDataException e)
        {
            throw new MooFormatException($"{path}: not a valid gzip stream ({e.Message})");
        }
        catch (IOException e)
        {
            throw new MooFormatException($"{path}: {e.Message}");
        }
        try
        {
            return Parse(data);
        }
        catch (MooFormatException e)
        {
            throw new MooFormatException($"{path}: {e.Message}");
        }
    }

    static byte[] Decompress(Stream s)
    {
        using var gz = new GZipStream(s, CompressionMode.Decompress);
        return ReadAll(gz);
    }

    static byte[] ReadAll(Stream s)
    {
        using var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = s.Read(buf)) > 0)
        {
            if (ms.Length + n > MaxFileBytes) throw new MooFormatException("file too large");
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    /// <summary>Parses an uncompressed MOO image.</summary>
    public static MooFile Parse(ReadOnlySpan<byte> data)
    {
        MooHeader? header = null;
        int major = 0, minor = 0;
        uint count = 0;
        string cpu = "";
        MooRegisters? fileMask = null;
        var tests = new List<MooTest>();
        foreach (var (id, payloadStart, length) in Chunks(data, 0, data.Length))
        {
            var p = data.Slice(payloadStart, length);
            switch (id)
            {
                case "MOO ":
                    Need(p, 12, id);
                    major = p[0];
                    minor = p[1];
                    count = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                    cpu = Ascii(p.Slice(8, 4));
                    break;
                case "META":
                    Need(p, 31, id);
                    header = new MooHeader(major, minor, count, cpu, BinaryPrimitives.ReadUInt32LittleEndian(p[3..]),
                        Ascii(p.Slice(7, 8)).Trim(), p[27]);
                    break;
                case "RMSK":
                case "RM32":
                    fileMask = ParseRegisters(p, id == "RM32", id);
                    break;
                case "TEST":
                    tests.Add(ParseTest(data, payloadStart, length));
                    break;
            }
        }
        if (count == 0 && tests.Count == 0 && header is null) throw new MooFormatException("no MOO header");
        header ??= new MooHeader(major, minor, count, cpu, 0xFFFFFFFF, "", 0);
        if (count != 0 && tests.Count != count)
            throw new MooFormatException($"header announces {count} tests but the file holds {tests.Count} (truncated?)");
        return new MooFile { Header = header, RegisterMask = fileMask, Tests = tests };
    }

    static MooTest ParseTest(ReadOnlySpan<byte> data, int start, int length)
    {
        var p = data.Slice(start, length);
        Need(p, 4, "TEST");
        int index = (int)BinaryPrimitives.ReadUInt32LittleEndian(p);
        string name = "", hash = "";
        byte[] bytes = [];
        MooState? init = null, fina = null;
        (int, uint)? exception = null;
        foreach (var (id, ps, len) in Chunks(data, start + 4, start + length))
        {
            var q = data.Slice(ps, len);
            switch (id)
            {
                case "NAME": name = Ascii(LengthPrefixed(q, id)); break;
                case "BYTS": bytes = LengthPrefixed(q, id).ToArray(); break;
                case "INIT": init = ParseState(data, ps, len); break;
                case "FINA": fina = ParseState(data, ps, len); break;
                case "EXCP":
                    Need(q, 5, id);
                    exception = (q[0], BinaryPrimitives.ReadUInt32LittleEndian(q[1..]));
                    break;
                case "HASH":
                    Need(q, 20, id);
                    hash = Convert.ToHexStringLower(q[..20]);
                    break;
            }
        }
        if (init is null || fina is null) throw new MooFormatException($"test {index} lacks its INIT or FINA state");
        return new MooTest { Index = index, Name = name, Bytes = bytes, Initial = init, Final = fina, Exception = exception, Hash = hash };
    }

    static MooState ParseState(ReadOnlySpan<byte> data, int start, int length)
    {
        MooRegisters? regs = null, mask = null;
        var ram = new List<(uint, byte)>();
        foreach (var (id, ps, len) in Chunks(data, start, start + length))
        {
            var q = data.Slice(ps, len);
            switch (id)
            {
                case "REGS": regs = ParseRegisters(q, false, id); break;
                case "RG32": regs = ParseRegisters(q, true, id); break;
                case "RMSK": mask = ParseRegisters(q, false, id); break;
                case "RM32": mask = ParseRegisters(q, true, id); break;
                case "RAM ":
                    Need(q, 4, id);
                    uint n = BinaryPrimitives.ReadUInt32LittleEndian(q);
                    if ((ulong)n * 5 + 4 > (ulong)q.Length) throw new MooFormatException($"RAM chunk announces {n} entries but holds {(q.Length - 4) / 5}");
                    for (int i = 0; i < n; i++)
                    {
                        var e = q.Slice(4 + 5 * i, 5);
                        ram.Add((BinaryPrimitives.ReadUInt32LittleEndian(e), e[4]));
                    }
                    break;
            }
        }
        return new MooState { Registers = regs, RegisterMask = mask, Ram = ram };
    }

    static MooRegisters ParseRegisters(ReadOnlySpan<byte> q, bool is32, string id)
    {
        int width = is32 ? 4 : 2;
        int slots = is32 ? MooRegisters.Names32.Length : MooRegisters.Names16.Length;
        Need(q, width, id);
        uint mask = is32 ? BinaryPrimitives.ReadUInt32LittleEndian(q) : BinaryPrimitives.ReadUInt16LittleEndian(q);
        var values = new uint[slots];
        int pos = width;
        for (int bit = 0; bit < 32; bit++)
        {
            if ((mask & (1u << bit)) == 0) continue;
            if (bit >= slots) throw new MooFormatException($"{id}: mask bit {bit} names no register");
            if (pos + width > q.Length) throw new MooFormatException($"{id}: truncated register values");
            values[bit] = is32 ? BinaryPrimitives.ReadUInt32LittleEndian(q[pos..]) : BinaryPrimitives.ReadUInt16LittleEndian(q[pos..]);
            pos += width;
        }
        return new MooRegisters(is32, mask, values);
    }

    static ReadOnlySpan<byte> LengthPrefixed(ReadOnlySpan<byte> q, string id)
    {
        Need(q, 4, id);
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(q);
        if (n > q.Length - 4) throw new MooFormatException($"{id}: length {n} exceeds its chunk");
        return q.Slice(4, (int)n);
    }

    /// <summary>Enumerates chunks in [start, end), validating each length; chunk payloads never extend past end.</summary>
    static List<(string Id, int PayloadStart, int Length)> Chunks(ReadOnlySpan<byte> data, int start, int end)
    {
        var list = new List<(string, int, int)>();
        int pos = start;
        while (pos < end)
        {
            if (end - pos < 8) throw new MooFormatException($"truncated chunk header at offset {pos}");
            string id = Ascii(data.Slice(pos, 4));
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]);
            if (len > (uint)(end - pos - 8)) throw new MooFormatException($"chunk '{id}' at offset {pos} runs past its container ({len} bytes announced, {end - pos - 8} left)");
            list.Add((id, pos + 8, (int)len));
            pos += 8 + (int)len;
        }
        return list;
    }

    static void Need(ReadOnlySpan<byte> p, int n, string id)
    {
        if (p.Length < n) throw new MooFormatException($"chunk '{id}' is {p.Length} bytes, needs at least {n}");
    }

    static string Ascii(ReadOnlySpan<byte> b) => Encoding.Latin1.GetString(b);
}
