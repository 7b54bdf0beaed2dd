using System.Text;
using JitVm.Cli.Commands;
using JitVm.Machine.Boot;
using JitVm.Workloads;

namespace JitVm.Machine.Tests;

/// <summary>Several machines in one process, each on its own thread with the background-compiling engine: nothing is shared that could mix them up.</summary>
public class ConcurrentMachineTests
{
    static (string Output, RunResult Result) Run(string workload, int iterations, string engine)
    {
        var output = new StringBuilder();
        var choice = Engines.Resolve(engine, out _)!;
        var m = new Machine(new MachineConfig
        {
            Kernel = new KernelImage(Workload.Find(workload)!.Build(iterations)),
            EngineFactory = choice.Factory,
            EngineName = choice.Name,
            DebugConsole = b => output.Append((char)b),
            MemoryBytes = 16 << 20,
            MaxSeconds = 120,
        });
        var result = m.Run();
        return (output.ToString(), result);
    }

    [Fact]
    public void FourMachinesOnFourThreadsPrintWhatTheInterpreterPrints()
    {
        (string Name, int Iterations)[] jobs = [("mixed", 20_000), ("call-heavy", 8), ("self-modifying", 300), ("memory", 1)];
        var expected = jobs.Select(j => Run(j.Name, j.Iterations, "interp")).ToArray();
        var results = new (string Output, RunResult Result)[jobs.Length];
        var threads = jobs.Select((j, k) => new Thread(() => results[k] = Run(j.Name, j.Iterations, "auto"))).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        for (int k = 0; k < jobs.Length; k++)
        {
            Assert.Equal(ExitReason.DebugExit, expected[k].Result.Reason);
            Assert.Equal(expected[k].Result.Reason, results[k].Result.Reason);
            Assert.Equal(expected[k].Result.GuestExitCode, results[k].Result.GuestExitCode);
            Assert.Equal(expected[k].Result.Instructions, results[k].Result.Instructions);
            Assert.Equal(expected[k].Output, results[k].Output);
            Assert.Contains("checksum", results[k].Output);
        }
    }
}
