using System.Buffers.Binary;
using System.Diagnostics;
using JitVm.Core.Storage;
using JitVm.Storage;

namespace JitVm.Storage.Tests;

/// <summary>
/// qcow2 tests: our images are checked and converted by qemu-img (the reference implementation), images made by
/// qemu-img/qemu-io are read by us and compared with the raw data they were made from.
/// </summary>
public sealed class Qcow2Tests : IDisposable
{
    const string QemuImg = "/usr/bin/qemu-img";
    const string QemuIo = "/usr/bin/qemu-io";
    readonly string dir;

    public Qcow2Tests()
    {
        dir = Path.Combine(Path.GetTempPath(), "jitvm-qcow2-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
    }

    public void Dispose()
    {
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }

    string P(string name) => Path.Combine(dir, name);

    static (int Exit, string Out) Run(string exe, params string[] args)
    {
        if (!File.Exists(exe)) Assert.Fail($"{exe} is required for this test but is not installed (apt-get install qemu-utils)");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(); Assert.Fail($"{exe} timed out"); }
        return (p.ExitCode, so.Result + se.Result);
    }

    static void Qemu(string exe, params string[] args)
    {
        var (exit, output) = Run(exe, args);
        Assert.True(exit == 0, $"{Path.GetFileName(exe)} {string.Join(' ', args)} failed ({exit}): {output}");
    }

    static void AssertQemuCheckClean(string image)
    {
        var (exit, output) = Run(QemuImg, "check", "-f", "qcow2", image);
        Assert.True(exit == 0, $"qemu-img check reports problems ({exit}): {output}");
    }

    byte[] QemuToRaw(string image)
    {
        string raw = P("converted-" + Guid.NewGuid().ToString("N") + ".raw");
        Qemu(QemuImg, "convert", "-f", "qcow2", "-O", "raw", image, raw);
        return File.ReadAllBytes(raw);
    }

    static byte[] ReadAll(DiskImage img)
    {
        var buf = new byte[img.Length];
        // Read in uneven chunks to cross cluster boundaries at various points.
        long pos = 0;
        int chunk = 4096 + 512;
        while (pos < buf.Length)
        {
            int n = (int)Math.Min(chunk, buf.Length - pos);
            img.Read(pos, buf.AsSpan((int)pos, n));
            pos += n;
            chunk = chunk == 4096 + 512 ? 131072 : 4096 + 512;
        }
        return buf;
    }

    static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    static void AssertSameBytes(byte[] expected, byte[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != actual[i])
                Assert.Fail($"{what}: first difference at byte {i} (0x{i:x}): expected 0x{expected[i]:x2}, got 0x{actual[i]:x2}");
    }

    /// <summary>Scattered writes: partial clusters, cluster-spanning, first and last sector, rewrites.</summary>
    static readonly (long Offset, int Length)[] Writes =
    [
        (0, 512), (4096, 1024), (65536 - 512, 2048), (1 << 20, 65536), ((1 << 20) + 512, 512),
        (3 * 1024 * 1024 + 7 * 512, 200 * 512), (8 * 1024 * 1024 - 512, 512), (5 * 1024 * 1024, 1536), (4096, 512),
    ];

    [Theory]
    [InlineData(3, 16)]
    [InlineData(3, 9)]
    [InlineData(2, 16)]
    [InlineData(2, 12)]
    [InlineData(3, 21)]
    [InlineData(3, 16, true)]
    public void CreatedImage_WritesReadBack_QemuChecksCleanAndConvertsToSameBytes(int version, int clusterBits, bool sync = false)
    {
        const long size = 8 * 1024 * 1024;
        string path = P("ours.qcow2");
        var expected = new byte[size];
        using (var img = Qcow2Image.Create(path, size, clusterBits, version: version))
        {
            Assert.Equal("qcow2", img.Format);
            Assert.Equal(size, img.Length);
            Assert.Equal(version, img.Version);
            Assert.Equal(1 << clusterBits, img.ClusterSize);
            img.SyncMetadataWrites = sync;
            Assert.True(ReadAll(img).All(b => b == 0), "a new image reads as zeros");
            int seed = 1;
            foreach (var (off, len) in Writes)
            {
                var data = Pattern(len, seed++);
                img.Write(off, data);
                data.CopyTo(expected, off);
            }
            AssertSameBytes(expected, ReadAll(img), "read back before reopening");
            Assert.True(img.Check().IsClean, string.Join("\n", img.Check().Messages));
            img.Flush();
        }
        using (var img = Qcow2Image.Open(path, readOnly: true))
            AssertSameBytes(expected, ReadAll(img), "read back after reopening");
        AssertQemuCheckClean(path);
        AssertSameBytes(expected, QemuToRaw(path), "qemu-img convert of our image");
    }

