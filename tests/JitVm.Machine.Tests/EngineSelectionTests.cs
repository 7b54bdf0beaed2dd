using JitVm.Cli;
using JitVm.Cli.Commands;
using JitVm.Cpu;

namespace JitVm.Machine.Tests;

public class EngineSelectionTests
{
    /// <summary>An engine that wraps the interpreter and counts its calls: what a factory can plug in.</summary>
    sealed class CountingEngine(Processor cpu) : IExecutionEngine
    {
        readonly Interpreter inner = new(cpu);
        public int Calls;
        public Processor Cpu => inner.Cpu;
        public StopReason Run(long budget)
        {
            Calls++;
            return inner.Run(budget);
        }
    }

    [Fact]
    public void TheMachineRunsTheEngineItsFactoryBuildsAndNamesItInTheSummary()
    {
        CountingEngine? built = null;
        var m = new Machine(new MachineConfig { EngineFactory = c => built = new CountingEngine(c), EngineName = "counting" });
        var result = m.Run();
        Assert.Same(built, m.Engine);
        Assert.True(built!.Calls > 0);
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.EndsWith("engine=counting", result.Summary);
    }

    [Fact]
    public void AFactoryMustBuildTheEngineForTheMachinesCpu()
    {
        var other = new Processor(CpuModel.Pentium, new Core.PhysicalMemory(1 << 20), new Core.IoBus());
        Assert.Throws<ArgumentException>(() => new Machine(new MachineConfig { EngineFactory = _ => new Interpreter(other) }));
    }

    [Fact]
    public void EngineNamesResolveInOnePlace()
    {
        Assert.Equal("interp", Engines.Resolve("interp", out _)!.Name);
        Assert.Equal("auto", Engines.Resolve("auto", out _)!.Name);
        Assert.Equal("jit", Engines.Resolve("jit", out _)!.Name);
        Assert.Null(Engines.Resolve("turbo", out string? why));
        Assert.Contains("unknown engine", why);
    }

    [Theory]
    [InlineData("jit")]
    [InlineData("auto")]
    public void TranslatingEnginesRunTheDemoRomToItsEnd(string engine)
    {
        var choice = Engines.Resolve(engine, out _)!;
        var m = new Machine(new MachineConfig { EngineFactory = choice.Factory, EngineName = choice.Name, MaxInstructions = 5_000_000 });
        var result = m.Run();
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.Equal(0xFF, result.PostCode);
        var s = ((IEngineStatistics)m.Engine).GetStatistics();
        // auto compiles in the background: how much of this short run was translated depends on host timing.
        if (engine == "jit")
        {
            Assert.True(s.TranslatedInstructions > 0, "nothing ran translated");
            Assert.True(s.BlocksTranslated >= s.BlocksCompiled && s.BlocksCompiled > 0);
            Assert.True(s.MedianCompileTimePerBlock <= s.MedianCompileTime && s.MedianCompileTime > TimeSpan.Zero);
            string text = RunCommand.FormatStats((IEngineStatistics)m.Engine, result);
            Assert.Contains($"compiled={s.BlocksCompiled} (guest blocks {s.BlocksTranslated})", text);
            Assert.Matches(@"average=\d+us median=\d+us median-per-block=\d+us", text);
        }
        Assert.Equal(result.Instructions, s.InterpretedInstructions + s.TranslatedInstructions);
    }

    [Fact]
    public void InterpreterStatisticsCoverTheRun()
    {
        var m = new Machine(new MachineConfig());
        var result = m.Run();
        var s = ((IEngineStatistics)m.Engine).GetStatistics();
        Assert.Equal(result.Instructions, s.Instructions);
        Assert.Equal(result.Instructions, s.InterpretedInstructions);
        Assert.Null(s.TranslatedInstructions);
        Assert.Null(s.BlocksCompiled);
        Assert.Null(s.CompileTime);
        Assert.True(s.BlocksDecoded > 0 && s.LiveBlocks > 0);
        Assert.Equal(s.CacheLookups, s.CacheHits + s.CacheMisses);

        string text = RunCommand.FormatStats((IEngineStatistics)m.Engine, result);
        Assert.Contains($"interpreted={result.Instructions} translated=- total={result.Instructions}", text);
        Assert.Contains("compiled=-", text);
    }
}
