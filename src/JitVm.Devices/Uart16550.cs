using System.Collections.Concurrent;
using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// A National/TI PC16550D UART as wired on a PC (COM1 at 0x3F8 on IRQ 4, COM2 at 0x2F8 on IRQ 3): divisor latch
/// behind LCR.DLAB, 16-byte receive FIFO (or the single receiver buffer register with FIFOs off) with trigger
/// levels 1/4/8/14, prioritized interrupts reported in IIR, line and modem status with their clear-on-read bits,
/// modem control with loopback, and the scratch register.
/// </summary>
/// <remarks>
/// <para>Modelling choices where the emulation has no serial wire:</para>
/// <list type="bullet">
/// <item>The transmitter is infinitely fast: a byte written to THR is handed to the transmit sink at once, so LSR
/// always reads THRE|TEMT. Writing THR clears a pending THRE interrupt and re-arms it immediately, as the chip does
/// once the byte has moved to the shift register; with the interrupt enabled and OUT2 set the IRQ line therefore
/// drops and rises again (a fresh edge for an edge-triggered PIC).</item>
/// <item>Host input (<see cref="Receive"/>) may come from any thread and is queued. Only the VM thread moves queued
/// bytes into the receiver: in <see cref="Poll"/> and whenever the guest reads RBR, IIR or LSR. Host bytes enter
/// only while the FIFO (or the holding register with FIFOs off) has room, like a line with flow control, so host
/// input never overruns. Bytes the guest loops back to itself (MCR.LOOP) arrive unconditionally and can overrun.</item>
/// <item>The character timeout (IIR 0x0C) counts <see cref="Poll"/> calls instead of character times: it becomes
/// pending at a <see cref="Poll"/> when FIFOs are on, the FIFO holds data below the trigger level and no byte was
/// received nor read since the previous <see cref="Poll"/> (a whole CPU slice of silence stands in for the
/// datasheet's four character times). Reading RBR clears it.</item>
/// <item>Parity, framing and break errors never occur, so LSR bits 2–4 and 7 read 0; only overrun is reported.
/// The modem inputs outside loopback read as CTS, DSR and DCD asserted (a terminal is attached) and never change.</item>
/// <item>On the PC the interrupt output reaches the ISA IRQ line through a buffer enabled by the -OUT2 pin, so the
/// line is high only while an enabled interrupt is pending and MCR.OUT2 is set. In loopback the datasheet forces
/// the modem control output pins inactive, so -OUT2 is then inactive and the line stays low even though the
/// interrupts still work internally (IIR still reports them).</item>
/// </list>
/// </remarks>
public sealed class Uart16550 : IIoDevice
{
    /// <summary>Base port of COM1.</summary>
    public const ushort Com1 = 0x3F8;

    /// <summary>Base port of COM2.</summary>
    public const ushort Com2 = 0x2F8;

    /// <summary>ISA IRQ lines of COM1 and COM2.</summary>
    public const int Com1Irq = 4, Com2Irq = 3;

    /// <summary>Depth of the receive FIFO.</summary>
    public const int FifoSize = 16;

    const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrThrEmpty = 0x20, LsrTransmitterEmpty = 0x40;
    const byte IerRx = 0x01, IerThre = 0x02, IerLineStatus = 0x04, IerModemStatus = 0x08;
    const byte McrOut2 = 0x08, McrLoop = 0x10;
    const byte IirNone = 0x01, IirLineStatus = 0x06, IirRxData = 0x04, IirTimeout = 0x0C, IirThre = 0x02,
        IirModem = 0x00, IirFifosOn = 0xC0;

    /// <summary>MSR bits 4–7 outside loopback: CTS, DSR and DCD asserted, RI off.</summary>
    const byte HostModemInputs = 0xB0;

    static readonly int[] TriggerLevels = [1, 4, 8, 14];

    readonly Action<byte>? transmit;
    readonly IIrqLines? irq;
    readonly int irqLine;
    readonly ConcurrentQueue<byte> hostInput = new();
    readonly Queue<byte> rx = new();

