using System.CommandLine;
using JitVm.Cpu;
using Serilog;
using Serilog.Events;

namespace JitVm.Cli.Commands;

internal static class GlobalOptions
{
    public static readonly Option<LogEventLevel> LogLevel = new("--log-level")
    {
        Description = "Minimum level of log messages on stderr (Verbose, Debug, Information, Warning, Error, Fatal)",
        DefaultValueFactory = _ => LogEventLevel.Warning,
        Recursive = true,
    };

    /// <summary>A <c>--cpu</c> option taking a model specification (see <see cref="CpuModel.Parse"/>).</summary>
    public static Option<CpuModel> CpuOption(string defaultModel, string description) => new("--cpu")
    {
        Description = description + $" ({string.Join(", ", CpuModel.Presets.Select(p => p.Name))}; CPUID overrides as in 486,vendor=AuthenticAMD,features=+tsc)",
        DefaultValueFactory = _ => CpuModel.Parse(defaultModel),
        CustomParser = r =>
        {
            string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : defaultModel;
            try { return CpuModel.Parse(text); }
            catch (FormatException e)
            {
                r.AddError($"--cpu: {e.Message}");
                return CpuModel.Parse(defaultModel);
            }
        },
    };

    /// <summary>Configures Serilog's global logger for this invocation.</summary>
    public static void ConfigureLogging(ParseResult result)
    {
        // A VM's thread pushes its name onto the log context (jitvm serve runs several): each line shows it.
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(result.GetValue(LogLevel))
            .Enrich.FromLogContext()
            .Enrich.With<Machine.Management.VmLogEnricher>()
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
                outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {" + Machine.Management.VmLogEnricher.PrefixProperty + "}{Message:lj}{NewLine}{Exception}")
            .CreateLogger();
    }
}
