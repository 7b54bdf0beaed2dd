using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// A 16550-compatible UART (COM1 at 0x3F8): the register file a driver programs (divisor latch, line and modem
/// control, scratch), a transmitter that is always ready and hands bytes to a sink, and a receive path fed by
/// <see cref="Receive"/>. FIFOs are reported enabled when requested; interrupts are wired once the PIC exists.
/// </summary>
public sealed class Uart16550(Action<byte>? transmit) : IIoDevice
{
    public const ushort Com1 = 0x3F8;

    const byte LsrDataReady = 0x01, LsrThrEmpty = 0x20, LsrTransmitterEmpty = 0x40;

    readonly Queue<byte> rx = new();
    byte ier, lcr, mcr, scratch, fcr, dll = 0x0C, dlm;

    bool Dlab => (lcr & 0x80) != 0;

    /// <summary>Bytes transmitted so far.</summary>
    public long Transmitted { get; private set; }

    /// <summary>Queues a byte for the guest to read.</summary>
    public void Receive(byte b) => rx.Enqueue(b);

    public uint In(ushort port, int size)
    {
        switch (port & 7)
        {
            case 0:
                if (Dlab) return dll;
                return rx.Count > 0 ? rx.Dequeue() : 0u;
            case 1: return Dlab ? dlm : ier;
            case 2: return (fcr & 1) != 0 ? 0xC1u : 0x01u;      // no interrupt pending; FIFO-enabled bits when on
            case 3: return lcr;
            case 4: return mcr;
            case 5: return (uint)(LsrThrEmpty | LsrTransmitterEmpty | (rx.Count > 0 ? LsrDataReady : 0));
            case 6:
                // Loopback mode reflects MCR outputs; otherwise report CTS, DSR and DCD asserted.
                return (mcr & 0x10) != 0 ? (uint)((mcr & 0x0F) << 4) : 0xB0u;
            default: return scratch;
        }
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port & 7)
        {
            case 0:
                if (Dlab) dll = v;
                else if ((mcr & 0x10) != 0) rx.Enqueue(v);             // loopback: transmit into our own receiver
                else
                {
                    Transmitted++;
                    transmit?.Invoke(v);
                }
                break;
            case 1:
                if (Dlab) dlm = v;
                else ier = (byte)(v & 0x0F);
                break;
            case 2:
                fcr = v;
                if ((v & 2) != 0) rx.Clear();
                break;
            case 3: lcr = v; break;
            case 4: mcr = (byte)(v & 0x1F); break;
            case 7: scratch = v; break;
        }
    }

    /// <summary>The programmed divisor (115200 / divisor = baud rate).</summary>
    public int Divisor => dll | dlm << 8;
}
