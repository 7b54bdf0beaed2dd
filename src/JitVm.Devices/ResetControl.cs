using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// The PIIX3 reset control register at 0xCF9 (a byte port next to PCI CONFIG_ADDRESS): bit 1 selects a hard (full
/// system) reset over a soft (CPU INIT) one, and writing bit 2 = 1 starts it. Both reset the whole board here, as
/// QEMU does. Reads return the stored bits 1 and 3.
/// </summary>
public sealed class ResetControl(Action requestReset) : IIoDevice
{
    public const ushort Port = 0xCF9;

    byte value;

    public void Attach(IoBus io) => io.Register(Port, 1, this);

    public void Reset() => value = 0;

    public uint In(ushort port, int size) => value;

    public void Out(ushort port, int size, uint v)
    {
        value = (byte)(v & 0x0A);
        if ((v & 0x04) != 0) requestReset();
    }

    /// <summary>Writes section "RCR ": the stored bits.</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("RCR ", 1);
        w.WriteByte(value);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("RCR ", 1);
        value = r.ReadByte("value");
        if ((value & ~0x0A) != 0) throw r.Invalid("value", "only bits 1 and 3 are stored");
        r.EndSection();
    }
}
