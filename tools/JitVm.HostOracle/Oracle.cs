using System.Diagnostics;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.HostOracle;

/// <summary>Generating vectors: inputs from <see cref="VectorGenerator"/>, outputs from the host CPU.</summary>
public static class Oracle
{
    public const int BatchSize = 4096;

    /// <summary>Splits <paramref name="count"/> vectors over the forms in proportion to their weights (every form gets at least one).</summary>
    public static long[] Distribute(IReadOnlyList<OracleForm> forms, long count)
    {
        double total = forms.Sum(f => f.Weight);
        var counts = new long[forms.Count];
        long assigned = 0;
        for (int f = 0; f < forms.Count; f++)
        {
            counts[f] = Math.Max(1, (long)(count * forms[f].Weight / total));
            assigned += counts[f];
        }
        for (int f = 0; assigned < count; f = (f + 1) % forms.Count, assigned++) counts[f]++;
        return counts;
    }

    /// <summary>
    /// Generates <paramref name="counts"/>[f] vectors for each form f, runs them on the host and hands each batch
    /// to <paramref name="sink"/>. Each form draws from its own stream (seed and form name), so a form's vectors do
    /// not depend on the others.
    /// </summary>
    public static void Generate(NativeExecutor native, IReadOnlyList<OracleForm> forms, long[] counts, ulong seed,
        Action<int, Span<VectorRecord>> sink, Stopwatch? nativeTime = null)
    {
        var buffer = GC.AllocateArray<VectorRecord>(BatchSize, pinned: true);
        for (int f = 0; f < forms.Count; f++)
        {
            var rng = new Rng(seed ^ Rng.Hash(forms[f].Name + "/" + Convert.ToHexString(forms[f].GuestBytes)));
            for (long left = counts[f]; left > 0;)
            {
                int n = (int)Math.Min(left, BatchSize);
                var batch = buffer.AsSpan(0, n);
                VectorGenerator.Fill(forms[f], rng, batch);
                nativeTime?.Start();
                native.Execute(f, batch);
                nativeTime?.Stop();
                sink(f, batch);
                left -= n;
            }
        }
    }

    /// <summary>A Pentium Pro-class model (CMOV, CMPXCHG8B, BSWAP, XADD...): every form of the catalog exists on it.</summary>
    public static CpuModel P6Model { get; } = new()
    {
        Name = "p6",
        Generation = CpuGeneration.P6,
        Cpuid = new CpuidInfo("GenuineIntel", 6, 1, 9,
            CpuidInfo.FeatureDe | CpuidInfo.FeatureTsc | CpuidInfo.FeatureMsr | CpuidInfo.FeatureCx8 | CpuidInfo.FeatureCmov, 0),
    };

    /// <summary>True when the model has every instruction of the form (generation and CPUID features), per the interpreter's opcode table.</summary>
    public static bool Supports(CpuModel model, OracleForm form)
    {
        uint features = model.Cpuid?.FeaturesEdx ?? 0;
        foreach (var i in form.GuestSequence)
        {
            ref readonly var e = ref HandlerTable.Default[i.Code];
            if (!e.IsDefined || model.Generation < e.MinGeneration || (e.RequiredFeatures & ~features) != 0) return false;
        }
        return true;
    }
}

/// <summary>One interpreter model to check, on every <see cref="Stride"/>-th vector of each batch.</summary>
public sealed record CheckTarget(CpuModel Model, int Stride = 1);

/// <summary>Per-model totals.</summary>
public sealed class ModelTally(string model)
{
    public string Model { get; } = model;
    public long Compared;
    public long Mismatches;
    public long DivideErrors;
}

/// <summary>Per-mnemonic totals of the first model.</summary>
public sealed class MnemonicTally
{
    public long Vectors;
    public long Mismatches;
    /// <summary>Vectors that matched only thanks to the undefined-behaviour masks (the interpreter's choice differs from this host's).</summary>
    public long MaskedDifferences;
    public int Forms;
}

/// <summary>Runs vectors through the interpreter for each target model and compares; keeps totals and the first reports.</summary>
public sealed class Checker
{
    readonly IReadOnlyList<OracleForm> forms;
    readonly (InterpreterHarness harness, CheckTarget target, ModelTally tally, bool[] supported)[] targets;
    readonly int maxReports;
    readonly HashSet<int> reportedForms = new();

    public Checker(IReadOnlyList<OracleForm> forms, IReadOnlyList<CheckTarget> models, int maxReports = 20)
    {
        this.forms = forms;
        this.maxReports = maxReports;
        targets = models.Select(t => (new InterpreterHarness(t.Model, forms), t, new ModelTally(t.Model.Name),
            forms.Select(f => Oracle.Supports(t.Model, f)).ToArray())).ToArray();
        foreach (var group in forms.GroupBy(f => f.Family))
            ByFamily[group.Key] = new MnemonicTally { Forms = group.Count() };
    }

    public IReadOnlyList<ModelTally> Models => targets.Select(t => t.tally).ToArray();
    /// <summary>Totals of the first model per mnemonic (per mnemonic sequence for sequence forms).</summary>
    public SortedDictionary<string, MnemonicTally> ByFamily { get; } = new(StringComparer.Ordinal);
    public List<string> Reports { get; } = new();
    public long Mismatches => targets.Sum(t => t.tally.Mismatches);
    /// <summary>Distinct vectors compared against the first model.</summary>
    public long Vectors => targets.Length == 0 ? 0 : targets[0].tally.Compared;
    /// <summary>Of <see cref="Vectors"/>, those of single-instruction forms (the rest are producer/consumer sequences).</summary>
    public long SingleInstructionVectors { get; private set; }
    public Stopwatch InterpreterTime { get; } = new();

    public void Check(int form, Span<VectorRecord> batch)
    {
        InterpreterTime.Start();
        var f = forms[form];
        var byMnemonic = ByFamily[f.Family];
        for (int t = 0; t < targets.Length; t++)
        {
            var (harness, target, tally, supported) = targets[t];
            if (!supported[form]) continue;
            for (int i = 0; i < batch.Length; i += target.Stride)
            {
                ref readonly var r = ref batch[i];
                harness.Run(form, r, out var actual);
                tally.Compared++;
                if (r.Status == VectorStatus.DivideError) tally.DivideErrors++;
                if (t == 0)
                {
                    byMnemonic.Vectors++;
                    if (!f.IsSequence) SingleInstructionVectors++;
                }
                if (Comparison.Matches(f, r, actual, out string? report, out bool undefinedDiffers))
                {
                    if (t == 0 && undefinedDiffers) byMnemonic.MaskedDifferences++;
                    continue;
                }
                tally.Mismatches++;
                if (t == 0) byMnemonic.Mismatches++;
                if (Reports.Count < maxReports && reportedForms.Add(form * 16 + t))
                    Reports.Add($"[{target.Model.Name}] {report}");
            }
        }
        InterpreterTime.Stop();
    }
}
