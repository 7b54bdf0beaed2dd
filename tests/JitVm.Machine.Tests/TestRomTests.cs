using System.Text;
using JitVm.TestRoms;

namespace JitVm.Machine.Tests;

/// <summary>Runs every test ROM on the interpreter and compares its console log and final POST code with testroms/expected.</summary>
public class TestRomTests
{
    public static TheoryData<string> Roms()
    {
        var data = new TheoryData<string>();
        foreach (var r in TestRom.All) data.Add(r.Name);
        return data;
    }

    static string ExpectedDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "testroms", "expected");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("testroms/expected not found above the test binaries");
    }

    [Theory]
    [MemberData(nameof(Roms))]
    public void RomReachesItsFinalPostCodeWithTheExpectedLog(string name)
    {
        var rom = TestRom.All.Single(r => r.Name == name);
        var log = new StringBuilder();
        var m = new Machine(new MachineConfig { Cpu = rom.Model, Rom = rom.Build(), DebugConsole = b => log.Append((char)b), MaxSeconds = 60 });
        var result = m.Run();
        string expected = File.ReadAllText(Path.Combine(ExpectedDir(), name + ".txt"));
        Assert.Equal(expected, log.ToString());
        Assert.True(result.Reason == ExitReason.Halt, result.Summary);
        Assert.Equal(rom.FinalPost, result.PostCode);
    }

    [Fact]
    public void EveryRomHasAnExpectedLog()
    {
        var dir = ExpectedDir();
        foreach (var r in TestRom.All) Assert.True(File.Exists(Path.Combine(dir, r.Name + ".txt")), $"missing testroms/expected/{r.Name}.txt");
    }
}
