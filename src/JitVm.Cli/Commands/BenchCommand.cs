using System.CommandLine;
using JitVm.Cli.Bench;
using JitVm.Workloads;

namespace JitVm.Cli.Commands;

/// <summary>
/// <c>jitvm bench</c>: runs the guest benchmark kernels (built in, or external Multiboot files) on each engine in a
/// fresh machine, prints guest instructions, seconds, MIPS, speed-up over the interpreter, compile time and blocks
/// compiled, and fails loudly when the engines' guest output differs.
/// </summary>
internal static class BenchCommand
{
    public static Command Build()
    {
        var cmd = new Command("bench", "Run the benchmark kernels on each engine and compare speed and output");
        var engines = new Option<string?>("--engines") { Description = "Comma-separated engines (interp, jit, auto; default: all three)" };
        var workloads = new Option<string?>("--workloads") { Description = $"Comma-separated workloads ({string.Join(", ", Workload.All.Select(w => w.Name))}) or, with --kernels, kernel file names without extension" };
        var kernels = new Option<string[]>("--kernels") { Description = "Directories of .elf/.bin Multiboot kernels, or kernel files, to run instead of the built-in workloads", AllowMultipleArgumentsPerToken = true };
        var scale = new Option<double>("--scale") { Description = "Multiply the built-in workloads' iteration counts (e.g. 0.1 for a quick run)", DefaultValueFactory = _ => 1.0 };
        var repeat = new Option<int>("--repeat") { Description = "Run each kernel this many times per engine and keep the fastest", DefaultValueFactory = _ => 1 };
        var cpu = GlobalOptions.CpuOption("pentium", "CPU model");
        var memory = new Option<string>("--memory") { Description = "Guest RAM per machine", DefaultValueFactory = _ => "64M" };
        var maxSeconds = new Option<double>("--max-seconds") { Description = "Wall-clock limit of one run", DefaultValueFactory = _ => 600 };
        var showOutput = new Option<bool>("--show-output") { Description = "Print each kernel's guest output (from the first engine)" };
        foreach (var o in new Option[] { engines, workloads, kernels, scale, repeat, cpu, memory, maxSeconds, showOutput }) cmd.Options.Add(o);

        cmd.SetAction(r =>
        {
            GlobalOptions.ConfigureLogging(r);
            if (!RunCommand.TryParseSize(r.GetValue(memory)!, out uint ram))
            {
                Console.Error.WriteLine($"error: invalid --memory '{r.GetValue(memory)}'");
                return 2;
            }
            if (r.GetValue(scale) is not (> 0 and < 1e6) || r.GetValue(repeat) < 1)
            {
                Console.Error.WriteLine("error: --scale must be positive and --repeat at least 1");
                return 2;
            }
            var chosen = ResolveEngines(r.GetValue(engines));
            if (chosen is null) return 2;
            var list = SelectKernels(r.GetValue(kernels) ?? [], r.GetValue(workloads), r.GetValue(scale));
            if (list is null) return 2;
            var runner = new BenchRunner(r.GetValue(cpu)!, ram, r.GetValue(maxSeconds), r.GetValue(repeat));
            return Execute(runner, list, chosen, r.GetValue(showOutput), Console.Out, Console.Error);
        });
        return cmd;
    }

    /// <summary>Runs everything, printing rows as they finish; 0 when every engine agreed and every built-in workload succeeded.</summary>
    internal static int Execute(BenchRunner runner, IReadOnlyList<BenchKernel> kernels, IReadOnlyList<EngineChoice> engines, bool showOutput, TextWriter output, TextWriter errors)
    {
        output.WriteLine(BenchRunner.Header);
        var problems = new List<string>();
        foreach (var k in kernels)
        {
            var runs = new List<BenchRun>();
            BenchRun? baseline = null;
            foreach (var e in engines)
            {
                BenchRun run;
                try
                {
                    run = runner.Run(k, e);
                }
                catch (Machine.Boot.KernelLoadException ex)
                {
                    problems.Add($"{k.Name}: cannot be loaded: {ex.Message}");
                    break;
                }
                if (e.Name == "interp") baseline = run;
                runs.Add(run);
                output.WriteLine(BenchRunner.Row(run, baseline));
                output.Flush();
            }
            if (showOutput && runs.Count > 0) output.Write(Indent(runs[0].Debug));
            problems.AddRange(BenchRunner.Problems(k, runs));
        }
        if (problems.Count == 0)
        {
            output.WriteLine(engines.Count > 1
                ? $"outputs: every engine printed the same guest output ({string.Join(", ", engines.Select(e => e.Name))})"
                : "outputs: one engine only, nothing to compare");
            return 0;
        }
        foreach (var p in problems) errors.WriteLine("*** " + p);
        errors.WriteLine($"*** {problems.Count} problem(s): the engines do not agree or a workload failed");
        return 1;
    }

    static string Indent(string text) => string.Concat(text.Split('\n').Where(l => l.Length > 0).Select(l => "    | " + l + "\n"));

    /// <summary>The engines to run: the named ones (an unknown one is an error), or every engine.</summary>
    internal static List<EngineChoice>? ResolveEngines(string? spec)
    {
        var list = new List<EngineChoice>();
        if (string.IsNullOrWhiteSpace(spec)) spec = string.Join(',', Engines.Names);
        foreach (string name in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Engines.Resolve(name, out string? why) is not { } e)
            {
                Console.Error.WriteLine($"error: {why}");
                return null;
            }
            if (list.All(x => x.Name != e.Name)) list.Add(e);
        }
        return list;
    }

    /// <summary>The built-in workloads at the given scale, or the kernels found under the given paths; filtered by name.</summary>
    internal static List<BenchKernel>? SelectKernels(string[] paths, string? names, double scale)
    {
        var wanted = names?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        var list = new List<BenchKernel>();
        if (paths.Length == 0)
        {
            foreach (string n in wanted ?? [])
                if (Workload.Find(n) is null)
                {
                    Console.Error.WriteLine($"error: unknown workload '{n}' ({string.Join(", ", Workload.All.Select(w => w.Name))})");
                    return null;
                }
            foreach (var w in Workload.All.Where(w => wanted is null || wanted.Contains(w.Name)))
            {
                int iterations = (int)Math.Clamp(Math.Round(w.DefaultIterations * scale), 1, int.MaxValue);
                list.Add(new BenchKernel(w.Name, w.Build(iterations), Builtin: true));
            }
            return list;
        }
        try
        {
            var files = new List<string>();
            foreach (string p in paths)
            {
                if (Directory.Exists(p))
                    files.AddRange(Directory.EnumerateFiles(p).Where(f => f.EndsWith(".elf", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal));
                else if (File.Exists(p)) files.Add(p);
                else
                {
                    Console.Error.WriteLine($"error: --kernels: no such file or directory: {p}");
                    return null;
                }
            }
            foreach (string f in files)
            {
                string name = Path.GetFileNameWithoutExtension(f);
                if (wanted is null || wanted.Contains(name)) list.Add(new BenchKernel(name, File.ReadAllBytes(f), Builtin: false));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return null;
        }
        if (list.Count == 0)
        {
            Console.Error.WriteLine("error: no kernels to run");
            return null;
        }
        return list;
    }
}
