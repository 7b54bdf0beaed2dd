using JitVm.Cli;
using JitVm.Cli.Bench;
using JitVm.Cli.Commands;
using JitVm.Cpu;
using JitVm.Workloads;

namespace JitVm.Machine.Tests;

public class BenchCommandTests
{
    /// <summary>An engine with a bug: once the guest is past its start-up it flips a bit of EBX.</summary>
    sealed class BrokenEngine(Processor cpu) : IExecutionEngine
    {
        readonly Interpreter inner = new(cpu);
        bool done;
        public Processor Cpu => inner.Cpu;
        public StopReason Run(long budget)
        {
            var stop = inner.Run(Math.Min(budget, 5000));
            if (!done && Cpu.InstructionCount > 3000)
            {
                done = true;
                Cpu.Ebx ^= 1;
            }
            return stop;
        }
    }

    static BenchKernel Small() => new("integer-loop", Workload.Find("integer-loop")!.Build(20_000), Builtin: true);
    static readonly EngineChoice Interp = Engines.Resolve("interp", out _)!;
    static BenchRunner Runner() => new(CpuModel.Pentium, 16 << 20, 30, 1);

    [Fact]
    public void EnginesThatAgreeGiveATableAndSuccess()
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var other = new EngineChoice("interp2", c => new Interpreter(c));
        int rc = BenchCommand.Execute(Runner(), [Small()], [Interp, other], false, output, errors);
        Assert.Equal(0, rc);
        string text = output.ToString();
        Assert.Contains("workload", text);
        Assert.Matches(@"integer-loop\s+interp\s+[\d,]+\s+[\d.]+\s+[\d.]+\s+1\.00x\s+-\s+-\s+ok", text);
        Assert.Contains("every engine printed the same guest output", text);
        Assert.Equal("", errors.ToString());
    }

    [Fact]
    public void AnEngineThatPrintsSomethingElseIsReportedLoudly()
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var broken = new EngineChoice("broken", c => new BrokenEngine(c));
        int rc = BenchCommand.Execute(Runner(), [Small()], [Interp, broken], false, output, errors);
        Assert.Equal(1, rc);
        Assert.Contains("MISMATCH on port 0xE9 between interp and broken", errors.ToString());
        Assert.Contains("MISMATCH on COM1", errors.ToString());
    }

    [Fact]
    public void DifferencesNameTheFirstDifferingByte()
    {
        Assert.StartsWith("first difference at byte 3 (5 vs 5 bytes)", BenchRunner.Difference("abcde", "abcXe"));
        Assert.Contains("<end>", BenchRunner.Difference("abc", "abcd"));
    }

    [Fact]
    public void TheCommandRunsBuiltInAndExternalKernels()
    {
        Assert.Equal(0, Program.Main(["bench", "--workloads", "call-heavy", "--scale", "0.001"]));
        string dir = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "tiny.elf"), Workload.Find("mixed")!.Build(10));
            Assert.Equal(0, Program.Main(["bench", "--kernels", dir, "--engines", "interp"]));
            Assert.Equal(2, Program.Main(["bench", "--kernels", Path.Combine(dir, "missing")]));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("--engines", "interp,turbo")]
    [InlineData("--engines", "turbo")]
    [InlineData("--workloads", "nonesuch")]
    [InlineData("--scale", "0")]
    public void BadSelectionsAreErrors(string option, string value) =>
        Assert.Equal(2, Program.Main(["bench", option, value]));
}
