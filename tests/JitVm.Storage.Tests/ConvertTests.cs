using JitVm.Storage.Vhd;

namespace JitVm.Storage.Tests;

/// <summary><see cref="ImageConverter"/>: conversions between every pair of formats, checked by qemu-img compare and byte for byte.</summary>
public sealed class ConvertTests : IDisposable
{
    const int MiB = ImgTools.MiB;
    readonly ImgTools t = new();

    public void Dispose() => t.Dispose();

    /// <summary>10 MiB + 3 sectors: no CHS geometry addresses it exactly, so a VHD must carry the size in its footer.</summary>
    const long OddSize = 10L * MiB + 3 * 512;

    public static TheoryData<string, string> FormatPairs()
    {
        var d = new TheoryData<string, string>();
        foreach (var s in new[] { "raw", "qcow2", "vpc", "vpc-fixed" })
            foreach (var x in new[] { "raw", "qcow2", "vpc", "vpc-fixed" })
                d.Add(s, x);
        return d;
    }

    static (string Format, ImageCreateOptions Options) Target(string name) =>
        name == "vpc-fixed" ? ("vpc", new ImageCreateOptions { VhdFixed = true }) : (name, new ImageCreateOptions());

    [Theory]
    [MemberData(nameof(FormatPairs))]
    public void EveryPairOfFormatsConvertsToAnImageQemuImgFindsIdentical(string from, string to)
    {
        var data = t.WriteRawWithHoles(t.P("data.raw"), OddSize, seed: 11);
        string src = t.P("src." + from), dst = t.P("dst." + to);
        var (sf, so) = Target(from);
        if (from == "raw") File.Copy(t.P("data.raw"), src);
        else new ImageConverter().Convert(t.P("data.raw"), "raw", src, sf, so);
        var (tf, to2) = Target(to);

        var result = new ImageConverter().Convert(src, sf, dst, tf, to2);

        Assert.Equal(OddSize, result.BytesWritten + result.BytesSkipped);
        var cmp = t.Qemu("compare", "-f", sf, "-F", tf, src, dst);
        Assert.True(cmp.Exit == 0, $"qemu-img compare: {cmp.Out}{cmp.Err}");
        Assert.Equal("Images are identical.\n", cmp.Out);
        var info = ImgTools.Json(t.QemuOk("info", "--output=json", "-f", tf, dst));
        Assert.Equal(OddSize, info.GetProperty("virtual-size").GetInt64());
        using var img = ImageConverter.Open(dst, tf, readOnly: true);
        Assert.Equal(tf, img.Format);
        var back = new byte[OddSize];
        img.Read(0, back);
        Assert.True(data.AsSpan().SequenceEqual(back), "the converted image reads back the source's bytes");
        Assert.True(img.Check().IsClean);
    }

