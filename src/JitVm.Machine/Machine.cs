using System.Diagnostics;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Machine.Boot;
using JitVm.Devices;
using JitVm.Devices.Pci;
using JitVm.Devices.Vga;
using JitVm.Devices.Ata;
using JitVm.Devices.Acpi;
using JitVm.Machine.Firmware;
using Serilog;

namespace JitVm.Machine;

/// <summary>Why a run ended (the <c>reason=</c> of the exit summary line).</summary>
public enum ExitReason
{
    /// <summary>HLT with nothing able to wake the CPU.</summary>
    Halt,
    /// <summary>Triple fault.</summary>
    Shutdown,
    /// <summary>The guest wrote to the debug-exit port.</summary>
    DebugExit,
    Timeout,
    InstructionLimit,
    /// <summary>The guest needs something the emulator does not implement yet.</summary>
    Unsupported,
    /// <summary>The guest reset the machine (keyboard controller, port 92h or CF9h) with <see cref="MachineConfig.NoReboot"/> set.</summary>
    Reset,
    /// <summary>The host asked the machine to stop (<see cref="Machine.RequestStop"/>: the console's Ctrl-A x, say).</summary>
    Quit,
    /// <summary>The guest powered the machine off (ACPI S5 through PM1a_CNT, <see cref="Machine.Acpi"/>).</summary>
    PowerOff,
}

/// <summary>Outcome of <see cref="Machine.Run"/>.</summary>
public sealed record RunResult(ExitReason Reason, int? GuestExitCode, byte PostCode, long Instructions, double Seconds, string Engine, string? Message)
{
    public double Mips => Seconds > 0 ? Instructions / Seconds / 1e6 : 0;

    /// <summary>The one-line summary printed on stderr when a run ends.</summary>
    public string Summary =>
        $"exit: reason={ReasonName} post=0x{PostCode:X2} instructions={Instructions} seconds={Seconds:F3} mips={Mips:F1} engine={Engine}" +
        (Message is null ? "" : $" message=\"{Message}\"");

    string ReasonName => Reason switch
    {
        ExitReason.Halt => "halt",
        ExitReason.Shutdown => "triple-fault",
        ExitReason.DebugExit => "debug-exit",
        ExitReason.Timeout => "timeout",
        ExitReason.InstructionLimit => "instruction-limit",
        ExitReason.Quit => "quit",
        ExitReason.Reset => "reset",
        ExitReason.PowerOff => "poweroff",
        _ => "unsupported",
    };
}

/// <summary>
/// A PC: memory with the firmware ROM at the top of the first megabyte and of the 4 GiB space, the I/O bus
/// with the debug ports, one CPU and its execution engine. Later issues add the chipset devices and disks.
/// </summary>
public sealed partial class Machine
{
    /// <summary>Guest instructions run between checks of the host-side stop conditions.</summary>
    const long SliceInstructions = 200_000;

    readonly MachineConfig config;

