using JitVm.Core;

namespace JitVm.Devices;

/// <summary>Bochs/QEMU debug console: bytes written to port 0xE9 go to a text sink; reads return 0xE9 (its presence check).</summary>
public sealed class DebugConsole(Action<byte> sink) : IIoDevice
{
    public const ushort Port = 0xE9;
    /// <summary>Where SeaBIOS writes its debug log.</summary>
    public const ushort SeaBiosPort = 0x402;

    public uint In(ushort port, int size) => 0xE9;

    public void Out(ushort port, int size, uint value) => sink((byte)value);
}

/// <summary>
/// QEMU's isa-debug-exit: a write to port 0xF4 ends the run; the process exit status is (value &lt;&lt; 1) | 1.
/// Like QEMU, which exits at once, nothing after the OUT runs: the CPU is parked (block ended, halted) so the
/// engine returns at this instruction boundary.
/// </summary>
public sealed class DebugExit(Cpu.Processor? cpu = null) : IIoDevice
{
    public const ushort Port = 0xF4;

    /// <summary>The value written, once the guest has asked to exit.</summary>
    public uint? Value { get; private set; }

    public uint In(ushort port, int size) => 0xFFFFFFFF;

    public void Out(ushort port, int size, uint value)
    {
        Value = value & (size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu);
        if (cpu is null) return;
        cpu.Halted = true;
        cpu.ExitBlock = true;
    }
}

/// <summary>Port 0x80: the last POST code the firmware wrote.</summary>
public sealed class PostCodePort : IIoDevice
{
    public const ushort Port = 0x80;

    public byte LastCode { get; private set; }
    public int Count { get; private set; }

    public uint In(ushort port, int size) => LastCode;

    public void Out(ushort port, int size, uint value)
    {
        LastCode = (byte)value;
        Count++;
    }
}

/// <summary>System control port A (0x92): bit 1 drives the A20 gate, bit 0 requests a fast CPU reset.</summary>
public sealed class SystemControlPortA(Cpu.Processor cpu) : IIoDevice
{
    public const ushort Port = 0x92;

    public bool ResetRequested { get; set; }

    public uint In(ushort port, int size) => cpu.A20Enabled ? 2u : 0u;

    public void Out(ushort port, int size, uint value)
    {
        cpu.A20Enabled = (value & 2) != 0;
        if ((value & 1) != 0) ResetRequested = true;
    }
}
