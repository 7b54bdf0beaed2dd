using System.Diagnostics;
using JitVm.HostOracle.X87Insn;
using Xunit.Abstractions;

namespace JitVm.HostOracle.Tests;

/// <summary>
/// The instruction-level x87 differential: every form of <see cref="X87InsnForm.All"/> on random FPU states, on this
/// machine's CPU and through the interpreter, compared on everything the SDM defines. Needs an x86-64 Linux host.
/// </summary>
public class X87InsnTests(ITestOutputHelper output)
{
    const ulong Seed = 0x5838_3749_4E53_0001;
    const int PerForm = 2000;

    [Fact]
    public void InterpreterMatchesTheHostFpuInstructionByInstruction()
    {
        var forms = X87InsnForm.All;
        var sw = Stopwatch.StartNew();
        using var native = new X87InsnNative(forms);
        var oracle = new X87InsnOracle(native, new X87InsnHarness(forms));
        oracle.Run(PerForm, Seed);
        output.WriteLine($"{forms.Count} forms, {oracle.Vectors} vectors, {oracle.Mismatches} mismatches, {sw.Elapsed.TotalSeconds:F2} s");
        output.WriteLine("host status bits set: " + string.Join(" ", oracle.StatusBitCounts.Select((n, b) => $"{b}:{n}")));
        Assert.True(oracle.Mismatches == 0, $"{oracle.Mismatches} mismatches:\n{string.Join("\n", oracle.Reports)}");
        // Coverage: the vectors reached invalid operations, stack faults, denormals, zero divides, overflow, underflow, precision, ES.
        for (int bit = 0; bit <= 7; bit++) Assert.True(oracle.StatusBitCounts[bit] > 100, $"status bit {bit} set by only {oracle.StatusBitCounts[bit]} vectors");
    }
}
