using JitVm.Conformance.SingleStep;
using JitVm.Cpu;
using Xunit.Abstractions;

namespace JitVm.Jit.Tests;

/// <summary>Every hardware vector, run on the interpreter and on forced translation in lockstep.</summary>
public class LockstepVectorTests(ITestOutputHelper output)
{
    static string VectorRoot()
    {
        var env = Environment.GetEnvironmentVariable("JITVM_SINGLESTEP_DIR");
        if (!string.IsNullOrEmpty(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data", "singlestep");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("SingleStepTests vectors not found (set JITVM_SINGLESTEP_DIR)");
    }

    [Theory]
    [InlineData("80286-real", "286")]
    [InlineData("80386-sample", "386")]
    public void TranslatedCodeMatchesTheInterpreterOnEveryVector(string set, string cpu)
    {
        var model = CpuModel.Parse(cpu);
        var lockstep = Pair.Create(model, 16 << 20);
        var runner = new SingleStepRunner(model, c => new Interpreter(c));
        int tests = 0;
        var failures = new List<string>();
        foreach (var path in SingleStepRunner.ExpandPaths([Path.Combine(VectorRoot(), set)]))
        {
            var file = MooReader.Load(path);
            foreach (var t in file.Tests)
            {
                lockstep.Both((c, m) => runner.LoadState(c, m, t.Initial));
                var touched = t.Initial.Ram.Concat(t.Final.Ram).Select(r => (r.Address, 1u)).ToList();
                lockstep.MemoryRanges = touched;
                var d = lockstep.Run(64);
                tests++;
                if (d is not null && failures.Count < 20) failures.Add($"{SingleStepRunner.OpcodeKey(path)} #{t.Index} {t.Name}: {d}");
                lockstep.Both((c, m) => { foreach (var (a, _) in touched) m.Poke(a, [0]); });
            }
        }
        output.WriteLine($"{set}: {tests} vectors in lockstep, {failures.Count} divergences");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.True(tests > 0);
    }
}
