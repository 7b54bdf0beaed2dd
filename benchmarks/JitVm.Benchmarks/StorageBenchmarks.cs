using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using JitVm.Storage;

namespace JitVm.Benchmarks;

/// <summary>
/// Disk image throughput with 4 KiB requests (what a guest's page-sized I/O looks like) on a 256 MiB image in the
/// temporary directory, per format (raw, qcow2 with 64 KiB clusters, dynamic VHD with 2 MiB blocks). Each operation
/// is one 4 KiB request, so Mean is the time per request and the MB/s column the throughput (10^6 bytes per
/// second). Reads and overwrites run on a fully allocated image (the host page cache holds it: this measures the
/// format's own overhead); <c>SequentialWriteAllocating</c> writes into a new, empty image, so every cluster or
/// block is allocated by the writes.
/// </summary>
[Config(typeof(ThroughputConfig))]
public class StorageBenchmarks
{
    const long ImageSize = 256L << 20;
    const int Request = 4096;
    const int RequestsPerInvoke = 16384;        // 64 MiB per invocation

    [Params("raw", "qcow2", "vpc")]
    public string Format { get; set; } = "raw";

    string dir = null!;
    DiskImage image = null!;
    DiskImage? fresh;
    readonly byte[] buffer = new byte[Request];
    long[] randomOffsets = null!;
    long sequential;
    int freshCount;

    [GlobalSetup]
    public void Setup()
    {
        dir = Directory.CreateTempSubdirectory("jitvm-storage-bench-").FullName;
        image = ImageConverter.Create(Format, Path.Combine(dir, "full." + Format), ImageSize);
        // Allocate the whole disk with non-zero data.
        var chunk = new byte[1 << 20];
        new Random(1).NextBytes(chunk);
        for (long pos = 0; pos < ImageSize; pos += chunk.Length) image.Write(pos, chunk);
        image.Flush();
        var rnd = new Random(2);
        randomOffsets = new long[RequestsPerInvoke];
        for (int i = 0; i < randomOffsets.Length; i++) randomOffsets[i] = rnd.NextInt64(ImageSize / Request) * Request;
        new Random(3).NextBytes(buffer);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        image.Dispose();
        fresh?.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    [IterationSetup(Target = nameof(SequentialWriteAllocating))]
    public void NewImage()
    {
        fresh?.Dispose();
        foreach (var f in Directory.GetFiles(dir, "fresh-*")) File.Delete(f);
        fresh = ImageConverter.Create(Format, Path.Combine(dir, $"fresh-{freshCount++}.{Format}"), ImageSize);
    }

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public void SequentialRead()
    {
        for (int i = 0; i < RequestsPerInvoke; i++) image.Read(NextSequential(), buffer);
    }

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public void RandomRead()
    {
        foreach (long off in randomOffsets) image.Read(off, buffer);
    }

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public void SequentialWrite()
    {
        for (int i = 0; i < RequestsPerInvoke; i++) image.Write(NextSequential(), buffer);
    }

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public void RandomWrite()
    {
        foreach (long off in randomOffsets) image.Write(off, buffer);
    }

    /// <summary>The whole 256 MiB of a new image, once per iteration.</summary>
    [Benchmark(OperationsPerInvoke = (int)(ImageSize / Request))]
    public void SequentialWriteAllocating()
    {
        for (long off = 0; off < ImageSize; off += Request) fresh!.Write(off, buffer);
    }

    long NextSequential()
    {
        long off = sequential;
        sequential = (sequential + Request) % ImageSize;
        return off;
    }
}

/// <summary>Adds an MB/s column to a suite whose operations each move 4096 bytes.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig() => AddColumn(new ThroughputColumn());

    /// <summary>10^6 bytes per second, from the mean time per operation (one 4 KiB request).</summary>
    sealed class ThroughputColumn : IColumn
    {
        public string Id => "MBps";
        public string ColumnName => "MB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Throughput, 10^6 bytes per second (4096 bytes per operation)";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is null) return "-";
            double nsPerRequest = report.ResultStatistics.Mean;
            return (4096 * 1000.0 / nsPerRequest).ToString("F0");
        }
    }
}
