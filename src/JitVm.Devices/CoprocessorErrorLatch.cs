using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// The PC/AT's coprocessor error logic: the FPU's FERR# output sets a latch that drives IRQ 13, and a write of any
/// value to port F0h clears it (the IRQ 13 handler's "clear busy"). Real boards also assert IGNNE# after that write,
/// which lets the next x87 instruction run past the pending exception; that is not modelled, so the handler must
/// clear the exception (FNCLEX, FNINIT or FLDENV) before it returns.
/// </summary>
public sealed class CoprocessorErrorLatch(IIrqLines irqs) : IIoDevice
{
    public const ushort Port = 0xF0;
    public const int Irq = 13;

    /// <summary>The latch is set: IRQ 13 is high.</summary>
    public bool Asserted { get; private set; }

    /// <summary>FERR# became active.</summary>
    public void Assert()
    {
        if (Asserted) return;
        Asserted = true;
        irqs.SetIrq(Irq, true);
    }

    public void Reset()
    {
        if (!Asserted) return;
        Asserted = false;
        irqs.SetIrq(Irq, false);
    }

    public uint In(ushort port, int size) => 0xFFFFFFFF;

    public void Out(ushort port, int size, uint value) => Reset();

    /// <summary>Writes section "FERR": the latch (IRQ 13's level is the PIC's).</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("FERR", 1);
        w.WriteBool(Asserted);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("FERR", 1);
        Asserted = r.ReadBool("asserted");
        r.EndSection();
    }
}