    [Theory]
    [InlineData("0.10", 512)]
    [InlineData("1.1", 512)]
    [InlineData("0.10", 2 * 1024 * 1024)]
    [InlineData("1.1", 2 * 1024 * 1024)]
    [InlineData("1.1", 65536)]
    public void QemuCreatedImage_ReadsLikeTheDataWritten_AndOurWritesStayConsistent(string compat, int clusterSize)
    {
        const long size = 6 * 1024 * 1024;
        string path = P("q.qcow2");
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-o", $"compat={compat},cluster_size={clusterSize}", path, size.ToString());
        var expected = new byte[size];
        void QemuWrite(int pattern, long off, int len)
        {
            Qemu(QemuIo, "-f", "qcow2", "-c", $"write -P 0x{pattern:x2} {off} {len}", path);
            expected.AsSpan((int)off, len).Fill((byte)pattern);
        }
        QemuWrite(0xab, 0, 65536);
        QemuWrite(0x5c, 1024 * 1024 + 512, 3072);
        QemuWrite(0x11, 4 * 1024 * 1024, 300 * 1024);
        QemuWrite(0xee, (int)size - 512, 512);
        if (compat == "1.1")
        {
            // Zero clusters (L2 flag bit 0) over allocated data: whole clusters only.
            long zoff = 4L * 1024 * 1024, zlen = Math.Max(clusterSize, 65536);
            Qemu(QemuIo, "-f", "qcow2", "-c", $"write -z {zoff} {zlen}", path);
            expected.AsSpan((int)zoff, (int)zlen).Clear();
        }
        AssertSameBytes(expected, QemuToRaw(path), "qemu's own view (test sanity)");
        using (var img = Qcow2Image.Open(path, readOnly: true))
        {
            Assert.Equal(compat == "1.1" ? 3 : 2, img.Version);
            AssertSameBytes(expected, ReadAll(img), "our read of the qemu image");
            Assert.True(img.Check().IsClean, string.Join("\n", img.Check().Messages));
        }
        using (var img = Qcow2Image.Open(path, readOnly: false))
        {
            int seed = 100;
            foreach (var (off, len) in new (long, int)[] { (512, 1024), (4 * 1024 * 1024 + 1024, 2048), (2 * 1024 * 1024 + 512, 512), (size - 1024, 1024) })
            {
                var d = Pattern(len, seed++);
                img.Write(off, d);
                d.CopyTo(expected, off);
            }
            AssertSameBytes(expected, ReadAll(img), "after our writes");
        }
        AssertQemuCheckClean(path);
        AssertSameBytes(expected, QemuToRaw(path), "qemu's view after our writes");
    }

    [Fact]
    public void CompressedImage_ReadsIdentically_AndWritesOverCompressedClustersCopy()
    {
        const int size = 2 * 1024 * 1024;
        var raw = new byte[size];
        for (int i = 0; i < size; i++) raw[i] = (byte)(i / 1000 % 7 * 31); // compressible
        Pattern(100_000, 7).CopyTo(raw, 300_000);                          // incompressible stretch
        File.WriteAllBytes(P("src.raw"), raw);
        string path = P("c.qcow2");
        Qemu(QemuImg, "convert", "-c", "-f", "raw", "-O", "qcow2", P("src.raw"), path);
        Assert.True(new FileInfo(path).Length < size / 2, "qemu-img really compressed the image");
        using (var img = Qcow2Image.Open(path, readOnly: true))
            AssertSameBytes(raw, ReadAll(img), "compressed image");
        using (var img = Qcow2Image.Open(path, readOnly: false))
        {
            var d = Pattern(1536, 9);
            img.Write(70_144, d); // inside a compressed cluster
            d.CopyTo(raw, 70_144);
            var e = Pattern(65536, 10);
            img.Write(131072, e); // a whole compressed cluster
            e.CopyTo(raw, 131072);
            AssertSameBytes(raw, ReadAll(img), "after writes over compressed clusters");
            Assert.True(img.Check().IsClean, string.Join("\n", img.Check().Messages));
        }
        AssertQemuCheckClean(path);
        AssertSameBytes(raw, QemuToRaw(path), "qemu's view after our writes");
    }

