using System.Diagnostics;
using JitVm.Cpu;
using Xunit.Abstractions;

namespace JitVm.HostOracle.Tests;

/// <summary>
/// The differential test: vectors generated and executed natively on this machine's CPU (fixed seed), compared
/// with the interpreter on every defined result and flag. Needs an x86-64 Linux host; anywhere else it fails
/// with the reason (it does not skip).
/// </summary>
public class HostVectorTests(ITestOutputHelper output)
{
    public const ulong Seed = 0x4A49_5456_4D30_0001;
    const long VectorCount = 2_000_000;

    [Fact]
    public void InterpreterMatchesTheHostCpuOnTwoMillionVectors()
    {
        var forms = FormCatalog.All;
        // The P6 model has every form; the older models see every 4th vector of the forms they have (the 286: 8/16-bit).
        var checker = new Checker(forms,
        [
            new CheckTarget(Oracle.P6Model),
            new CheckTarget(CpuModel.I286, 4),
            new CheckTarget(CpuModel.I386, 4),
            new CheckTarget(CpuModel.I486, 4),
            new CheckTarget(CpuModel.Pentium, 4),
        ], maxReports: 25);
        var sw = Stopwatch.StartNew();
        using (var native = new NativeExecutor(forms))
            Oracle.Generate(native, forms, Oracle.Distribute(forms, VectorCount), Seed, checker.Check);
        sw.Stop();

        foreach (var m in checker.Models)
            output.WriteLine($"{m.Model}: {m.Compared} vectors ({m.DivideErrors} #DE), {m.Mismatches} mismatches");
        output.WriteLine($"{forms.Count} forms ({forms.Count(f => f.IsSequence)} sequences), {checker.Vectors} vectors on the first model " +
                         $"({checker.SingleInstructionVectors} single-instruction), {sw.Elapsed.TotalSeconds:F2} s");
        Assert.True(checker.Mismatches == 0,
            $"{checker.Mismatches} mismatches between the interpreter and the host CPU:\n{string.Join("\n", checker.Reports)}");
        Assert.True(checker.SingleInstructionVectors >= 1_000_000, $"only {checker.SingleInstructionVectors} single-instruction vectors were compared");
    }
}
