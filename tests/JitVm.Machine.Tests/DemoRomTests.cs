using System.Text;
using JitVm.Cpu;
using JitVm.Machine;
using JitVm.Machine.Firmware;

namespace JitVm.Machine.Tests;

public class DemoRomTests
{
    /// <summary>The demo ROM's expected console output, computed here independently of the guest.</summary>
    static string ExpectedOutput()
    {
        int limit = DemoRom.SieveLimit;
        var composite = new bool[limit];
        int primes = 0;
        for (int n = 2; n < limit; n++)
        {
            if (composite[n]) continue;
            primes++;
            for (long k = (long)n * n; k < limit; k += n) composite[k] = true;
        }
        uint a = 0, b = 1;
        for (int i = 0; i < DemoRom.FibonacciIndex; i++) (a, b) = (b, a + b);
        var words = new ushort[DemoRom.SortLength];
        ushort x = DemoRom.SortSeed;
        for (int i = 0; i < words.Length; i++) words[i] = x = (ushort)(x * 25173 + 13849);
        Array.Sort(words);
        uint checksum = 0;
        for (int i = 0; i < words.Length; i++) checksum += words[i] * (uint)(i + 1);
        int bcd = int.Parse($"{DemoRom.BcdA:X4}") + int.Parse($"{DemoRom.BcdB:X4}");
        return $"{DemoRom.Banner}\nprimes below {limit}: {primes}\nfib({DemoRom.FibonacciIndex}) = {a}\n" +
               $"sorted {DemoRom.SortLength} words, checksum {checksum}\nstring copy: ok\nint 60h doubled 21 to 42\n" +
               $"divide errors caught: {DemoRom.DivideErrors}\nbcd {DemoRom.BcdA:X4} + {DemoRom.BcdB:X4} = {bcd % 10000:D4}\ndone\n";
    }

    [Theory]
    [InlineData("386")]
    [InlineData("486")]
    public void DemoRomPrintsTheExpectedResultsAndHalts(string cpu)
    {
        var output = new StringBuilder();
        var m = new Machine(new MachineConfig { Cpu = CpuModel.FromName(cpu)!, DebugConsole = b => output.Append((char)b), MaxSeconds = 30 });
        var result = m.Run();
        Assert.Equal(ExpectedOutput(), output.ToString());
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.Equal(0xFF, result.PostCode);
        Assert.True(result.Instructions > 100_000, $"only {result.Instructions} instructions retired");
        Assert.Matches(@"^exit: reason=halt post=0xFF instructions=\d+ seconds=[\d.]+ mips=[\d.]+ engine=interp$", result.Summary);
    }

    [Fact]
    public void On286TheDemoRomStopsOnTheFirst32BitInstruction()
    {
        // The 286 has no operand-size prefix: the first 32-bit instruction raises #UD through the IVT (zeroed RAM),
        // so the guest never reaches its final POST code.
        var m = new Machine(new MachineConfig { Cpu = CpuModel.I286, MaxInstructions = 200_000 });
        var result = m.Run();
        Assert.NotEqual(0xFF, result.PostCode);
        Assert.True(m.Cpu.ExceptionCounts[CpuVectors.UD] > 0);
    }

    [Fact]
    public void DebugExitPortEndsTheRunWithQemuExitStatus()
    {
        // A ROM whose reset vector writes 0x21 to port 0xF4: exit status (0x21 << 1) | 1.
        var rom = new byte[0x1000];
        Array.Fill(rom, (byte)0x90);
        byte[] code = [0xB0, 0x21, 0xE6, 0xF4, 0xF4];           // mov al,21h; out 0F4h,al; hlt
        code.CopyTo(rom, 0xFF0);
        var m = new Machine(new MachineConfig { Rom = rom });
        var result = m.Run();
        Assert.Equal(ExitReason.DebugExit, result.Reason);
        Assert.Equal(0x43, result.GuestExitCode);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(300 * 1024)]
    public void BadRomSizesAreRejectedWithAClearError(int size)
    {
        var e = Assert.Throws<ArgumentException>(() => new Machine(new MachineConfig { Rom = new byte[size] }));
        Assert.Contains("ROM image", e.Message);
    }

    [Fact]
    public void TripleFaultEndsTheRun()
    {
        // IDTR limit 0 makes every interrupt fail: INT 3 → #GP → double fault → shutdown.
        var rom = new byte[0x1000];
        byte[] code =
        [
            0x2E, 0x0F, 0x01, 0x1E, 0xE0, 0xFF,        // lidt cs:[0FFE0h] (six zero bytes: limit 0)
            0xCC,                                       // int3
        ];
        code.CopyTo(rom, 0xFF0);
        var m = new Machine(new MachineConfig { Rom = rom, MaxInstructions = 1000 });
        var result = m.Run();
        Assert.Equal(ExitReason.Shutdown, result.Reason);
    }
}
