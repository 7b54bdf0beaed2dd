using System.CommandLine;
using JitVm.Conformance.SingleStep;
using JitVm.Cpu;
using Serilog;

namespace JitVm.Cli.Commands;

/// <summary><c>jitvm conformance singlestep PATH... [--engine] [--cpu] [--allow-list]</c>.</summary>
internal static class ConformanceCommand
{
    public static Command Build()
    {
        var cmd = new Command("conformance", "Run CPU conformance vectors");
        var paths = new Argument<string[]>("paths") { Description = "MOO files or directories of them", Arity = ArgumentArity.OneOrMore };
        var engine = new Option<string>("--engine") { Description = "Execution engine: interp or jit", DefaultValueFactory = _ => "interp" };
        engine.AcceptOnlyFromAmong("interp", "jit");
        var cpu = GlobalOptions.CpuOption("386", "CPU model the vectors were captured on");
        var allow = new Option<string?>("--allow-list") { Description = "Allow-list file (default: the project's list for the vector set)" };
        var verbose = new Option<bool>("--all-failures") { Description = "Print every failing test, not just the first per file" };

        var singlestep = new Command("singlestep", "Run SingleStepTests MOO vectors (hardware-captured, one instruction per test)");
        singlestep.Arguments.Add(paths);
        singlestep.Options.Add(engine);
        singlestep.Options.Add(cpu);
        singlestep.Options.Add(allow);
        singlestep.Options.Add(verbose);
        singlestep.SetAction(r =>
        {
            GlobalOptions.ConfigureLogging(r);
            return RunSingleStep(r.GetValue(paths)!, r.GetValue(engine)!, r.GetValue(cpu)!, r.GetValue(allow), r.GetValue(verbose));
        });
        cmd.Subcommands.Add(singlestep);
        return cmd;
    }

    static int RunSingleStep(string[] paths, string engine, CpuModel model, string? allowPath, bool allFailures)
    {
        if (Engines.Resolve(engine, out string? engineError) is not { } choice)
        {
            Console.Error.WriteLine($"error: {engineError}");
            return 2;
        }
        List<string> files;
        AllowList allow;
        try
        {
            files = SingleStepRunner.ExpandPaths(paths).ToList();
            if (files.Count == 0) throw new FileNotFoundException($"no .MOO or .MOO.gz files in {string.Join(", ", paths)}");
            allow = allowPath is null ? DefaultAllowLists.For(model) : AllowList.Parse(File.ReadAllText(allowPath), allowPath);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        var runner = new SingleStepRunner(model, choice.Factory, allow);
        var metadataByDir = new Dictionary<string, VectorSetMetadata>();
        long passed = 0, failed = 0, allowed = 0, revoked = 0, broken = 0;
        Console.WriteLine($"{"opcode",-8} {"passed",7} {"failed",7}  first failure");
        foreach (var f in files)
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(f))!;
            try
            {
                if (!metadataByDir.TryGetValue(dir, out var md)) metadataByDir[dir] = md = VectorSetMetadata.Load(dir);
                var res = runner.RunFile(f, md);
                passed += res.Passed;
                failed += res.Failed;
                allowed += res.AllowListed;
                revoked += res.Revoked;
                string note = res.FirstFailure ?? (res.AllowListed > 0 ? $"({res.AllowListed} allow-listed)" : "");
                Console.WriteLine($"{res.Opcode,-8} {res.Passed,7} {res.Failed,7}  {note}");
                if (allFailures)
                    foreach (var failure in res.Failures.Skip(1)) Console.WriteLine($"{"",-24}{failure}");
            }
            catch (MooFormatException e)
            {
                broken++;
                Console.WriteLine($"{SingleStepRunner.OpcodeKey(f),-8} {"-",7} {"-",7}  error: {e.Message}");
                Log.Error("cannot read {File}: {Message}", f, e.Message);
            }
        }
        Console.WriteLine($"allow-listed: {allowed}, unexpected: {failed - allowed}, revoked (skipped): {revoked}, unreadable files: {broken}");
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed - allowed == 0 && broken == 0 ? 0 : 1;
    }
}
