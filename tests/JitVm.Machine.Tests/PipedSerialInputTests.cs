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
        string rom = Path.Combine(Path.GetTempPath(), $"jitvm-echo-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(rom, IdleHaltTests.EchoRom());
        try
        {
            using var child = JitvmChild.Start(redirectInput: true,
                "run", "--bios", rom, "--serial", "stdio", "--debugcon", "none", "--max-seconds", "60");
            var p = child.Process;
            // The guest is idle within a moment of starting, with no timer armed: only the pipe can wake it.
            Assert.False(p.WaitForExit(1500), $"the run ended while stdin was still open: {child.Stderr}");
            p.StandardInput.Write("ping\n");
            p.StandardInput.Flush();
            child.WaitForStdout(o => o.Contains("ping"), TimeSpan.FromSeconds(20));
            Assert.Contains("ping", child.Stdout);
            Assert.False(p.HasExited, $"the run ended while stdin was still open: {child.Stderr}");
            p.StandardInput.Close();
            Assert.True(p.WaitForExit(20_000), "the run went on after stdin closed and the guest went idle");
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("reason=halt", child.Stderr);
        }
        finally
        {
            File.Delete(rom);
        }
    }
}