    public Machine(MachineConfig config)
    {
        this.config = config;
        Memory = new PhysicalMemory(config.MemoryBytes)
        {
            UnmappedAccess = (addr, write) => Log.Debug("unmapped memory {Access} at {Address:X8} (reads as all ones)", write ? "write" : "read", addr),
        };
        Io = new IoBus
        {
            UnhandledAccess = (port, write) => Log.Debug("unhandled I/O {Access} at port {Port:X4} (reads as all ones)", write ? "write" : "read", port),
        };
        byte[] rom = config.Rom ?? DemoRom.Build();
        if (rom.Length == 0 || rom.Length > 256 * 1024 || rom.Length % 4096 != 0)
            throw new ArgumentException($"ROM image must be a non-empty multiple of 4 KiB up to 256 KiB (got {rom.Length} bytes)");
        // The ROM ends below 4 GiB, and its last 128 KiB (at most) also end at 1 MiB, where the reset vector
        // F000:FFF0 is (QEMU's isa-bios alias; the rest of a 256 KiB image is only reachable up high).
        int lowLength = Math.Min(rom.Length, LowRomMax);
        uint lowRom = (uint)(0x100000 - lowLength);
        uint highRom = config.Cpu.AddressBusMask == 0xFFFFFFFF ? (uint)(0x1_0000_0000 - rom.Length) : (uint)(config.Cpu.AddressBusMask + 1 - rom.Length);
        Memory.MapRom(lowRom, rom.AsSpan(rom.Length - lowLength));
        Memory.MapRom(highRom, rom);
        romRanges = [(lowRom, (uint)lowLength), (highRom, (uint)rom.Length)];
        Cpu = new Processor(config.Cpu, Memory, Io);
        Engine = config.EngineFactory?.Invoke(Cpu) ?? new Interpreter(Cpu);
        if (!ReferenceEquals(Engine.Cpu, Cpu)) throw new ArgumentException("the engine factory must build an engine for the CPU it is given");
        var debugConsole = new DebugConsole(config.DebugConsole ?? (_ => { }));
        Io.Register(DebugConsole.Port, 1, debugConsole);
        // SeaBIOS's debug output port (CONFIG_DEBUG_IO; QEMU users attach isa-debugcon there): the same console.
        Io.Register(DebugConsole.SeaBiosPort, 1, debugConsole);
        Exit = new DebugExit(Cpu);
        Io.Register(DebugExit.Port, 1, Exit);
        Io.Register(PostCodePort.Port, 1, Post);
        ControlPortA = new SystemControlPortA(Cpu);
        Io.Register(SystemControlPortA.Port, 1, ControlPortA);

        // The chipset: interrupt controllers, timer, RTC/CMOS, keyboard controller, all on the virtual clock.
        Clock = new VirtualClock(() => Cpu.InstructionCount, config.Clock);
        Pic = new Pic8259Pair(level =>
        {
            Cpu.IrqLine = level;
            // A request raised while an instruction runs (an OUT that unmasks one) is taken after that
            // instruction in every engine.
            if (level) Cpu.ExitBlock = true;
        });
        Pic.Attach(Io);
        Cpu.InterruptController = Pic;
        // The x87's FERR# (pending unmasked exception, CR0.NE = 0) to IRQ 13 through the latch port F0h clears;
        // the time-stamp counter runs on guest time.
        CoprocessorError = new CoprocessorErrorLatch(Pic);
        Io.Register(CoprocessorErrorLatch.Port, 1, CoprocessorError);
        Cpu.FerrAsserted = CoprocessorError.Assert;
        Cpu.GuestTimeNs = () => Clock.Now;
        Serial = new Uart16550(config.Serial, Pic, Uart16550.Com1Irq);
        Serial.Attach(Io, Uart16550.Com1);
        Serial2 = new Uart16550(config.Serial2, Pic, Uart16550.Com2Irq);
        Serial2.Attach(Io, Uart16550.Com2);
        Pit = new Pit8254(Clock, Pic);
        Pit.Attach(Io);
        PortB = new SystemControlPortB(Pit, Clock);
        PortB.Attach(Io);
        Cmos = new CmosRtc(Clock, Pic, config.RtcStart ?? (config.Clock == ClockMode.Deterministic ? DeterministicRtcStart : DateTime.UtcNow));
        Cmos.Attach(Io);
        Cmos.SetMemorySize(config.MemoryBytes);
        Cmos.UpdateChecksum();
        Keyboard = new Keyboard8042(Pic, a20 => Cpu.A20Enabled = a20, () => Cpu.A20Enabled, () => resetRequested = true, Clock);
        Keyboard.Attach(Io);
        Dma = new Dma8237(Memory);
        Dma.Attach(Io);
        Floppy = new FloppyController(Pic, Dma);
        Floppy.Attach(Io);
        // PCI: the i440FX host bridge (its PAM registers drive the shadow RAM below 1 MiB), the PIIX3 ISA bridge and its IDE function.
        Pci = new PciBus();
        HostBridge = new I440fx { PamChanged = ApplyPam };
        IsaBridge = new Piix3();
        IdeFunction = new Piix3Ide();
        Pci.Add(0, 0, HostBridge);
        Pci.Add(1, 0, IsaBridge);
        Pci.Add(1, 1, IdeFunction);
        Pci.Attach(Io);
        ResetControl = new ResetControl(() => resetRequested = true);
        ResetControl.Attach(Io);
        // QEMU's firmware configuration interface, which SeaBIOS reads for the memory map (and option ROMs).
        FwCfg = new FwCfg(Memory);
        FwCfg.Attach(Io);
        FwCfg.SetE820([(0, Memory.RamSize, 1)]);
        Vga = new VgaDevice(Clock);
        Vga.Attach(Io);
        Memory.MapMmio(VgaDevice.WindowBase, VgaDevice.WindowLength, Vga);
        if (config.VgaBios is { } vgaBios) FwCfg.AddFile("vgaroms/vgabios.bin", vgaBios);
        // ACPI: the PIIX4-style PM registers at 0x600 (SCI on IRQ 9; S5 parks the CPU and ends the run) and the tables,
        // offered to SeaBIOS through fw_cfg and placed in RAM by the Linux loader.
        Acpi = new AcpiPm(Clock, Pic, () => { Cpu.Halted = true; Cpu.ExitBlock = true; });
        Acpi.Attach(Io);
        AcpiTables = AcpiTables.Build(Memory.RamSize);
        AcpiTables.AddTo(FwCfg);
        // IDE: primary channel (1F0h/3F6h, IRQ 14) and secondary (170h/376h, IRQ 15).
        Ide = [new AtaChannel(Pic, AtaChannel.PrimaryIrq), new AtaChannel(Pic, AtaChannel.SecondaryIrq)];
        Ide[0].Attach(Io, AtaChannel.PrimaryCommandBase, AtaChannel.PrimaryControlPort);
        Ide[1].Attach(Io, AtaChannel.SecondaryCommandBase, AtaChannel.SecondaryControlPort);
        if (config.HardDisks.Count > 4) throw new ArgumentException("at most four IDE disks");
        for (int i = 0; i < config.HardDisks.Count; i++)
            if (config.HardDisks[i] is { } disk) Ide[i / 2].AttachDrive(i % 2, new AtaDrive(disk, serial: $"JV{i:D10}"));
        if (config.CdRom is { } disc)
        {
            if (config.HardDisks.Count > 2 && config.HardDisks[2] is not null) throw new ArgumentException("the CD-ROM drive is the secondary master: --hdc cannot be used with it");
            if (disc.Length % AtapiDrive.SectorSize != 0) throw new ArgumentException($"a CD-ROM image must be a multiple of {AtapiDrive.SectorSize} bytes (got {disc.Length})");
            Ide[1].AttachCdrom(0, new AtapiDrive(disc));
        }
        if (config.Floppies.Count > 2) throw new ArgumentException("at most two floppy drives");
        byte floppyTypes = 0;
        for (int i = 0; i < config.Floppies.Count; i++)
        {
            if (config.Floppies[i] is not { } image) continue;
            Floppy.InsertDisk(i, image);
            floppyTypes |= (byte)(CmosFloppyType(image.Length) << (i == 0 ? 4 : 0));
        }
        // What a BIOS reads from the CMOS about the drives: floppy types, equipment byte, boot order.
        Cmos[0x10] = floppyTypes;
        int floppies = config.Floppies.Count(f => f is not null);
        Cmos[0x14] = (byte)((floppies > 0 ? 0x01 | (floppies - 1) << 6 : 0) | 0x04 /* video: EGA/VGA */ | 0x02 /* FPU */);
        Cmos.SetBootOrder(BootDevices(config.BootOrder));
        Cmos.UpdateChecksum();
        if (config.Kernel is { } kernel)
        {
            // A bzImage (boot flag and "HdrS") boots through the Linux protocol; anything else must be Multiboot.
            if (LinuxImage.Probe(kernel.Image))
            {
                LinuxKernel = LinuxImage.Parse(kernel.Image);
                if (kernel.Modules is { Count: > 1 })
                    throw new KernelLoadException($"a Linux kernel takes one initrd; {kernel.Modules.Count} files were given");
            }
            else KernelImage = MultibootImage.Parse(kernel.Image);
            BootKernel();
        }
    }

