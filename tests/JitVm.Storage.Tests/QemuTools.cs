using System.Diagnostics;
using System.Text.Json;

namespace JitVm.Storage.Tests;

/// <summary>Runs qemu-img and qemu-io (Debian's qemu-utils, installed by tools/setup-deps.sh) for interop checks.</summary>
static class QemuTools
{
    public const string QemuImg = "/usr/bin/qemu-img";
    public const string QemuIo = "/usr/bin/qemu-io";

    /// <summary>Runs <paramref name="exe"/>; returns its exit code and stdout + stderr.</summary>
    public static (int Exit, string Output) Run(string exe, params string[] args)
    {
        if (!File.Exists(exe)) Assert.Fail($"{exe} is required for this test but is not installed (apt-get install qemu-utils)");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill();
            Assert.Fail($"{exe} {string.Join(' ', args)} timed out");
        }
        return (p.ExitCode, so.Result + se.Result);
    }

    /// <summary>Runs <paramref name="exe"/> and asserts it succeeded.</summary>
    public static string Ok(string exe, params string[] args)
    {
        var (exit, output) = Run(exe, args);
        Assert.True(exit == 0, $"{Path.GetFileName(exe)} {string.Join(' ', args)} failed ({exit}): {output}");
        return output;
    }

    /// <summary>qemu-img's view of an image: virtual size and format.</summary>
    public static (long VirtualSize, string Format) Info(string path, string format)
    {
        using var doc = JsonDocument.Parse(Ok(QemuImg, "info", "--output=json", "-f", format, path));
        return (doc.RootElement.GetProperty("virtual-size").GetInt64(), doc.RootElement.GetProperty("format").GetString()!);
    }

    /// <summary>qemu-img check's exit code: 0 clean, 2 corruptions, 3 leaks only, 63 format without checks.</summary>
    public static (int Exit, string Output) Check(string path, string format) => Run(QemuImg, "check", "-f", format, path);

    public static void AssertCheckClean(string path, string format = "qcow2")
    {
        var (exit, output) = Check(path, format);
        Assert.True(exit == 0, $"qemu-img check reports problems ({exit}): {output}");
    }

    /// <summary>The guest data of <paramref name="path"/> as qemu-img converts it to raw.</summary>
    public static byte[] ToRaw(string path, string format)
    {
        string raw = path + "." + Guid.NewGuid().ToString("N") + ".raw";
        try
        {
            Ok(QemuImg, "convert", "-f", format, "-O", "raw", path, raw);
            return File.ReadAllBytes(raw);
        }
        finally
        {
            File.Delete(raw);
        }
    }

    public static void AssertSameBytes(byte[] expected, byte[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        int i = expected.AsSpan().CommonPrefixLength(actual);
        if (i != expected.Length)
            Assert.Fail($"{what}: first difference at byte {i} (0x{i:x}): expected 0x{expected[i]:x2}, got 0x{actual[i]:x2}");
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Reads the whole disk in 64 KiB pieces.</summary>
    public static byte[] ReadAll(DiskImage img)
    {
        var all = new byte[img.Length];
        for (long off = 0; off < all.Length; off += 65536)
            img.Read(off, all.AsSpan((int)off, (int)Math.Min(65536, all.Length - off)));
        return all;
    }
}
