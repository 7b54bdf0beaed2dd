using JitVm.Conformance.SingleStep;
using JitVm.Cpu;
using Xunit.Abstractions;

namespace JitVm.Conformance.Tests;

/// <summary>The hardware-captured vectors, run on the interpreter: nothing may fail outside the allow-list.</summary>
public class SingleStepVectorTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("80286-real", "286")]
    [InlineData("80386-sample", "386")]
    public void WholeVectorSetPassesOnTheInterpreter(string set, string cpu)
    {
        var model = CpuModel.FromName(cpu)!;
        string dir = Path.Combine(VectorSets.Root, set);
        var md = VectorSetMetadata.Load(dir);
        var runner = new SingleStepRunner(model, c => new Interpreter(c), DefaultAllowLists.For(model));
        long passed = 0, failed = 0;
        var unexpected = new List<string>();
        foreach (var f in SingleStepRunner.ExpandPaths([dir]))
        {
            var r = runner.RunFile(f, md);
            passed += r.Passed;
            failed += r.Failed;
            if (r.Unexpected > 0) unexpected.Add($"{r.Opcode}: {r.Unexpected} unexpected; first: {r.FirstFailure}");
        }
        output.WriteLine($"{set}: {passed} passed, {failed} failed");
        Assert.True(passed > 0, "no vectors ran");
        Assert.True(unexpected.Count == 0, string.Join(Environment.NewLine, unexpected));
    }
}
