using BenchmarkDotNet.Attributes;
using JitVm.Jit;

namespace JitVm.Benchmarks;

/// <summary>
/// The same CPU-bound guest loop as <see cref="InterpreterBenchmarks"/>, translated (threshold 0: compiled
/// before its first run, outside the measurement). Mean is nanoseconds per guest instruction.
/// </summary>
[Config(typeof(MipsConfig))]
public class JitBenchmarks
{
    const uint Iterations = 20_000_000;
    GuestLoop loop = null!, pagedLoop = null!;

    [GlobalSetup]
    public void Setup()
    {
        loop = new GuestLoop(Iterations, c => new JitEngine(c, threshold: 0));
        loop.Run();
        pagedLoop = new GuestLoop(Iterations, c => new JitEngine(c, threshold: 0), paged: true);
        pagedLoop.Run();
    }

    [Benchmark(OperationsPerInvoke = (int)(3 + 9 * Iterations + 1))]
    public long IntegerAluMemoryLoop() => loop.Run();

    [Benchmark(OperationsPerInvoke = (int)(3 + 9 * Iterations + 1))]
    public long IntegerAluMemoryLoopPaged() => pagedLoop.Run();
}