    byte ier, lcr, mcr, scratch, dll = 0x0C, dlm;
    bool fifoEnabled;
    int triggerLevel = 1;
    byte lineErrors;            // LSR bits 1-4 (only overrun happens here), cleared by reading LSR
    byte modemInputs = HostModemInputs, modemDeltas;
    bool thrInterrupt;          // THRE interrupt latch: set when THR empties, cleared by an IIR read naming it or a THR write
    bool timeoutPending, rxActivity;
    bool irqLevel;

    /// <summary>A UART without an interrupt line (polled use).</summary>
    /// <param name="transmit">Receives every byte the guest transmits (not called in loopback).</param>
    public Uart16550(Action<byte>? transmit) : this(transmit, null, Com1Irq) { }

    /// <summary>A UART driving ISA line <paramref name="irqLine"/> of <paramref name="irq"/>.</summary>
    /// <param name="transmit">Receives every byte the guest transmits (not called in loopback).</param>
    /// <param name="irq">The interrupt lines (the PIC), or null for none.</param>
    /// <param name="irqLine">The ISA IRQ number, 0–15 (<see cref="Com1Irq"/>, <see cref="Com2Irq"/>).</param>
    public Uart16550(Action<byte>? transmit, IIrqLines? irq, int irqLine)
    {
        if (irqLine is < 0 or > 15) throw new ArgumentOutOfRangeException(nameof(irqLine));
        this.transmit = transmit;
        this.irq = irq;
        this.irqLine = irqLine;
    }

    /// <summary>Bytes transmitted so far (loopback bytes excluded).</summary>
    public long Transmitted { get; private set; }

    /// <summary>The programmed divisor (115200 / divisor = baud rate).</summary>
    public int Divisor => dll | dlm << 8;

    /// <summary>Registers the eight ports at <paramref name="basePort"/> (<see cref="Com1"/> or <see cref="Com2"/>).</summary>
    public void Attach(IoBus io, ushort basePort = Com1) => io.Register(basePort, 8, this);

    /// <summary>
    /// Queues a byte arriving from the host. Thread-safe; the guest sees it after the next <see cref="Poll"/> or its
    /// next read of RBR, IIR or LSR.
    /// </summary>
    public void Receive(byte b) => hostInput.Enqueue(b);

    /// <summary>
    /// Master reset: IER, FCR, LCR and MCR cleared, FIFOs emptied, IIR 0x01, LSR 0x60, MSR deltas cleared, IRQ line
    /// low. The divisor latch and scratch register keep their values (the datasheet's reset table leaves them out);
    /// host bytes still queued by <see cref="Receive"/> are kept and arrive afterwards.
    /// </summary>
    public void Reset()
    {
        ier = lcr = mcr = 0;
        fifoEnabled = false;
        triggerLevel = 1;
        rx.Clear();
        lineErrors = 0;
        modemInputs = HostModemInputs;
        modemDeltas = 0;
        thrInterrupt = false;
        timeoutPending = rxActivity = false;
        UpdateIrq();
    }

    /// <summary>
    /// Called by the machine between CPU slices on the VM thread: moves queued host bytes into the receiver and
    /// decides the character timeout (see the remarks), then updates the IRQ line.
    /// </summary>
    public void Poll()
    {
        DrainHostInput();
        if (rxActivity) rxActivity = false;
        else if (fifoEnabled && rx.Count > 0 && rx.Count < triggerLevel) timeoutPending = true;
        UpdateIrq();
    }

    /// <inheritdoc/>
    public uint In(ushort port, int size)
    {
        switch (port & 7)
        {
            case 0:
                return Dlab ? dll : ReadRbr();
            case 1:
                return Dlab ? dlm : ier;
            case 2:
                return ReadIir();
            case 3:
                return lcr;
            case 4:
                return mcr;
            case 5:
                return ReadLsr();
            case 6:
                return ReadMsr();
            default:
                return scratch;
        }
    }

