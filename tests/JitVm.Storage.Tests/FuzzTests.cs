using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using JitVm.Core.Storage;
using JitVm.Storage.Vhd;
using Xunit.Abstractions;
using static JitVm.Storage.Tests.QemuTools;

namespace JitVm.Storage.Tests;

/// <summary>
/// Mutation fuzzing of the image parsers, in memory. Small seed images (made by qemu-img/qemu-io and by us at test
/// start) are mutated — header fields and table entries set to interesting values, bit flips, byte sets, copied
/// structures, truncation, extension; VHD checksums usually fixed up so the mutation reaches past them — then opened,
/// read (every sector of small disks), written, flushed, checked and closed. The only exceptions allowed are
/// <see cref="ImageFormatException"/> from opening, <see cref="BlockDeviceException"/> from I/O (and
/// <see cref="InvalidOperationException"/> from a refused resize); no iteration may take more than
/// <see cref="IterationCap"/> or allocate more than <see cref="AllocationCap"/>. Deterministic: iteration i uses its
/// own seeded generator whatever thread runs it.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    const int KiB = 1024, MiB = 1024 * 1024;
    const int IterationsPerFormat = 100_000; // the issue asks for at least 100,000 mutated images per format
    static readonly TimeSpan IterationCap = TimeSpan.FromSeconds(2);
    const long AllocationCap = 64L * MiB;
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-fuzz-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    // ------------------------------------------------------------------ seeds

    /// <summary>A big-endian integer field of a seed image.</summary>
    sealed record Field(long Offset, int Width, string Name);

    /// <summary>A table of big-endian entries (L1, L2, refcount table/blocks, BAT) or, with width 1, a byte region.</summary>
    sealed record Table(long Offset, long Count, int Width, string Name);

    sealed class Seed(string name, string format, MemoryImageFile template)
    {
        public string Name { get; } = name;
        public string Format { get; } = format;
        public MemoryImageFile Template { get; } = template;
        public List<Field> Fields { get; } = [];
        public List<Table> Tables { get; } = [];
        /// <summary>Offsets of structures, used as pointer values (and to cut the file at).</summary>
        public List<long> Pointers { get; } = [0];
        public long Unit { get; set; } = 512;
        public bool WholeDiskRead { get; set; } = true;
        public Func<string, bool, DiskImage>? OpenBacking { get; set; }
    }

    static byte[] Bytes(MemoryImageFile f) => f.ToArray();

    static ulong Be(byte[] b, long off, int width) => width switch
    {
        1 => b[off],
        2 => BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan((int)off)),
        4 => BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan((int)off)),
        _ => BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)off)),
    };

    /// <summary>Describes a qcow2 seed's structures by parsing it independently of the code under test.</summary>
    static Seed DescribeQcow2(string name, MemoryImageFile f, Func<string, bool, DiskImage>? openBacking = null)
    {
        var s = new Seed(name, "qcow2", f) { OpenBacking = openBacking };
        var b = Bytes(f);
        int version = (int)Be(b, 4, 4);
        int cb = (int)Be(b, 20, 4);
        long cs = 1L << cb;
        s.Unit = cs;
        (int Off, int W, string N)[] header =
        [
            (0, 4, "magic"), (4, 4, "version"), (8, 8, "backing_file_offset"), (16, 4, "backing_file_size"),
            (20, 4, "cluster_bits"), (24, 8, "size"), (32, 4, "crypt_method"), (36, 4, "l1_size"),
            (40, 8, "l1_table_offset"), (48, 8, "refcount_table_offset"), (56, 4, "refcount_table_clusters"),
            (60, 4, "nb_snapshots"), (64, 8, "snapshots_offset"),
        ];
        foreach (var (o, w, n) in header) s.Fields.Add(new Field(o, w, n));
        if (version == 3)
        {
            foreach (var (o, w, n) in new[] { (72, 8, "incompatible_features"), (80, 8, "compatible_features"), (88, 8, "autoclear_features"), (96, 4, "refcount_order"), (100, 4, "header_length"), (104, 1, "compression_type") })
                s.Fields.Add(new Field(o, w, n));
            long p = (long)Be(b, 100, 4);
            for (int i = 0; i < 16 && p + 8 <= cs && p + 8 <= b.Length; i++)
            {
                uint type = (uint)Be(b, p, 4);
                s.Fields.Add(new Field(p, 4, $"extension {i} type"));
                s.Fields.Add(new Field(p + 4, 4, $"extension {i} length"));
                if (type == 0) break;
                p += 8 + (long)((Be(b, p + 4, 4) + 7) & ~7UL);
            }
        }
        long l1 = (long)Be(b, 40, 8), l1Size = (long)Be(b, 36, 4);
        long rt = (long)Be(b, 48, 8), rtClusters = (long)Be(b, 56, 4);
        s.Pointers.AddRange([l1, rt]);
        s.Tables.Add(new Table(l1, l1Size, 8, "L1"));
        s.Tables.Add(new Table(rt, rtClusters * cs / 8, 8, "refcount table"));
        for (long i = 0; i < rtClusters * cs / 8; i++)
        {
            long rb = (long)(Be(b, rt + i * 8, 8) & 0x00FF_FFFF_FFFF_FE00UL);
            if (rb == 0 || rb + cs > b.Length) continue;
            s.Tables.Add(new Table(rb, cs / 2, 2, $"refcount block {i}"));
            s.Pointers.Add(rb);
        }
        for (long i = 0; i < l1Size; i++)
        {
            long l2 = (long)(Be(b, l1 + i * 8, 8) & 0x00FF_FFFF_FFFF_FE00UL);
            if (l2 == 0 || l2 + cs > b.Length) continue;
            s.Tables.Add(new Table(l2, cs / 8, 8, $"L2 table {i}"));
            s.Pointers.Add(l2);
            for (long j = 0; j < cs / 8; j++)
            {
                ulong e = Be(b, l2 + j * 8, 8);
                if ((e & (1UL << 62)) != 0)
                {
                    int shift = 62 - (cb - 8);
                    long off = (long)(e & ((1UL << shift) - 1));
                    long len = ((long)((e >> shift) & ((1UL << (cb - 8)) - 1)) + 1) * 512 - (off & 511);
                    if (off + len <= b.Length) s.Tables.Add(new Table(off, len, 1, "compressed data"));
                }
                else if ((e & 0x00FF_FFFF_FFFF_FE00UL) != 0) s.Pointers.Add((long)(e & 0x00FF_FFFF_FFFF_FE00UL));
            }
        }
        long snaps = (long)Be(b, 64, 8);
        if (Be(b, 60, 4) > 0 && snaps + 40 <= b.Length)
        {
            s.Pointers.Add(snaps);
            foreach (var (o, w, n) in new[] { (0, 8, "snapshot l1_table_offset"), (8, 4, "snapshot l1_size"), (12, 2, "snapshot id_str_size"), (14, 2, "snapshot name_size"), (36, 4, "snapshot extra_data_size") })
                s.Fields.Add(new Field(snaps + o, w, n));
        }
        s.Pointers.Add(b.Length);
        return s;
    }

    /// <summary>Describes a VHD seed: footers, dynamic header, BAT and sector bitmaps.</summary>
    static Seed DescribeVhd(string name, MemoryImageFile f)
    {
        var s = new Seed(name, "vpc", f);
        var b = Bytes(f);
        (int Off, int W, string N)[] footer =
        [
            (0, 8, "cookie"), (8, 4, "features"), (12, 4, "file format version"), (16, 8, "data offset"),
            (24, 4, "time stamp"), (28, 4, "creator application"), (40, 8, "original size"), (48, 8, "current size"),
            (56, 2, "cylinders"), (58, 1, "heads"), (59, 1, "sectors per track"), (60, 4, "disk type"), (64, 4, "checksum"),
            (68, 8, "unique id"), (84, 1, "saved state"),
        ];
        long end = b.Length - 512;
        foreach (var (o, w, n) in footer) s.Fields.Add(new Field(end + o, w, "footer " + n));
        s.Pointers.Add(end);
        bool dynamic = b.AsSpan(0, 8).SequenceEqual("conectix"u8);
        if (dynamic)
        {
            foreach (var (o, w, n) in footer) s.Fields.Add(new Field(o, w, "footer copy " + n));
            long h = (long)Be(b, 16, 8);
            (int Off, int W, string N)[] dyn =
            [
                (0, 8, "cookie"), (8, 8, "data offset"), (16, 8, "table offset"), (24, 4, "header version"),
                (28, 4, "max table entries"), (32, 4, "block size"), (36, 4, "checksum"), (56, 4, "parent time stamp"),
                (40, 8, "parent unique id"), (64, 8, "parent name"), (576, 4, "parent locator 0 code"),
                (580, 4, "parent locator 0 space"), (584, 4, "parent locator 0 length"), (592, 8, "parent locator 0 offset"),
                (600, 4, "parent locator 1 code"), (608, 4, "parent locator 1 length"), (616, 8, "parent locator 1 offset"),
            ];
            foreach (var (o, w, n) in dyn) s.Fields.Add(new Field(h + o, w, "dynamic header " + n));
            long bat = (long)Be(b, h + 16, 8);
            long entries = (long)Be(b, h + 28, 4);
            long bs = (long)Be(b, h + 32, 4);
            int bitmap = (int)((bs / 512 / 8 + 511) / 512 * 512);
            s.Pointers.AddRange([h, bat]);
            s.Tables.Add(new Table(bat, entries, 4, "BAT"));
            for (int i = 0; i < 8; i++)
            {
                long l = h + 576 + i * 24;
                if (Be(b, l, 4) == 0) continue;
                long at = (long)Be(b, l + 16, 8), len = (long)Be(b, l + 8, 4);
                s.Pointers.Add(at);
                s.Tables.Add(new Table(at, len, 1, $"parent locator {i} data"));
            }
            for (long i = 0; i < entries; i++)
            {
                uint e = (uint)Be(b, bat + i * 4, 4);
                if (e == 0xFFFF_FFFF) continue;
                s.Pointers.Add((long)e * 512);
                s.Tables.Add(new Table((long)e * 512, bitmap, 1, $"bitmap {i}"));
            }
        }
        s.Pointers.Add(b.Length);
        return s;
    }

    /// <summary>Fixes the checksums of the footers and dynamic header where they are found (after a mutation).</summary>
    static void FixVhdChecksums(MemoryImageFile f)
    {
        var sector = new byte[512];
        void FixFooter(long at)
        {
            if (at < 0 || f.Read(at, sector) != 512 || !sector.AsSpan(0, 8).SequenceEqual("conectix"u8)) return;
            BinaryPrimitives.WriteUInt32BigEndian(sector.AsSpan(64), VhdFooter.Checksum(sector, 64));
            f.Write(at + 64, sector.AsSpan(64, 4));
        }
        FixFooter(0);
        FixFooter(f.Length - 512);
        if ((f.Read(0, sector) != 512 || !sector.AsSpan(0, 8).SequenceEqual("conectix"u8)) && f.Length >= 512) f.Read(f.Length - 512, sector);
        long h = (long)BinaryPrimitives.ReadUInt64BigEndian(sector.AsSpan(16));
        if (h <= 0 || h > f.Length - 1024) return;
        var dyn = new byte[1024];
        if (f.Read(h, dyn) != 1024 || !dyn.AsSpan(0, 8).SequenceEqual("cxsparse"u8)) return;
        BinaryPrimitives.WriteUInt32BigEndian(dyn.AsSpan(36), VhdFooter.Checksum(dyn, 36));
        f.Write(h + 36, dyn.AsSpan(36, 4));
    }

    MemoryImageFile Mem(string path) => new(File.ReadAllBytes(path));

    static Func<string, bool, DiskImage> Opener(Dictionary<string, MemoryImageFile> files)
    {
        Func<string, bool, DiskImage>? open = null;
        open = (resolved, ro) => files.TryGetValue(Path.GetFileName(resolved), out var t)
            ? DiskImages.Open(t.Clone(), resolved, ro, open)
            : throw new FileNotFoundException($"no such file '{resolved}'", resolved);
        return open;
    }

    List<Seed> Qcow2Seeds()
    {
        var seeds = new List<Seed>();

        // Ours: version 2, 512-byte clusters, data here and there.
        var ours = new MemoryImageFile();
        Qcow2Image.Layout(96 * KiB, 9, null, null, 2)(ours);
        using (var img = Qcow2Image.Open(ours, "/fuzz/v2.qcow2", false))
            foreach (var (off, len) in new[] { (0, 512), (5 * 512, 3000 / 512 * 512), (64 * KiB, 4096), (96 * KiB - 512, 512) })
                img.Write(off, Pattern(len, off));
        seeds.Add(DescribeQcow2("ours v2 512-byte clusters", ours.Clone()));

        // Ours: version 3, 64 KiB clusters (the file is mostly holes).
        var big = new MemoryImageFile();
        Qcow2Image.Layout(MiB, 16, null, null, 3)(big);
        using (var img = Qcow2Image.Open(big, "/fuzz/v3big.qcow2", false))
        {
            img.Write(4096, Pattern(1024, 1));
            img.Write(MiB - 512, Pattern(512, 2));
        }
        var bigSeed = DescribeQcow2("ours v3 64 KiB clusters", big.Clone());
        bigSeed.WholeDiskRead = false;
        seeds.Add(bigSeed);

        // qemu: version 3 overlay over a raw backing file, 4 KiB clusters.
        File.WriteAllBytes(P("base.raw"), Pattern(128 * KiB, 3));
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", P("ov.qcow2"), "160K");
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x41 4k 6k", "-c", "write -P 0x42 100k 8k", "-c", "write -P 0x43 156k 4k", P("ov.qcow2"));
        var files = new Dictionary<string, MemoryImageFile> { ["base.raw"] = Mem(P("base.raw")) };
        seeds.Add(DescribeQcow2("qemu v3 over raw backing", Mem(P("ov.qcow2")), Opener(files)));

        // qemu: compressed clusters.
        var src = new byte[128 * KiB];
        for (int i = 0; i < src.Length; i++) src[i] = (byte)(i / 700 % 5 * 41);
        Pattern(8 * KiB, 4).CopyTo(src, 40 * KiB);
        File.WriteAllBytes(P("c.raw"), src);
        Ok(QemuImg, "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", P("c.raw"), P("c.qcow2"));
        seeds.Add(DescribeQcow2("qemu v3 compressed", Mem(P("c.qcow2"))));

        // qemu: a chain (qcow2 base, overlay with data and zero clusters), 2 KiB clusters.
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=2048", P("cbase.qcow2"), "64K");
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x51 0 20k", P("cbase.qcow2"));
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=2048", "-b", "cbase.qcow2", "-F", "qcow2", P("cov.qcow2"), "64K");
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x52 2k 3k", "-c", "write -z 8k 4k", "-c", "write -P 0x53 40k 2k", P("cov.qcow2"));
        var chain = new Dictionary<string, MemoryImageFile> { ["cbase.qcow2"] = Mem(P("cbase.qcow2")) };
        seeds.Add(DescribeQcow2("qemu v3 chain with zero clusters", Mem(P("cov.qcow2")), Opener(chain)));

        // qemu: version 2 with an internal snapshot.
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=512", P("snap.qcow2"), "32K");
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x61 0 4k", P("snap.qcow2"));
        Ok(QemuImg, "snapshot", "-c", "s1", P("snap.qcow2"));
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x62 2k 4k", P("snap.qcow2"));
        seeds.Add(DescribeQcow2("qemu v2 snapshot", Mem(P("snap.qcow2"))));

        // qemu, 512-byte clusters, the file extended (a hole: unreferenced clusters with refcount 0) until the
        // one-cluster refcount table, which covers 8 MiB, is nearly full: allocating writes grow the table.
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", P("full.qcow2"), "16M");
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x81 0 6k", "-c", "write -P 0x82 9M 3k", P("full.qcow2"));
        var full = Mem(P("full.qcow2"));
        full.SetLength(8 * MiB - 6 * KiB);
        var fullSeed = DescribeQcow2("qemu refcount table nearly full", full.Clone());
        fullSeed.WholeDiskRead = false;
        seeds.Add(fullSeed);

        // qemu: dirty (lazy refcounts, aborted).
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=512", P("dirty.qcow2"), "48K");
        QemuTools.Run("/bin/bash", "-c", $"ulimit -c 0; exec {QemuIo} -f qcow2 -c 'write -P 0x71 1k 9k' -c 'write -P 0x72 30k 2k' -c abort '{P("dirty.qcow2")}'");
        seeds.Add(DescribeQcow2("qemu v3 dirty", Mem(P("dirty.qcow2"))));
        return seeds;
    }

    List<Seed> VhdSeeds()
    {
        var seeds = new List<Seed>();
        var fixedOurs = new MemoryImageFile();
        using (var img = VhdImage.Create(fixedOurs, "/fuzz/f.vhd", 64 * KiB, fixedSize: true))
            img.Write(4096, Pattern(2048, 1));
        seeds.Add(DescribeVhd("ours fixed", fixedOurs.Clone()));

        var dyn = new MemoryImageFile();
        using (var img = VhdImage.Create(dyn, "/fuzz/d.vhd", 64 * KiB, fixedSize: false, blockSize: 4096))
            foreach (var (off, len) in new[] { (0, 512), (4096 + 1024, 2048), (40 * KiB, 4096), (64 * KiB - 512, 512) })
                img.Write(off, Pattern(len, off));
        seeds.Add(DescribeVhd("ours dynamic 4 KiB blocks", dyn.Clone()));

        var partial = new MemoryImageFile();
        using (var img = VhdImage.Create(partial, "/fuzz/p.vhd", 100 * KiB, fixedSize: false, blockSize: 16 * KiB))
        {
            img.Write(16 * KiB, Pattern(3 * 512, 5));
            img.Write(99 * KiB, Pattern(512, 6));
        }
        seeds.Add(DescribeVhd("ours dynamic partial last block", partial.Clone()));

        Ok(QemuImg, "create", "-q", "-f", "vpc", P("q.vhd"), "3M");
        Ok(QemuIo, "-f", "vpc", "-c", "write -P 0x21 0 8k", "-c", "write -P 0x22 2100k 4k", P("q.vhd"));
        var q = DescribeVhd("qemu dynamic", Mem(P("q.vhd")));
        q.WholeDiskRead = false;
        seeds.Add(q);

        // Ours: a differencing disk (16 KiB blocks) over the small dynamic disk above.
        var diffParent = dyn.Clone();
        var parentFooter = VhdFooter.Parse(Bytes(diffParent).AsSpan(0, 512), "seed");
        var diff = new MemoryImageFile();
        VhdImage.WriteDifferencing(diff, parentFooter, 0, "parent.vhd", "/fuzz/parent.vhd", 16 * 1024);
        var parents = new Dictionary<string, MemoryImageFile> { ["parent.vhd"] = diffParent };
        using (var img = VhdImage.Open(diff, "/fuzz/child.vhd", false, Opener(parents)))
        {
            img.Write(1024, Pattern(1024, 7));
            img.Write(20 * KiB, new byte[512]);
        }
        var diffSeed = DescribeVhd("ours differencing", diff.Clone());
        diffSeed.OpenBacking = Opener(parents);
        seeds.Add(diffSeed);

        Ok(QemuImg, "create", "-q", "-f", "vpc", "-o", "subformat=fixed", P("qf.vhd"), "256K");
        Ok(QemuIo, "-f", "vpc", "-c", "write -P 0x23 8k 4k", P("qf.vhd"));
        seeds.Add(DescribeVhd("qemu fixed", Mem(P("qf.vhd"))));
        return seeds;
    }

    /// <summary>Raw-looking files whose first or last bytes resemble the other formats' signatures (probing).</summary>
    static List<Seed> RawSeeds()
    {
        var seeds = new List<Seed>();
        void Add(string name, byte[] bytes)
        {
            var s = new Seed(name, "raw", new MemoryImageFile(bytes));
            s.Fields.Add(new Field(0, 4, "head magic"));
            s.Fields.Add(new Field(0, 8, "head cookie"));
            if (bytes.Length >= 512)
            {
                s.Fields.Add(new Field(bytes.Length - 512, 8, "tail cookie"));
                s.Pointers.Add(bytes.Length - 512);
            }
            s.Pointers.Add(bytes.Length);
            seeds.Add(s);
        }
        Add("raw random", Pattern(8 * KiB, 1));
        var q = new byte[4 * KiB];
        BinaryPrimitives.WriteUInt32BigEndian(q, 0x514649FB); // "QFI\xfb"
        BinaryPrimitives.WriteUInt32BigEndian(q.AsSpan(4), 3);
        Add("raw with qcow2 magic", q);
        var c = Pattern(2 * KiB, 2);
        "conectix"u8.CopyTo(c);
        Add("raw with cookie at 0", c);
        var t = Pattern(3 * KiB, 3);
        "conectix"u8.CopyTo(t.AsSpan(t.Length - 512));
        Add("raw with cookie at the end", t);
        Add("raw shorter than a sector", Pattern(300, 4));
        return seeds;
    }

    // ------------------------------------------------------------------ mutation

    static ulong Interesting(Random r, ulong current, int width, Seed s, long fileLength)
    {
        ulong mask = width == 8 ? ulong.MaxValue : (1UL << (width * 8)) - 1;
        ulong v = r.Next(16) switch
        {
            0 => 0,
            1 => 1,
            2 => mask,
            3 => mask >> 1,
            4 => (mask >> 1) + 1,
            5 => (ulong)r.Next(0, 70),
            6 => 1UL << r.Next(width * 8),
            7 => current + (ulong)r.Next(1, 9),
            8 => current - (ulong)r.Next(1, 9),
            9 => current * 2,
            10 => current / 2,
            11 => (ulong)s.Pointers[r.Next(s.Pointers.Count)] + (ulong)(r.Next(3) == 0 ? r.Next(-2, 3) * 512 : 0),
            12 => (ulong)fileLength + (ulong)r.Next(-1, 2) * (ulong)s.Unit,
            13 => (ulong)r.NextInt64(Math.Max(1, fileLength)) & ~(ulong)(s.Unit - 1),
            14 => current ^ (1UL << r.Next(width * 8)),
            _ => (ulong)r.NextInt64() ^ ((ulong)r.NextInt64() << 32),
        };
        return v & mask;
    }

    static ulong Read(MemoryImageFile f, long off, int width)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        f.Read(off, b[..width]);
        return width switch
        {
            1 => b[0],
            2 => BinaryPrimitives.ReadUInt16BigEndian(b),
            4 => BinaryPrimitives.ReadUInt32BigEndian(b),
            _ => BinaryPrimitives.ReadUInt64BigEndian(b),
        };
    }

    static void Write(MemoryImageFile f, long off, int width, ulong v)
    {
        if (off < 0 || off + width > f.Length) return;
        Span<byte> b = stackalloc byte[8];
        switch (width)
        {
            case 1: b[0] = (byte)v; break;
            case 2: BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); break;
            case 4: BinaryPrimitives.WriteUInt32BigEndian(b, (uint)v); break;
            default: BinaryPrimitives.WriteUInt64BigEndian(b, v); break;
        }
        f.Write(off, b[..width]);
    }

    /// <summary>Applies 1-4 mutations; returns a short description (for failure messages).</summary>
    static string Mutate(MemoryImageFile f, Random r, Seed s)
    {
        int n = 1 + (r.Next(4) == 0 ? r.Next(1, 4) : 0);
        var what = new List<string>();
        for (int i = 0; i < n; i++)
        {
            long len = f.Length;
            int kind = r.Next(100);
            if (kind < 32 && s.Fields.Count > 0)
            {
                var fld = s.Fields[r.Next(s.Fields.Count)];
                Write(f, fld.Offset, fld.Width, Interesting(r, Read(f, fld.Offset, fld.Width), fld.Width, s, len));
                what.Add(fld.Name);
            }
            else if (kind < 58 && s.Tables.Count > 0)
            {
                var t = s.Tables[r.Next(s.Tables.Count)];
                if (t.Count <= 0) continue;
                long at = t.Offset + r.NextInt64(t.Count) * t.Width;
                ulong cur = Read(f, at, t.Width);
                ulong v = t.Width switch
                {
                    8 => r.Next(5) switch
                    {
                        0 => Interesting(r, cur, 8, s, len),
                        1 => cur ^ (1UL << r.Next(64)),
                        2 => (ulong)s.Pointers[r.Next(s.Pointers.Count)] | (r.Next(2) == 0 ? 1UL << 63 : 0),
                        3 => cur | (1UL << 62) | ((ulong)r.Next(256) << 54),
                        _ => cur | 1UL,
                    },
                    4 => r.Next(3) == 0 ? 0xFFFF_FFFF : r.Next(2) == 0 ? (ulong)(s.Pointers[r.Next(s.Pointers.Count)] / 512) : Interesting(r, cur, 4, s, len),
                    _ => Interesting(r, cur, t.Width, s, len),
                };
                Write(f, at, t.Width, v);
                what.Add(t.Name);
            }
            else if (kind < 72)
            {
                // Bit flip, biased towards metadata.
                long at = r.Next(3) > 0 && s.Pointers.Count > 0
                    ? s.Pointers[r.Next(s.Pointers.Count)] + r.Next(0, (int)Math.Min(s.Unit, 1024))
                    : r.NextInt64(Math.Max(1, len));
                if (at < len) Write(f, at, 1, Read(f, at, 1) ^ (1UL << r.Next(8)));
                what.Add("bit flip");
            }
            else if (kind < 80)
            {
                long at = r.NextInt64(Math.Max(1, len));
                Write(f, at, 1, r.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x80, _ => (ulong)r.Next(256) });
                what.Add("byte set");
            }
            else if (kind < 87)
            {
                long to = r.Next(2) == 0 ? s.Pointers[r.Next(s.Pointers.Count)] + r.Next(-8, 9) * 64 : r.NextInt64(Math.Max(1, len + 1));
                f.SetLength(Math.Clamp(to, 0, len));
                what.Add("truncation");
            }
            else if (kind < 92)
            {
                int add = r.Next(2) == 0 ? 512 * r.Next(1, 9) : r.Next(1, 64 * KiB);
                var extra = new byte[add];
                if (r.Next(2) == 0) r.NextBytes(extra);
                f.Write(len, extra);
                what.Add("extension");
            }
            else
            {
                // Copy a piece of one structure over another.
                long from = s.Pointers[r.Next(s.Pointers.Count)], to = s.Pointers[r.Next(s.Pointers.Count)];
                var buf = new byte[r.Next(8, 600)];
                int got = f.Read(from, buf);
                if (got > 0 && to < len) f.Write(to, buf.AsSpan(0, got));
                what.Add("copy");
            }
        }
        if (s.Format == "vpc" && r.Next(4) != 0) FixVhdChecksums(f);
        return string.Join(", ", what);
    }

    // ------------------------------------------------------------------ the harness

    sealed class Stats
    {
        public long Iterations, Refused, Opened, IoErrors, ResizeRefused, CheckCorrupt, Failures, RefcountTableSwitches, L1Switches;
        public long MaxAllocated;
        public double MaxMilliseconds;
        public readonly ConcurrentQueue<string> FailureMessages = new();
        public readonly ConcurrentDictionary<string, long> RefusalFields = new();

        public void Fail(string message)
        {
            Interlocked.Increment(ref Failures);
            if (FailureMessages.Count < 20) FailureMessages.Enqueue(message);
        }
    }

    enum OpenAs { Specific, Probe }

    static DiskImage OpenImage(Seed s, MemoryImageFile f, bool readOnly, OpenAs how)
    {
        string path = "/fuzz/" + s.Name.Replace(' ', '-') + "." + s.Format;
        if (how == OpenAs.Probe || s.Format == "raw") return DiskImages.Open(f, path, readOnly, s.OpenBacking);
        return s.Format == "qcow2" ? Qcow2Image.Open(f, path, readOnly, s.OpenBacking) : VhdImage.Open(f, path, readOnly, s.OpenBacking);
    }

    static void Exercise(Seed s, int iteration, int salt, Stats st, ITestOutputHelper? trace = null)
    {
        var r = new Random(unchecked(iteration * 1_000_003 + salt));
        var f = s.Template.Clone();
        string mutation = Mutate(f, r, s);
        bool readOnly = r.Next(4) == 0;
        var how = r.Next(4) == 0 ? OpenAs.Probe : OpenAs.Specific;
        trace?.WriteLine($"{s.Name}: {mutation}; {(readOnly ? "read-only" : "read-write")}, {how}");
        if (s.Format == "qcow2")
            f.BeforeWrite = (_, off, len) =>
            {
                // The 12-byte header writes that switch to a new refcount table (growth, rebuild) or L1 table.
                if (off == 48 && len == 12) Interlocked.Increment(ref st.RefcountTableSwitches);
                if (off == 36 && len == 12) Interlocked.Increment(ref st.L1Switches);
            };
        string phase = "open";
        DiskImage? img = null;
        try
        {
            try
            {
                img = OpenImage(s, f, readOnly, how);
            }
            catch (ImageFormatException e)
            {
                Interlocked.Increment(ref st.Refused);
                string key = e.Message.Split(':')[0];
                if (key.StartsWith("backing file", StringComparison.Ordinal) || key.StartsWith("qcow2 image", StringComparison.Ordinal) || key.StartsWith("VHD '", StringComparison.Ordinal))
                    key = key.Split(' ')[0] + " ...";
                st.RefusalFields.AddOrUpdate(key, 1, (_, c) => c + 1);
                return;
            }
            Interlocked.Increment(ref st.Opened);
            trace?.WriteLine($"opened: allocated {GC.GetAllocatedBytesForCurrentThread()} so far, length {img.Length}");
            long length = img.Length;
            var buf = new byte[32 * KiB];
            try
            {
                phase = "read";
                if (length <= 512 * KiB && s.WholeDiskRead)
                {
                    for (long off = 0; off < length;)
                    {
                        int n = (int)Math.Min(length - off, 512 * r.Next(1, 65));
                        img.Read(off, buf.AsSpan(0, n));
                        off += n;
                    }
                }
                else if (length >= 512)
                {
                    img.Read(0, buf.AsSpan(0, 512));
                    img.Read(length - 512, buf.AsSpan(0, 512));
                    for (int i = 0; i < 16; i++)
                    {
                        int n = 512 * r.Next(1, 17);
                        long off = r.NextInt64(Math.Max(1, (length - n) / 512 + 1)) * 512;
                        if (off + n <= length) img.Read(off, buf.AsSpan(0, n));
                    }
                }
                if (!readOnly && length >= 512)
                {
                    phase = "write";
                    int writes = r.Next(1, 4);
                    for (int i = 0; i < writes; i++)
                    {
                        int n = (int)Math.Min(length, 512 * r.Next(1, 17));
                        long off = r.Next(3) == 0 ? (r.Next(2) == 0 ? 0 : length - n) : r.NextInt64((length - n) / 512 + 1) * 512;
                        var data = buf.AsSpan(0, n);
                        if (r.Next(4) == 0) data.Clear();
                        else r.NextBytes(data);
                        img.Write(off, data);
                    }
                    phase = "flush";
                    img.Flush();
                    if (r.Next(16) == 0)
                    {
                        phase = "resize";
                        try
                        {
                            img.Resize(length + 512L * (r.Next(3) == 0 ? r.Next(1, 1 << 17) : r.Next(1, 300)));
                        }
                        catch (InvalidOperationException)
                        {
                            Interlocked.Increment(ref st.ResizeRefused);
                        }
                    }
                }
            }
            catch (BlockDeviceException)
            {
                Interlocked.Increment(ref st.IoErrors);
            }
            trace?.WriteLine($"before check: allocated {GC.GetAllocatedBytesForCurrentThread()} so far");
            phase = "check";
            var c = img.Check();
            trace?.WriteLine($"after check: allocated {GC.GetAllocatedBytesForCurrentThread()} so far: {c.Corruptions} corruptions, {c.Leaks} leaks");
            if (c.Corruptions > 0) Interlocked.Increment(ref st.CheckCorrupt);
        }
        catch (Exception e)
        {
            st.Fail($"{s.Name}, iteration {iteration} ({mutation}; {(readOnly ? "read-only" : "read-write")}, {how}): {phase}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
        finally
        {
            phase = "dispose";
            try
            {
                img?.Dispose();
            }
            catch (Exception e)
            {
                st.Fail($"{s.Name}, iteration {iteration} ({mutation}): dispose: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    Stats Fuzz(List<Seed> seeds, int iterations, int salt)
    {
        var st = new Stats();
        // JITVM_FUZZ_REPLAY=<iteration> reruns one iteration alone (to debug a failure it reported).
        if (int.TryParse(Environment.GetEnvironmentVariable("JITVM_FUZZ_REPLAY"), out int replay))
        {
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            Exercise(seeds[replay % seeds.Count], replay, salt, st, output);
            output.WriteLine($"replayed iteration {replay}: allocated {GC.GetAllocatedBytesForCurrentThread() - a0} bytes");
            foreach (var m in st.FailureMessages) output.WriteLine("FAILURE " + m);
            Assert.Fail("replay only");
        }
        var inFlight = new ConcurrentDictionary<int, long>();
        var sw = Stopwatch.StartNew();
        var run = Task.Run(() => Parallel.For(0, iterations, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var seed = seeds[i % seeds.Count];
            long t0 = Stopwatch.GetTimestamp();
            inFlight[i] = t0;
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            Exercise(seed, i, salt, st);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
            var elapsed = Stopwatch.GetElapsedTime(t0);
            inFlight.TryRemove(i, out _);
            Interlocked.Increment(ref st.Iterations);
            if (allocated > AllocationCap) st.Fail($"{seed.Name}, iteration {i}: allocated {allocated} bytes");
            if (elapsed > IterationCap) st.Fail($"{seed.Name}, iteration {i}: took {elapsed.TotalMilliseconds:F0} ms");
            lock (st)
            {
                st.MaxAllocated = Math.Max(st.MaxAllocated, allocated);
                st.MaxMilliseconds = Math.Max(st.MaxMilliseconds, elapsed.TotalMilliseconds);
            }
        }));
        // Watchdog: an iteration that never finishes fails the test instead of hanging it.
        while (!run.Wait(250))
        {
            foreach (var (i, t0) in inFlight)
                if (Stopwatch.GetElapsedTime(t0) > 5 * IterationCap)
                    Assert.Fail($"{seeds[i % seeds.Count].Name}, iteration {i} hangs (over {5 * IterationCap.TotalSeconds} s)");
        }
        output.WriteLine($"{iterations} iterations over {seeds.Count} seeds in {sw.Elapsed.TotalSeconds:F1} s: " +
            $"{st.Refused} refused at open (ImageFormatException), {st.Opened} opened, {st.IoErrors} I/O errors (BlockDeviceException), " +
            $"{st.ResizeRefused} resizes refused, {st.CheckCorrupt} with corruptions found by Check, " +
            $"{st.RefcountTableSwitches} refcount tables grown or rebuilt, {st.L1Switches} L1 tables moved; " +
            $"slowest iteration {st.MaxMilliseconds:F1} ms, largest allocation {st.MaxAllocated / 1024} KiB; {st.Failures} failures");
        foreach (var (field, count) in st.RefusalFields.OrderByDescending(kv => kv.Value).Take(25))
            output.WriteLine($"  refused: {count,6} {field}");
        foreach (var m in st.FailureMessages) output.WriteLine("FAILURE " + m);
        return st;
    }

    static void AssertFuzz(Stats st, int iterations)
    {
        Assert.True(st.Failures == 0, $"{st.Failures} failures, first: {st.FailureMessages.FirstOrDefault()}");
        Assert.Equal(iterations, st.Iterations);
        // The mutations must reach past the header checks often enough to matter.
        Assert.True(st.Opened > st.Iterations / 5, $"only {st.Opened} of {st.Iterations} mutated images opened");
        Assert.True(st.Refused > st.Iterations / 10, $"only {st.Refused} of {st.Iterations} mutated images refused");
    }

    [Fact]
    public void Qcow2_MutatedImages_OnlyDocumentedExceptions()
    {
        var seeds = Qcow2Seeds();
        var st = Fuzz(seeds, IterationsPerFormat, 1);
        AssertFuzz(st, IterationsPerFormat);
    }

    [Fact]
    public void Vhd_MutatedImages_OnlyDocumentedExceptions()
    {
        var seeds = VhdSeeds();
        var st = Fuzz(seeds, IterationsPerFormat, 2);
        AssertFuzz(st, IterationsPerFormat);
    }

    [Fact]
    public void Probing_MutatedSignatures_OpenAsSomeFormatOrAreRefused()
    {
        const int iterations = 20_000;
        var st = Fuzz(RawSeeds(), iterations, 3);
        AssertFuzz(st, iterations);
    }
}
