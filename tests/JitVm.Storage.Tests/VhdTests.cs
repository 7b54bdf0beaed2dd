using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using JitVm.Core.Storage;
using JitVm.Storage;
using JitVm.Storage.Vhd;

namespace JitVm.Storage.Tests;

public sealed class VhdTests : IDisposable
{
    const string QemuImg = "/usr/bin/qemu-img";
    const int MiB = 1024 * 1024;
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-vhd-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string PathOf(string name) => Path.Combine(dir, name);

    // ------------------------------------------------------------------ helpers

    static (int Code, string Out) Qemu(params string[] args)
    {
        if (!File.Exists(QemuImg))
            Assert.Fail($"{QemuImg} is not installed (apt-get install qemu-utils); this test needs it to cross-check the VHD format");
        var psi = new ProcessStartInfo(QemuImg) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "qemu-img did not finish within 60 s");
        return (p.ExitCode, stdout + stderr.Result);
    }

    static void QemuOk(params string[] args)
    {
        var (code, output) = Qemu(args);
        Assert.True(code == 0, $"qemu-img {string.Join(' ', args)} failed ({code}): {output}");
    }

    static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        uint x = (uint)seed * 2654435761u + 1;
        for (int i = 0; i < length; i++)
        {
            x = x * 1103515245 + 12345;
            b[i] = (byte)(x >> 16);
        }
        return b;
    }

    /// <summary>Writes scattered patterned extents (crossing 2 MiB block boundaries, partial blocks) into both the image and the expected array.</summary>
    static void WriteScattered(DiskImage img, byte[] expected)
    {
        (long Offset, int Length)[] extents =
        [
            (0, 512),                                 // first sector
            (3 * 512, 1024),                          // a few sectors in the first block, leaving holes
            (2L * MiB - 4096, 8192),                  // crosses the block 0 / block 1 boundary
            (5L * MiB + 512 * 17, 512 * 33),          // inside a later block
            (expected.Length - 1024, 1024),           // last two sectors
            (3 * 512, 512),                           // overwrite inside an allocated block
        ];
        int seed = 1;
        foreach (var (off, len) in extents)
        {
            var data = Pattern(len, seed++);
            img.Write(off, data);
            data.CopyTo(expected, off);
        }
    }

    static byte[] ReadAll(DiskImage img)
    {
        var all = new byte[img.Length];
        for (long off = 0; off < all.Length; off += MiB)
            img.Read(off, all.AsSpan((int)off, (int)Math.Min(MiB, all.Length - off)));
        return all;
    }

    static void AssertSame(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int i = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(i == expected.Length, $"first difference at byte {i} (sector {i / 512})");
    }

    static void Patch(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        fs.Position = offset;
        fs.Write(bytes);
    }

    static byte[] ReadAt(string path, long offset, int count)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read);
        fs.Position = offset;
        var b = new byte[count];
        fs.ReadExactly(b);
        return b;
    }

    /// <summary>Rewrites the 1024-byte dynamic header at 512 after <paramref name="edit"/>, with a correct checksum.</summary>
    static void EditDynamicHeader(string path, Action<byte[]> edit)
    {
        var h = ReadAt(path, 512, 1024);
        edit(h);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), 0);
        uint sum = 0;
        foreach (byte x in h) sum += x;
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), ~sum);
        Patch(path, 512, h);
    }

    /// <summary>Rewrites a footer at <paramref name="offset"/> after <paramref name="edit"/>, with a correct checksum.</summary>
    static void EditFooter(string path, long offset, Action<byte[]> edit)
    {
        var f = ReadAt(path, offset, 512);
        edit(f);
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(64), 0);
        uint sum = 0;
        foreach (byte x in f) sum += x;
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(64), ~sum);
        Patch(path, offset, f);
    }

    // Size chosen so that the spec's CHS geometry addresses it exactly: 1020 x 16 x 63 sectors.
    const long ChsExactSize = 1020L * 16 * 63 * 512; // 526,417,920 bytes

    // ------------------------------------------------------------------ geometry

    [Fact]
    public void Geometry_FollowsTheSpecificationAlgorithm()
    {
        // 20 MiB = 40960 sectors: 17 sectors/track, cyl*heads = 2409, heads = 4 → 602 x 4 x 17.
        Assert.Equal(new VhdGeometry(602, 4, 17), VhdGeometry.FromSectors(40960));
        // 200000 sectors: 17 spt, cyl*heads = 11764, heads = ceil(11764/1024) = 12 → 980 x 12 x 17.
        Assert.Equal(new VhdGeometry(980, 12, 17), VhdGeometry.FromSectors(200000));
        // 400000 sectors: 17 spt would need 23 heads → 31 spt, 16 heads: 12903 / 16 = 806.
        Assert.Equal(new VhdGeometry(806, 16, 31), VhdGeometry.FromSectors(400000));
        // 1 GiB = 2097152 sectors: 17 spt gives 123361 cyl*heads ≥ 16*1024 → 31 spt: 67650 ≥ 16*1024 → 63 spt: 33288 / 16 = 2080.
        Assert.Equal(new VhdGeometry(2080, 16, 63), VhdGeometry.FromSectors(2097152));
        // At and above 65535*16*63 sectors: 255 sectors/track, 16 heads.
        Assert.Equal(new VhdGeometry((ushort)(65535L * 16 * 63 / 255 / 16), 16, 255), VhdGeometry.FromSectors(65535L * 16 * 63));
        // Beyond the maximum, clamped to 65535 x 16 x 255.
        Assert.Equal(VhdGeometry.Max, VhdGeometry.FromSectors(1L << 40));
        Assert.Equal(ChsExactSize / 512, VhdGeometry.FromSectors(ChsExactSize / 512).TotalSectors);
    }

    // ------------------------------------------------------------------ our images, read back by us

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ScatteredWrites_ReadBackAfterReopen(bool fixedSize)
    {
        const long size = 12L * MiB;
        string p = PathOf(fixedSize ? "f.vhd" : "d.vhd");
        var expected = new byte[size];
        using (var img = VhdImage.Create(p, size, fixedSize))
        {
            Assert.Equal("vpc", img.Format);
            Assert.Equal(size, img.Length);
            Assert.Equal(fixedSize ? VhdDiskType.Fixed : VhdDiskType.Dynamic, img.DiskType);
            WriteScattered(img, expected);
            AssertSame(expected, ReadAll(img)); // before reopening (cached state)
            img.Flush();
        }
        using (var img = VhdImage.Open(p, readOnly: true))
        {
            Assert.Equal(size, img.Length);
            Assert.Equal(fixedSize ? VhdDiskType.Fixed : VhdDiskType.Dynamic, img.DiskType);
            AssertSame(expected, ReadAll(img));
            Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
        }
        long fileLength = new FileInfo(p).Length;
        if (fixedSize)
        {
            Assert.Equal(size + 512, fileLength);
            Assert.Equal("conectix"u8.ToArray(), ReadAt(p, size, 8));
            Assert.Equal(expected.AsSpan(0, 4096).ToArray(), ReadAt(p, 0, 4096)); // data at offset 0, unchanged
        }
        else
        {
            // Footer copy + header + BAT (6 entries → 512 bytes) + 4 allocated blocks (0, 1, 2, 5) of bitmap+2 MiB + footer.
            Assert.Equal(512 + 1024 + 512 + 4 * (512 + 2L * MiB) + 512, fileLength);
            Assert.Equal(ReadAt(p, 0, 512), ReadAt(p, fileLength - 512, 512));
        }
    }

    [Fact]
    public void Dynamic_UnwrittenSectorsOfAnAllocatedBlockReadZero_EvenIfTheFileHoldsData()
    {
        string p = PathOf("bm.vhd");
        using (var img = VhdImage.Create(p, 4L * MiB, fixedSize: false))
            img.Write(0, Pattern(1024, 9)); // sectors 0-1 of block 0
        // Block 0 is the first block after footer copy (512), header (1024) and BAT (512): bitmap at 2048, data at 2560.
        Assert.Equal(0xC0, ReadAt(p, 2048, 1)[0]); // bitmap: MSB first, sectors 0 and 1 present
        Patch(p, 2560 + 5 * 512, Pattern(512, 77)); // stray bytes in sector 5, whose bitmap bit is clear
        using var ro = VhdImage.Open(p, readOnly: true);
        var buf = new byte[3 * 512];
        ro.Read(0, buf);
        Assert.Equal(Pattern(1024, 9), buf.AsSpan(0, 1024).ToArray());
        ro.Read(5 * 512, buf.AsSpan(0, 512));
        Assert.All(buf.AsSpan(0, 512).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Dynamic_ZeroWritesToUnallocatedBlocksAllocateNothing_AndFileStaysSmall()
    {
        string p = PathOf("z.vhd");
        using var img = VhdImage.Create(p, 64L * MiB, fixedSize: false);
        long before = new FileInfo(p).Length;
        img.Write(10L * MiB, new byte[MiB]);
        Assert.Equal(before, new FileInfo(p).Length);
        img.Write(10L * MiB, Pattern(512, 3));
        Assert.Equal(before + 512 + 2L * MiB, new FileInfo(p).Length);
        Assert.True(img.AllocatedBytes < 8L * MiB, $"allocated {img.AllocatedBytes}");
    }

    [Fact]
    public void ReadOnly_WriteIsRefused_MisalignedAndOutOfRangeAccessIsBlockDeviceException()
    {
        string p = PathOf("ro.vhd");
        using (VhdImage.Create(p, 4L * MiB, fixedSize: false)) { }
        long len = new FileInfo(p).Length;
        using var img = VhdImage.Open(p, readOnly: true);
        Assert.True(img.ReadOnly);
        Assert.Throws<BlockDeviceException>(() => img.Write(0, Pattern(512, 1)));
        Assert.Equal(len, new FileInfo(p).Length);
        Assert.Throws<BlockDeviceException>(() => img.Read(4L * MiB, new byte[512]));
        Assert.Throws<BlockDeviceException>(() => img.Read(100, new byte[512]));
    }

    // ------------------------------------------------------------------ cross-checks with qemu-img

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void QemuImg_ConvertOfOurImageToRaw_EqualsExpectedBytes(bool fixedSize)
    {
        const long size = 12L * MiB;
        string p = PathOf("q.vhd"), raw = PathOf("q.raw");
        var expected = new byte[size];
        using (var img = VhdImage.Create(p, size, fixedSize)) WriteScattered(img, expected);
        QemuOk("convert", "-f", "vpc", "-O", "raw", p, raw);
        AssertSame(expected, File.ReadAllBytes(raw));
    }

    [Theory]
    [InlineData(ChsExactSize, true)]    // CHS addresses the size exactly: spec geometry
    [InlineData(ChsExactSize, false)]
    [InlineData(12L * MiB, false)]      // not CHS-expressible: maximum geometry ("force size")
    [InlineData(12L * MiB, true)]
    public void QemuImg_Info_ReportsVpcAndOurVirtualSize(long size, bool fixedSize)
    {
        string p = PathOf("i.vhd");
        using (var img = VhdImage.Create(p, size, fixedSize))
        {
            var expectGeometry = size == ChsExactSize ? VhdGeometry.FromSectors(size / 512) : VhdGeometry.Max;
            Assert.Equal(expectGeometry, img.Geometry);
        }
        // qemu's format probe only looks for the footer copy at offset 0, so a fixed VHD (footer at the end only)
        // probes as raw: name the format explicitly for fixed disks, let qemu probe dynamic ones.
        var (code, output) = fixedSize ? Qemu("info", "-f", "vpc", "--output=json", p) : Qemu("info", "--output=json", p);
        Assert.True(code == 0, output);
        using var json = JsonDocument.Parse(output);
        Assert.Equal("vpc", json.RootElement.GetProperty("format").GetString());
        Assert.Equal(size, json.RootElement.GetProperty("virtual-size").GetInt64());
    }

    [Theory]
    [InlineData("dynamic", 602L * 4 * 17 * 512)]                      // CHS-exact (602 x 4 x 17)
    [InlineData("fixed", 602L * 4 * 17 * 512)]
    [InlineData("dynamic", 5_000_192L)]                                  // qemu rounds up to CHS: tail reads zero
    [InlineData("fixed", 5_000_192L)]
    public void QemuCreatedImages_ReadIdenticallyToTheRawSource(string subformat, long rawSize)
    {
        string raw = PathOf("src.raw"), vhd = PathOf("qemu.vhd");
        var source = new byte[rawSize];
        // Patterned data with a hole (an all-zero 4 MiB stretch qemu leaves unallocated in a dynamic disk).
        Pattern((int)Math.Min(rawSize, 3L * MiB), 5).CopyTo(source, 0);
        if (rawSize > 8L * MiB) Pattern((int)(rawSize - 7L * MiB), 6).CopyTo(source, 7L * MiB);
        File.WriteAllBytes(raw, source);
        QemuOk("convert", "-f", "raw", "-O", "vpc", "-o", "subformat=" + subformat, raw, vhd);

        using var img = VhdImage.Open(vhd, readOnly: true);
        Assert.Equal(subformat == "fixed" ? VhdDiskType.Fixed : VhdDiskType.Dynamic, img.DiskType);
        Assert.Equal("qemu", img.CreatorApplication);
        Assert.True(img.Length >= rawSize && img.Length - rawSize < 64 * 1024, $"length {img.Length} for a {rawSize}-byte source");
        var all = ReadAll(img);
        AssertSame(source, all.AsSpan(0, (int)rawSize).ToArray());
        Assert.All(all.AsSpan((int)rawSize).ToArray(), b => Assert.Equal(0, b));
        Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
    }

    [Fact]
    public void QemuImg_CheckOfOurDynamicImage_ReportsNoErrors()
    {
        string p = PathOf("c.vhd"), raw = PathOf("c.raw");
        var expected = new byte[12L * MiB];
        using (var img = VhdImage.Create(p, expected.Length, fixedSize: false)) WriteScattered(img, expected);
        var (code, output) = Qemu("check", "-f", "vpc", p);
        if (code != 0)
        {
            // qemu-img 7.x has no checker for vpc ("does not support checks", exit 63): verify via conversion.
            Assert.True(code == 63 && output.Contains("does not support checks"), $"qemu-img check failed ({code}): {output}");
            QemuOk("convert", "-f", "vpc", "-O", "raw", p, raw);
            AssertSame(expected, File.ReadAllBytes(raw));
        }
        using var again = VhdImage.Open(p, readOnly: true);
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void QemuImg_CanWriteIntoOurDynamicImage_AndWeReadItsBlocks()
    {
        string p = PathOf("w.vhd"), raw = PathOf("w.raw");
        var expected = new byte[12L * MiB];
        using (var img = VhdImage.Create(p, expected.Length, fixedSize: false)) WriteScattered(img, expected);
        // qemu-img dd cannot write into an image; convert a raw file into a pre-created target instead (-n).
        var overlay = (byte[])expected.Clone();
        Pattern(MiB, 42).CopyTo(overlay, 9L * MiB);
        File.WriteAllBytes(raw, overlay);
        QemuOk("convert", "-n", "-f", "raw", "-O", "vpc", raw, p);
        using var img2 = VhdImage.Open(p, readOnly: true);
        AssertSame(overlay, ReadAll(img2));
        Assert.True(img2.Check().IsClean, string.Join("; ", img2.Check().Messages));
    }

    // ------------------------------------------------------------------ malformed images

    string MakeFixed() { string p = PathOf("m.vhd"); using (VhdImage.Create(p, 4L * MiB, true)) { } return p; }
    string MakeDynamic() { string p = PathOf("m.vhd"); using (VhdImage.Create(p, 4L * MiB, false)) { } return p; }

    static string OpenError(string p) => Assert.Throws<ImageFormatException>(() => VhdImage.Open(p, readOnly: true)).Message;

    [Fact]
    public void BadCookie_IsRejectedNamingTheCookie()
    {
        string p = MakeFixed();
        Patch(p, 4L * MiB, "conectiX"u8);
        Assert.Contains("cookie", OpenError(p));
    }

    [Fact]
    public void BadFooterChecksum_IsRejectedNamingTheChecksum()
    {
        string p = MakeFixed();
        Patch(p, 4L * MiB + 48 + 7, [0x02]); // current size changed without fixing the checksum
        Assert.Contains("footer checksum", OpenError(p));
    }

    [Fact]
    public void Dynamic_DamagedFooterCopyAtOffsetZero_FallsBackToTheFooterAtTheEnd()
    {
        string p = MakeDynamic();
        Patch(p, 64, [0, 0, 0, 0]); // copy's checksum wrong
        using var img = VhdImage.Open(p, readOnly: true);
        Assert.Equal(4L * MiB, img.Length);
        // Both copies damaged: error.
        long len = new FileInfo(p).Length;
        img.Dispose();
        Patch(p, len - 512 + 64, [0, 0, 0, 0]);
        Assert.Contains("footer checksum", OpenError(p));
    }

    [Fact]
    public void UnknownDiskTypes_AndDifferencingWithoutDynamicHeader_AreRefusedClearly()
    {
        string p = MakeFixed();
        EditFooter(p, 4L * MiB, f => BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(60), 4));
        Assert.Contains("data offset", OpenError(p)); // a differencing disk needs a dynamic header
        EditFooter(p, 4L * MiB, f => BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(60), 7));
        Assert.Contains("disk type", OpenError(p));
    }

    [Fact]
    public void Fixed_CurrentSizeNotMatchingTheFile_IsRejected()
    {
        string p = MakeFixed();
        EditFooter(p, 4L * MiB, f => BinaryPrimitives.WriteUInt64BigEndian(f.AsSpan(48), 8L * MiB));
        Assert.Contains("current size", OpenError(p));
    }

    [Fact]
    public void Dynamic_BadHeaderCookieAndChecksum_AreRejected()
    {
        string p = MakeDynamic();
        Patch(p, 512 + 32, [0, 0x40, 0, 1]); // block size changed, checksum not
        Assert.Contains("dynamic header checksum", OpenError(p));
        EditDynamicHeader(p, h => "xxsparse"u8.CopyTo(h));
        Assert.Contains("dynamic header cookie", OpenError(p));
    }

    [Fact]
    public void Dynamic_BlockSizeThree_IsRejectedNamingTheBlockSize()
    {
        string p = MakeDynamic();
        EditDynamicHeader(p, h => BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(32), 3));
        Assert.Contains("block size", OpenError(p));
    }

    [Fact]
    public void Dynamic_BatOffsetPastEndOfFile_IsRejectedNamingTheTableOffset()
    {
        string p = MakeDynamic();
        EditDynamicHeader(p, h => BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(16), 1L << 40));
        Assert.Contains("table offset", OpenError(p));
    }

    [Fact]
    public void Dynamic_TooFewTableEntriesForTheDiskSize_IsRejected()
    {
        string p = MakeDynamic();
        EditDynamicHeader(p, h => BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(28), 1)); // 4 MiB needs 2
        Assert.Contains("max table entries", OpenError(p));
    }

    // ------------------------------------------------------------------ Check and crash consistency

    [Fact]
    public void Check_BatEntryPastEndOfFile_IsCorruption_AndReadingItIsBlockDeviceException()
    {
        string p = MakeDynamic();
        Patch(p, 1536 + 4, [0x00, 0x10, 0x00, 0x00]); // entry 1 → sector 0x100000 (512 MiB), far past EOF
        using var img = VhdImage.Open(p, readOnly: true);
        var r = img.Check();
        Assert.Equal(1, r.Corruptions);
        Assert.Contains(r.Messages, m => m.Contains("BAT entry 1"));
        Assert.Throws<BlockDeviceException>(() => img.Read(2L * MiB, new byte[512]));
    }

    [Fact]
    public void Check_OverlappingBlocksAndBlocksOverMetadata_AreCorruptions()
    {
        string p = MakeDynamic();
        using (var img = VhdImage.Open(p, readOnly: false)) img.Write(0, Pattern(512, 1));
        var entry0 = ReadAt(p, 1536, 4);
        Patch(p, 1536 + 4, entry0); // entry 1 = entry 0: overlap
        using (var img = VhdImage.Open(p, readOnly: true))
        {
            var r = img.Check();
            Assert.Equal(1, r.Corruptions);
            Assert.Contains(r.Messages, m => m.Contains("overlaps block"));
        }
        Patch(p, 1536 + 4, [0, 0, 0, 1]); // entry 1 → sector 1: inside the dynamic header
        using (var img = VhdImage.Open(p, readOnly: true))
        {
            var r = img.Check();
            Assert.Equal(1, r.Corruptions);
            Assert.Contains(r.Messages, m => m.Contains("overlaps the footer copy"));
        }
    }

    [Fact]
    public void Crash_BeforeBatUpdate_LeavesOnlyALeak_AndTheNextAllocationReusesTheSpace()
    {
        string p = MakeDynamic();
        long len0 = new FileInfo(p).Length;
        var footer = ReadAt(p, len0 - 512, 512);
        // Simulate the allocation steps 1-3 having reached the disk, but not step 4 (BAT entry).
        Patch(p, len0 - 512, Pattern(512 + 2 * MiB, 8));
        Patch(p, len0 - 512 + 512 + 2 * MiB, footer);
        using (var img = VhdImage.Open(p, readOnly: true))
        {
            var r = img.Check();
            Assert.Equal(0, r.Corruptions);
            Assert.Equal(1, r.Leaks);
            var buf = new byte[4096];
            img.Read(0, buf);
            Assert.All(buf, b => Assert.Equal(0, b)); // the unreferenced block is not visible
        }
        using (var img = VhdImage.Open(p, readOnly: false))
        {
            Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages)); // the open cut the leaked block off
            Assert.Equal(len0, new FileInfo(p).Length);
            var buf = new byte[4096];
            img.Write(2L * MiB + 512, Pattern(512, 11));
            Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
            img.Read(2L * MiB, buf);
            Assert.All(buf.AsSpan(0, 512).ToArray(), b => Assert.Equal(0, b)); // stale bytes of the leaked block do not show
            Assert.Equal(Pattern(512, 11), buf.AsSpan(512, 512).ToArray());
        }
        Assert.Equal(len0 + 512 + 2 * MiB, new FileInfo(p).Length);
        // qemu ignores sector bitmaps and reads the whole block: the stale bytes must really be gone from the file.
        string raw = PathOf("crash.raw");
        QemuOk("convert", "-f", "vpc", "-O", "raw", p, raw);
        var expected = new byte[4L * MiB];
        Pattern(512, 11).CopyTo(expected, 2L * MiB + 512);
        AssertSame(expected, File.ReadAllBytes(raw));
    }

    [Fact]
    public void MissingTrailingFooter_OpensFromTheCopyAtOffsetZero_ReadWriteOpenRepairsIt()
    {
        // A block written over the footer and no new footer (an older allocation order, or another tool's crash).
        string p = MakeDynamic();
        long len0 = new FileInfo(p).Length;
        Patch(p, len0 - 512, Pattern(512 + 2 * MiB, 8));
        using (var ro = VhdImage.Open(p, readOnly: true))
        {
            Assert.Equal(4L * MiB, ro.Length);
            var r = ro.Check();
            Assert.True(r.Corruptions >= 1);
            Assert.Contains(r.Messages, m => m.Contains("footer"));
        }
        using var img = VhdImage.Open(p, readOnly: false);
        Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
        Assert.Equal(len0, new FileInfo(p).Length);
        img.Write(0, Pattern(1024, 12));
        Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
    }
}