    readonly (uint Base, uint Length)[] romRanges;

    /// <summary>How much of the firmware image appears below 1 MiB (0xE0000–0xFFFFF).</summary>
    const int LowRomMax = 128 * 1024;

    /// <summary>The Multiboot kernel this machine boots (null: it starts the firmware or a Linux kernel).</summary>
    public MultibootImage? KernelImage { get; }

    /// <summary>The Linux kernel this machine boots (null: it starts the firmware or a Multiboot kernel).</summary>
    public LinuxImage? LinuxKernel { get; }

    /// <summary>Loads the kernel and enters it, as a boot loader would after the firmware (at power-on and after each reset).</summary>
    void BootKernel()
    {
        var k = config.Kernel!;
        if (LinuxKernel is not null)
            LinuxLoader.Boot(LinuxKernel, k.Image, k.CommandLine, k.Modules is { Count: 1 } m ? m[0].Data : default, Memory, Cpu, romRanges, AcpiTables);
        else MultibootLoader.Boot(KernelImage!, k.Image, k.CommandLine, k.Modules ?? [], Memory, Cpu, romRanges);
    }

    /// <summary>The RTC's power-on time in deterministic mode when none is configured.</summary>
    public static readonly DateTime DeterministicRtcStart = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public VirtualClock Clock { get; }
    public Pic8259Pair Pic { get; }
    public CoprocessorErrorLatch CoprocessorError { get; }
    public Pit8254 Pit { get; }
    public SystemControlPortB PortB { get; }
    public CmosRtc Cmos { get; }
    public Keyboard8042 Keyboard { get; }
    public Dma8237 Dma { get; }
    public FloppyController Floppy { get; }
    public PciBus Pci { get; }
    public I440fx HostBridge { get; }
    public Piix3 IsaBridge { get; }
    public Piix3Ide IdeFunction { get; }
    public FwCfg FwCfg { get; }
    public VgaDevice Vga { get; }
    /// <summary>The ACPI power-management registers (PM1 event/control, PM timer) at 0x600.</summary>
    public AcpiPm Acpi { get; }
    /// <summary>The ACPI tables this machine offers (fw_cfg for the firmware, RAM for a direct Linux boot).</summary>
    public AcpiTables AcpiTables { get; }
    /// <summary>The two IDE channels (primary, secondary).</summary>
    public AtaChannel[] Ide { get; }

