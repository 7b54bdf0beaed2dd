using JitVm.Core.Storage;
using JitVm.Storage.Vhd;
using static JitVm.Storage.Tests.QemuTools;

namespace JitVm.Storage.Tests;

/// <summary>
/// DiskImage.Resize and DiskImages.Create: after a resize qemu-img reports the new virtual size, checks the image
/// clean and reads the same bytes as we do (old data kept, the new area zeros).
/// </summary>
public sealed class ResizeTests : IDisposable
{
    const int KiB = 1024, MiB = 1024 * 1024;
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-resize-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    /// <summary>Writes a few patterned extents below <paramref name="limit"/> into the image and the expected bytes.</summary>
    static void Fill(DiskImage img, byte[] expected, long limit, int seed)
    {
        foreach (var (off, len) in new (long, int)[] { (0, 512), (limit / 3 & ~511L, 4096 + 512), (limit - 1024, 1024) })
        {
            var d = Pattern(len, seed++);
            img.Write(off, d);
            d.CopyTo(expected, off);
        }
    }

    /// <summary>Reopens through DiskImages.Open, compares with <paramref name="expected"/>, then asks qemu-img.</summary>
    void AssertImage(string path, string qemuFormat, byte[] expected, bool qemuCheck)
    {
        using (var img = DiskImages.Open(path, readOnly: true))
        {
            Assert.Equal(expected.Length, img.Length);
            AssertSameBytes(expected, ReadAll(img), "our read after reopening");
            var r = img.Check();
            Assert.True(r.IsClean, string.Join("\n", r.Messages));
        }
        Assert.Equal(expected.Length, Info(path, qemuFormat).VirtualSize);
        if (qemuCheck) AssertCheckClean(path, qemuFormat);
        AssertSameBytes(expected, ToRaw(path, qemuFormat), "qemu-img convert");
    }

    [Fact]
    public void Raw_GrowsWithZeros_AndShrinks()
    {
        string p = P("r.img");
        var expected = new byte[3 * MiB];
        using (var img = DiskImages.Create("raw", p, 2 * MiB))
        {
            Fill(img, expected, 2 * MiB, 1);
            img.Resize(3 * MiB);
            Assert.Equal(3 * MiB, img.Length);
            img.Write(3 * MiB - 512, Pattern(512, 9));
            Pattern(512, 9).CopyTo(expected, 3 * MiB - 512);
        }
        AssertImage(p, "raw", expected, qemuCheck: false);
        using (var img = DiskImages.Open(p))
            img.Resize(MiB);
        AssertImage(p, "raw", expected.AsSpan(0, MiB).ToArray(), qemuCheck: false);
        Assert.Equal(MiB, new FileInfo(p).Length);
    }

    [Theory]
    [InlineData(3, 16, 1 * MiB, 3 * MiB)]    // same L1 cluster
    [InlineData(3, 9, 1 * MiB, 5 * MiB)]     // 512-byte clusters: the L1 table moves to a larger one
    [InlineData(2, 9, 640 * KiB, 64 * MiB)]  // version 2, L1 grows from 1 to 16 clusters
    [InlineData(3, 12, 1 * MiB + 512, 300 * MiB)]
    public void Qcow2_Grow_KeepsDataAndChecksClean(int version, int clusterBits, int oldSize, int newSize)
    {
        string p = P("g.qcow2");
        var expected = new byte[newSize];
        using (var img = DiskImages.Create("qcow2", p, oldSize, clusterSize: 1 << clusterBits, version: version))
        {
            Fill(img, expected, oldSize, 1);
            img.Resize(newSize);
            Assert.Equal(newSize, img.Length);
            Assert.True(img.Check().IsClean, string.Join("\n", img.Check().Messages));
            var d = Pattern(8192, 7); // write across the old end and at the new end
            img.Write(oldSize - 4096, d);
            d.CopyTo(expected, oldSize - 4096);
            img.Write(newSize - 512, d.AsSpan(0, 512));
            d.AsSpan(0, 512).CopyTo(expected.AsSpan(newSize - 512));
        }
        AssertImage(p, "qcow2", expected, qemuCheck: true);
    }

