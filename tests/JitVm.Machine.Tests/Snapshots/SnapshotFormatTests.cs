using System.Buffers.Binary;
using System.Security.Cryptography;
using JitVm.Core.State;
using JitVm.Core.Storage;
using JitVm.Cpu;
using JitVm.Machine.Snapshots;
using JitVm.TestRoms;

namespace JitVm.Machine.Tests.Snapshots;

/// <summary>
/// The snapshot file: header, checksum, versions, configuration checks, and what a truncated, corrupt or mutated file
/// does (a <see cref="SnapshotFormatException"/> naming the problem, the machine left as it was; never another
/// exception or a hang).
/// </summary>
public class SnapshotFormatTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>A small machine in the middle of a test ROM (protected mode, paging, x87 state), with a floppy and a disk.</summary>
    static MachineConfig SmallConfig(uint memory = 2 << 20, CpuModel? cpu = null, IBlockDevice? disk = null) => new()
    {
        Cpu = cpu ?? CpuModel.P6,
        MemoryBytes = memory,
        Rom = TestRom.All.Single(r => r.Name == "x87").Build(),
        HardDisks = [disk ?? new MemoryBlockDevice(new byte[1 << 20])],
        Floppies = [new MemoryBlockDevice(new byte[1474560])],
        MaxInstructions = 20_000,
        MaxSeconds = 1,
    };

    static (Machine Machine, byte[] Snapshot) Taken()
    {
        var m = new Machine(SmallConfig());
        m.Run();
        m.Keyboard.Keyboard.SendMake(0x1C);
        m.Serial.Receive((byte)'x');
        return (m, SnapshotHarness.Save(m));
    }

    /// <summary>Recomputes the trailing SHA-256 (and the header's payload length) so a mutated file passes the checksum.</summary>
    static byte[] Reseal(byte[] file)
    {
        var copy = (byte[])file.Clone();
        long payload = copy.Length - 24 - 32;
        BinaryPrimitives.WriteInt64LittleEndian(copy.AsSpan(16), payload);
        SHA256.HashData(copy.AsSpan(0, copy.Length - 32)).CopyTo(copy, copy.Length - 32);
        return copy;
    }

    static SnapshotFormatException Refused(Machine m, byte[] file)
    {
        byte[] before = SnapshotHarness.Save(m);
        var e = Assert.Throws<SnapshotFormatException>(() => SnapshotHarness.Restore(m, file));
        Assert.True(before.AsSpan().SequenceEqual(SnapshotHarness.Save(m)), "a refused snapshot changed the machine");
        return e;
    }

    [Fact]
    public void SavingTwiceGivesTheSameBytesAndChangesNothing()
    {
        var (m, snapshot) = Taken();
        Assert.Equal(snapshot, SnapshotHarness.Save(m));
        Assert.True(MachineSnapshot.Magic.SequenceEqual(snapshot.AsSpan(0, 8)));
        Assert.Equal(MachineSnapshot.FormatVersion, BinaryPrimitives.ReadUInt32LittleEndian(snapshot.AsSpan(8)));
    }

    [Fact]
    public void TruncatedSnapshotsAreRefusedAsTruncated()
    {
        var (_, snapshot) = Taken();
        var target = new Machine(SmallConfig());
        var lengths = Enumerable.Range(0, 64).Concat(Enumerable.Range(0, 200).Select(i => (int)((long)snapshot.Length * i / 200))).Append(snapshot.Length - 1).Distinct();
        foreach (int n in lengths)
        {
            var e = Refused(target, snapshot[..n]);
            Assert.Contains("truncated", e.Message);
        }
    }

    [Fact]
    public void WrongMagicVersionFlagsAndChecksumAreNamed()
    {
        var (_, snapshot) = Taken();
        var target = new Machine(SmallConfig());
        var bad = (byte[])snapshot.Clone();
        bad[0] ^= 0xFF;
        Assert.Contains("not a JitVm machine snapshot", Refused(target, bad).Message);
        bad = (byte[])snapshot.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(8), 2);
        Assert.Contains("format version 2 is not supported", Refused(target, bad).Message);
        bad = (byte[])snapshot.Clone();
        bad[12] = 1;
        Assert.Contains("flags", Refused(target, bad).Message);
        bad = (byte[])snapshot.Clone();
        bad[snapshot.Length / 2] ^= 0x10;
        Assert.Contains("checksum mismatch", Refused(target, bad).Message);
    }

    /// <summary>Offset of the first section with <paramref name="tag"/> in a snapshot file.</summary>
    static int SectionAt(byte[] file, string tag)
    {
        int at = file.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(tag));
        Assert.True(at > 0, tag);
        return at;
    }

    [Theory]
    [InlineData("CPU ")]
    [InlineData("PIT ")]
    [InlineData("VGA ")]
    [InlineData("MEM ")]
    public void ANewerSectionVersionIsRefusedNamingTheSection(string tag)
    {
        var (_, snapshot) = Taken();
        var bad = (byte[])snapshot.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(bad.AsSpan(SectionAt(bad, tag) + 4), 7);
        var e = Refused(new Machine(SmallConfig()), Reseal(bad));
        Assert.Contains($"version 7 is not supported", e.Message);
        Assert.Contains($"'{tag}'", e.Message);
    }

    [Fact]
    public void AnOutOfRangeValueIsRefusedNamingTheField()
    {
        var (_, snapshot) = Taken();
        var bad = (byte[])snapshot.Clone();
        // The PIT's first field is counter 0's mode (0-7).
        bad[SectionAt(bad, "PIT ") + 14] = 9;
        var e = Refused(new Machine(SmallConfig()), Reseal(bad));
        Assert.Contains("section PIT", e.Message);
        Assert.Contains("'counter 0 mode'", e.Message);
        Assert.Contains("value 9 is outside 0..7", e.Message);
    }

    [Fact]
    public void AMachineWithAnotherConfigurationIsRefusedSayingWhatDiffers()
    {
        var (_, snapshot) = Taken();
        Assert.Contains("RAM", Refused(new Machine(SmallConfig(memory: 4 << 20)), snapshot).Message);
        Assert.Contains("CPU model", Refused(new Machine(SmallConfig(cpu: CpuModel.Pentium)), snapshot).Message);
        var other = new byte[1 << 20];
        other[0] = 1;
        Assert.Contains("drive hda", Refused(new Machine(SmallConfig(disk: new MemoryBlockDevice(other))), snapshot).Message);
        Assert.Contains("drive hda: the snapshot's image has 1048576 bytes", Refused(new Machine(SmallConfig(disk: new MemoryBlockDevice(new byte[2 << 20]))), snapshot).Message);
        Assert.Contains("drive fda", Refused(new Machine(SmallConfig() with { Floppies = [] }), snapshot).Message);
        Assert.Contains("drive cdrom", Refused(new Machine(SmallConfig() with { CdRom = new MemoryBlockDevice(new byte[2048]) }), snapshot).Message);
        Assert.Contains("firmware", Refused(new Machine(SmallConfig() with { Rom = TestRom.All.Single(r => r.Name == "realmode").Build() }), snapshot).Message);
        Assert.Contains("firmware configuration items", Refused(new Machine(SmallConfig() with { VgaBios = new byte[4096] }), snapshot).Message);
    }

    [Fact]
    public void MediaTheHostTookOutComeBackWithASnapshotThatHasThem()
    {
        var config = SmallConfig() with { CdRom = new MemoryBlockDevice(new byte[2048 * 4]) };
        var m = new Machine(config);
        m.Run();
        byte[] withDisc = SnapshotHarness.Save(m);
        m.Ide[1].Cdrom(0)!.Eject();
        m.Floppy.InsertDisk(0, null);
        byte[] without = SnapshotHarness.Save(m);
        SnapshotHarness.Restore(m, withDisc);
        Assert.Same(config.CdRom, m.Ide[1].Cdrom(0)!.Media);
        Assert.Equal(withDisc, SnapshotHarness.Save(m));
        SnapshotHarness.Restore(m, without);
        Assert.Null(m.Ide[1].Cdrom(0)!.Media);
        Assert.Equal(without, SnapshotHarness.Save(m));
    }

    [Fact]
    public void FilesRoundTripAndInspectReportsTheHeader()
    {
        var (m, snapshot) = Taken();
        string path = Path.Combine(Path.GetTempPath(), $"jitvm-snapshot-{Environment.ProcessId}-{Guid.NewGuid():N}.jvs");
        try
        {
            MachineSnapshot.SaveFile(m, path);
            Assert.Equal(snapshot, File.ReadAllBytes(path));
            Assert.False(File.Exists(path + ".tmp"));
            var target = new Machine(SmallConfig());
            MachineSnapshot.RestoreFile(target, path);
            Assert.Equal(snapshot, SnapshotHarness.Save(target));
            using var f = File.OpenRead(path);
            var info = MachineSnapshot.Inspect(f);
            Assert.Equal(MachineSnapshot.FormatVersion, info.FormatVersion);
            Assert.Equal(m.Cpu.InstructionCount, info.Instructions);
            Assert.Equal(m.Clock.Now, info.GuestTimeNs);
            Assert.Equal(2u << 20, info.MemoryBytes);
            Assert.Equal(m.Cpu.ModelFingerprint, info.CpuModel);
            Assert.Equal(2, info.Disks.Count);
            Assert.StartsWith("hda: 1048576 bytes, MemoryBlockDevice", info.Disks[0]);
            Assert.StartsWith("fda: 1474560 bytes", info.Disks[1]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Thousands of mutations (byte flips, overwritten runs, bytes inserted or deleted), each resealed so it passes the
    /// checksum and reaches the section readers: every one either loads (and the machine then runs) or is refused with
    /// a <see cref="SnapshotFormatException"/> that leaves the machine unchanged. Unsealed mutations all fail the checksum.
    /// </summary>
    [Fact]
    public async Task MutatedSnapshotsLoadOrAreRefusedNeverAnythingElse()
    {
        var (_, snapshot) = Taken();
        // After a load the machine runs a little, with a short wall-clock limit (a state halted with a timer armed and
        // every interrupt masked idles until one).
        var target = new Machine(SmallConfig() with { MaxInstructions = 2_000, MaxSeconds = 0.02 });
        var rng = new Random(1234);
        // Offsets of the sections, so a share of the mutations lands on each section's fields rather than in RAM.
        var tags = new[] { "MACH", "CLK ", "CPU ", "FPU ", "MEM ", "PIC ", "PIT ", "PRTB", "RTC ", "KBC ", "DMA ", "FDC ", "PCI ", "FWCF", "VGA ", "IDE ", "UART", "RCR ", "FERR", "DEXT", "POST", "PRTA", "ACPM", "HDR ", "DISK" };
        var starts = tags.Select(t => SectionAt(snapshot, t)).ToArray();
        int loaded = 0, refused = 0;
        var work = Task.Run(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                byte[] bad;
                do bad = Mutate(snapshot, rng, starts);
                while (bad.AsSpan().SequenceEqual(snapshot));                   // a flip undone, a byte set to itself
                bool sealed_ = i % 10 != 0;
                if (sealed_) bad = Reseal(bad);
                // Every fourth time, also check that a refused snapshot leaves the machine exactly as it was.
                byte[]? before = i % 4 == 0 ? SnapshotHarness.Save(target) : null;
                try
                {
                    SnapshotHarness.Restore(target, bad);
                    loaded++;
                    Assert.True(sealed_, "an unsealed mutation passed the checksum");
                    target.Run();                                           // whatever state it is, it runs
                }
                catch (SnapshotFormatException e)
                {
                    refused++;
                    Assert.False(string.IsNullOrWhiteSpace(e.Message));
                    if (before is not null)
                        Assert.True(before.AsSpan().SequenceEqual(SnapshotHarness.Save(target)), $"mutation {i}: a refused snapshot changed the machine ({e.Message})");
                }
            }
        });
        // A hang shows up as a TimeoutException.
        await work.WaitAsync(TimeSpan.FromSeconds(90));
        output.WriteLine($"{loaded} mutated snapshots loaded, {refused} refused");
        Assert.True(refused > 800, $"refused {refused}");
        Assert.True(loaded > 100, $"loaded {loaded}");
    }

    static byte[] Mutate(byte[] file, Random rng, int[] sectionStarts)
    {
        // Aim at a section's first 600 bytes most of the time, anywhere otherwise.
        int at = rng.Next(4) == 0 ? rng.Next(24, file.Length - 32) : Math.Min(file.Length - 33, sectionStarts[rng.Next(sectionStarts.Length)] + rng.Next(600));
        var list = file.ToList();
        switch (rng.Next(5))
        {
            case 0:                                                          // flip bits
                for (int k = 0; k < 1 + rng.Next(3); k++) list[Math.Min(list.Count - 33, at + rng.Next(8))] ^= (byte)(1 << rng.Next(8));
                break;
            case 1:                                                          // extreme values
                byte v = (byte)(rng.Next(3) switch { 0 => 0x00, 1 => 0xFF, _ => 0x7F });
                for (int k = 0; k < 1 + rng.Next(8) && at + k < list.Count - 32; k++) list[at + k] = v;
                break;
            case 2:                                                          // random run
                for (int k = 0; k < 1 + rng.Next(16) && at + k < list.Count - 32; k++) list[at + k] = (byte)rng.Next(256);
                break;
            case 3:                                                          // delete bytes
                list.RemoveRange(at, Math.Min(1 + rng.Next(8), list.Count - 32 - at));
                break;
            default:                                                         // insert bytes
                list.InsertRange(at, Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => (byte)rng.Next(256)));
                break;
        }
        return list.ToArray();
    }
}
