using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// PC/AT system control port B (0x61). Writable: bit 0 timer 2 GATE, bit 1 speaker data enable, bit 2 RAM parity
/// check enable (active low), bit 3 I/O channel check enable (active low). Read-only: bit 4 the refresh request
/// toggle, bit 5 timer 2 OUT, bit 6 I/O channel check and bit 7 parity error (always 0: this machine has neither).
/// </summary>
public sealed class SystemControlPortB(Pit8254 pit, VirtualClock clock) : IIoDevice
{
    /// <summary>The port address.</summary>
    public const ushort Port = 0x61;

    /// <summary>
    /// PIT input clocks per refresh request: the BIOS programs timer 1 in mode 2 with 18, i.e. a request every
    /// 15.085 µs; bit 4 toggles on each one. Derived from guest time so delay loops that count toggles work.
    /// </summary>
    public const long RefreshTicks = 18;

    byte control;    // bits 0–3 as written

    /// <summary>Registers port 0x61.</summary>
    public void Attach(IoBus io) => io.Register(Port, 1, this);

    /// <summary>Reset: timer 2 gated off, speaker off, parity and I/O checks enabled (bits 0–3 clear).</summary>
    public void Reset()
    {
        control = 0;
        pit.Gate2 = false;
    }

    /// <summary>The speaker sounds timer 2's output: GATE 2 and speaker data enable both set.</summary>
    public bool SpeakerOn => (control & 3) == 3;

    /// <summary>The refresh request toggle (bit 4) at the current guest time.</summary>
    public bool RefreshToggle => ((Pit8254.TicksAt(clock.Now) / RefreshTicks) & 1) != 0;

    /// <inheritdoc/>
    public uint In(ushort port, int size)
    {
        uint v = control;
        if (RefreshToggle) v |= 0x10;
        if (pit.Out2) v |= 0x20;
        return v;
    }

    /// <inheritdoc/>
    public void Out(ushort port, int size, uint value)
    {
        control = (byte)(value & 0x0F);                              // bits 4–7 are read-only status
        pit.Gate2 = (value & 1) != 0;
    }

    /// <summary>Writes section "PRTB": the control bits (timer 2's gate is the PIT's).</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("PRTB", 1);
        w.WriteByte(control);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("PRTB", 1);
        control = r.ReadByte("control", 0, 0x0F);
        r.EndSection();
    }
}
