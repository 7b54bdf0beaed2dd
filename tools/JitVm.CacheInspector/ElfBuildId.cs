using System.Buffers.Binary;

namespace JitVm.CacheInspector;

/// <summary>The GNU build id of an ELF64 little-endian file on disk (its <c>NT_GNU_BUILD_ID</c> note), or null.</summary>
static class ElfBuildId
{
    const uint PtNote = 4, NtGnuBuildId = 3;

    public static byte[]? Read(string path)
    {
        try
        {
            byte[] f = File.ReadAllBytes(path);
            // e_ident: "\x7fELF", class 2 (64-bit), data 1 (little-endian).
            if (f.Length < 64 || f[0] != 0x7F || f[1] != (byte)'E' || f[2] != (byte)'L' || f[3] != (byte)'F' || f[4] != 2 || f[5] != 1)
                return null;
            var s = f.AsSpan();
            long phoff = BinaryPrimitives.ReadInt64LittleEndian(s[0x20..]);
            int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(s[0x36..]);
            int phnum = BinaryPrimitives.ReadUInt16LittleEndian(s[0x38..]);
            for (int i = 0; i < phnum; i++)
            {
                var ph = s.Slice(checked((int)(phoff + (long)i * phentsize)), 56);
                if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != PtNote) continue;
                long off = BinaryPrimitives.ReadInt64LittleEndian(ph[8..]);
                long size = BinaryPrimitives.ReadInt64LittleEndian(ph[32..]);
                var notes = s.Slice(checked((int)off), checked((int)size));
                while (notes.Length >= 12)
                {
                    int nameSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes);
                    int descSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes[4..]);
                    uint type = BinaryPrimitives.ReadUInt32LittleEndian(notes[8..]);
                    int descAt = 12 + Align4(nameSize);
                    if (nameSize < 0 || descSize < 0 || descAt + descSize > notes.Length) break;
                    if (type == NtGnuBuildId && notes.Slice(12, nameSize).SequenceEqual("GNU\0"u8))
                        return notes.Slice(descAt, descSize).ToArray();
                    notes = notes[Math.Min(notes.Length, descAt + Align4(descSize))..];
                }
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException or OverflowException)
        {
            return null;
        }
    }

    static int Align4(int n) => (n + 3) & ~3;
}