    [Fact]
    public void BackingChain_ReadsBaseData_WritesGoToOverlayOnly()
    {
        const int size = 4 * 1024 * 1024;
        var baseData = Pattern(size, 42);
        File.WriteAllBytes(P("base.raw"), baseData);
        Qemu(QemuImg, "convert", "-f", "raw", "-O", "qcow2", P("base.raw"), P("base.qcow2"));
        Directory.CreateDirectory(P("sub"));
        string overlay = P("sub/overlay.qcow2");
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-b", "../base.qcow2", "-F", "qcow2", overlay);
        byte[] baseFileBefore = File.ReadAllBytes(P("base.qcow2"));

        var expected = (byte[])baseData.Clone();
        using (var img = Qcow2Image.Open(overlay, readOnly: false))
        {
            Assert.NotNull(img.Backing);
            Assert.Equal("qcow2", img.Backing!.Format);
            Assert.Equal(size, img.Length);
            AssertSameBytes(baseData, ReadAll(img), "overlay before writes shows the base");
            var d = Pattern(1024, 5);
            img.Write(65536 + 4096, d); // partial cluster: the rest must come from the base
            d.CopyTo(expected, 65536 + 4096);
            var z = new byte[512];
            img.Write(size - 512, z);
            z.CopyTo(expected, size - 512);
            AssertSameBytes(expected, ReadAll(img), "overlay after writes");
        }
        Assert.Equal(baseFileBefore, File.ReadAllBytes(P("base.qcow2")));
        AssertQemuCheckClean(overlay);
        AssertSameBytes(expected, QemuToRaw(overlay), "qemu's view of the overlay");

        // Our own overlay with a relative backing name, over a raw base: qemu resolves it the same way.
        string ours = P("sub/ours.qcow2");
        using (var img = Qcow2Image.Create(ours, size, backingFile: "../base.raw"))
        {
            Assert.Equal("raw", img.Backing!.Format);
            img.Write(512, new byte[] { 1, 2, 3, 4 }.Concat(new byte[508]).ToArray());
        }
        var exp2 = (byte[])baseData.Clone();
        new byte[] { 1, 2, 3, 4 }.Concat(new byte[508]).ToArray().CopyTo(exp2, 512);
        AssertQemuCheckClean(ours);
        AssertSameBytes(exp2, QemuToRaw(ours), "qemu's view of our overlay");
        Assert.Equal(baseData, File.ReadAllBytes(P("base.raw")));
    }

