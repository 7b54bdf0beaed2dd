using JitVm.Cli.Commands;

namespace JitVm.Machine.Tests;

public class RunCommandTests
{
    [Theory]
    [InlineData("16M", 16u << 20)]
    [InlineData("512k", 512u << 10 << 1 >> 1)]
    [InlineData("1G", 1u << 30)]
    [InlineData("2097152", 2u << 20)]
    [InlineData("2046M", 2046u << 20)]
    public void ParsesMemorySizes(string text, uint expected)
    {
        if (expected < 1 << 20)
        {
            Assert.False(RunCommand.TryParseSize(text, out _));
            return;
        }
        Assert.True(RunCommand.TryParseSize(text, out uint v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("4G")]
    [InlineData("2G")]                 // RAM and ROMs share one host array, which holds less than 2 GiB
    [InlineData("2047M")]
    [InlineData("-1M")]
    [InlineData("99999999999999999999G")]
    public void RejectsBadMemorySizes(string text) => Assert.False(RunCommand.TryParseSize(text, out _));

    [Fact]
    public void TheLargestMemoryAcceptedBootsAndOneMoreIsAnError()
    {
        Assert.Equal(0, JitVm.Cli.Program.Main(["run", "--memory", "2046M", "--debugcon", "none", "--serial", "none", "--max-instructions", "1000"]));
        Assert.Equal(2, JitVm.Cli.Program.Main(["run", "--memory", "2G", "--debugcon", "none", "--serial", "none"]));
    }
}