    /// <summary>The CMOS floppy drive type for an image size (4 = 1.44 MB, the default).</summary>
    static byte CmosFloppyType(long bytes) => bytes switch
    {
        737280 => 3,
        1228800 => 2,
        2949120 => 5,
        _ => 4,
    };

    static CmosBootDevice[] BootDevices(string order)
    {
        var list = new List<CmosBootDevice>();
        foreach (char c in order.ToLowerInvariant())
        {
            var d = c switch { 'a' => CmosBootDevice.Floppy, 'c' => CmosBootDevice.HardDisk, 'd' => CmosBootDevice.CdRom, 'n' => CmosBootDevice.Network, _ => CmosBootDevice.None };
            if (d == CmosBootDevice.None) throw new ArgumentException($"boot order '{order}': use the letters a, c, d, n");
            if (!list.Contains(d)) list.Add(d);
        }
        return list.Take(3).ToArray();
    }

    /// <summary>A PAM register changed: each of its two fields sets one shadow region's read and write routing.</summary>
    void ApplyPam(int index, byte value)
    {
        foreach (bool high in (ReadOnlySpan<bool>)[false, true])
        {
            var (start, length) = I440fx.PamRange(index, high);
            if (length == 0 || start + length > Memory.RamSize) continue;
            int field = high ? value >> 4 : value & 0xF;
            Memory.SetShadow(start, length, readRam: (field & 1) != 0, writeRam: (field & 2) != 0);
        }
    }

