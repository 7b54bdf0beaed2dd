using JitVm.Cli;

namespace JitVm.Machine.Tests.Snapshots;

/// <summary><c>jitvm run --savevm FILE</c> and <c>--loadvm FILE</c>: a run split in two through a snapshot file prints what the whole run prints.</summary>
public class SnapshotCliTests
{
    [Fact]
    public void ARunSplitThroughASnapshotFilePrintsWhatTheWholeRunPrints()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"jitvm-snapcli-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string disk = Path.Combine(dir, "disk.img"), snapshot = Path.Combine(dir, "vm.jvs");
            File.WriteAllBytes(disk, SnapshotDeterminismTests.BootDisk());
            string[] Common(string log, long instructions, string engine) =>
            [
                "run", "--bios", SnapshotHarness.SeaBiosPath, "--hda", disk, "--memory", "64M", "--clock", "deterministic", "--boot", "c",
                "--serial", "none", "--debugcon", "file:" + Path.Combine(dir, log), "--max-instructions", instructions.ToString(), "--engine", engine,
            ];
            Assert.Equal(0, Program.Main([.. Common("first.txt", 4_000_000, "interp"), "--savevm", snapshot]));
            Assert.True(File.Exists(snapshot));
            Assert.Equal(0, Program.Main([.. Common("second.txt", 8_000_000, "jit"), "--loadvm", snapshot]));
            Assert.Equal(0, Program.Main(Common("whole.txt", 12_000_000, "interp")));
            string whole = File.ReadAllText(Path.Combine(dir, "whole.txt"));
            Assert.Contains("Bbcdefgh", whole);                              // the boot sector ran and read sectors 2, 3, ...
            Assert.Equal(whole, File.ReadAllText(Path.Combine(dir, "first.txt")) + File.ReadAllText(Path.Combine(dir, "second.txt")));
            // Another machine (less memory) is refused with exit status 2.
            Assert.Equal(2, Program.Main(["run", "--bios", SnapshotHarness.SeaBiosPath, "--hda", disk, "--memory", "32M", "--serial", "none", "--debugcon", "none", "--loadvm", snapshot]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
