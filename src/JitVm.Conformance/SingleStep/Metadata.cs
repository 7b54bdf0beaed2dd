using System.Text.Json;

namespace JitVm.Conformance.SingleStep;

/// <summary>
/// The per-opcode facts of a vector set's <c>metadata.json</c>: the undefined-flags mask of each opcode (or
/// opcode.reg for group opcodes), and the revoked test hashes of <c>revocation_list.txt</c>.
/// </summary>
public sealed class VectorSetMetadata
{
    readonly Dictionary<string, uint> flagsMasks = new(StringComparer.OrdinalIgnoreCase);
    readonly Dictionary<string, string> status = new(StringComparer.OrdinalIgnoreCase);

    public HashSet<string> RevokedHashes { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Flags mask for an opcode key like "F6.7" or "00"; all ones when none is given.</summary>
    public uint FlagsMask(string opcodeKey) => flagsMasks.TryGetValue(opcodeKey, out var m) ? m : 0xFFFFFFFF;

    public string? Status(string opcodeKey) => status.TryGetValue(opcodeKey, out var s) ? s : null;

    /// <summary>Loads metadata.json and revocation_list.txt from <paramref name="directory"/>, if present.</summary>
    public static VectorSetMetadata Load(string directory)
    {
        var md = new VectorSetMetadata();
        string meta = Path.Combine(directory, "metadata.json");
        if (File.Exists(meta))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(meta));
                if (doc.RootElement.TryGetProperty("opcodes", out var ops) && ops.ValueKind == JsonValueKind.Object)
                {
                    foreach (var op in ops.EnumerateObject())
                    {
                        md.Read(op.Name, op.Value);
                        if (op.Value.TryGetProperty("reg", out var regs) && regs.ValueKind == JsonValueKind.Object)
                            foreach (var r in regs.EnumerateObject()) md.Read(op.Name + "." + r.Name, r.Value);
                    }
                }
            }
            catch (JsonException e)
            {
                throw new MooFormatException($"{meta}: invalid JSON ({e.Message})");
            }
        }
        string revoked = Path.Combine(directory, "revocation_list.txt");
        if (File.Exists(revoked))
        {
            foreach (var line in File.ReadLines(revoked))
            {
                var t = line.Trim();
                if (t.Length > 0 && !t.StartsWith('#')) md.RevokedHashes.Add(t);
            }
        }
        return md;
    }

    void Read(string key, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) return;
        if (e.TryGetProperty("flags-mask", out var m) && m.TryGetUInt32(out uint mask)) flagsMasks[key] = mask;
        if (e.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String) status[key] = s.GetString()!;
    }
}

/// <summary>
/// Failures the project accepts, each with the reason the hardware result cannot be reproduced.
/// Format: one entry per line, <c>KEY  reason</c>, where KEY is a test hash or an opcode key ("F6.7", "D8");
/// '#' starts a comment. An entry without a reason is rejected.
/// </summary>
public sealed class AllowList
{
    readonly Dictionary<string, string> entries = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyDictionary<string, string> Entries => entries;

    public static AllowList Empty { get; } = new();

    public static AllowList Parse(string text, string source)
    {
        var list = new AllowList();
        int lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int sp = line.IndexOfAny([' ', '\t']);
            if (sp < 0) throw new FormatException($"{source}:{lineNo}: allow-list entry '{line}' has no reason");
            list.entries[line[..sp]] = line[sp..].Trim();
        }
        return list;
    }

    /// <summary>The reason a failure is accepted, or null.</summary>
    public string? Reason(string hash, string opcodeKey) =>
        entries.TryGetValue(hash, out var r) ? r : entries.TryGetValue(opcodeKey, out r) ? r : null;
}
