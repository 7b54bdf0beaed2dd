using System.CommandLine;

namespace JitVm.Cli.Commands;

/// <summary><c>jitvm run</c>: boots a guest.</summary>
internal static class RunCommand
{
    public static Command Build()
    {
        var cmd = new Command("run", "Run a guest (default: the built-in demo ROM)");
        cmd.SetAction(r =>
        {
            GlobalOptions.ConfigureLogging(r);
            Console.Error.WriteLine("not yet");
            return 1;
        });
        return cmd;
    }
}