    /// <summary>
    /// Raised on the machine's thread after every slice (devices are consistent then): where a host console draws
    /// the screen and feeds the keyboard.
    /// </summary>
    public event Action? SliceEnded;

    /// <summary>A device (the keyboard controller) asked for a system reset.</summary>
    bool resetRequested;

    public PhysicalMemory Memory { get; }
    public IoBus Io { get; }
    public Processor Cpu { get; }
    public IExecutionEngine Engine { get; }
    public DebugExit Exit { get; }
    public PostCodePort Post { get; } = new();
    public SystemControlPortA ControlPortA { get; }
    public Uart16550 Serial { get; }
    public Uart16550 Serial2 { get; }
    public ResetControl ResetControl { get; }

    /// <summary>Times the machine was reset (triple faults with reboot enabled, port 92h fast resets).</summary>
    public int Resets { get; private set; }

    void ResetMachine()
    {
        Resets++;
        Cpu.Reset();
        // A reset request from the keyboard controller or port 92h resets the whole board, as QEMU's PC does;
        // guest time goes on.
        Pic.Reset();
        CoprocessorError.Reset();
        Pit.Reset();
        PortB.Reset();
        Cmos.Reset();
        Keyboard.Reset();
        Dma.Reset();
        Floppy.Reset();
        Pci.Reset();
        FwCfg.Reset();
        Vga.Reset();
        Acpi.Reset();
        foreach (var channel in Ide) channel.Reset();
        Serial.Reset();
        Serial2.Reset();
        ResetControl.Reset();
        if (config.Kernel is not null) BootKernel();
    }

    volatile bool stopRequested;

    /// <summary>
    /// A host debugger holding the run between slices (the GDB stub, <see cref="Debugging.GdbStub"/>): asked before
    /// each slice how far it may run (it blocks while the debugger keeps the machine stopped) and told why each
    /// slice ended and when the run is over. Null: the run loop never stops for a debugger.
    /// </summary>
    internal Debugging.IRunController? Debugger { get; set; }

    /// <summary>Asks <see cref="Run"/> to return (reason quit) at the end of the current slice; callable from any thread.</summary>
    public void RequestStop() => stopRequested = true;

    /// <summary>
    /// Resets the whole board now, as a guest reset does but regardless of <see cref="MachineConfig.NoReboot"/> (the
    /// monitor's <c>system_reset</c>). Call it only on the machine's thread between slices or with the machine parked
    /// by its <see cref="Debugger"/>, never while a slice runs.
    /// </summary>
    public void SystemReset() => ResetMachine();

