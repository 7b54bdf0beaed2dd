using System.CommandLine;
using System.Diagnostics;
using JitVm.Cpu;

namespace JitVm.HostOracle;

/// <summary>
/// <c>jitvm-oracle</c>: records instruction vectors from the host CPU and checks the interpreter against them.
/// <code>
/// generate --count N --seed S --out FILE     run the catalog natively, write the vectors
/// compare FILE [--cpu p6]                    run a vector file through the interpreter
/// run [--count N] [--seed S] [--cpu p6]      generate and compare in memory
/// masks | forms                              print the undefined-behaviour table or the form catalog
/// </code>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            return BuildRoot().Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (HostOracleUnavailableException e)
        {
            Console.Error.WriteLine($"jitvm-oracle: {e.Message}");
            return 3;
        }
        catch (Exception e) when (e is FormatException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"jitvm-oracle: error: {e.Message}");
            return 2;
        }
    }

    static RootCommand BuildRoot()
    {
        var count = new Option<long>("--count") { Description = "Number of vectors", DefaultValueFactory = _ => 1_000_000 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Vector file to write (gzip)", Required = true };
        var cpu = new Option<string[]>("--cpu")
        {
            Description = "Interpreter model(s) to check: p6 (default: P6 with CMOV), 386, 486, pentium, or a jitvm --cpu specification",
            DefaultValueFactory = _ => ["p6"], AllowMultipleArgumentsPerToken = true,
        };
        var reports = new Option<int>("--max-reports") { Description = "Mismatch reports to print", DefaultValueFactory = _ => 20 };
        var file = new Argument<string>("file") { Description = "Vector file written by generate" };

        var generate = new Command("generate", "Run the instruction catalog on the host CPU and record the vectors");
        generate.Options.Add(count);
        generate.Options.Add(seed);
        generate.Options.Add(output);
        generate.SetAction(r => Generate(r.GetValue(count), r.GetValue(seed), r.GetValue(output)!));

        var compare = new Command("compare", "Check the interpreter against a recorded vector file");
        compare.Arguments.Add(file);
        compare.Options.Add(cpu);
        compare.Options.Add(reports);
        compare.SetAction(r => Compare(r.GetValue(file)!, r.GetValue(cpu)!, r.GetValue(reports)));

        var run = new Command("run", "Generate vectors on the host and check the interpreter against them, without a file");
        run.Options.Add(count);
        run.Options.Add(seed);
        run.Options.Add(cpu);
        run.Options.Add(reports);
        run.SetAction(r => Run(r.GetValue(count), r.GetValue(seed), r.GetValue(cpu)!, r.GetValue(reports)));

        var masks = new Command("masks", "Print the undefined-flag and undefined-result table");
        masks.SetAction(_ => PrintMasks());
        var forms = new Command("forms", "Print the instruction forms");
        forms.SetAction(_ => PrintForms());

        var root = new RootCommand("Host-CPU instruction oracle for the JitVm interpreter");
        root.Subcommands.Add(generate);
        root.Subcommands.Add(compare);
        root.Subcommands.Add(run);
        root.Subcommands.Add(masks);
        root.Subcommands.Add(forms);
        return root;
    }

    static CpuModel ParseModel(string spec)
    {
        if (spec.Equals("p6", StringComparison.OrdinalIgnoreCase)) return Oracle.P6Model;
        try
        {
            return CpuModel.Parse(spec);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{e.Message}; or p6 (a P6-class model with CMOV)");
        }
    }

    static int Generate(long count, ulong seed, string path)
    {
        var forms = FormCatalog.All;
        var counts = Oracle.Distribute(forms, count);
        var sw = Stopwatch.StartNew();
        long written = 0, divideErrors = 0;
        using (var native = new NativeExecutor(forms))
        using (var writer = new VectorFile.Writer(path, seed, forms, counts))
        {
            Oracle.Generate(native, forms, counts, seed, (f, batch) =>
            {
                writer.Write(batch);
                written += batch.Length;
                foreach (ref readonly var r in batch)
                    if (r.Status == VectorStatus.DivideError) divideErrors++;
            });
        }
        Console.WriteLine($"{written} vectors ({divideErrors} #DE) for {forms.Count} forms, seed {seed}, in {sw.Elapsed.TotalSeconds:F2} s -> {path}");
        return 0;
    }

    static int Compare(string path, string[] cpus, int maxReports)
    {
        using var reader = new VectorFile.Reader(path);
        var checker = new Checker(reader.Forms, cpus.Select(c => new CheckTarget(ParseModel(c))).ToArray(), maxReports);
        var sw = Stopwatch.StartNew();
        reader.ReadAll(checker.Check);
        return Report(checker, sw.Elapsed, $"{path} (seed {reader.Seed})");
    }

    static int Run(long count, ulong seed, string[] cpus, int maxReports)
    {
        var forms = FormCatalog.All;
        var checker = new Checker(forms, cpus.Select(c => new CheckTarget(ParseModel(c))).ToArray(), maxReports);
        var sw = Stopwatch.StartNew();
        var nativeTime = new Stopwatch();
        using (var native = new NativeExecutor(forms))
            Oracle.Generate(native, forms, Oracle.Distribute(forms, count), seed, checker.Check, nativeTime);
        Console.WriteLine($"native {nativeTime.Elapsed.TotalSeconds:F2} s, interpreter {checker.InterpreterTime.Elapsed.TotalSeconds:F2} s");
        return Report(checker, sw.Elapsed, $"seed {seed}");
    }

    static int Report(Checker checker, TimeSpan elapsed, string source)
    {
        Console.WriteLine($"{"family",-16} {"forms",5} {"vectors",9} {"masked",8} {"mismatch",8}");
        foreach (var (m, t) in checker.ByFamily)
            Console.WriteLine($"{m,-16} {t.Forms,5} {t.Vectors,9} {t.MaskedDifferences,8} {t.Mismatches,8}");
        Console.WriteLine("masked: vectors that match only because an SDM-undefined flag or result is ignored (first model)");
        foreach (var r in checker.Reports) Console.WriteLine(r);
        foreach (var m in checker.Models)
            Console.WriteLine($"{m.Model}: {m.Compared} vectors compared ({m.DivideErrors} #DE), {m.Mismatches} mismatches");
        Console.WriteLine($"{source}: {checker.Vectors} vectors ({checker.SingleInstructionVectors} single-instruction, {checker.Vectors - checker.SingleInstructionVectors} in sequences), {checker.Mismatches} mismatches, {elapsed.TotalSeconds:F2} s");
        return checker.Mismatches == 0 ? 0 : 1;
    }

    static int PrintMasks()
    {
        foreach (var rule in UndefinedBehaviour.Rules)
        {
            string what = UndefinedBehaviour.FlagNames(rule.Flags) + (rule.Destination ? " + destination" : "");
            Console.WriteLine($"{string.Join("/", rule.Mnemonics).ToLowerInvariant(),-20} {rule.When,-18} {what,-28} {rule.Sdm}");
        }
        return 0;
    }

    static int PrintForms()
    {
        foreach (var f in FormCatalog.All)
            Console.WriteLine($"{Convert.ToHexString(f.GuestBytes),-20} {NativeExecutor.NativeBytes(f),-24} {f.Weight,4} {f.Name}");
        Console.WriteLine($"{FormCatalog.All.Count} forms");
        return 0;
    }
}
