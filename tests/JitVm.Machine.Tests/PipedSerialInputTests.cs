using System.Diagnostics;
using System.Text;

namespace JitVm.Machine.Tests;

/// <summary>
/// <c>jitvm run --serial stdio</c> with stdin a pipe, as a script or a test harness drives a guest: an idle guest
/// waits for what the pipe brings for as long as the pipe is open, and the run goes on to its end once it closes.
/// </summary>
public class PipedSerialInputTests
{
    [Fact]
    public void AnIdleGuestWaitsForPipedInputUntilThePipeCloses()
    {
        string jitvm = Path.Combine(AppContext.BaseDirectory, "jitvm.dll");
        string rom = Path.Combine(Path.GetTempPath(), $"jitvm-echo-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(rom, IdleHaltTests.EchoRom());
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in (string[])[jitvm, "run", "--bios", rom, "--serial", "stdio", "--debugcon", "none", "--max-seconds", "60"])
            psi.ArgumentList.Add(a);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var child = Process.Start(psi)!;
        try
        {
            child.OutputDataReceived += (_, e) => { lock (stdout) stdout.Append(e.Data); };
            child.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            // The guest is idle within a moment of starting, with no timer armed: only the pipe can wake it.
            Assert.False(child.WaitForExit(1500), $"the run ended while stdin was still open: {stderr}");
            child.StandardInput.Write("ping\n");
            child.StandardInput.Flush();
            var clock = Stopwatch.StartNew();
            while (!Text(stdout).Contains("ping") && clock.Elapsed < TimeSpan.FromSeconds(20)) Thread.Sleep(20);
            Assert.Contains("ping", Text(stdout));
            Assert.False(child.HasExited, $"the run ended while stdin was still open: {stderr}");
            child.StandardInput.Close();
            Assert.True(child.WaitForExit(20_000), "the run went on after stdin closed and the guest went idle");
            Assert.Equal(0, child.ExitCode);
            Assert.Contains("reason=halt", Text(stderr));
        }
        finally
        {
            if (!child.HasExited) child.Kill(entireProcessTree: true);
            File.Delete(rom);
        }
    }

    static string Text(StringBuilder b)
    {
        lock (b) return b.ToString();
    }
}