    [Theory]
    [InlineData(OddSize, false)]
    [InlineData(OddSize, true)]
    [InlineData(3L * 512, false)]                  // smaller than one qcow2 cluster and one VHD block
    [InlineData(4L * MiB + 17 * 512, false)]       // a partial last VHD block
    public void RawToQcow2ToVhdToRawIsByteIdentical(long size, bool fixedVhd)
    {
        string raw = t.P("start.raw");
        if (size >= 2 * MiB) t.WriteRawWithHoles(raw, size, seed: (int)(size % 1000));
        else File.WriteAllBytes(raw, ImgTools.Pattern((int)size, 5));
        var c = new ImageConverter();
        c.Convert(raw, null, t.P("mid.qcow2"), "qcow2");
        c.Convert(t.P("mid.qcow2"), null, t.P("mid.vhd"), "vhd", new ImageCreateOptions { VhdFixed = fixedVhd });
        c.Convert(t.P("mid.vhd"), null, t.P("end.raw"), "raw");

        Assert.Equal(size, new FileInfo(t.P("end.raw")).Length);
        Assert.Equal(ImgTools.Sha256(raw), ImgTools.Sha256(t.P("end.raw")));
        // qemu-img reads the intermediate VHD at the same size (its footer size, not a CHS rounding of it).
        Assert.Equal(size, ImgTools.Json(t.QemuOk("info", "--output=json", "-f", "vpc", t.P("mid.vhd"))).GetProperty("virtual-size").GetInt64());
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    [InlineData("vpc")]
    [InlineData("vpc-fixed")]
    public void ConvertedImagesOfAMostlyZeroDiskAreSparse(string to)
    {
        const long size = 64L * MiB;
        string src = t.P("sparse.qcow2");
        using (var q = Qcow2Image.Create(src, size))
        {
            q.Write(5L * MiB, ImgTools.Pattern(MiB, 1));
            q.Write(40L * MiB + 4096, ImgTools.Pattern(8192, 2));
        }
        var (tf, opts) = Target(to);
        var c = new ImageConverter();
        var r = c.Convert(src, null, t.P("out"), tf, opts);

        Assert.Equal(MiB + 8192L, r.BytesWritten);
        Assert.Equal(size - r.BytesWritten, r.BytesSkipped);
        using var img = ImageConverter.Open(t.P("out"), tf, readOnly: true);
        Assert.Equal(size, img.Length);
        // Data (1 MiB + 8 KiB) plus metadata and allocation granularity (one 2 MiB VHD block is allocated whole).
        Assert.True(img.AllocatedBytes < 6L * MiB, $"{to}: {img.AllocatedBytes} bytes allocated for a {size}-byte disk");
        Assert.Equal(0, t.Qemu("compare", "-f", "qcow2", "-F", tf, src, t.P("out")).Exit);
    }

    [Fact]
    public void ProgressRisesToTheTotal()
    {
        t.WriteRawWithHoles(t.P("p.raw"), 5L * MiB + 512, seed: 3);
        var seen = new List<(long Done, long Total)>();
        var c = new ImageConverter(chunkSize: MiB) { Progress = (d, n) => seen.Add((d, n)) };
        c.Convert(t.P("p.raw"), "raw", t.P("p.qcow2"), "qcow2");
        Assert.Equal([0, MiB, 2 * MiB, 3 * MiB, 4 * MiB, 5 * MiB, 5 * MiB + 512], seen.Select(s => s.Done));
        Assert.All(seen, s => Assert.Equal(5L * MiB + 512, s.Total));
    }

    [Fact]
    public void SizesAVhdCannotHoldExactlyAreRefusedAndNoTargetIsLeft()
    {
        using (Qcow2Image.Create(t.P("huge.qcow2"), VhdImage.MaxCreateSize + 512)) { }
        var e = Assert.Throws<ArgumentException>(() => new ImageConverter().Convert(t.P("huge.qcow2"), null, t.P("huge.vhd"), "vpc"));
        Assert.Contains("VHD cannot hold", e.Message);
        Assert.False(File.Exists(t.P("huge.vhd")));

        // A file already at the target's path is left alone when the conversion is refused before it starts.
        File.WriteAllBytes(t.P("kept.vhd"), [1, 2, 3]);
        Assert.Throws<ArgumentException>(() => new ImageConverter().Convert(t.P("huge.qcow2"), null, t.P("kept.vhd"), "vpc"));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(t.P("kept.vhd")));
    }

    [Fact]
    public void ARawSourceWithAPartialSectorIsRefusedRatherThanTruncated()
    {
        File.WriteAllBytes(t.P("odd.raw"), ImgTools.Pattern(4096 + 100, 1));
        var e = Assert.Throws<ImageFormatException>(() => new ImageConverter().Convert(t.P("odd.raw"), null, t.P("odd.qcow2"), "qcow2"));
        Assert.Contains("raw image size", e.Message);
        Assert.Contains("100 bytes", e.Message);
        Assert.False(File.Exists(t.P("odd.qcow2")));
    }

    [Fact]
    public void TheSourceIsNeverItsOwnTarget()
    {
        File.WriteAllBytes(t.P("self.raw"), ImgTools.Pattern(8192, 1));
        var before = ImgTools.Sha256(t.P("self.raw"));
        Assert.Throws<ArgumentException>(() => new ImageConverter().Convert(t.P("self.raw"), null, t.P("./self.raw"), "qcow2"));
        Assert.Equal(before, ImgTools.Sha256(t.P("self.raw")));

        // Nor is the source's backing file.
        using (ImageConverter.Create("qcow2", t.P("top.qcow2"), 8192, new ImageCreateOptions { BackingFile = "self.raw" })) { }
        var e = Assert.Throws<ArgumentException>(() => new ImageConverter().Convert(t.P("top.qcow2"), null, t.P("self.raw"), "raw"));
        Assert.Contains("backing file of the source", e.Message);
        Assert.Equal(before, ImgTools.Sha256(t.P("self.raw")));
    }

