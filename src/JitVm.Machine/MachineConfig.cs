using JitVm.Core;
using JitVm.Cpu;
using JitVm.Machine.Boot;

namespace JitVm.Machine;

/// <summary>Everything needed to build a machine; the CLI fills it from options.</summary>
public sealed record MachineConfig
{
    public CpuModel Cpu { get; init; } = CpuModel.Pentium;
    public uint MemoryBytes { get; init; } = 16 << 20;
    /// <summary>Raw firmware image (mapped to end at 1 MiB and at 4 GiB); null selects the built-in demo ROM.</summary>
    public byte[]? Rom { get; init; }
    /// <summary>
    /// A Multiboot v1 kernel to boot directly (QEMU's <c>-kernel</c>): loaded into RAM with the CPU entering it in
    /// protected mode; the firmware ROM stays mapped but does not run. Null: start the firmware at the reset vector.
    /// </summary>
    public KernelImage? Kernel { get; init; }
    /// <summary>Where port 0xE9 output goes (null: discarded).</summary>
    public Action<byte>? DebugConsole { get; init; }
    /// <summary>Where COM1 output goes (null: discarded).</summary>
    public Action<byte>? Serial { get; init; }
    /// <summary>Where COM2 output goes (null: discarded).</summary>
    public Action<byte>? Serial2 { get; init; }
    /// <summary>HLT with interrupts disabled ends the run (otherwise the machine sits halted until a limit).</summary>
    public bool ExitOnHalt { get; init; } = true;
    /// <summary>
    /// Whether someone can still send the guest input (a terminal on the serial port or the keyboard, a monitor, a
    /// pipe that has not ended). While it returns true, HLT with interrupts enabled and no timer armed (an idle Linux
    /// stops its tick) waits for that input, as QEMU does, instead of ending the run. Null: nobody can. Asked on the
    /// VM thread, once per millisecond of idleness.
    /// </summary>
    public Func<bool>? WaitForInput { get; init; }
    /// <summary>A triple fault or a guest-requested reset stops the machine instead of resetting it (QEMU's -no-reboot).</summary>
    public bool NoReboot { get; init; } = true;
    /// <summary>Wall-clock limit for <see cref="Machine.Run"/> (null: none).</summary>
    public double? MaxSeconds { get; init; }
    /// <summary>Guest-instruction limit (null: none).</summary>
    public long? MaxInstructions { get; init; }
    /// <summary>Builds the execution engine for the machine's CPU (null: the interpreter).</summary>
    public Func<Processor, IExecutionEngine>? EngineFactory { get; init; }
    /// <summary>
    /// How guest time runs (see docs/decisions/0011-platform-and-clock.md): deterministic (from the instruction
    /// count, the default here and in tests) or from the host's clock.
    /// </summary>
    public ClockMode Clock { get; init; } = ClockMode.Deterministic;
    /// <summary>The RTC's date and time at power-on (null: a fixed date in deterministic mode, the host's UTC time otherwise).</summary>
    public DateTime? RtcStart { get; init; }
    /// <summary>IDE disks: primary master, primary slave, secondary master, secondary slave (null: none).</summary>
    public IReadOnlyList<JitVm.Core.Storage.IBlockDevice?> HardDisks { get; init; } = [];
    /// <summary>A CD-ROM image (2048-byte sectors) in an ATAPI drive on the secondary master (null: no drive).</summary>
    public JitVm.Core.Storage.IBlockDevice? CdRom { get; init; }
    /// <summary>Floppy images in drives A: and B: (null: empty).</summary>
    public IReadOnlyList<JitVm.Core.Storage.IBlockDevice?> Floppies { get; init; } = [];
    /// <summary>A VGA BIOS image, offered to the firmware as the fw_cfg file <c>vgaroms/vgabios.bin</c> (SeaBIOS runs it).</summary>
    public byte[]? VgaBios { get; init; }
    /// <summary>Boot order for the firmware, QEMU style: 'a' floppy, 'c' first hard disk (e.g. "ca").</summary>
    public string BootOrder { get; init; } = "ca";
    /// <summary>The engine's name in the exit summary line (<c>engine=</c>).</summary>
    public string EngineName { get; init; } = "interp";
}
