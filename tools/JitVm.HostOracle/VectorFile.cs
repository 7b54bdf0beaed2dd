using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;

namespace JitVm.HostOracle;

/// <summary>
/// The recorded-vector file: gzip of a little-endian stream — magic "JVORACLE", u32 version (1), u32 record size
/// (112), u64 seed, u32 form count; per form: u8 length and the 16-bit guest encoding, u64 vector count; then the
/// records of each form in order, verbatim (<see cref="VectorRecord"/>). Forms are identified by their guest
/// encoding alone, so a file can be checked on any host, x86 or not.
/// </summary>
public static class VectorFile
{
    static readonly byte[] Magic = Encoding.ASCII.GetBytes("JVORACLE");
    const uint Version = 1;

    public sealed class Writer : IDisposable
    {
        readonly Stream file;
        readonly GZipStream gzip;
        readonly BinaryWriter w;

        public Writer(string path, ulong seed, IReadOnlyList<OracleForm> forms, long[] counts)
        {
            file = File.Create(path);
            gzip = new GZipStream(file, CompressionLevel.Fastest);
            w = new BinaryWriter(gzip);
            w.Write(Magic);
            w.Write(Version);
            w.Write((uint)VectorRecord.Size);
            w.Write(seed);
            w.Write((uint)forms.Count);
            for (int f = 0; f < forms.Count; f++)
            {
                w.Write((byte)forms[f].GuestBytes.Length);
                w.Write(forms[f].GuestBytes);
                w.Write((ulong)counts[f]);
            }
        }

        public void Write(ReadOnlySpan<VectorRecord> records) => w.Write(MemoryMarshal.AsBytes(records));

        public void Dispose()
        {
            w.Flush();
            w.Dispose();
            file.Dispose();
        }
    }

    /// <summary>Reads a file: its seed and forms, then each form's records in batches.</summary>
    public sealed class Reader : IDisposable
    {
        readonly BinaryReader r;

        public ulong Seed { get; }
        public IReadOnlyList<OracleForm> Forms { get; }
        public long[] Counts { get; }

        public Reader(string path)
        {
            r = new BinaryReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException($"{path}: not a vector file");
            uint version = r.ReadUInt32(), size = r.ReadUInt32();
            if (version != Version || size != VectorRecord.Size) throw new InvalidDataException($"{path}: version {version}, record size {size} (expected {Version}, {VectorRecord.Size})");
            Seed = r.ReadUInt64();
            uint n = r.ReadUInt32();
            if (n > 1_000_000) throw new InvalidDataException($"{path}: {n} forms");
            var forms = new List<OracleForm>();
            Counts = new long[n];
            for (int f = 0; f < n; f++)
            {
                int len = r.ReadByte();
                forms.Add(OracleForm.FromGuestBytes(r.ReadBytes(len)));
                Counts[f] = (long)r.ReadUInt64();
            }
            Forms = forms;
        }

        /// <summary>Hands every form's records to <paramref name="sink"/> in batches, in file order.</summary>
        public void ReadAll(Action<int, Span<VectorRecord>> sink)
        {
            var buffer = new VectorRecord[Oracle.BatchSize];
            for (int f = 0; f < Forms.Count; f++)
            {
                for (long left = Counts[f]; left > 0;)
                {
                    int n = (int)Math.Min(left, buffer.Length);
                    var bytes = MemoryMarshal.AsBytes(buffer.AsSpan(0, n));
                    r.BaseStream.ReadExactly(bytes);
                    sink(f, buffer.AsSpan(0, n));
                    left -= n;
                }
            }
        }

        public void Dispose() => r.Dispose();
    }
}
