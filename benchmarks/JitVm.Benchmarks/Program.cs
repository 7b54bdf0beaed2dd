using BenchmarkDotNet.Running;

namespace JitVm.Benchmarks;

/// <summary>Entry point for every BenchmarkDotNet suite: <c>dotnet run -c Release --project benchmarks/JitVm.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
