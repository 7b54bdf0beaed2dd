namespace JitVm.Core;

/// <summary>
/// The ISA interrupt request lines IRQ 0–15 as devices drive them. A device sets its line's level; whether a
/// rising edge or a high level requests an interrupt is the interrupt controller's business (edge or level per
/// line, as its ELCR says). Implemented by the 8259 pair.
/// </summary>
public interface IIrqLines
{
    /// <summary>Drives line <paramref name="irq"/> (0–15) high or low.</summary>
    void SetIrq(int irq, bool high);
}

/// <summary>Convenience for edge-triggered devices: a rising then a falling edge on the line.</summary>
public static class IrqLinesExtensions
{
    public static void PulseIrq(this IIrqLines lines, int irq)
    {
        lines.SetIrq(irq, true);
        lines.SetIrq(irq, false);
    }
}
