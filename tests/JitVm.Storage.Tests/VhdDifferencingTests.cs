using System.Buffers.Binary;
using JitVm.Storage.Vhd;
using static JitVm.Storage.Tests.QemuTools;

namespace JitVm.Storage.Tests;

/// <summary>VHD differencing disks: parent located through the parent locators, reads falling through to it.</summary>
public sealed class VhdDifferencingTests : IDisposable
{
    const int MiB = 1024 * 1024;
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-vhddiff-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    /// <summary>A dynamic VHD made by qemu with patterned data; returns the guest bytes.</summary>
    byte[] MakeParent(string path)
    {
        Ok(QemuImg, "create", "-q", "-f", "vpc", path, "4M");
        Ok(QemuIo, "-f", "vpc", "-c", "write -P 0x31 0 100k", "-c", "write -P 0x32 2M 8k", path);
        var data = ToRaw(path, "vpc");
        Assert.Equal(0x32, data[2 * MiB]);
        return data;
    }

    [Fact]
    public void Child_ReadsThroughToTheParent_WritesStayInTheChild()
    {
        var expected = MakeParent(P("parent.vhd"));
        byte[] parentBytes = File.ReadAllBytes(P("parent.vhd"));
        Directory.CreateDirectory(P("sub"));
        string child = P("sub/child.vhd");
        using (var img = DiskImages.Create("vpc", child, 0, backingFile: "../parent.vhd", clusterSize: 64 * 1024))
        {
            var vhd = Assert.IsType<VhdImage>(img);
            Assert.Equal(VhdDiskType.Differencing, vhd.DiskType);
            Assert.Equal(expected.Length, img.Length);
            Assert.Equal("vpc", img.Backing!.Format);
            AssertSameBytes(expected, ReadAll(img), "a new child shows the parent");
            foreach (var (off, len, seed) in new[] { (512L, 1024, 1), (2 * MiB + 4096, 8192, 2), (3 * MiB, 512, 3) })
            {
                var d = Pattern(len, seed);
                img.Write(off, d);
                d.CopyTo(expected, off);
            }
            img.Write(8192, new byte[512]); // zeros over parent data must be stored, not skipped
            expected.AsSpan(8192, 512).Clear();
            AssertSameBytes(expected, ReadAll(img), "after writes");
            Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
        }
        Assert.Equal(parentBytes, File.ReadAllBytes(P("parent.vhd")));
        using (var img = DiskImages.Open(child, readOnly: true))
        {
            AssertSameBytes(expected, ReadAll(img), "after reopening");
            Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
        }
        // qemu-img 7.x opens a differencing disk as a dynamic one without its parent: it agrees on the size only.
        Assert.Equal(expected.Length, Info(child, "vpc").VirtualSize);

        // The pair moved elsewhere: the relative locator still finds the parent.
        string moved = P("moved");
        Directory.CreateDirectory(moved);
        Directory.Move(P("sub"), Path.Combine(moved, "sub"));
        File.Move(P("parent.vhd"), Path.Combine(moved, "parent.vhd"));
        using (var img = DiskImages.Open(Path.Combine(moved, "sub", "child.vhd"), readOnly: true))
            AssertSameBytes(expected, ReadAll(img), "after moving both files");
    }

    [Fact]
    public void ChainOfTwo_ReadsThroughBoth()
    {
        var expected = MakeParent(P("base.vhd"));
        using (var mid = VhdImage.CreateDifferencing(P("mid.vhd"), "base.vhd", 4096))
        {
            mid.Write(MiB, Pattern(4096, 4));
            Pattern(4096, 4).CopyTo(expected, MiB);
        }
        using (var top = VhdImage.CreateDifferencing(P("top.vhd"), P("mid.vhd")))
        {
            top.Write(0, Pattern(512, 5));
            Pattern(512, 5).CopyTo(expected, 0);
            Assert.Equal("vpc", top.Backing!.Backing!.Format);
            AssertSameBytes(expected, ReadAll(top), "three levels");
            Assert.Contains("differencing", Assert.Throws<InvalidOperationException>(() => top.Resize(8 * MiB)).Message);
        }
    }

    [Fact]
    public void ReplacedMissingOrLoopingParents_AreRefused()
    {
        MakeParent(P("parent.vhd"));
        VhdImage.CreateDifferencing(P("child.vhd"), "parent.vhd").Dispose();

        // Replaced: a new disk of the same name has another unique id.
        File.Move(P("parent.vhd"), P("old.vhd"));
        MakeParent(P("parent.vhd"));
        Assert.Contains("parent unique id", Assert.Throws<ImageFormatException>(() => VhdImage.Open(P("child.vhd"), true)).Message);

        File.Delete(P("parent.vhd"));
        var missing = Assert.Throws<ImageFormatException>(() => VhdImage.Open(P("child.vhd"), true)).Message;
        Assert.Contains("parent locators", missing);
        Assert.Contains("parent.vhd", missing);

        // A child whose parent is itself: its locators and parent id point at itself.
        VhdImage.CreateDifferencing(P("self.vhd"), "old.vhd").Dispose();
        using (var f = new FileStream(P("self.vhd"), FileMode.Open, FileAccess.ReadWrite))
        {
            var h = new byte[1024];
            f.Position = 512;
            f.ReadExactly(h);
            var footer = new byte[512];
            f.Position = 0;
            f.ReadExactly(footer);
            footer.AsSpan(68, 16).CopyTo(h.AsSpan(40)); // parent unique id := own id
            h.AsSpan(576, 24 * 8).Clear();              // no locators: the parent name is used
            var name = System.Text.Encoding.BigEndianUnicode.GetBytes("self.vhd");
            h.AsSpan(64, 512).Clear();
            name.CopyTo(h.AsSpan(64));
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), 0);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), VhdFooter.Checksum(h, 36));
            f.Position = 512;
            f.Write(h);
        }
        Assert.Contains("loop", Assert.Throws<ImageFormatException>(() => VhdImage.Open(P("self.vhd"), true)).Message);
    }
}
