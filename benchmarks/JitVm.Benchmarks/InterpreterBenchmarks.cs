using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace JitVm.Benchmarks;

/// <summary>
/// Interpreter throughput on a CPU-bound guest loop. Each operation is one guest instruction, so the Mean
/// column is nanoseconds per guest instruction and the MIPS column is millions of guest instructions per second.
/// </summary>
[Config(typeof(MipsConfig))]
public class InterpreterBenchmarks
{
    const uint Iterations = 2_000_000;
    GuestLoop loop = null!, pagedLoop = null!;

    [GlobalSetup]
    public void Setup()
    {
        loop = new GuestLoop(Iterations);
        loop.Run();                                  // decode the blocks and let tiered compilation settle
        pagedLoop = new GuestLoop(Iterations, paged: true);
        pagedLoop.Run();
    }

    /// <summary>The loop in real mode (no paging).</summary>
    [Benchmark(OperationsPerInvoke = (int)(3 + 9 * Iterations + 1))]
    public long IntegerAluMemoryLoop() => loop.Run();

    /// <summary>The same loop as flat 32-bit code with paging on.</summary>
    [Benchmark(OperationsPerInvoke = (int)(3 + 9 * Iterations + 1))]
    public long IntegerAluMemoryLoopPaged() => pagedLoop.Run();

}

/// <summary>Adds the MIPS column to a suite whose operations are guest instructions.</summary>
public sealed class MipsConfig : ManualConfig
{
    public MipsConfig() => AddColumn(new MipsColumn());

    /// <summary>Millions of guest instructions per second, from the mean time per operation (= per instruction).</summary>
    sealed class MipsColumn : IColumn
    {
        public string Id => "MIPS";
        public string ColumnName => "MIPS";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Guest instructions per second, millions";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is null) return "-";
            double nsPerInstruction = report.ResultStatistics.Mean;
            return (1000.0 / nsPerInstruction).ToString("F1");
        }
    }
}
