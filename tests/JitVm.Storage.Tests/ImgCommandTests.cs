using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using JitVm.Storage.Vhd;

namespace JitVm.Storage.Tests;

/// <summary>Runs the built <c>jitvm</c> and qemu-img as child processes; temporary files for one test class.</summary>
internal sealed class ImgTools : IDisposable
{
    public const string QemuImg = "/usr/bin/qemu-img";
    public const int MiB = 1024 * 1024;
    public readonly string Dir = Directory.CreateTempSubdirectory("jitvm-img-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
    }

    public string P(string name) => Path.Combine(Dir, name);

    public sealed record Result(int Exit, string Out, string Err);

    /// <summary>Runs <c>jitvm</c> (jitvm.dll, copied next to the tests by the project reference) in <see cref="Dir"/>.</summary>
    public Result Jitvm(params string[] args) => JitvmWithEnv(null, args);

    public Result JitvmWithEnv(IDictionary<string, string>? env, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "jitvm.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing (the Cli project's output is copied next to the tests)");
        return Run(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", [dll, .. args], env);
    }

    public Result Qemu(params string[] args)
    {
        if (!File.Exists(QemuImg)) Assert.Fail($"{QemuImg} is required for this test but is not installed (apt-get install qemu-utils)");
        return Run(QemuImg, args, null);
    }

    public string QemuOk(params string[] args)
    {
        var r = Qemu(args);
        Assert.True(r.Exit == 0, $"qemu-img {string.Join(' ', args)} failed ({r.Exit}): {r.Out}{r.Err}");
        return r.Out;
    }

