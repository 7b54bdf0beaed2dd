using System.Diagnostics;
using JitVm.Core.Storage;
using Xunit.Abstractions;
using static JitVm.Storage.Tests.QemuTools;

namespace JitVm.Storage.Tests;

/// <summary>
/// Kill-during-write: tests/JitVm.Storage.CrashWriter writes to an image (allocating clusters/blocks, growing the
/// qcow2 refcount table and L1 table on the way) until it is killed after a varied delay. The image must then be
/// consistent for qemu-img check (clean or leaks only, never corruption) and for our Check, and every write the
/// writer's journal records as completed must read back.
/// </summary>
public sealed class KillTests(ITestOutputHelper output) : IDisposable
{
    const int MiB = 1024 * 1024;
    static readonly int[] DelaysMs = [120, 300, 550, 850, 1300];
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-kill-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static string CrashWriterDll()
    {
        // tests/JitVm.Storage.Tests/bin/<config>/<tfm>/ → tests/JitVm.Storage.CrashWriter/bin/<config>/<tfm>/
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = here.Name, config = here.Parent!.Name;
        string dll = Path.GetFullPath(Path.Combine(here.FullName, "..", "..", "..", "..", "JitVm.Storage.CrashWriter", "bin", config, tfm, "JitVm.Storage.CrashWriter.dll"));
        Assert.True(File.Exists(dll), $"{dll} is missing (it is built with the test project)");
        return dll;
    }

    static string DotnetHost() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p && File.Exists(p) ? p : "dotnet";