    [Fact]
    public void CopyIntoAnImageWithOldDataWritesTheZerosToo()
    {
        File.WriteAllBytes(t.P("zeros.raw"), new byte[64 * 1024]);
        File.WriteAllBytes(t.P("old.raw"), ImgTools.Pattern(64 * 1024, 7));
        using var src = ImageConverter.Open(t.P("zeros.raw"), "raw", readOnly: true);
        using var dst = ImageConverter.Open(t.P("old.raw"), "raw", readOnly: false);
        var r = new ImageConverter().Copy(src, dst, targetReadsAsZero: false);
        Assert.Equal(new ConvertResult(64 * 1024, 0), r);
        Assert.Null(ImageConverter.FindFirstDifference(src, dst));
    }

    [Fact]
    public void FindFirstDifferenceReportsTheSectorOfTheFirstDifferingByte()
    {
        var a = ImgTools.Pattern(3 * MiB, 4);
        var b = (byte[])a.Clone();
        b[2 * MiB + 1000] ^= 1;
        b[2 * MiB + 5000] ^= 1;
        File.WriteAllBytes(t.P("a.raw"), a);
        File.WriteAllBytes(t.P("b.raw"), b);
        File.WriteAllBytes(t.P("a-longer.raw"), [.. a, .. new byte[512]]);
        File.WriteAllBytes(t.P("a-tail.raw"), [.. a, .. new byte[511], 1]);
        using var ia = ImageConverter.Open(t.P("a.raw"), null, true);
        using var ib = ImageConverter.Open(t.P("b.raw"), null, true);
        using var il = ImageConverter.Open(t.P("a-longer.raw"), null, true);
        using var it = ImageConverter.Open(t.P("a-tail.raw"), null, true);
        Assert.Equal(2L * MiB + 512, ImageConverter.FindFirstDifference(ia, ib, chunkSize: 65536));
        Assert.Null(ImageConverter.FindFirstDifference(ia, il));
        Assert.Equal(3L * MiB, ImageConverter.FindFirstDifference(it, ia));
    }

    [Theory]
    [InlineData("512", 512L)]
    [InlineData("1000", 1000L)]
    [InlineData("3b", 3L)]
    [InlineData("64k", 65536L)]
    [InlineData("10M", 10L * MiB)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("2T", 2L << 40)]
    [InlineData("1E", 1L << 60)]
    public void SizesParseAsQemuImgParsesThem(string text, long expected)
    {
        Assert.True(ImageConverter.TryParseSize(text, out long v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("-1M")]
    [InlineData("1.5")]
    [InlineData("12Q")]
    [InlineData("16E")]
    [InlineData("0x10")]
    public void BadSizesDoNotParse(string text) => Assert.False(ImageConverter.TryParseSize(text, out _));

    [Theory]
    [InlineData("qcow2", "cluster_size=4096,compat=0.10", 4096, 2, false)]
    [InlineData("qcow2", "cluster_size=2M", 2 << 20, 3, false)]
    [InlineData("vhd", "subformat=fixed", null, 3, true)]
    [InlineData("vpc", "subformat=dynamic,force_size", null, 3, false)]
    [InlineData("raw", "size=1M", null, 3, false)]
    public void CreateOptionsParse(string format, string spec, int? cluster, int version, bool fixedVhd)
    {
        var o = ImageCreateOptions.Parse(format, spec);
        Assert.Equal(cluster, o.ClusterSize);
        Assert.Equal(version, o.Qcow2Version);
        Assert.Equal(fixedVhd, o.VhdFixed);
    }

    [Theory]
    [InlineData("qcow2", "cluster_size=3000", "cluster_size")]
    [InlineData("qcow2", "cluster_size=4M", "cluster_size")]
    [InlineData("qcow2", "compat=0.9", "compat")]
    [InlineData("qcow2", "lazy_refcounts=on", "lazy_refcounts")]
    [InlineData("vpc", "subformat=differencing", "subformat")]
    [InlineData("raw", "cluster_size=4096", "cluster_size")]
    [InlineData("vmdk", "", "vmdk")]
    public void BadCreateOptionsNameTheOption(string format, string spec, string named)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => ImageCreateOptions.Parse(format, spec + ",x=1"));
        Assert.Contains(named, e.Message);
    }
}