    Result Run(string exe, string[] args, IDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{Path.GetFileName(exe)} {string.Join(' ', args)} timed out");
        }
        return new Result(p.ExitCode, so.Result, se.Result);
    }

    public static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    public static byte[] Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return SHA256.HashData(f);
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>
    /// A raw file of <paramref name="size"/> bytes holding random data in scattered extents (unaligned to clusters
    /// and VHD blocks, one at the very end) with holes between them.
    /// </summary>
    public byte[] WriteRawWithHoles(string path, long size, int seed)
    {
        var data = new byte[size];
        var rnd = new Random(seed);
        (long Off, int Len)[] extents =
        [
            (0, 512), (3 * 512, 4096 + 512), (65536 - 1024, 70_000), (2L * MiB - 2048, 8192),
            (size / 2 + 512, 300 * 1024), (size - 1536, 1536),
        ];
        foreach (var (off, len) in extents)
        {
            long o = Math.Min(off, size - len);
            rnd.NextBytes(data.AsSpan((int)o, len));
        }
        File.WriteAllBytes(path, data);
        return data;
    }

    /// <summary>Asserts the output is one line on stderr, an error, with no .NET stack trace.</summary>
    public static void AssertCleanError(Result r, int exit, string mentions)
    {
        Assert.True(r.Exit == exit, $"exit {r.Exit}, expected {exit}; stdout: {r.Out} stderr: {r.Err}");
        string err = r.Err.TrimEnd('\n');
        Assert.StartsWith("error: ", err);
        Assert.DoesNotContain('\n', err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
        Assert.Contains(mentions, err, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary><c>jitvm img</c> driven as a user would, checked against qemu-img.</summary>
public sealed class ImgCommandTests : IDisposable
{
    readonly ImgTools t = new();

    public void Dispose() => t.Dispose();

    // ------------------------------------------------------------------ create

    [Theory]
    [InlineData("raw", new string[0], "raw", 10485760)]
    [InlineData("qcow2", new string[0], "qcow2", 10485760)]
    [InlineData("qcow2", new[] { "-o", "compat=0.10,cluster_size=4096" }, "qcow2", 10485760)]
    [InlineData("vpc", new string[0], "vpc", 10485760)]
    [InlineData("vhd", new[] { "-o", "subformat=fixed" }, "vpc", 10485760)]
    [InlineData("vpc", new string[0], "vpc", 10485760 + 3 * 512)]   // not a CHS size: kept exactly
    public void CreatedImagesAreReadByQemuImgWithTheRequestedFormatAndSize(string format, string[] options, string qemuFormat, long size)
    {
        string file = t.P("new.img");
        var r = t.Jitvm(["img", "create", "-f", format, .. options, file, size.ToString()]);
        Assert.True(r.Exit == 0, r.Err);
        Assert.StartsWith($"Formatting '{file}', fmt={qemuFormat} ", r.Out);
        Assert.Contains($"size={size}", r.Out);
        var info = ImgTools.Json(t.QemuOk("info", "--output=json", "-f", qemuFormat, file));
        Assert.Equal(qemuFormat, info.GetProperty("format").GetString());
        Assert.Equal(size, info.GetProperty("virtual-size").GetInt64());
        if (format == "qcow2")
        {
            Assert.Equal(options.Length > 0 ? 4096 : 65536, info.GetProperty("cluster-size").GetInt32());
            Assert.Equal(options.Length > 0 ? "0.10" : "1.1", info.GetProperty("format-specific").GetProperty("data").GetProperty("compat").GetString());
            Assert.Equal(0, t.Qemu("check", file).Exit);
        }
        if (options.Contains("subformat=fixed")) Assert.Equal(size + 512, new FileInfo(file).Length);
    }

    [Fact]
    public void CreateWithSuffixedSizesAndABackingFileTakesTheBackingSize()
    {
        var r = t.Jitvm("img", "create", "-f", "raw", "base.img", "1.5M");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(3 * ImgTools.MiB / 2, new FileInfo(t.P("base.img")).Length);
        r = t.Jitvm("img", "create", "-f", "qcow2", "-b", "base.img", "-F", "raw", "overlay.qcow2");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("backing_file=base.img backing_fmt=raw", r.Out);
        var info = ImgTools.Json(t.QemuOk("info", "--output=json", t.P("overlay.qcow2")));
        Assert.Equal(3 * ImgTools.MiB / 2, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal("base.img", info.GetProperty("backing-filename").GetString());
        Assert.Equal("raw", info.GetProperty("backing-filename-format").GetString());
    }

    [Theory]
    [InlineData(new[] { "img", "create", "-f", "qcow3", "x.img", "1M" }, "qcow3")]
    [InlineData(new[] { "img", "create", "-f", "raw", "x.img", "12Q" }, "12Q")]
    [InlineData(new[] { "img", "create", "-f", "raw", "x.img" }, "size")]
    [InlineData(new[] { "img", "create", "-f", "qcow2", "-o", "cluster_size=3000", "x.img", "1M" }, "cluster_size")]
    [InlineData(new[] { "img", "create", "-f", "raw", "-o", "subformat=fixed", "x.img", "1M" }, "subformat")]
    [InlineData(new[] { "img", "create", "-f", "vpc", "-o", "subformat=sparse", "x.img", "1M" }, "subformat")]
    [InlineData(new[] { "img", "create", "-f", "vpc", "x.img", "2041G" }, "VHD")]
    [InlineData(new[] { "img", "create", "-f", "qcow2", "-b", "missing.img", "x.img", "1M" }, "missing.img")]
    [InlineData(new[] { "img", "info", "missing.img" }, "missing.img")]
    [InlineData(new[] { "img", "check", "missing.img" }, "missing.img")]
    [InlineData(new[] { "img", "convert", "-O", "qcow2", "missing.img", "x.img" }, "missing.img")]
    [InlineData(new[] { "img", "convert", "-O", "vmdk", "missing.img", "x.img" }, "vmdk")]
    public void BadInputIsOneErrorLineAndExitCode1(string[] args, string mentions)
    {
        ImgTools.AssertCleanError(t.Jitvm(args), 1, mentions);
        Assert.False(File.Exists(t.P("x.img")), "no half-made image is left behind");
    }

    [Fact]
    public void AnImageIsNeverReplacedByAnOverlayOfItself()
    {
        Assert.Equal(0, t.Jitvm("img", "create", "-q", "-f", "qcow2", "self.qcow2", "1M").Exit);
        var before = ImgTools.Sha256(t.P("self.qcow2"));
        ImgTools.AssertCleanError(t.Jitvm("img", "create", "-f", "qcow2", "-b", "self.qcow2", "self.qcow2"), 1, "the image itself");
        Assert.Equal(before, ImgTools.Sha256(t.P("self.qcow2")));
        ImgTools.AssertCleanError(t.Jitvm("img", "create", "-f", "qcow2", "-b", "self.qcow2", "-F", "raw", "o.qcow2"), 1, "is qcow2, not raw");
        Assert.False(File.Exists(t.P("o.qcow2")));
    }

    [Fact]
    public void MalformedImagesAreReportedByFieldNotByStackTrace()
    {
        var header = new byte[4096];
        new byte[] { 0x51, 0x46, 0x49, 0xFB }.CopyTo(header, 0);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), 7); // version 7
        File.WriteAllBytes(t.P("bad.qcow2"), header);
        ImgTools.AssertCleanError(t.Jitvm("img", "info", "bad.qcow2"), 1, "version");
        ImgTools.AssertCleanError(t.Jitvm("img", "check", "bad.qcow2"), 1, "version");
        ImgTools.AssertCleanError(t.Jitvm("img", "convert", "-O", "raw", "bad.qcow2", "out.raw"), 1, "version");
        Assert.False(File.Exists(t.P("out.raw")));
    }

    // ------------------------------------------------------------------ info

    public static TheoryData<string, string[]> QemuMadeImages => new()
    {
        { "qcow2", ["-o", "compat=0.10"] },
        { "qcow2", ["-o", "compat=1.1,cluster_size=4096"] },
        { "qcow2", ["-b", "base.raw", "-F", "raw"] },
        { "vpc", [] },
        { "vpc", ["-o", "subformat=fixed"] },
        { "raw", [] },
    };

    [Theory]
    [MemberData(nameof(QemuMadeImages))]
    public void InfoJsonAgreesWithQemuImgOnImagesQemuImgMade(string format, string[] options)
    {
        t.QemuOk("create", "-f", "raw", t.P("base.raw"), "6M");
        string file = t.P("made 'ü'." + format);   // printed as it is in JSON, as qemu-img does
        t.QemuOk(["create", "-f", format, .. options, file, "10M"]);
        // qemu-img probes a fixed VHD (no footer copy at offset 0) as raw: name the format for both.
        var ours = t.Jitvm("img", "info", "--output=json", "-f", format, file);
        Assert.True(ours.Exit == 0, ours.Err);
        var a = ImgTools.Json(ours.Out);
        var q = ImgTools.Json(t.QemuOk("info", "--output=json", "-f", format, file));
        foreach (string field in new[] { "format", "filename", "backing-filename", "backing-filename-format", "full-backing-filename" })
            Assert.Equal(q.TryGetProperty(field, out var qv) ? qv.GetString() : null, a.TryGetProperty(field, out var av) ? av.GetString() : null);
        foreach (string field in new[] { "virtual-size", "cluster-size" })
            Assert.Equal(q.TryGetProperty(field, out var qv) ? qv.GetInt64() : -1, a.TryGetProperty(field, out var av) ? av.GetInt64() : -1);
        Assert.False(a.GetProperty("dirty-flag").GetBoolean());
        Assert.True(a.GetProperty("actual-size").GetInt64() > 0);
        if (format == "qcow2")
            Assert.Equal(q.GetProperty("format-specific").GetProperty("data").GetProperty("compat").GetString(),
                         a.GetProperty("format-specific").GetProperty("data").GetProperty("compat").GetString());
    }

    [Theory]
    [InlineData(1UL, true, false)]
    [InlineData(2UL, false, true)]
    [InlineData(3UL, true, true)]
    public void InfoShowsTheDirtyAndCorruptBitsAsQemuImg(ulong incompatible, bool dirty, bool corrupt)
    {
        string file = t.P("flags.qcow2");
        t.QemuOk("create", "-q", "-f", "qcow2", file, "1M");
        using (var f = File.Open(file, FileMode.Open))
        {
            var b = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(b, incompatible);
            f.Position = 72;                                   // incompatible_features
            f.Write(b);
        }
        var ours = ImgTools.Json(t.Jitvm("img", "info", "--json", "flags.qcow2").Out);
        var theirs = ImgTools.Json(t.QemuOk("info", "--output=json", file));
        Assert.Equal(dirty, ours.GetProperty("dirty-flag").GetBoolean());
        Assert.Equal(theirs.GetProperty("dirty-flag").GetBoolean(), ours.GetProperty("dirty-flag").GetBoolean());
        bool Corrupt(System.Text.Json.JsonElement e) => e.GetProperty("format-specific").GetProperty("data").GetProperty("corrupt").GetBoolean();
        Assert.Equal(corrupt, Corrupt(ours));
        Assert.Equal(Corrupt(theirs), Corrupt(ours));
    }

    [Fact]
    public void InfoPrintsSizesAndTheBackingChainAsQemuImg()
    {
        t.QemuOk("create", "-f", "raw", t.P("base.raw"), "10M");
        t.QemuOk("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", t.P("mid.qcow2"));
        t.QemuOk("create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", t.P("top.qcow2"));

        var r = t.Jitvm("img", "info", "top.qcow2");
        Assert.True(r.Exit == 0, r.Err);
        var lines = r.Out.Split('\n');
        Assert.Equal("image: top.qcow2", lines[0]);
        Assert.Equal("file format: qcow2", lines[1]);
        Assert.Equal("virtual size: 10 MiB (10485760 bytes)", lines[2]);
        Assert.StartsWith("disk size: ", lines[3]);
        Assert.Equal("cluster_size: 65536", lines[4]);
        Assert.Equal("backing file: mid.qcow2", lines[5]);
        Assert.Equal("backing file format: qcow2", lines[6]);
        Assert.Contains("    compat: 1.1", lines);
        Assert.DoesNotContain("image: base.raw", lines);

        r = t.Jitvm("img", "info", "--backing-chain", "top.qcow2");
        Assert.Equal(["image: top.qcow2", "image: mid.qcow2", "image: base.raw"], r.Out.Split('\n').Where(l => l.StartsWith("image: ")));

        r = t.Jitvm("img", "info", "--json", "--backing-chain", "top.qcow2");
        var ours = ImgTools.Json(r.Out).EnumerateArray().Select(e => (e.GetProperty("filename").GetString(), e.GetProperty("format").GetString())).ToArray();
        var theirs = ImgTools.Json(t.QemuOk("info", "--output=json", "--backing-chain", t.P("top.qcow2"))).EnumerateArray()
            .Select(e => (Path.GetFileName(e.GetProperty("filename").GetString()), e.GetProperty("format").GetString())).ToArray();
        Assert.Equal(theirs, ours);
    }

    [Theory]
    [InlineData("1000")]          // rounded up to a whole sector: 1 KiB
    [InlineData("1.5M")]
    [InlineData("5253120")]       // 5.01 MiB
    [InlineData("999M")]
    [InlineData("1T")]
    public void VirtualSizeLineMatchesQemuImgs(string size)
    {
        var r = t.Jitvm("img", "create", "-q", "-f", "raw", "s.raw", size);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal("", r.Out);
        static string VirtualSize(string text) => text.Split('\n').Single(l => l.StartsWith("virtual size: "));
        Assert.Equal(VirtualSize(t.QemuOk("info", "-f", "raw", t.P("s.raw"))), VirtualSize(t.Jitvm("img", "info", "s.raw").Out));
    }

    // ------------------------------------------------------------------ check

    [Fact]
    public void CheckExitCodesFollowQemuImg()
    {
        // Clean.
        using (Qcow2Image.Create(t.P("clean.qcow2"), 4 * ImgTools.MiB)) { }
        var r = t.Jitvm("img", "check", "clean.qcow2");
        Assert.Equal(0, r.Exit);
        Assert.Equal("No errors were found on the image.\n", r.Out);

        // A leaked cluster: one more cluster at the end of the file with refcount 1 that nothing references.
        using (Qcow2Image.Create(t.P("leak.qcow2"), 4 * ImgTools.MiB)) { }
        long rb = RefcountBlockOffset(t.P("leak.qcow2"));
        using (var f = File.Open(t.P("leak.qcow2"), FileMode.Open))
        {
            long n = f.Length / 65536;
            f.SetLength(f.Length + 65536);
            f.Position = rb + 2 * n;
            f.Write([0, 1]);
        }
        Assert.Equal(3, t.Qemu("check", t.P("leak.qcow2")).Exit); // the reference implementation agrees it is a leak
        r = t.Jitvm("img", "check", "leak.qcow2");
        Assert.Equal(3, r.Exit);
        Assert.Contains("1 leaked clusters were found on the image.", r.Out);
        Assert.Contains("Leaked cluster", r.Err);
        var j = ImgTools.Json(t.Jitvm("img", "check", "--output=json", "leak.qcow2").Out);
        Assert.Equal(1, j.GetProperty("leaks").GetInt32());

        // A corruption: the header cluster's refcount is 0.
        File.Copy(t.P("leak.qcow2"), t.P("corrupt.qcow2"));
        using (var f = File.Open(t.P("corrupt.qcow2"), FileMode.Open))
        {
            f.Position = rb;
            f.Write([0, 0]);
        }
        Assert.Equal(2, t.Qemu("check", t.P("corrupt.qcow2")).Exit);
        r = t.Jitvm("img", "check", "corrupt.qcow2");
        Assert.Equal(2, r.Exit);
        Assert.Contains("1 errors were found on the image.", r.Out);
        Assert.Contains("1 leaked clusters were found on the image.", r.Out);
        Assert.Contains("ERROR", r.Err);

        // The check itself fails: exit 1.
        File.WriteAllBytes(t.P("short.qcow2"), [0x51, 0x46, 0x49, 0xFB]);
        ImgTools.AssertCleanError(t.Jitvm("img", "check", "-f", "qcow2", "short.qcow2"), 1, "header");
    }

    static long RefcountBlockOffset(string qcow2)
    {
        var h = new byte[72];
        using var f = File.OpenRead(qcow2);
        f.ReadExactly(h);
        long rt = (long)BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(48));
        var e = new byte[8];
        f.Position = rt;
        f.ReadExactly(e);
        return (long)BinaryPrimitives.ReadUInt64BigEndian(e);
    }

    // ------------------------------------------------------------------ convert, compare, resize

    [Fact]
    public void ConvertWithProgressCopiesTheDiskAndQemuImgFindsThemIdentical()
    {
        t.WriteRawWithHoles(t.P("src.raw"), 12 * ImgTools.MiB, seed: 5);
        var r = t.Jitvm("img", "convert", "-p", "-O", "qcow2", "-o", "cluster_size=4096", "src.raw", "dst.qcow2");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal("", r.Out);
        Assert.StartsWith("    (0.00/100%)\r", r.Err);
        Assert.EndsWith("    (100.00/100%)\r\n", r.Err);
        Assert.Contains("    (50.00/100%)\r", r.Err);
        Assert.Equal(0, t.Qemu("compare", "-f", "raw", "-F", "qcow2", t.P("src.raw"), t.P("dst.qcow2")).Exit);
        Assert.Equal(0, t.Qemu("check", t.P("dst.qcow2")).Exit);
        Assert.Equal(4096, ImgTools.Json(t.QemuOk("info", "--output=json", t.P("dst.qcow2"))).GetProperty("cluster-size").GetInt32());

        r = t.Jitvm("img", "convert", "-O", "vhd", "dst.qcow2", "dst.vhd");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal("", r.Err);
        Assert.Equal(0, t.Qemu("compare", "-f", "raw", "-F", "vpc", t.P("src.raw"), t.P("dst.vhd")).Exit);
    }

    [Fact]
    public void CompareReportsIdenticalImagesAndTheFirstMismatch()
    {
        var data = t.WriteRawWithHoles(t.P("a.raw"), 4 * ImgTools.MiB, seed: 9);
        t.QemuOk("convert", "-f", "raw", "-O", "qcow2", t.P("a.raw"), t.P("a.qcow2"));
        var r = t.Jitvm("img", "compare", "a.raw", "a.qcow2");
        Assert.Equal(0, r.Exit);
        Assert.Equal("Images are identical.\n", r.Out);

        data[3 * ImgTools.MiB + 700] ^= 0x40;
        File.WriteAllBytes(t.P("b.raw"), data);
        r = t.Jitvm("img", "compare", "a.qcow2", "b.raw");
        Assert.Equal(1, r.Exit);
        Assert.Equal($"Content mismatch at offset {3 * ImgTools.MiB + 512}!\n", r.Out);
        Assert.Equal(1, t.Qemu("compare", t.P("a.qcow2"), t.P("b.raw")).Exit); // and qemu-img agrees they differ

        // A longer image whose extra part is zero is identical unless strict.
        File.WriteAllBytes(t.P("c.raw"), [.. File.ReadAllBytes(t.P("a.raw")), .. new byte[1024]]);
        r = t.Jitvm("img", "compare", "a.raw", "c.raw");
        Assert.Equal(0, r.Exit);
        Assert.Equal("Warning: Image size mismatch!\nImages are identical.\n", r.Out);
        Assert.Equal(1, t.Jitvm("img", "compare", "-s", "a.raw", "c.raw").Exit);
        ImgTools.AssertCleanError(t.Jitvm("img", "compare", "a.raw", "nothing.raw"), 2, "nothing.raw");
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    [InlineData("vpc")]                   // fixed: a dynamic VHD's table has no room for more blocks (below)
    public void ResizeGrowsAndShrinkingNeedsTheShrinkOption(string format)
    {
        var r = t.Jitvm("img", "create", "-f", format, "-o", format == "vpc" ? "subformat=fixed" : "size=4M", "r.img", "4M");
        Assert.True(r.Exit == 0, r.Err);
        r = t.Jitvm("img", "resize", "r.img", "+2M");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal("Image resized.\n", r.Out);
        Assert.Equal(6L * ImgTools.MiB, ImgTools.Json(t.QemuOk("info", "--output=json", "-f", format, t.P("r.img"))).GetProperty("virtual-size").GetInt64());

        ImgTools.AssertCleanError(t.Jitvm("img", "resize", "r.img", "-1M"), 1, "--shrink");
        ImgTools.AssertCleanError(t.Jitvm("img", "resize", "r.img", "5M"), 1, "--shrink");
        ImgTools.AssertCleanError(t.Jitvm("img", "resize", "r.img", "+1Q"), 1, "size");
        r = t.Jitvm("img", "resize", "--shrink", "r.img", "5M");
        if (format == "vpc")
        {
            ImgTools.AssertCleanError(r, 1, "VHD"); // the format cannot shrink
            return;
        }
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(5L * ImgTools.MiB, ImgTools.Json(t.QemuOk("info", "--output=json", "-f", format, t.P("r.img"))).GetProperty("virtual-size").GetInt64());
    }

    [Fact]
    public void GrowingADynamicVhdPastItsBlockTableIsRefusedAndLeavesItIntact()
    {
        Assert.Equal(0, t.Jitvm("img", "create", "-q", "-f", "vpc", "d.vhd", "4M").Exit);
        var before = ImgTools.Sha256(t.P("d.vhd"));
        ImgTools.AssertCleanError(t.Jitvm("img", "resize", "d.vhd", "+2M"), 1, "block allocation table");
        Assert.Equal(before, ImgTools.Sha256(t.P("d.vhd")));
    }

    // ------------------------------------------------------------------ run --snapshot

    [Fact]
    public void RunWithSnapshotLeavesTheDiskAndNoOverlayBehind()
    {
        string tmp = Directory.CreateDirectory(t.P("tmp")).FullName + "/";
        File.WriteAllBytes(t.P("disk.raw"), ImgTools.Pattern(ImgTools.MiB, 3));
        File.WriteAllBytes(t.P("floppy.raw"), ImgTools.Pattern(1440 * 1024, 4));
        var before = ImgTools.Sha256(t.P("disk.raw"));
        var r = t.JitvmWithEnv(new Dictionary<string, string> { ["TMPDIR"] = tmp },
            "run", "--snapshot", "--hda", "disk.raw", "--fda", "floppy.raw", "--debugcon", "none", "--serial", "none");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("exit: reason=halt", r.Err);
        Assert.Equal(before, ImgTools.Sha256(t.P("disk.raw")));
        Assert.Empty(Directory.GetFiles(tmp));

        ImgTools.AssertCleanError(t.Jitvm("run", "--snapshot", "--hda", "missing.raw"), 2, "missing.raw");
    }
}
