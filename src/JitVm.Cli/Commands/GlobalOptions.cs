using System.CommandLine;
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

    /// <summary>Configures Serilog's global logger for this invocation.</summary>
    public static void ConfigureLogging(ParseResult result)
    {
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(result.GetValue(LogLevel))
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose)
            .CreateLogger();
    }
}
