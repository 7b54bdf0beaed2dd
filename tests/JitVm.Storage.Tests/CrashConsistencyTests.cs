using System.Buffers.Binary;
using JitVm.Storage.Vhd;
using Xunit.Abstractions;
using static JitVm.Storage.Tests.QemuTools;

namespace JitVm.Storage.Tests;

/// <summary>
/// Simulated crashes: a workload runs on an image held in memory and is stopped before its k-th host write, for every
/// k in the windows that matter (refcount table growth, L1 table relocation) and a sample elsewhere. What was written
/// up to that point must be an image that both our check and qemu-img check find free of corruption (leaks are
/// allowed), and that reads every acknowledged guest write back.
/// </summary>
public sealed class CrashConsistencyTests(ITestOutputHelper output) : IDisposable
{
    const int MiB = 1024 * 1024;
    readonly string dir = Directory.CreateTempSubdirectory("jitvm-crash-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    sealed class SimulatedCrash : Exception;

    /// <summary>One guest operation of a workload: a write, or a resize.</summary>
    readonly record struct Op(long Offset, byte[]? Data, long NewSize = 0);

    /// <summary>Runs <paramref name="ops"/> on a copy of <paramref name="start"/>, crashing before host write <paramref name="crashAt"/> (-1: never).</summary>
    static (MemoryImageFile File, int Completed, List<(long Ordinal, long Offset, int Length)> Writes) Run(MemoryImageFile start, Op[] ops, long crashAt)
    {
        var file = start.Clone();
        var writes = new List<(long, long, int)>();
        file.BeforeWrite = (n, off, len) =>
        {
            if (crashAt >= 0 && n >= crashAt) throw new SimulatedCrash();
            writes.Add((n, off, len));
        };
        int completed = 0;
        var img = Qcow2Image.Open(file, "/memory/crash.qcow2", readOnly: false);
        try
        {
            foreach (var op in ops)
            {
                if (op.Data != null) img.Write(op.Offset, op.Data);
                else img.Resize(op.NewSize);
                completed++;
            }
        }
        catch (SimulatedCrash)
        {
        }
        img.Dispose();
        file.BeforeWrite = null;
        return (file, completed, writes);
    }

    /// <summary>The guest bytes after <paramref name="completed"/> operations (plus, for sectors it touched, possibly the next one).</summary>
    static void AssertAcknowledgedData(Qcow2Image img, byte[] initialGuest, Op[] ops, int completed, string what)
    {
        long size = initialGuest.Length;
        foreach (var op in ops.Take(completed)) if (op.Data == null) size = op.NewSize;
        var expected = new byte[size];
        initialGuest.AsSpan(0, (int)Math.Min(size, initialGuest.Length)).CopyTo(expected);
        foreach (var op in ops.Take(completed)) op.Data?.CopyTo(expected, op.Offset);
        byte[]? inFlight = completed < ops.Length ? ops[completed].Data : null;
        long inFlightAt = completed < ops.Length ? ops[completed].Offset : -1;
        // A resize in flight may or may not have reached the size field.
        Assert.True(img.Length == size || (completed < ops.Length && ops[completed].Data == null && img.Length == ops[completed].NewSize),
            $"{what}: size {img.Length}, expected {size}");
        var actual = new byte[size];
        img.Read(0, actual);
        for (long s = 0; s < size; s += 512)
        {
            var a = actual.AsSpan((int)s, 512);
            if (a.SequenceEqual(expected.AsSpan((int)s, 512))) continue;
            bool newData = inFlight != null && s >= inFlightAt && s < inFlightAt + inFlight.Length
                && a.SequenceEqual(inFlight.AsSpan((int)(s - inFlightAt), 512));
            Assert.True(newData, $"{what}: guest sector {s / 512} holds neither the acknowledged data nor the write in flight");
        }
    }

    /// <summary>No corruption (ours, and qemu-img's if <paramref name="askQemu"/>), and the acknowledged writes read back.</summary>
    void AssertRecovered(MemoryImageFile crashed, byte[] initialGuest, Op[] ops, int completed, string what, bool askQemu)
    {
        using (var img = Qcow2Image.Open(crashed.Clone(), "/memory/check.qcow2", readOnly: true))
        {
            var r = img.Check();
            Assert.True(r.Corruptions == 0, $"{what}: {string.Join("\n", r.Messages.Take(10))}");
            AssertAcknowledgedData(img, initialGuest, ops, completed, what);
        }
        if (!askQemu) return;
        string p = Path.Combine(dir, "crashed.qcow2");
        File.WriteAllBytes(p, crashed.ToArray());
        var (exit, output) = Check(p, "qcow2");
        Assert.True(exit is 0 or 3, $"{what}: qemu-img check exit {exit}: {output}");
    }

    /// <summary>
    /// Crashes at every host write near the writes to the header fields <paramref name="headerFields"/> (what the
    /// operation under test switches) and at every <paramref name="stride"/>-th write elsewhere.
    /// </summary>
    void CrashEverywhere(MemoryImageFile start, byte[] initialGuest, Op[] ops, long[] headerFields, int stride, int window)
    {
        var (final, done, writes) = Run(start, ops, -1);
        Assert.Equal(ops.Length, done);
        AssertRecovered(final, initialGuest, ops, done, "without a crash", askQemu: true);
        var switches = writes.Where(w => headerFields.Contains(w.Offset)).Select(w => w.Ordinal).ToList();
        Assert.NotEmpty(switches); // the workload really exercised the operation under test
        int crashes = 0, qemuChecks = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (long k = 0; k < writes.Count; k++)
        {
            bool near = switches.Any(s => Math.Abs(s - k) <= window);
            if (!near && k % stride != 0) continue;
            var (crashed, completed, _) = Run(start, ops, k);
            string what = $"crash before host write {k} of {writes.Count} (during guest operation {completed})";
            AssertRecovered(crashed, initialGuest, ops, completed, what, askQemu: near);
            crashes++;
            if (near) qemuChecks++;
        }
        output.WriteLine($"{writes.Count} host writes, {switches.Count} header switches, {crashes} crash points ({qemuChecks} also checked by qemu-img) in {sw.ElapsedMilliseconds} ms");
        Assert.True(crashes > 2 * window, $"only {crashes} crash points");
    }

    /// <summary>A qemu-made image with 512-byte clusters (a one-cluster refcount table covers 8 MiB of file), <paramref name="fill"/> bytes written.</summary>
    (MemoryImageFile Image, byte[] Guest) Prefilled(int guestSize, int fill)
    {
        string p = Path.Combine(dir, "base.qcow2");
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", p, guestSize.ToString());
        var file = new MemoryImageFile(File.ReadAllBytes(p));
        var guest = new byte[guestSize];
        new Random(3).NextBytes(guest.AsSpan(0, fill));
        using (var img = Qcow2Image.Open(file, "/memory/base.qcow2", readOnly: false))
            img.Write(0, guest.AsSpan(0, fill));
        return (file, guest);
    }

    static Op[] ScatteredWrites(int count, long from, long to, int seed)
    {
        var rnd = new Random(seed);
        var ops = new Op[count];
        for (int i = 0; i < count; i++)
        {
            var d = new byte[512 * rnd.Next(1, 9)];
            rnd.NextBytes(d);
            ops[i] = new Op(from + rnd.NextInt64((to - from - d.Length) / 512) * 512, d);
        }
        return ops;
    }

    [Fact]
    public void RefcountTableGrowth_CrashAtAnyWrite_LeavesNoCorruption()
    {
        var (image, guest) = Prefilled(16 * MiB, 7 * MiB + 768 * 1024);
        Assert.True(image.Length is > 7 * MiB and < 8 * MiB, $"prefilled file is {image.Length} bytes");
        var ops = ScatteredWrites(60, 8 * MiB, 16 * MiB, 5);
        CrashEverywhere(image, guest, ops, headerFields: [48], stride: 37, window: 12);
    }

    [Fact]
    public void L1Relocation_CrashAtAnyWrite_LeavesNoCorruption()
    {
        var (image, guest) = Prefilled(2 * MiB, MiB);
        // Growing to 8 MiB moves the L1 table (64 -> 256 entries, 1 -> 4 clusters); writes past the old end use it;
        // the second growth moves it again.
        var ops = new List<Op> { new(0, null, 8 * MiB) };
        ops.AddRange(ScatteredWrites(20, MiB, 8 * MiB, 6));
        ops.Add(new Op(0, null, 12 * MiB));
        ops.AddRange(ScatteredWrites(10, 4 * MiB, 12 * MiB, 7));
        CrashEverywhere(image, guest, ops.ToArray(), headerFields: [36], stride: 23, window: 8);
    }

    [Fact]
    public void DirtyBitRebuild_CrashAtAnyWrite_RebuildsAgainOnTheNextOpen()
    {
        string p = Path.Combine(dir, "lazy.qcow2");
        Ok(QemuImg, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=512", p, "1M");
        QemuTools.Run("/bin/bash", "-c", $"ulimit -c 0; exec {QemuIo} -f qcow2 -c 'write -P 0x11 0 100k' -c 'write -P 0x22 700k 20k' -c abort '{p}'");
        var start = new MemoryImageFile(File.ReadAllBytes(p));
        Assert.Equal(1, start.ToArray()[79] & 1); // dirty
        var expected = new byte[MiB];
        expected.AsSpan(0, 100 * 1024).Fill(0x11);
        expected.AsSpan(700 * 1024, 20 * 1024).Fill(0x22);

        long total = -1;
        for (long k = 0; total < 0 || k < total; k++)
        {
            var file = start.Clone();
            file.BeforeWrite = (n, _, _) => { if (n >= k) throw new SimulatedCrash(); };
            try
            {
                Qcow2Image.Open(file, "/memory/lazy.qcow2", readOnly: false).Dispose();
                total = k; // this open needed fewer than k writes: every earlier crash point is covered
                break;
            }
            catch (SimulatedCrash)
            {
            }
            file.BeforeWrite = null;
            var reopened = file.Clone();
            using (var img = Qcow2Image.Open(reopened, "/memory/lazy.qcow2", readOnly: false))
            {
                var r = img.Check();
                Assert.True(r.IsClean, $"crash before write {k}, reopened: {string.Join("\n", r.Messages.Take(10))}");
                AssertSameBytes(expected, ReadAll(img), $"crash before write {k}, reopened");
            }
            Assert.Equal(0, reopened.ToArray()[79] & 1);
            string q = Path.Combine(dir, "reopened.qcow2");
            File.WriteAllBytes(q, reopened.ToArray());
            var (exit, output) = Check(q, "qcow2");
            Assert.True(exit == 0, $"crash before write {k}, reopened: qemu-img check exit {exit}: {output}");
        }
        Assert.True(total >= 4, $"the rebuild took only {total} writes");
        output.WriteLine($"dirty-bit rebuild: {total} host writes, a crash before each of them recovered");
    }

    [Fact]
    public void VhdDynamicAllocationAndResize_CrashAtAnyWrite_LeavesAtMostALeak()
    {
        var start = new MemoryImageFile();
        VhdImage.Create(start, "/memory/d.vhd", 200 * 1024, fixedSize: false, blockSize: 16 * 1024).Dispose();
        var ops = ScatteredWrites(25, 0, 200 * 1024, 8).ToList();
        ops.Insert(12, new Op(0, null, 208 * 1024)); // within the last BAT entry
        var all = ops.ToArray();
        var initialGuest = new byte[200 * 1024];

        (MemoryImageFile File, int Completed, long Writes) RunVhd(long crashAt)
        {
            var file = start.Clone();
            long writes = 0;
            file.BeforeWrite = (n, _, _) =>
            {
                if (crashAt >= 0 && n >= crashAt) throw new SimulatedCrash();
                writes++;
            };
            int completed = 0;
            using (var img = VhdImage.Open(file, "/memory/d.vhd", readOnly: false))
            {
                try
                {
                    foreach (var op in all)
                    {
                        if (op.Data != null) img.Write(op.Offset, op.Data);
                        else img.Resize(op.NewSize);
                        completed++;
                    }
                }
                catch (SimulatedCrash)
                {
                }
            }
            file.BeforeWrite = null;
            return (file, completed, writes);
        }

        var (_, done, total) = RunVhd(-1);
        Assert.Equal(all.Length, done);
        for (long k = 0; k <= total; k++)
        {
            var (crashed, completed, _) = RunVhd(k);
            string what = $"crash before host write {k} of {total} (during guest operation {completed})";
            using (var ro = VhdImage.Open(crashed.Clone(), "/memory/d.vhd", readOnly: true))
            {
                var r = ro.Check();
                // A resize in flight may have updated the trailing footer but not the copy at 0 yet: only that
                // window reports the footer mismatch, which the read-write open below repairs.
                bool resizeInFlight = completed < all.Length && all[completed].Data == null;
                Assert.True(r.Corruptions == 0 || resizeInFlight, $"{what}: {string.Join("; ", r.Messages)}");
                AssertAcknowledged(ro, initialGuest, all, completed, what);
            }
            using (var rw = VhdImage.Open(crashed.Clone(), "/memory/d.vhd", readOnly: false))
            {
                var r = rw.Check();
                Assert.True(r.IsClean, $"{what}, reopened read-write: {string.Join("; ", r.Messages)}");
                AssertAcknowledged(rw, initialGuest, all, completed, what);
            }
        }
        output.WriteLine($"VHD: {total} host writes, a crash before each of them recovered");
    }

    static void AssertAcknowledged(DiskImage img, byte[] initialGuest, Op[] ops, int completed, string what)
    {
        long size = initialGuest.Length;
        foreach (var op in ops.Take(completed)) if (op.Data == null) size = op.NewSize;
        var expected = new byte[Math.Max(size, img.Length)];
        initialGuest.CopyTo(expected, 0);
        foreach (var op in ops.Take(completed)) op.Data?.CopyTo(expected, op.Offset);
        Assert.True(img.Length == size || (completed < ops.Length && ops[completed].Data == null && img.Length == ops[completed].NewSize),
            $"{what}: size {img.Length}, expected {size}");
        var actual = new byte[img.Length];
        img.Read(0, actual);
        byte[]? inFlight = completed < ops.Length ? ops[completed].Data : null;
        long at = completed < ops.Length ? ops[completed].Offset : 0;
        for (long s = 0; s < actual.Length; s += 512)
        {
            var a = actual.AsSpan((int)s, 512);
            if (a.SequenceEqual(expected.AsSpan((int)s, 512))) continue;
            Assert.True(inFlight != null && s >= at && s < at + inFlight.Length && a.SequenceEqual(inFlight.AsSpan((int)(s - at), 512)),
                $"{what}: guest sector {s / 512} holds neither the acknowledged data nor the write in flight");
        }
    }
}
