using System.Diagnostics;
using JitVm.HostOracle.X87;
using Xunit.Abstractions;

namespace JitVm.HostOracle.Tests;

/// <summary>
/// SoftFloat against the host's x87, natively, every exception masked (unmasked responses would trap; the unit
/// tests in JitVm.Cpu.Tests/Fpu cover them from the SDM). Every result bit and the status word (flags, C0-C3) must
/// match; the transcendentals must be within 1 ulp of the host with the same flags (C1 aside), or, where the host's
/// 66-bit π reduction puts it further off, within 1 ulp of an independent 512-bit reference. Needs an x86-64 Linux
/// host; anywhere else it fails with the reason.
/// </summary>
public class X87OracleTests(ITestOutputHelper output)
{
    const ulong Seed = 0x5838_375F_4F52_4143;

    /// <summary>The vectors per operation, by group; the groups together are the acceptance's million-plus.</summary>
    public static readonly (string Group, (X87Op Op, int Count)[] Ops)[] Plan =
    [
        ("arithmetic", [(X87Op.Add, 170_000), (X87Op.Sub, 110_000), (X87Op.Subr, 20_000), (X87Op.Mul, 160_000),
                        (X87Op.Div, 140_000), (X87Op.Divr, 20_000), (X87Op.Sqrt, 100_000)]),
        ("conversions", [(X87Op.Fild64, 20_000), (X87Op.FldSingle, 40_000), (X87Op.FldDouble, 40_000), (X87Op.Fbld, 20_000),
                         (X87Op.Fist16, 30_000), (X87Op.Fist32, 30_000), (X87Op.Fist64, 40_000),
                         (X87Op.FstSingle, 60_000), (X87Op.FstDouble, 60_000), (X87Op.Fbstp, 40_000)]),
        ("compares", [(X87Op.Fcom, 40_000), (X87Op.Fucom, 40_000), (X87Op.Ftst, 10_000), (X87Op.Fxam, 20_000)]),
        ("rounding", [(X87Op.Frndint, 60_000), (X87Op.Fscale, 60_000), (X87Op.Fxtract, 30_000),
                      (X87Op.Fprem, 80_000), (X87Op.Fprem1, 80_000)]),
        ("transcendentals", [(X87Op.Fsin, 6_000), (X87Op.Fcos, 6_000), (X87Op.Fsincos, 4_000), (X87Op.Fptan, 5_000),
                             (X87Op.Fpatan, 5_000), (X87Op.F2xm1, 5_000), (X87Op.Fyl2x, 5_000), (X87Op.Fyl2xp1, 5_000)]),
    ];

    void RunGroup(string group)
    {
        var (_, ops) = Plan.Single(p => p.Group == group);
        var sw = Stopwatch.StartNew();
        using var native = new X87Native();
        var oracle = new X87Oracle(native, 100);
        long total = 0;
        foreach (var (op, count) in ops)
        {
            long bad = oracle.Run(op, count, Seed);
            total += count;
            var f = oracle.StatusBitCounts;
            var r = oracle.ResultCounts;
            output.WriteLine($"{op}: {count} vectors, {bad} mismatches (host flags I {f[0]} D {f[1]} Z {f[2]} O {f[3]} U {f[4]} P {f[5]}, " +
                             $"C0 {f[8]} C1 {f[9]} C2 {f[10]} C3 {f[14]}; results: {r.Denormal} denormal, {r.NaN} NaN, {r.Infinity} infinite, {r.Zero} zero)");
        }
        output.WriteLine($"{group}: {total} vectors, {oracle.Mismatches} mismatches, {sw.Elapsed.TotalSeconds:F2} s");
        if (group == "transcendentals")
            output.WriteLine($"host deviations explained by its 66-bit π: {oracle.HostReductionDeviations}; C1 differences with equal results: {oracle.HostC1Differences}");
        Assert.True(oracle.Mismatches == 0, $"{oracle.Mismatches} mismatches with the host x87:\n{string.Join("\n", oracle.Reports)}");
    }

    [Fact]
    public void ArithmeticMatchesTheHostX87() => RunGroup("arithmetic");

    [Fact]
    public void ConversionsMatchTheHostX87() => RunGroup("conversions");

    [Fact]
    public void ComparesMatchTheHostX87() => RunGroup("compares");

    [Fact]
    public void RoundingAndRemaindersMatchTheHostX87() => RunGroup("rounding");

    [Fact]
    public void TranscendentalsAreWithinOneUlpOfTheHostX87() => RunGroup("transcendentals");

    [Fact]
    public void ThePlanHasAMillionVectors() =>
        Assert.True(Plan.Sum(g => g.Ops.Sum(o => (long)o.Count)) >= 1_000_000, "the x87 oracle plan is under a million vectors");
}
