using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;

namespace JitVm.CacheInspector;

/// <summary>
/// <c>jitvm-cacheinspect</c>: the JIT's translation cache of a running jitvm (or of a dump) as the CLR sees it.
/// <code>
/// --pid N | --dump FILE  [--top N] [--types N] [--paths N] [--json]
/// </code>
/// Exit codes: 0 report printed, 2 the target could not be inspected (one line on stderr says why).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var pid = new Option<int?>("--pid") { Description = "Attach to this running jitvm process (suspended while it is read)" };
        var dump = new Option<string?>("--dump") { Description = "Read a core dump of a jitvm process instead" };
        var top = new Option<int>("--top") { Description = "Largest translations to list", DefaultValueFactory = _ => 10 };
        var types = new Option<int>("--types") { Description = "Types to list in the managed bytes held by the translations", DefaultValueFactory = _ => 8 };
        var paths = new Option<int>("--paths") { Description = "Stale translations to show a retention path (from a GC root) for", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print the report as one JSON object" };
        var root = new RootCommand("Report the JitVm translation cache of a jitvm process or dump: live and garbage translations, native code, managed bytes")
        {
            pid, dump, top, types, paths, json,
        };
        root.SetAction(r => Inspect(r.GetValue(pid), r.GetValue(dump), r.GetValue(top), r.GetValue(types), r.GetValue(paths), r.GetValue(json)));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0) return Fail(parse.Errors[0].Message);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (InspectionException e)
        {
            return Fail(e.Message);
        }
        catch (Exception e)
        {
            // Whatever ClrMD throws on a target it cannot read (a process that exits while attached, a damaged dump).
            return Fail($"inspection failed: {e.GetType().Name}: {e.Message}");
        }
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine($"jitvm-cacheinspect: {message}");
        return 2;
    }

    static int Inspect(int? pid, string? dump, int top, int types, int paths, bool json)
    {
        if (pid.HasValue == (dump is not null)) return Fail("give either --pid N or --dump FILE");
        if (top < 0 || types < 0 || paths < 0) return Fail("--top, --types and --paths must not be negative");
        var sw = Stopwatch.StartNew();
        (string Source, CacheReport Report) Read(InspectionTarget t) => (t.Description, CacheAnalysis.Analyze(t.Runtime, top, types, paths));
        (string source, CacheReport report) = pid is { } p ? InspectionTarget.Read(p, Read) : ReadDump(dump!, Read);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(report, JsonOptions));
        else
            ReportWriter.Write(Console.Out, report, source, sw.Elapsed);
        return 0;
    }

    static T ReadDump<T>(string dump, Func<InspectionTarget, T> read)
    {
        using var target = InspectionTarget.Open(dump);
        return read(target);
    }

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