    /// <summary>Runs the guest until it halts for good, exits, shuts down or hits a configured limit.</summary>
    public RunResult Run()
    {
        var sw = Stopwatch.StartNew();
        long start = Cpu.InstructionCount;
        ExitReason reason;
        string? message = null;
        while (true)
        {
            // A slice ends exactly at the next timer deadline (in guest time, which both clock modes derive from the
            // instruction count), so device events happen at the same instruction in every engine, and the timer
            // interrupt is never late however long the host takes.
            long budget = Clock.InstructionsUntilNextDeadline(SliceInstructions);
            if (config.MaxInstructions is { } max)
            {
                long left = max - (Cpu.InstructionCount - start);
                if (left <= 0) { reason = ExitReason.InstructionLimit; break; }
                budget = Math.Min(budget, left);
            }
            if (Debugger is { } debugger)
            {
                long allowed = debugger.BeforeSlice();
                if (allowed <= 0) { reason = ExitReason.Quit; break; }
                budget = Math.Min(budget, allowed);
            }
            StopReason stop;
            try
            {
                stop = Engine.Run(budget);
            }
            catch (EmulationStopException e)
            {
                reason = ExitReason.Unsupported;
                message = e.Message;
                Log.Error("emulation stopped at {Cs:X4}:{Eip:X8}: {Message}", Cpu.Seg[SegReg.CS].Selector, Cpu.Eip, e.Message);
                break;
            }
            Debugger?.AfterSlice(stop);
            Clock.Pace();
            Clock.RunDue();
            Serial.Poll();
            Serial2.Poll();
            SliceEnded?.Invoke();
            if (Exit.Value is not null) { reason = ExitReason.DebugExit; break; }
            if (Acpi.PowerOffRequested) { reason = ExitReason.PowerOff; break; }
            if (stopRequested) { reason = ExitReason.Quit; break; }
            if (stop == StopReason.Shutdown)
            {
                if (config.NoReboot) { reason = ExitReason.Shutdown; break; }
                Log.Warning("triple fault at {Cs:X4}:{Eip:X8}: resetting", Cpu.Seg[SegReg.CS].Selector, Cpu.Eip);
                ResetMachine();
                continue;
            }
            if (ControlPortA.ResetRequested || resetRequested)
            {
                // QEMU's -no-reboot: a guest that reboots ends the run ("reboot -f" is how a Linux guest without ACPI stops).
                if (config.NoReboot) { reason = ExitReason.Reset; break; }
                ControlPortA.ResetRequested = false;
                resetRequested = false;
                ResetMachine();
                continue;
            }
            if (stop == StopReason.Halted)
            {
                bool interruptible = (Cpu.Flags & Processor.FlagIF) != 0;
                // HLT with interrupts enabled waits for the next device event: deterministic time jumps to it,
                // host time sleeps until it (in short steps, so the run's limits are still checked).
                if (interruptible && Clock.SkipToNextDeadline(out var wait))
                {
                    if (wait > TimeSpan.Zero) Thread.Sleep(wait);
                    Clock.RunDue();
                    if (config.MaxSeconds is { } limit && sw.Elapsed.TotalSeconds >= limit) { reason = ExitReason.Timeout; break; }
                    continue;
                }
                // The slice's device polls (a byte moved from the host into the UART, say) raised the interrupt line
                // after the CPU halted: the next slice takes the interrupt.
                if (interruptible && Cpu.IrqLine) continue;
                // No timer armed, but host input can still raise an interrupt: poll for it (the next slice's
                // Serial.Poll and the keyboard deliver it) in steps of a millisecond.
                if (interruptible && config.WaitForInput?.Invoke() == true)
                {
                    Thread.Sleep(1);
                    if (config.MaxSeconds is { } limit && sw.Elapsed.TotalSeconds >= limit) { reason = ExitReason.Timeout; break; }
                    continue;
                }
                // Nothing can wake the CPU (no timer armed, or interrupts disabled).
                if (config.ExitOnHalt || interruptible)
                {
                    reason = ExitReason.Halt;
                    Log.Information("halted at {Cs:X4}:{Eip:X8} with interrupts {State}", Cpu.Seg[SegReg.CS].Selector, Cpu.Eip,
                        interruptible ? "enabled and no timer armed" : "disabled");
                    break;
                }
                if (config.MaxSeconds is null)
                {
                    reason = ExitReason.Halt;
                    message = "halted with interrupts disabled and no way to wake";
                    break;
                }
                Thread.Sleep(1);
            }
            if (config.MaxSeconds is { } secs && sw.Elapsed.TotalSeconds >= secs) { reason = ExitReason.Timeout; break; }
        }
        int? exitCode = Exit.Value is { } v ? (int)((v << 1) | 1) : null;
        var result = new RunResult(reason, exitCode, Post.LastCode, Cpu.InstructionCount - start, sw.Elapsed.TotalSeconds, config.EngineName, message);
        Debugger?.RunEnded(result);
        return result;
    }
}