    [Fact]
    public void Qcow2_QemuImage_GrownByUs_QemuAgrees()
    {
        string p = P("q.qcow2");
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", p, "1M");
        Ok(QemuIo, "-f", "qcow2", "-c", "write -P 0x5a 4096 65536", p);
        var expected = new byte[40 * MiB];
        expected.AsSpan(4096, 65536).Fill(0x5a);
        using (var img = Qcow2Image.Open(p, readOnly: false))
        {
            img.Resize(40 * MiB);
            img.Write(39 * MiB, Pattern(65536, 3)); // needs L2 tables in the new L1 entries
            Pattern(65536, 3).CopyTo(expected, 39 * MiB);
        }
        AssertImage(p, "qcow2", expected, qemuCheck: true);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Qcow2_GrowOverLongerBacking_NewAreaReadsZeros(int version)
    {
        var baseData = Pattern(2 * MiB, 5);
        File.WriteAllBytes(P("base.raw"), baseData);
        string p = P("ov.qcow2");
        using (var img = Qcow2Image.Create(p, MiB + 4096, 16, "base.raw", version))
        {
            img.Resize(3 * MiB);
            Assert.Equal(3 * MiB, img.Length);
        }
        var expected = new byte[3 * MiB];
        baseData.AsSpan(0, MiB + 4096).CopyTo(expected);
        AssertImage(p, "qcow2", expected, qemuCheck: true);
    }

    [Fact]
    public void Qcow2_Shrink_OnlyWhenNothingIsAllocatedPastTheNewEnd_AndRegrowingShowsZeros()
    {
        string p = P("s.qcow2");
        using (var img = Qcow2Image.Create(p, 4 * MiB))
        {
            img.Write(640 * KiB, Pattern(65536, 1)); // guest cluster 10
            img.Write(3 * MiB, Pattern(512, 2));
            var ex = Assert.Throws<InvalidOperationException>(() => img.Resize(2 * MiB));
            Assert.Contains("past the new end holds data", ex.Message);
            Assert.Equal(4 * MiB, img.Length);
        }
        string q = P("s2.qcow2");
        var expected = new byte[MiB];
        using (var img = Qcow2Image.Create(q, MiB))
        {
            var d = Pattern(65536, 1);
            img.Write(640 * KiB, d);
            img.Resize(640 * KiB + 4096);        // cluster 10 is only partly cut: allowed
            Assert.Equal(640 * KiB + 4096, img.Length);
            img.Resize(MiB);                     // the cut bytes must not reappear
            d.AsSpan(0, 4096).CopyTo(expected.AsSpan(640 * KiB));
        }
        AssertImage(q, "qcow2", expected, qemuCheck: true);
    }

    [Fact]
    public void Vhd_Dynamic_GrowsWithinTheTable_RefusesBeyondAndShrinking()
    {
        string p = P("d.vhd");
        var expected = new byte[4 * MiB];
        using (var img = (VhdImage)DiskImages.Create("vpc", p, 3 * MiB - 4096))
        {
            Fill(img, expected, 3 * MiB - 4096, 1);
            img.Resize(4 * MiB); // 2 BAT entries of 2 MiB
            Assert.Equal(4 * MiB, img.Length);
            var big = Assert.Throws<InvalidOperationException>(() => img.Resize(4 * MiB + 512));
            Assert.Contains("block allocation table", big.Message);
            Assert.Contains("shrink", Assert.Throws<InvalidOperationException>(() => img.Resize(MiB)).Message);
            img.Write(4 * MiB - 512, Pattern(512, 8));
            Pattern(512, 8).CopyTo(expected, 4 * MiB - 512);
        }
        AssertImage(p, "vpc", expected, qemuCheck: false);
    }

    [Fact]
    public void Vhd_Fixed_Grows_OldFooterBecomesZeros()
    {
        string p = P("f.vhd");
        var expected = new byte[5 * MiB];
        using (var img = DiskImages.Create("vhd", p, 2 * MiB, subformat: "fixed"))
        {
            Fill(img, expected, 2 * MiB, 1);
            img.Resize(5 * MiB);
            Assert.Equal(5 * MiB, img.Length);
        }
        Assert.Equal(5 * MiB + 512, new FileInfo(p).Length);
        AssertImage(p, "vpc", expected, qemuCheck: false);
    }

    [Fact]
    public void Resize_RefusesReadOnlyImagesAndBadSizes()
    {
        string p = P("ro.qcow2");
        Qcow2Image.Create(p, MiB).Dispose();
        using (var img = DiskImages.Open(p, readOnly: true))
            Assert.Contains("read-only", Assert.Throws<InvalidOperationException>(() => img.Resize(2 * MiB)).Message);
        using (var img = DiskImages.Open(p))
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => img.Resize(MiB + 100));
            Assert.Throws<ArgumentOutOfRangeException>(() => img.Resize(0));
            Assert.Contains("too large", Assert.Throws<InvalidOperationException>(() => img.Resize(1L << 56)).Message);
        }
    }

    [Theory]
    [InlineData("raw", null, "raw")]
    [InlineData("qcow2", null, "qcow2")]
    [InlineData("vpc", null, "vpc")]
    [InlineData("vhd", "dynamic", "vpc")]
    [InlineData("vpc", "fixed", "vpc")]
    public void Create_MakesImagesQemuRecognises(string format, string? subformat, string qemuFormat)
    {
        string p = P("c." + format);
        using (var img = DiskImages.Create(format, p, 3 * MiB, subformat: subformat))
        {
            Assert.Equal(qemuFormat, img.Format);
            Assert.Equal(3 * MiB, img.Length);
        }
        var (vsize, fmt) = Info(p, qemuFormat);
        Assert.Equal((3L * MiB, qemuFormat), (vsize, fmt));
        Assert.Equal(qemuFormat, DiskImages.DetectFormat(p));
    }

    [Fact]
    public void Create_Qcow2OverBacking_TakesItsSize_AndRefusesBadOptions()
    {
        File.WriteAllBytes(P("b.raw"), Pattern(2 * MiB, 1));
        using (var img = DiskImages.Create("qcow2", P("o.qcow2"), 0, backingFile: "b.raw", clusterSize: 4096, version: 2))
        {
            Assert.Equal(2 * MiB, img.Length);
            Assert.Equal(4096, ((Qcow2Image)img).ClusterSize);
            Assert.Equal(2, ((Qcow2Image)img).Version);
            Assert.Equal("raw", img.Backing!.Format);
        }
        AssertCheckClean(P("o.qcow2"));
        Assert.Throws<ArgumentException>(() => DiskImages.Create("vmdk", P("x"), MiB));
        Assert.Throws<ArgumentException>(() => DiskImages.Create("raw", P("x"), MiB, backingFile: "b.raw"));
        Assert.Throws<ArgumentException>(() => DiskImages.Create("vpc", P("x"), MiB, subformat: "sparse"));
        Assert.Throws<ArgumentOutOfRangeException>(() => DiskImages.Create("qcow2", P("x"), MiB, clusterSize: 1000));
        Assert.False(File.Exists(P("x")));
    }
}
