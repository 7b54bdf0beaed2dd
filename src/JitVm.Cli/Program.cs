using System.CommandLine;
using JitVm.Cli.Commands;

namespace JitVm.Cli;

/// <summary>The <c>jitvm</c> console host.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            return BuildRoot().Parse(args).Invoke();
        }
        catch (Exception e)
        {
            // A bug in the emulator, not bad input: say so plainly instead of dumping an unhandled exception.
            Console.Error.WriteLine($"jitvm: internal error: {e.GetType().Name}: {e.Message}");
            Console.Error.WriteLine(e.StackTrace);
            return 70;
        }
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("JitVm: an x86 PC virtual machine with a dynamic binary translator");
        root.Options.Add(GlobalOptions.LogLevel);
        root.Subcommands.Add(RunCommand.Build());
        root.Subcommands.Add(BenchCommand.Build());
        root.Subcommands.Add(ConformanceCommand.Build());
        root.Subcommands.Add(ImgCommand.Build());
        root.Subcommands.Add(ServeCommand.Build());
        return root;
    }
}
