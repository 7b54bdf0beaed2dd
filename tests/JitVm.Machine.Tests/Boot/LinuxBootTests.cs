using System.Text;
using JitVm.Core.Storage;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Machine.Boot;
using JitVm.Storage;
using Xunit.Abstractions;

namespace JitVm.Machine.Tests.Boot;

/// <summary>
/// Debian 12's i386 kernel with a busybox initramfs (fetched by tools/fetch-guest.sh, which tools/test.sh runs)
/// boots to the shell: directly (the Linux boot protocol) and through SeaBIOS and SYSLINUX from a disk image
/// (tools/make-guest-disk.sh). The test types <c>uname -a; cat /proc/cpuinfo; echo ok</c> on COM1 at the prompt,
/// checks the answers, and powers the machine off with <c>poweroff -f</c> (ACPI S5). Guest time is
/// deterministic, so the interpreter and the JIT see the same boot, instruction for instruction.
/// </summary>
public class LinuxBootTests(ITestOutputHelper output)
{
    const string Prompt = "~ # ";
    const string Command = "uname -a; cat /proc/cpuinfo; echo o''k\n";

    static string GuestDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "JitVm.sln"))) dir = dir.Parent;
            Assert.True(dir is not null, "repository root not found above the test binaries");
            string guest = Path.Combine(dir!.FullName, "guest");
            Assert.True(File.Exists(Path.Combine(guest, "vmlinuz")) && File.Exists(Path.Combine(guest, "initrd.gz")),
                $"the Linux guest is missing in {guest}: tools/fetch-guest.sh (run by tools/test.sh) fetches it");
            return guest;
        }
    }

    /// <summary>
    /// Runs <paramref name="config"/> (COM1 wired here) and plays the session: the command at the first prompt, then
    /// the power-off at the next. Returns the run's result and everything the guest wrote on COM1.
    /// </summary>
    (RunResult Result, string Console, long PromptAt) Session(MachineConfig config)
    {
        var console = new StringBuilder();
        var lockObj = new object();
        Machine? machine = null;
        int stage = 0;
        long promptAt = 0;
        machine = new Machine(config with
        {
            Serial = b => { lock (lockObj) console.Append((char)b); },
            Clock = ClockMode.Deterministic,
            NoReboot = true,
            MaxSeconds = 600,
        });
        machine.SliceEnded += () =>
        {
            string text;
            lock (lockObj) text = console.ToString();
            if (stage == 0 && AtPrompt(text))
            {
                stage = 1;
                promptAt = machine.Cpu.InstructionCount;
                foreach (char c in Command) machine.Serial.Receive((byte)c);
            }
            else if (stage == 1 && text.Contains("\nok\r\n", StringComparison.Ordinal) && AtPrompt(text))
            {
                stage = 2;
                foreach (char c in "poweroff -f\n") machine.Serial.Receive((byte)c);
            }
        };
        var result = machine.Run();
        string log;
        lock (lockObj) log = console.ToString();
        output.WriteLine($"{result.Summary} prompt-at={promptAt}");
        output.WriteLine(log);
        return (result, log, promptAt);
    }

    /// <summary>The shell waits at its prompt (busybox then asks the terminal where its cursor is: ESC [6n).</summary>
    static bool AtPrompt(string text)
    {
        const string cursorQuery = "\u001b[6n";
        if (text.EndsWith(cursorQuery, StringComparison.Ordinal)) text = text[..^cursorQuery.Length];
        return text.EndsWith(Prompt, StringComparison.Ordinal);
    }

    static void AssertSession(RunResult result, string log)
    {
        Assert.Contains("Linux version 6.1.0", log);
        Assert.Contains("JitVm guest: Debian", log);
        Assert.Contains("Linux (none) 6.1.0", log);                      // uname -a
        Assert.Contains("GenuineIntel", log);                              // /proc/cpuinfo
        Assert.Contains("fpu\t\t: yes", log);
        Assert.Contains("tsc: Fast TSC calibration using PIT", log);           // the PIT and the TSC agree
        Assert.Contains("clocksource: Switched to clocksource tsc\r\n", log);         // not tsc-early only
        Assert.Contains("\nok\r\n", log);
        foreach (string bad in new[] { "Oops", "BUG:", "WARNING:", "Call Trace", "Kernel panic", "invalid opcode", "general protection",
                     "Broken PMU", "Failed to access perfctr", "ACPI Error", "ACPI BIOS Error", "mce: Unable",
                     "calibration failed", "Unable to calibrate", "unstable", "Unstable clock" })
            Assert.DoesNotContain(bad, log);
        Assert.Contains("reboot: Power down", log);
        Assert.Equal(ExitReason.PowerOff, result.Reason);
    }

    static KernelImage DirectBoot(string guest) => new(
        File.ReadAllBytes(Path.Combine(guest, "vmlinuz")), "console=ttyS0 panic=-1",
        [new BootModule(File.ReadAllBytes(Path.Combine(guest, "initrd.gz")), "initrd.gz")]);

    static Func<Processor, IExecutionEngine> Auto => c => new JitVm.Jit.JitEngine(c, background: true);

    [Fact]
    public void DirectBootReachesTheShellOnTheJitAndTheInterpreterIdentically()
    {
        string guest = GuestDir;
        var jit = Session(new MachineConfig { Cpu = CpuModel.P6, MemoryBytes = 256u << 20, Kernel = DirectBoot(guest), EngineFactory = Auto, EngineName = "auto" });
        AssertSession(jit.Result, jit.Console);
        var interp = Session(new MachineConfig { Cpu = CpuModel.P6, MemoryBytes = 256u << 20, Kernel = DirectBoot(guest) });
        AssertSession(interp.Result, interp.Console);
        Assert.Equal(interp.Console, jit.Console);
        Assert.Equal(interp.PromptAt, jit.PromptAt);
        Assert.Equal(interp.Result.Instructions, jit.Result.Instructions);
    }

    [Fact]
    public void SeaBiosAndSyslinuxBootTheQcow2DiskToTheShellOnTheJitAndTheInterpreterIdentically()
    {
        string guest = GuestDir;
        string disk = Path.Combine(guest, "disk.qcow2");
        Assert.True(File.Exists(disk), "guest/disk.qcow2 is missing: tools/make-guest-disk.sh (run by tools/test.sh) builds it");
        (RunResult Result, string Console, long PromptAt) Boot(Func<Processor, IExecutionEngine>? engine, string name)
        {
            // Each run writes to its own temporary overlay: the image itself is never changed.
            using var image = SnapshotOverlay.Create(disk);
            return Session(new MachineConfig
            {
                Cpu = CpuModel.P6,
                MemoryBytes = 256u << 20,
                Rom = File.ReadAllBytes("/usr/share/seabios/bios.bin"),
                VgaBios = File.ReadAllBytes("/usr/share/seabios/vgabios-isavga.bin"),
                HardDisks = [image],
                BootOrder = "c",
                EngineFactory = engine,
                EngineName = name,
            });
        }
        var jit = Boot(Auto, "auto");
        Assert.Contains("SYSLINUX 6.04", jit.Console);
        AssertSession(jit.Result, jit.Console);
        var interp = Boot(null, "interp");
        AssertSession(interp.Result, interp.Console);
        Assert.Equal(interp.Console, jit.Console);
        Assert.Equal(interp.Result.Instructions, jit.Result.Instructions);
    }

    /// <summary>
    /// The VGA text console: the kernel (console=tty0, no serial console) shows its boot on the text screen, the
    /// shell's prompt appears there, and keys typed on the PS/2 keyboard reach it (what <c>--display text</c> shows
    /// and sends); <c>reboot -f</c> there ends the run (--no-reboot).
    /// </summary>
    [Fact]
    public void TheVgaTextConsoleShowsTheBootAndTakesTheKeyboard()
    {
        string guest = GuestDir;
        var kernel = new KernelImage(File.ReadAllBytes(Path.Combine(guest, "vmlinuz")), "console=tty0 panic=-1",
            [new BootModule(File.ReadAllBytes(Path.Combine(guest, "initrd.gz")), "initrd.gz")]);
        var machine = new Machine(new MachineConfig
        {
            Cpu = CpuModel.P6, MemoryBytes = 256u << 20, Kernel = kernel, EngineFactory = Auto, EngineName = "auto",
            Clock = ClockMode.Deterministic, NoReboot = true, MaxSeconds = 600,
        });
        int stage = 0;
        string screen = "";
        string LastLine(string text) => text.Split('\n').Select(l => l.TrimEnd()).LastOrDefault(l => l.Length > 0) ?? "";
        void Type(string text)
        {
            foreach (char ch in text)
            {
                var key = new ConsoleKeyInfo(ch, ch == '\n' ? ConsoleKey.Enter : ch == ' ' ? ConsoleKey.Spacebar : 0, false, false, false);
                Assert.True(JitVm.Cli.Display.TextConsole.Scancode(key, out ushort code, out bool shift), $"no key for '{ch}'");
                var k = machine.Keyboard.Keyboard;
                if (shift) k.SendMake(0x12);
                k.SendMake(code);
                k.SendBreak(code);
                if (shift) k.SendBreak(0x12);
            }
        }
        machine.SliceEnded += () =>
        {
            screen = machine.Vga.ToText();
            if (stage == 0 && LastLine(screen) == "~ #")
            {
                stage = 1;
                Type("echo vga-o''k\n");
            }
            else if (stage == 1 && screen.Split('\n').Any(l => l.TrimEnd() == "vga-ok") && LastLine(screen) == "~ #")
            {
                stage = 2;
                Type("reboot -f\n");
            }
        };
        var result = machine.Run();
        output.WriteLine(result.Summary);
        output.WriteLine(screen);
        Assert.Equal(2, stage);
        Assert.Equal(ExitReason.Reset, result.Reason);
    }
}
