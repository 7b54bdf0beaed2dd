using System.CommandLine;
using JitVm.Cli.Commands;

namespace JitVm.Cli;

/// <summary>The <c>jitvm</c> console host.</summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("JitVm: an x86 PC virtual machine with a dynamic binary translator");
        root.Options.Add(GlobalOptions.LogLevel);
        root.Subcommands.Add(RunCommand.Build());
        root.Subcommands.Add(ConformanceCommand.Build());
        return root;
    }
}
