using JitVm.Cli;

namespace JitVm.Machine.Tests;

public class CliTests
{
    [Theory]
    [InlineData(4096)]
    [InlineData(65536 + 1)]
    public void BiosImagesOfTheWrongSizeAreRejected(int size)
    {
        string path = Path.Combine(Path.GetTempPath(), $"bios-{Guid.NewGuid():N}.bin");
        try
        {
            File.WriteAllBytes(path, new byte[size]);
            Assert.Equal(2, Program.Main(["run", "--bios", path, "--debugcon", "none"]));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void MissingBiosFileIsAnErrorNotACrash() =>
        Assert.Equal(2, Program.Main(["run", "--bios", "/nonexistent/bios.bin"]));

    [Fact]
    public void BadSinkSpecificationIsRejected() =>
        Assert.Equal(2, Program.Main(["run", "--serial", "tcp:1234"]));

    [Fact]
    public void DemoRomRunsToHaltAndWritesItsLogToAFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"debugcon-{Guid.NewGuid():N}.txt");
        try
        {
            Assert.Equal(0, Program.Main(["run", "--debugcon", "file:" + path, "--serial", "none"]));
            Assert.EndsWith("done\n", File.ReadAllText(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TripleFaultEndsTheRunWithNoReboot()
    {
        string path = Path.Combine(Path.GetTempPath(), $"bios-{Guid.NewGuid():N}.bin");
        try
        {
            var rom = new byte[64 << 10];
            // lidt cs:[0FFE0h] (zero bytes: IDT limit 0), then int3: #GP → #DF → shutdown.
            new byte[] { 0x2E, 0x0F, 0x01, 0x1E, 0xE0, 0xFF, 0xCC }.CopyTo(rom, 0xFFF0);
            File.WriteAllBytes(path, rom);
            Assert.Equal(1, Program.Main(["run", "--bios", path, "--no-reboot", "--debugcon", "none"]));
        }
        finally { File.Delete(path); }
    }
}