    /// <inheritdoc/>
    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port & 7)
        {
            case 0:
                if (Dlab) dll = v;
                else WriteThr(v);
                break;
            case 1:
                if (Dlab) dlm = v;
                else WriteIer(v);
                break;
            case 2:
                WriteFcr(v);
                break;
            case 3:
                lcr = v;
                break;
            case 4:
                WriteMcr(v);
                break;
            case 7:
                scratch = v;
                break;
            // 5 (LSR) and 6 (MSR) are read-only here; writes are ignored.
        }
    }

    bool Dlab => (lcr & 0x80) != 0;

    bool Loopback => (mcr & McrLoop) != 0;

    int Capacity => fifoEnabled ? FifoSize : 1;

    uint ReadRbr()
    {
        DrainHostInput();
        uint b = 0;
        if (rx.Count > 0)
        {
            b = rx.Dequeue();
            rxActivity = true;
            timeoutPending = false;            // reading a character clears the timeout and restarts its timer
        }
        if (rx.Count == 0) timeoutPending = false;
        UpdateIrq();
        return b;
    }

    uint ReadIir()
    {
        DrainHostInput();
        byte id = CurrentInterrupt();
        if (id == IirThre) thrInterrupt = false;   // reading IIR clears THRE when it is the reported source
        UpdateIrq();
        return (uint)(id | (fifoEnabled ? IirFifosOn : 0));
    }

    uint ReadLsr()
    {
        DrainHostInput();
        uint lsr = (uint)(LsrThrEmpty | LsrTransmitterEmpty | lineErrors | (rx.Count > 0 ? LsrDataReady : 0));
        lineErrors = 0;                        // OE (and PE/FE/BI) are cleared by reading LSR
        UpdateIrq();
        return lsr;
    }

    uint ReadMsr()
    {
        uint msr = (uint)(modemInputs | modemDeltas);
        modemDeltas = 0;                       // delta bits are cleared by reading MSR
        UpdateIrq();
        return msr;
    }

    void WriteThr(byte v)
    {
        if (Loopback) ReceiveByte(v);          // loopback: the shift register feeds our own receiver
        else
        {
            Transmitted++;
            transmit?.Invoke(v);
        }
        // The write clears the THRE interrupt; the byte leaves THR at once and THRE interrupts again.
        thrInterrupt = false;
        UpdateIrq();
        thrInterrupt = true;
        UpdateIrq();
    }

    void WriteIer(byte v)
    {
        v &= 0x0F;
        // Enabling the THRE interrupt while THR is empty (always, here) requests it at once; drivers rely on this.
        if ((v & IerThre) != 0 && (ier & IerThre) == 0) thrInterrupt = true;
        ier = v;
        UpdateIrq();
    }

    void WriteFcr(byte v)
    {
        bool enable = (v & 0x01) != 0;
        if (enable != fifoEnabled)
        {
            // Changing FCR0 clears both FIFOs.
            rx.Clear();
            timeoutPending = false;
            fifoEnabled = enable;
        }
        if (enable)
        {
            // The other FCR bits are only programmed while FCR0 is 1. Bit 2 (clear XMIT) has nothing to clear and
            // bit 3 (DMA mode) has no DMA wiring here.
            if ((v & 0x02) != 0)
            {
                rx.Clear();
                timeoutPending = false;
            }
            triggerLevel = TriggerLevels[v >> 6];
        }
        UpdateIrq();
    }

    void WriteMcr(byte v)
    {
        mcr = (byte)(v & 0x1F);
        byte inputs = Loopback
            // Loopback: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2.
            ? (byte)(((mcr & 0x02) << 3) | ((mcr & 0x01) << 5) | ((mcr & 0x04) << 4) | ((mcr & 0x08) << 4))
            : HostModemInputs;
        SetModemInputs(inputs);
        UpdateIrq();
    }

    void SetModemInputs(byte inputs)
    {
        byte changed = (byte)(inputs ^ modemInputs);
        if ((changed & 0x10) != 0) modemDeltas |= 0x01;                              // DCTS
        if ((changed & 0x20) != 0) modemDeltas |= 0x02;                              // DDSR
        if ((changed & 0x40) != 0 && (inputs & 0x40) == 0) modemDeltas |= 0x04;      // TERI: RI turned off
        if ((changed & 0x80) != 0) modemDeltas |= 0x08;                              // DDCD
        modemInputs = inputs;
    }

    /// <summary>Moves queued host bytes into the receiver while it has room.</summary>
    void DrainHostInput()
    {
        bool any = false;
        while (rx.Count < Capacity && hostInput.TryDequeue(out byte b))
        {
            rx.Enqueue(b);
            any = true;
        }
        if (any) rxActivity = true;
    }

    /// <summary>A character completing in the receive shift register (loopback path).</summary>
    void ReceiveByte(byte b)
    {
        rxActivity = true;
        if (rx.Count < Capacity)
        {
            rx.Enqueue(b);
            return;
        }
        lineErrors |= LsrOverrun;
        if (!fifoEnabled)
        {
            // FIFOs off: the new character overwrites the unread one in RBR.
            rx.Clear();
            rx.Enqueue(b);
        }
        // FIFOs on: the character in the shift register is overwritten and never reaches the full FIFO.
    }

    /// <summary>IIR bits 0–3 for the highest-priority enabled pending interrupt.</summary>
    byte CurrentInterrupt()
    {
        if ((ier & IerLineStatus) != 0 && lineErrors != 0) return IirLineStatus;
        if ((ier & IerRx) != 0)
        {
            if (fifoEnabled ? rx.Count >= triggerLevel : rx.Count > 0) return IirRxData;
            if (fifoEnabled && timeoutPending && rx.Count > 0) return IirTimeout;
        }
        if ((ier & IerThre) != 0 && thrInterrupt) return IirThre;
        if ((ier & IerModemStatus) != 0 && modemDeltas != 0) return IirModem;
        return IirNone;
    }

    void UpdateIrq()
    {
        bool level = CurrentInterrupt() != IirNone && (mcr & (McrOut2 | McrLoop)) == McrOut2;
        if (level == irqLevel) return;
        irqLevel = level;
        irq?.SetIrq(irqLine, level);
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes a "UART" section: registers, divisor, FIFO mode and contents, interrupt latches and line level, the
    /// transmitted-byte count, and the host bytes queued by <see cref="Receive"/> but not yet moved into the receiver.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("UART", 1);
        foreach (byte b in (ReadOnlySpan<byte>)[ier, lcr, mcr, scratch, dll, dlm]) w.WriteByte(b);
        w.WriteBool(fifoEnabled);
        w.WriteByte((byte)triggerLevel);
        w.WriteByte(lineErrors);
        w.WriteByte(modemInputs);
        w.WriteByte(modemDeltas);
        w.WriteBool(thrInterrupt);
        w.WriteBool(timeoutPending);
        w.WriteBool(rxActivity);
        w.WriteBool(irqLevel);
        w.WriteInt64(Transmitted);
        Ps2Keyboard.SaveQueue(w, rx);
        w.WriteBlob(hostInput.ToArray());
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote; host bytes queued now are replaced by the snapshot's.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("UART", 1);
        ier = r.ReadByte("ier");
        lcr = r.ReadByte("lcr");
        mcr = r.ReadByte("mcr");
        scratch = r.ReadByte("scratch");
        dll = r.ReadByte("divisor low");
        dlm = r.ReadByte("divisor high");
        fifoEnabled = r.ReadBool("fifo enabled");
        triggerLevel = r.ReadByte("trigger level", 1, 14);
        if (Array.IndexOf(TriggerLevels, triggerLevel) < 0) throw r.Invalid("trigger level", $"{triggerLevel} is not 1, 4, 8 or 14");
        lineErrors = r.ReadByte("line errors");
        modemInputs = r.ReadByte("modem inputs");
        modemDeltas = r.ReadByte("modem deltas");
        thrInterrupt = r.ReadBool("thr interrupt");
        timeoutPending = r.ReadBool("timeout pending");
        rxActivity = r.ReadBool("rx activity");
        irqLevel = r.ReadBool("irq level");
        Transmitted = r.ReadInt64("transmitted");
        Ps2Keyboard.LoadQueue(r, "receive fifo", rx, FifoSize);
        byte[] host = r.ReadBlob("host input", 1 << 24);
        hostInput.Clear();
        foreach (byte b in host) hostInput.Enqueue(b);
        r.EndSection();
    }
}
