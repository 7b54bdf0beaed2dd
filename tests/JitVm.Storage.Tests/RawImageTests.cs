using JitVm.Core.Storage;
using JitVm.Storage;

namespace JitVm.Storage.Tests;

public sealed class RawImageTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-raw-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string PathOf(string name) => System.IO.Path.Combine(dir, name);

    [Fact]
    public void Create_MakesSparseFileOfExactLength_ReadingZeros()
    {
        string p = PathOf("a.img");
        const long size = 256L * 1024 * 1024;
        using (var img = RawImage.Create(p, size))
        {
            Assert.Equal("raw", img.Format);
            Assert.Equal(size, img.Length);
            Assert.False(img.ReadOnly);
            Assert.Equal(p, img.Path);
            // Sparse: nothing (or next to nothing) allocated on a file system with holes.
            Assert.True(img.AllocatedBytes < 1024 * 1024, $"allocated {img.AllocatedBytes}");
            var buf = new byte[4096];
            buf.AsSpan().Fill(0xAA);
            img.Read(size - 4096, buf);
            Assert.All(buf, b => Assert.Equal(0, b));
        }
        Assert.Equal(size, new FileInfo(p).Length);
    }

    [Fact]
    public void Write_ThenReopen_ReadsBackAtTheRightOffsets_AndAllocatesOnlyWrittenRegion()
    {
        string p = PathOf("b.img");
        var pattern = new byte[64 * 1024];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (byte)(i * 7 + 3);
        using (var img = RawImage.Create(p, 64L * 1024 * 1024))
        {
            img.Write(32L * 1024 * 1024, pattern);
            img.Write(512, pattern.AsSpan(0, 512));
            img.Flush();
            long alloc = img.AllocatedBytes;
            Assert.InRange(alloc, pattern.Length, 4L * 1024 * 1024);
        }
        var bytes = File.ReadAllBytes(p);
        Assert.Equal(pattern, bytes.AsSpan(32 * 1024 * 1024, pattern.Length).ToArray());
        Assert.Equal(pattern.AsSpan(0, 512).ToArray(), bytes.AsSpan(512, 512).ToArray());
        Assert.All(bytes.AsSpan(0, 512).ToArray(), b => Assert.Equal(0, b));

        using var ro = RawImage.Open(p, readOnly: true);
        Assert.True(ro.ReadOnly);
        var back = new byte[pattern.Length];
        ro.Read(32L * 1024 * 1024, back);
        Assert.Equal(pattern, back);
        Assert.True(ro.Check().IsClean);
    }

    [Fact]
    public void ReadOnly_WriteIsRefusedWithBlockDeviceException_AndFileUnchanged()
    {
        string p = PathOf("c.img");
        File.WriteAllBytes(p, new byte[4096]);
        using var img = RawImage.Open(p, readOnly: true);
        var data = new byte[512];
        data[0] = 1;
        Assert.Throws<BlockDeviceException>(() => img.Write(0, data));
        Assert.All(File.ReadAllBytes(p), b => Assert.Equal(0, b));
    }

    [Fact]
    public void AccessOutsideTheDisk_IsBlockDeviceException()
    {
        using var img = RawImage.Create(PathOf("d.img"), 8192);
        Assert.Throws<BlockDeviceException>(() => img.Read(8192 - 512, new byte[1024]));
        Assert.Throws<BlockDeviceException>(() => img.Write(8192, new byte[512]));
        Assert.Throws<BlockDeviceException>(() => img.Read(-512, new byte[512]));
        Assert.Equal(8192, new FileInfo(PathOf("d.img")).Length); // the refused write did not grow the file
    }

    [Fact]
    public void Open_LengthIsFileLengthRoundedDownToSector_TinyFileIsFormatError()
    {
        string p = PathOf("e.img");
        File.WriteAllBytes(p, new byte[1500]);
        using (var img = RawImage.Open(p, readOnly: false)) Assert.Equal(1024, img.Length);
        string tiny = PathOf("tiny.img");
        File.WriteAllBytes(tiny, new byte[100]);
        var ex = Assert.Throws<ImageFormatException>(() => RawImage.Open(tiny, readOnly: true));
        Assert.Contains("size", ex.Message);
    }

    [Fact]
    public void Create_RefusesExistingFileAndBadSizes()
    {
        string p = PathOf("f.img");
        File.WriteAllBytes(p, [1, 2, 3]);
        Assert.Throws<IOException>(() => RawImage.Create(p, 4096));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(p));
        Assert.Throws<ArgumentOutOfRangeException>(() => RawImage.Create(PathOf("g.img"), 1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => RawImage.Create(PathOf("h.img"), 0));
    }
}
