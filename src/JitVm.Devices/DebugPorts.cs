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

    /// <summary>Writes section "DEXT": whether and what the guest wrote to the exit port.</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("DEXT", 1);
        w.WriteBool(Value is not null);
        w.WriteUInt32(Value ?? 0);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("DEXT", 1);
        bool written = r.ReadBool("written");
        uint v = r.ReadUInt32("value");
        Value = written ? v : null;
        r.EndSection();
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

    /// <summary>Writes section "POST": the last code and how many were written.</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("POST", 1);
        w.WriteByte(LastCode);
        w.WriteInt32(Count);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("POST", 1);
        LastCode = r.ReadByte("last code");
        Count = r.ReadInt32("count");
        r.EndSection();
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

    /// <summary>Writes section "PRTA": a fast reset requested and not yet carried out (A20 is the CPU's).</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("PRTA", 1);
        w.WriteBool(ResetRequested);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("PRTA", 1);
        ResetRequested = r.ReadBool("reset requested");
        r.EndSection();
    }
}
