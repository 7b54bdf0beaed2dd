using System.Text;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Machine.Boot;
using Xunit.Abstractions;

namespace JitVm.Machine.Tests.Acpi;

/// <summary>
/// Debian's i386 Linux 6.1 (tools/fetch-guest.sh, run by tools/test.sh) booted directly with the busybox initramfs
/// finds the ACPI tables, enables ACPI without a complaint, and powers the machine off when <c>poweroff -f</c> is typed
/// at the shell: the run ends with reason poweroff.
/// </summary>
public class AcpiLinuxTests(ITestOutputHelper output)
{
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

    [Fact]
    public void LinuxEnablesAcpiAndPowerOffEndsTheRun()
    {
        string guest = GuestDir;
        var console = new StringBuilder();
        bool typed = false;
        var m = new Machine(new MachineConfig
        {
            Cpu = CpuModel.P6,
            MemoryBytes = 256u << 20,
            Kernel = new KernelImage(File.ReadAllBytes(Path.Combine(guest, "vmlinuz")), "console=ttyS0 panic=-1",
                [new BootModule(File.ReadAllBytes(Path.Combine(guest, "initrd.gz")), "initrd.gz")]),
            EngineFactory = c => new JitVm.Jit.JitEngine(c, background: true),
            EngineName = "auto",
            Serial = b => console.Append((char)b),
            Clock = ClockMode.Deterministic,
            NoReboot = true,
            MaxSeconds = 600,
        });
        m.SliceEnded += () =>
        {
            // The shell's prompt, then busybox's cursor query (ESC [6n).
            if (typed || console.Length < 8 || !console.ToString(console.Length - 8, 8).EndsWith("~ # \u001b[6n", StringComparison.Ordinal)) return;
            typed = true;
            foreach (char c in "poweroff -f\n") m.Serial.Receive((byte)c);
        };
        var r = m.Run();
        string log = console.ToString();
        output.WriteLine(r.Summary);
        output.WriteLine(log);
        Assert.True(typed, "the shell prompt never came");
        Assert.Equal(ExitReason.PowerOff, r.Reason);
        foreach (string line in new[]
                 {
                     "BIOS-e820: [mem 0x000000000009f000-0x000000000009ffff] ACPI data",
                     "ACPI: RSDP 0x000000000009F",
                     "ACPI: FACP 0x000000000009F",
                     "ACPI: PM-Timer IO Port: 0x608",
                     "ACPI: Interpreter enabled",
                     "ACPI: PM: (supports S0 S5)",
                     "ACPI: Using PIC for interrupt routing",
                     "ACPI: PCI Root Bridge [PCI0] (domain 0000 [bus 00-ff])",
                     "pci 0000:00:01.1: [8086:7010]",                       // the IDE function, found under PCI0
                     "pnp: PnP ACPI: found 2 devices",
                     "i8042: PNP: PS/2 Controller [PNP0303:KBD,PNP0f13:MOU] at 0x60,0x64 irq 1,12",
                     "clocksource: acpi_pm: mask: 0xffffff",
                     "ACPI: PM: Preparing to enter system sleep state S5",
                     "reboot: Power down",
                 })
            Assert.True(log.Contains(line, StringComparison.Ordinal), $"missing: {line}");
        foreach (string bad in new[] { "ACPI Error", "ACPI BIOS Error", "ACPI Warning", "ACPI BIOS Warning", "Firmware Bug", "RSDP was not found",
                     "Oops", "BUG:", "WARNING:", "Kernel panic" })
            Assert.False(log.Contains(bad, StringComparison.Ordinal), $"the log has '{bad}'");
    }
}