    [Fact]
    public void BackingBeyondItsSize_ReadsZeros_AndLoopsAreRefused()
    {
        File.WriteAllBytes(P("small.raw"), Enumerable.Repeat((byte)0x77, 1024 * 1024).ToArray());
        string ov = P("big.qcow2");
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-b", "small.raw", "-F", "raw", ov, "2M");
        using (var img = Qcow2Image.Open(ov, true))
        {
            var buf = new byte[4096];
            img.Read(1024 * 1024 - 2048, buf);
            Assert.True(buf.AsSpan(0, 2048).ToArray().All(b => b == 0x77) && buf.AsSpan(2048).ToArray().All(b => b == 0));
        }
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", P("a.qcow2"), "1M");
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", P("b.qcow2"), "1M");
        var ex = Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(P("a.qcow2"), true));
        Assert.Contains("loop", ex.Message);
    }

    [Fact]
    public void DeepChain_IsLimited()
    {
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", P("c0.qcow2"), "1M");
        for (int i = 1; i <= Qcow2Image.MaxBackingDepth; i++)
            Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-u", "-b", $"c{i - 1}.qcow2", "-F", "qcow2", P($"c{i}.qcow2"), "1M");
        using (Qcow2Image.Open(P($"c{Qcow2Image.MaxBackingDepth - 1}.qcow2"), true)) { } // exactly the limit
        var ex = Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(P($"c{Qcow2Image.MaxBackingDepth}.qcow2"), true));
        Assert.Contains("deeper", ex.Message);
    }

    // ---- malformed headers ----

    string MakeImageAndPatch(Action<byte[]> patch)
    {
        string path = P("bad-" + Guid.NewGuid().ToString("N") + ".qcow2");
        Qcow2Image.Create(path, 1024 * 1024).Dispose();
        var bytes = File.ReadAllBytes(path);
        patch(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("magic")]
    [InlineData("version")]
    [InlineData("cluster_bits")]
    [InlineData("l1_table_offset")]
    [InlineData("l1_size")]
    [InlineData("refcount_order")]
    [InlineData("refcount_table_offset")]
    [InlineData("header_length")]
    [InlineData("crypt_method")]
    [InlineData("size")]
    [InlineData("backing_file_offset")]
    public void MalformedHeader_IsRefusedNamingTheField(string field)
    {
        string path = MakeImageAndPatch(b =>
        {
            var s = b.AsSpan();
            switch (field)
            {
                case "magic": s[3] = 0xfa; break;
                case "version": BinaryPrimitives.WriteUInt32BigEndian(s[4..], 4); break;
                case "cluster_bits": BinaryPrimitives.WriteUInt32BigEndian(s[20..], 30); break;
                case "l1_table_offset": BinaryPrimitives.WriteUInt64BigEndian(s[40..], 1UL << 40); break;
                case "l1_size": BinaryPrimitives.WriteUInt32BigEndian(s[36..], 0x7fff_ffff); break;
                case "refcount_order": BinaryPrimitives.WriteUInt32BigEndian(s[96..], 5); break;
                case "refcount_table_offset": BinaryPrimitives.WriteUInt64BigEndian(s[48..], 0x12345); break;
                case "header_length": BinaryPrimitives.WriteUInt32BigEndian(s[100..], 50); break;
                case "crypt_method": BinaryPrimitives.WriteUInt32BigEndian(s[32..], 1); break;
                case "size": BinaryPrimitives.WriteUInt64BigEndian(s[24..], ulong.MaxValue); break;
                case "backing_file_offset": BinaryPrimitives.WriteUInt64BigEndian(s[8..], 65530); BinaryPrimitives.WriteUInt32BigEndian(s[16..], 100); break;
            }
        });
        var ex = Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(path, true));
        Assert.Contains(field, ex.Message);
    }

    [Fact]
    public void L1TooSmallForSize_AndUnsupportedFeatures_AreRefused()
    {
        string small = MakeImageAndPatch(b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), 1UL << 40));
        Assert.Contains("l1_size", Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(small, true)).Message);

        string ext = MakeImageAndPatch(b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(72), 4));
        Assert.Contains("external data file", Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(ext, true)).Message);
        string comp = MakeImageAndPatch(b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(72), 8));
        Assert.Contains("compression type", Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(comp, true)).Message);

        string dirty = MakeImageAndPatch(b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(72), 1));
        using (var ro = Qcow2Image.Open(dirty, true)) Assert.True(ro.ReadOnly);
        using (Qcow2Image.Open(dirty, false)) { } // refcounts rebuilt (DirtyRefcountTests), the bit cleared
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(dirty).AsSpan(72)));

        string corrupt = MakeImageAndPatch(b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(72), 2));
        Assert.Contains("corrupt", Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(corrupt, false)).Message);
        using (var ro = Qcow2Image.Open(corrupt, true))
            Assert.Throws<BlockDeviceException>(() => ro.Write(0, new byte[512]));
    }

    [Fact]
    public void InternalSnapshots_ReadOnlyWorks_WritingIsRefused()
    {
        string path = P("snap.qcow2");
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", path, "2M");
        Qemu(QemuIo, "-f", "qcow2", "-c", "write -P 0x31 0 128k", path);
        Qemu(QemuImg, "snapshot", "-c", "s1", path);
        Qemu(QemuIo, "-f", "qcow2", "-c", "write -P 0x32 64k 128k", path);
        var ex = Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(path, false));
        Assert.Contains("internal snapshots are not supported", ex.Message);
        using var img = Qcow2Image.Open(path, true);
        var buf = new byte[256 * 1024];
        img.Read(0, buf);
        Assert.True(buf.AsSpan(0, 65536).ToArray().All(b => b == 0x31));
        Assert.True(buf.AsSpan(65536, 131072).ToArray().All(b => b == 0x32));
        Assert.True(buf.AsSpan(196608).ToArray().All(b => b == 0));
        var check = img.Check(); // shared clusters (refcount 2) must be accounted through the snapshot's L1 table
        Assert.True(check.IsClean, string.Join("\n", check.Messages));
    }

    // ---- consistency check ----

    long FirstDataCluster(string path)
    {
        // L1 entry 0 → L2 table; its entry 0 → data cluster of guest cluster 0.
        var b = File.ReadAllBytes(path);
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(40));
        long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)l1)) & 0x00FF_FFFF_FFFF_FE00UL);
        return (long)(BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)l2)) & 0x00FF_FFFF_FFFF_FE00UL);
    }

    void PatchRefcount(string path, long host, ushort value)
    {
        var b = File.ReadAllBytes(path);
        long rt = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(48));
        long rb = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)rt));
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan((int)(rb + (host >> 16) * 2)), value);
        File.WriteAllBytes(path, b);
    }

    [Fact]
    public void Check_FindsLeaksAndCorruptionsLikeQemu()
    {
        string path = P("chk.qcow2");
        using (var img = Qcow2Image.Create(path, 4 * 1024 * 1024))
            img.Write(0, Pattern(512, 1));
        long data = FirstDataCluster(path);
        Assert.True(data > 0);

        long unused = new FileInfo(path).Length;
        using (var f = File.OpenWrite(path)) f.SetLength(unused + 65536);
        PatchRefcount(path, unused, 1); // a cluster in the file with a refcount but no reference: leak
        using (var img = Qcow2Image.Open(path, true))
        {
            var r = img.Check();
            Assert.Equal((0, 1), (r.Corruptions, r.Leaks));
        }
        Assert.Equal(3, Run(QemuImg, "check", "-f", "qcow2", path).Exit); // qemu: leaks only
        PatchRefcount(path, unused, 0);

        PatchRefcount(path, data, 2); // refcount 2, one reference: a leak, and OFLAG_COPIED is now wrong (as qemu reports)
        using (var img = Qcow2Image.Open(path, true))
        {
            var r = img.Check();
            Assert.Equal((1, 1), (r.Corruptions, r.Leaks));
            Assert.Contains(r.Messages, m => m.Contains("OFLAG_COPIED"));
        }
        Assert.Equal(2, Run(QemuImg, "check", "-f", "qcow2", path).Exit);

        PatchRefcount(path, data, 0); // referenced but refcount 0: corruption
        using (var img = Qcow2Image.Open(path, true))
        {
            var r = img.Check();
            Assert.True(r.Corruptions >= 1 && r.Leaks == 0, string.Join("\n", r.Messages));
        }
        Assert.Equal(2, Run(QemuImg, "check", "-f", "qcow2", path).Exit); // qemu: corruptions
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("0.10")]
    public void RefcountTableFull_GrowsIt_QemuChecksCleanAndComparesEqual(string compat)
    {
        // qemu sizes the table of a 512-byte-cluster image to one cluster: 64 refcount blocks x 256 clusters = 8 MiB of
        // file. Filling the 16 MiB disk in scattered order needs about 17 MiB: the table must grow (twice).
        const int size = 16 * 1024 * 1024, chunk = 4096;
        string path = P("grow.qcow2");
        Qemu(QemuImg, "create", "-q", "-f", "qcow2", "-o", $"compat={compat},cluster_size=512", path, size.ToString());
        long tableBefore = (long)BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(path).AsSpan(48));
        var expected = new byte[size];
        new Random(11).NextBytes(expected);
        var order = Enumerable.Range(0, size / chunk).ToArray();
        new Random(12).Shuffle(order);
        using (var img = Qcow2Image.Open(path, readOnly: false))
        {
            foreach (int c in order) img.Write((long)c * chunk, expected.AsSpan(c * chunk, chunk));
            AssertSameBytes(expected, ReadAll(img), "read back");
            var r = img.Check();
            Assert.True(r.IsClean, string.Join("\n", r.Messages));
        }
        var header = File.ReadAllBytes(path);
        Assert.NotEqual(tableBefore, (long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(48)));
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(56)) >= 4, "refcount_table_clusters grew to cover the file");
        AssertQemuCheckClean(path);
        File.WriteAllBytes(P("expected.raw"), expected);
        Qemu(QemuImg, "compare", "-f", "qcow2", "-F", "raw", path, P("expected.raw"));
    }

    [Fact]
    public void ReadOnlyImage_RefusesWrites_AndOutOfRangeAccessFails()
    {
        string path = P("ro.qcow2");
        Qcow2Image.Create(path, 1024 * 1024).Dispose();
        using var img = Qcow2Image.Open(path, true);
        Assert.Throws<BlockDeviceException>(() => img.Write(0, new byte[512]));
        Assert.Throws<BlockDeviceException>(() => img.Read(1024 * 1024 - 512, new byte[1024]));
    }
}
