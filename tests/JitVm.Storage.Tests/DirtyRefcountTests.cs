using System.Buffers.Binary;
using static JitVm.Storage.Tests.QemuTools;

namespace JitVm.Storage.Tests;

/// <summary>
/// qcow2 v3 images with the dirty bit (lazy refcounts, unclean shutdown): read-only opens ignore the refcounts,
/// read-write opens rebuild them and clear the bit, after which qemu-img check finds the image clean.
/// </summary>
public sealed class DirtyRefcountTests : IDisposable
{
    const int KiB = 1024, MiB = 1024 * 1024;
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-dirty-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    static ulong IncompatibleFeatures(string path) => BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(path).AsSpan(72, 8));

    static void SetIncompatibleFeatures(string path, ulong value)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        f.Position = 72;
        f.Write(b);
    }

    void AssertRebuiltOnOpen(string path, byte[] expected)
    {
        using (var ro = Qcow2Image.Open(path, readOnly: true))
            AssertSameBytes(expected, ReadAll(ro), "read-only open of the dirty image");
        Assert.Equal(1UL, IncompatibleFeatures(path) & 1);
        using (var img = Qcow2Image.Open(path, readOnly: false))
        {
            var r = img.Check();
            Assert.True(r.IsClean, string.Join("\n", r.Messages));
            AssertSameBytes(expected, ReadAll(img), "after the rebuild");
            var d = Pattern(3 * 4096, 77); // allocating writes go on with the rebuilt refcounts
            img.Write(2 * MiB + 512, d);
            d.CopyTo(expected, 2 * MiB + 512);
            img.Write(0, d.AsSpan(0, 512));
            d.AsSpan(0, 512).CopyTo(expected);
        }
        Assert.Equal(0UL, IncompatibleFeatures(path) & 1);
        AssertCheckClean(path);
        AssertSameBytes(expected, ToRaw(path, "qcow2"), "qemu's view after the rebuild");
    }

    [Fact]
    public void QemuIoAbortedWithLazyRefcounts_IsRebuiltOnReadWriteOpen()
    {
        string p = P("lazy.qcow2");
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=4096", p, "4M");
        // qemu-io's abort command kills it before it writes the cached refcounts back: the image stays dirty.
        var (exit, output) = Run("/bin/bash", "-c",
            $"ulimit -c 0; exec {QemuIo} -f qcow2 -c 'write -P 0x11 0 300k' -c 'write -P 0x22 1M 64k' -c 'write -P 0x33 3M 4k' -c abort '{p}'");
        Assert.True(exit != 0, $"qemu-io was expected to abort: {output}");
        Assert.Equal(1UL, IncompatibleFeatures(p) & 1);
        Assert.Equal(2, Check(p, "qcow2").Exit); // stale refcounts: qemu-img check reports corruption
        var expected = new byte[4 * MiB];
        expected.AsSpan(0, 300 * KiB).Fill(0x11);
        expected.AsSpan(MiB, 64 * KiB).Fill(0x22);
        expected.AsSpan(3 * MiB, 4 * KiB).Fill(0x33);
        AssertRebuiltOnOpen(p, expected);
    }

    [Fact]
    public void RefcountBlocksZeroedByHandWithDirtyBit_AreRebuilt()
    {
        string p = P("ours.qcow2");
        var expected = new byte[4 * MiB];
        using (var img = Qcow2Image.Create(p, 4 * MiB, clusterBits: 12))
        {
            foreach (var (off, len, seed) in new[] { (0, 8192, 1), (MiB + 512, 70 * 1024, 2), (4 * MiB - 4096, 4096, 3) })
            {
                var d = Pattern(len, seed);
                img.Write(off, d);
                d.CopyTo(expected, off);
            }
        }
        // Wipe every refcount block the table points at and mark the image dirty.
        var b = File.ReadAllBytes(p);
        long rt = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(48));
        int rtClusters = (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(56));
        for (int i = 0; i < rtClusters * 4096 / 8; i++)
        {
            long rb = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)rt + i * 8));
            if (rb != 0) b.AsSpan((int)rb, 4096).Clear();
        }
        File.WriteAllBytes(p, b);
        SetIncompatibleFeatures(p, 1);
        Assert.Equal(2, Check(p, "qcow2").Exit);
        AssertRebuiltOnOpen(p, expected);
    }

    [Fact]
    public void DirtyImageWithDoublyReferencedCluster_IsRefusedReadWrite_ButReadsReadOnly()
    {
        string p = P("dup.qcow2");
        using (var img = Qcow2Image.Create(p, MiB, clusterBits: 12))
        {
            img.Write(0, Pattern(4096, 1));
            img.Write(4096, Pattern(4096, 2));
        }
        // L2 entry 1 now points at the cluster of entry 0.
        var b = File.ReadAllBytes(p);
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(40));
        long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)l1)) & 0x00FF_FFFF_FFFF_FE00UL);
        b.AsSpan((int)l2, 8).CopyTo(b.AsSpan((int)l2 + 8));
        File.WriteAllBytes(p, b);
        SetIncompatibleFeatures(p, 1);
        var ex = Assert.Throws<ImageFormatException>(() => Qcow2Image.Open(p, readOnly: false));
        Assert.Contains("dirty", ex.Message);
        Assert.Contains("referenced more than once", ex.Message);
        using var ro = Qcow2Image.Open(p, readOnly: true);
        var buf = new byte[8192];
        ro.Read(0, buf);
        Assert.Equal(Pattern(4096, 1), buf.AsSpan(4096).ToArray());
        Assert.Equal(1UL, IncompatibleFeatures(p) & 1);
    }
}