    /// <summary>Starts the writer, waits for "ready", lets it run <paramref name="delayMs"/>, kills it.</summary>
    static void RunAndKill(string image, string journal, int seed, long maxSize, int delayMs)
    {
        var psi = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { CrashWriterDll(), image, journal, seed.ToString(), maxSize.ToString() }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var ready = p.StandardOutput.ReadLineAsync();
        if (!ready.Wait(30_000) || ready.Result != "ready")
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"the crash writer did not start: {ready.Result} {stderr.Result}");
        }
        Thread.Sleep(delayMs);
        if (p.HasExited) Assert.Fail($"the crash writer stopped by itself (exit {p.ExitCode}): {stderr.Result}");
        p.Kill(entireProcessTree: true);
        Assert.True(p.WaitForExit(30_000), "the crash writer did not die");
    }

    /// <summary>What the journal says the disk holds: completed writes and resizes applied, plus the one in flight.</summary>
    static (byte[] Expected, long Size, (long Offset, byte[] Data)? InFlight, long? ResizeInFlight, int Writes) Replay(string journal, int seed, long initialSize, byte[] initial)
    {
        var lines = File.ReadAllLines(journal);
        long size = initialSize;
        var ops = new List<(long Offset, int Length, long Index)>();
        (long Offset, int Length, long Index)? open = null;
        long? resizing = null;
        long maxSize = initialSize;
        var writes = new List<(long Offset, int Length, long Index, long SizeAfter)>();
        foreach (var line in lines)
        {
            var f = line.Split(' ');
            switch (f[0])
            {
                case "B": open = (long.Parse(f[2]), int.Parse(f[3]), long.Parse(f[1])); break;
                case "R": resizing = long.Parse(f[1]); maxSize = Math.Max(maxSize, resizing.Value); break;
                case "E" when f.Length == 1:
                    size = resizing!.Value;
                    resizing = null;
                    break;
                case "E":
                    writes.Add((open!.Value.Offset, open.Value.Length, open.Value.Index, size));
                    open = null;
                    break;
            }
        }
        var expected = new byte[maxSize];
        initial.CopyTo(expected, 0);
        foreach (var (off, len, index, _) in writes)
            new Random(unchecked(seed * 7919 + (int)index)).NextBytes(expected.AsSpan((int)off, len));
        (long, byte[])? inFlight = null;
        if (open is { } o)
        {
            var d = new byte[o.Length];
            new Random(unchecked(seed * 7919 + (int)o.Index)).NextBytes(d);
            inFlight = (o.Offset, d);
        }
        return (expected, size, inFlight, resizing, writes.Count);
    }

    void AssertJournalReadsBack(DiskImage img, string journal, int seed, long initialSize, byte[] initial, string what)
    {
        var (expected, size, inFlight, resizeInFlight, writes) = Replay(journal, seed, initialSize, initial);
        Assert.True(writes > 0, $"{what}: the writer completed no write before it was killed");
        Assert.True(img.Length == size || img.Length == resizeInFlight, $"{what}: size {img.Length}, journal says {size}");
        var actual = new byte[img.Length];
        img.Read(0, actual);
        for (long s = 0; s < actual.Length; s += 512)
        {
            var a = actual.AsSpan((int)s, 512);
            if (a.SequenceEqual(expected.AsSpan((int)s, 512))) continue;
            bool isInFlight = inFlight is { } w && s >= w.Offset && s < w.Offset + w.Data.Length
                && a.SequenceEqual(w.Data.AsSpan((int)(s - w.Offset), 512));
            Assert.True(isInFlight, $"{what}: guest sector {s / 512} holds neither the journal's data nor the write in flight");
        }
        output.WriteLine($"{what}: {writes} writes completed, disk {img.Length / MiB} MiB, file {new FileInfo(img.Path).Length / 1024} KiB");
    }

    [Fact]
    public void Qcow2_KilledWhileWriting_QemuImgCheckFindsNoCorruption()
    {
        const long initialSize = 32 * MiB, maxSize = 64 * MiB;
        for (int run = 0; run < DelaysMs.Length; run++)
        {
            string image = Path.Combine(dir, $"k{run}.qcow2"), journal = image + ".journal";
            Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", image, initialSize.ToString());
            // Start close to the end of the one-cluster refcount table (8 MiB of file) so that the writer grows it.
            var initial = new byte[initialSize];
            new Random(run).NextBytes(initial.AsSpan(0, 7 * MiB));
            using (var img = Qcow2Image.Open(image, readOnly: false))
                img.Write(0, initial.AsSpan(0, 7 * MiB));

            RunAndKill(image, journal, run, maxSize, DelaysMs[run]);
            string what = $"qcow2 run {run}, killed after {DelaysMs[run]} ms";
            var (exit, qemuOut) = Check(image, "qcow2");
            Assert.True(exit is 0 or 3, $"{what}: qemu-img check exit {exit}: {qemuOut}");
            using (var img = Qcow2Image.Open(image, readOnly: true))
            {
                var r = img.Check();
                Assert.True(r.Corruptions == 0, $"{what}: {string.Join("\n", r.Messages.Take(10))}");
                AssertJournalReadsBack(img, journal, run, initialSize, initial, what);
            }
            using (var img = Qcow2Image.Open(image, readOnly: false))
            {
                img.Write(0, new byte[4096]); // writable after the kill
                Assert.Equal(0, img.Check().Corruptions);
            }
            Assert.True(Check(image, "qcow2").Exit is 0 or 3);
            File.Delete(image);
        }
    }

    [Fact]
    public void VhdDynamic_KilledWhileWriting_HasNoCorruption()
    {
        for (int run = 0; run < DelaysMs.Length; run++)
        {
            string image = Path.Combine(dir, $"k{run}.vhd"), journal = image + ".journal";
            // The first run on qemu's layout (2 MiB blocks, all allocated within a few hundred writes); the others on
            // ours with 16 KiB blocks, so that blocks are still being allocated when the kill comes.
            if (run == 0) Ok(QemuImg, "create", "-q", "-f", "vpc", image, (128 * MiB).ToString());
            else DiskImages.Create("vpc", image, 96 * MiB, clusterSize: 16 * 1024).Dispose();
            long length;
            using (var img = DiskImages.Open(image, readOnly: true)) length = img.Length; // CHS-rounded by qemu

            RunAndKill(image, journal, 100 + run, 0, DelaysMs[run]);
            string what = $"VHD run {run}, killed after {DelaysMs[run]} ms";
            // qemu-img 7.x cannot check vpc images (exit 63); a later one that can must not find corruption.
            var (exit, qemuOut) = Check(image, "vpc");
            Assert.True(exit is 0 or 3 or 63, $"{what}: qemu-img check exit {exit}: {qemuOut}");
            using (var img = DiskImages.Open(image, readOnly: true))
            {
                var r = img.Check();
                Assert.True(r.Corruptions == 0, $"{what}: {string.Join("\n", r.Messages.Take(10))}");
                AssertJournalReadsBack(img, journal, 100 + run, length, [], what);
            }
            using (var img = DiskImages.Open(image, readOnly: false))
            {
                var r = img.Check(); // the read-write open cut off any block the kill left unreferenced
                Assert.True(r.IsClean, $"{what}, reopened read-write: {string.Join("\n", r.Messages.Take(10))}");
            }
            Ok(QemuImg, "convert", "-f", "vpc", "-O", "raw", image, image + ".raw"); // qemu reads it
            File.Delete(image + ".raw");
            File.Delete(image);
        }
    }
}
