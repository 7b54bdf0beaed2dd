using JitVm.Core.Storage;

namespace JitVm.Storage.Tests;

/// <summary>
/// Copy-on-write overlays: the temporary one of <c>jitvm run --snapshot</c> (<see cref="SnapshotOverlay"/>) and the
/// explicit one a user makes with <c>jitvm img create -f qcow2 -b base -F raw overlay.qcow2</c>.
/// </summary>
public sealed class ImgSnapshotOverlayTests : IDisposable
{
    const int MiB = ImgTools.MiB;
    readonly ImgTools t = new();

    public void Dispose() => t.Dispose();

    /// <summary>A base image with known contents in the given format; returns those contents.</summary>
    byte[] MakeBase(string path, string format, long size)
    {
        var data = t.WriteRawWithHoles(t.P("base-data.raw"), size, seed: 21);
        if (format == "raw") File.Move(t.P("base-data.raw"), path);
        else new ImageConverter().Convert(t.P("base-data.raw"), "raw", path, format);
        return data;
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    [InlineData("vpc")]
    public void WritesGoToTheOverlayAndNeverReachTheBase(string format)
    {
        const long size = 6L * MiB + 512;
        string basePath = t.P("base." + format);
        var expected = MakeBase(basePath, format, size);
        var hash = ImgTools.Sha256(basePath);
        string tmp = Directory.CreateDirectory(t.P("tmp")).FullName;

        string overlayPath;
        using (var overlay = SnapshotOverlay.Create(basePath, tempDirectory: tmp))
        {
            overlayPath = overlay.OverlayPath;
            Assert.StartsWith(tmp, overlayPath);
            Assert.Equal(size, overlay.Length);
            Assert.False(overlay.ReadOnly);
            Assert.True(overlay.Backing!.ReadOnly, "the base is opened read-only");
            Assert.Equal(format, overlay.Backing.Format);

            var w1 = ImgTools.Pattern(4096, 1);
            var w2 = ImgTools.Pattern(1536, 2);
            overlay.Write(65536 - 512, w1);               // crosses an overlay cluster boundary
            overlay.Write(size - 1536, w2);               // the last sectors
            w1.CopyTo(expected, 65536 - 512);
            w2.CopyTo(expected, size - 1536);
            overlay.Flush();

            var back = new byte[size];
            overlay.Read(0, back);
            Assert.True(expected.AsSpan().SequenceEqual(back), "the overlay shows the base with the writes on top");
            Assert.True(overlay.Check().IsClean);
            if (!OperatingSystem.IsWindows()) Assert.False(File.Exists(overlayPath), "unlinked as soon as it is open");
            Assert.Equal(hash, ImgTools.Sha256(basePath));
        }
        Assert.False(File.Exists(overlayPath));
        Assert.Empty(Directory.GetFiles(tmp));
        Assert.Equal(hash, ImgTools.Sha256(basePath));
        using var reopened = DiskImages.Open(basePath, readOnly: true);
        var after = new byte[size];
        reopened.Read(0, after);
        Assert.False(after.AsSpan().SequenceEqual(expected), "the base does not hold the overlay's writes");
    }

    [Fact]
    public void TheBaseCanBeOpenedBySeveralOverlaysAtOnce()
    {
        string basePath = t.P("shared.raw");
        MakeBase(basePath, "raw", 2L * MiB);
        using var a = SnapshotOverlay.Create(basePath, tempDirectory: t.Dir);
        using var b = SnapshotOverlay.Create(basePath, tempDirectory: t.Dir);
        a.Write(0, ImgTools.Pattern(512, 1));
        var sector = new byte[512];
        b.Read(0, sector);
        Assert.False(sector.AsSpan().SequenceEqual(ImgTools.Pattern(512, 1)), "overlays are independent");
        Assert.Throws<InvalidOperationException>(() => a.Resize(4L * MiB));
    }

    [Fact]
    public void AMissingOrMalformedBaseIsAnErrorAndLeavesNoOverlay()
    {
        string tmp = Directory.CreateDirectory(t.P("tmp")).FullName;
        Assert.Throws<FileNotFoundException>(() => SnapshotOverlay.Create(t.P("none.raw"), tempDirectory: tmp));
        var bad = new byte[4096];
        new byte[] { 0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 9 }.CopyTo(bad, 0);
        File.WriteAllBytes(t.P("bad.qcow2"), bad);
        var e = Assert.Throws<ImageFormatException>(() => SnapshotOverlay.Create(t.P("bad.qcow2"), tempDirectory: tmp));
        Assert.Contains("version", e.Message);
        Assert.Empty(Directory.GetFiles(tmp));
    }

    [Fact]
    public void AnExplicitOverlayMadeWithImgCreateKeepsTheBaseUnchanged()
    {
        var expected = MakeBase(t.P("base.img"), "raw", 4L * MiB);
        var hash = ImgTools.Sha256(t.P("base.img"));
        var r = t.Jitvm("img", "create", "-f", "qcow2", "-b", "base.img", "-F", "raw", "overlay.qcow2");
        Assert.True(r.Exit == 0, r.Err);

        using (var overlay = DiskImages.Open(t.P("overlay.qcow2")))
        {
            Assert.Equal(4L * MiB, overlay.Length);
            Assert.Equal("raw", overlay.Backing!.Format);
            var w = ImgTools.Pattern(3 * 512, 8);
            overlay.Write(MiB + 512, w);
            w.CopyTo(expected, MiB + 512);
            var back = new byte[4 * MiB];
            overlay.Read(0, back);
            Assert.True(expected.AsSpan().SequenceEqual(back));
        }
        Assert.Equal(hash, ImgTools.Sha256(t.P("base.img")));
        Assert.Equal(0, t.Qemu("check", t.P("overlay.qcow2")).Exit);
        // qemu-img reads the same chain: the overlay differs from the base exactly where it was written.
        var cmp = t.Qemu("compare", t.P("base.img"), t.P("overlay.qcow2"));
        Assert.Equal(1, cmp.Exit);
        Assert.Equal($"Content mismatch at offset {MiB + 512}!\n", cmp.Out);
        File.WriteAllBytes(t.P("expected.raw"), expected);
        Assert.Equal(0, t.Qemu("compare", "-f", "raw", t.P("expected.raw"), t.P("overlay.qcow2")).Exit);
    }
}
