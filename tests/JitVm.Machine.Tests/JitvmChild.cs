using System.Diagnostics;
using System.Text;

namespace JitVm.Machine.Tests;

/// <summary>
/// A child <c>dotnet jitvm.dll ARGS</c> (the Cli project's output is copied next to the tests), its stdout and stderr
/// collected line by line as they come; disposing it kills the process if it still runs.
/// </summary>
internal sealed class JitvmChild : IDisposable
{
    readonly StringBuilder stdout = new(), stderr = new();

    JitvmChild(Process process) => Process = process;

    public Process Process { get; }

    public string Stdout
    {
        get { lock (stdout) return stdout.ToString(); }
    }

    public string Stderr
    {
        get { lock (stderr) return stderr.ToString(); }
    }

    /// <param name="redirectInput">Give the child a pipe for stdin (<see cref="Process.StandardInput"/>).</param>
    public static JitvmChild Start(bool redirectInput, params string[] args)
    {
        string jitvm = Path.Combine(AppContext.BaseDirectory, "jitvm.dll");
        Assert.True(File.Exists(jitvm), $"{jitvm} is missing (the Cli project's output is copied next to the tests)");
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(jitvm);
        foreach (string a in args) psi.ArgumentList.Add(a);
        var child = new JitvmChild(Process.Start(psi)!);
        child.Process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (child.stdout) child.stdout.AppendLine(e.Data); };
        child.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child.stderr) child.stderr.AppendLine(e.Data); };
        child.Process.BeginOutputReadLine();
        child.Process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits until <paramref name="condition"/> holds for the stdout collected so far; false after <paramref name="timeout"/>.</summary>
    public bool WaitForStdout(Func<string, bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition(Stdout))
        {
            if (clock.Elapsed > timeout) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.WaitForExit();
        Process.Dispose();
    }
}
