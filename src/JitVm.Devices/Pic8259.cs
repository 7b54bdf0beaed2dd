using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Devices;

/// <summary>
/// The PC/AT pair of Intel 8259A programmable interrupt controllers — master at 0x20/0x21 (IRQ 0–7), slave at
/// 0xA0/0xA1 (IRQ 8–15) whose INT output drives master IR2 — plus the PIIX3 ELCR edge/level registers at
/// 0x4D0/0x4D1.
/// </summary>
/// <remarks>
/// <para>Modelling choices where the datasheet leaves room:</para>
/// <list type="bullet">
/// <item>Edge-triggered inputs latch a rising edge in IRR, and the bit stays set if the line drops before the
/// acknowledge (QEMU's model; the real part needs the line held until INTA). Level-triggered inputs (ELCR bit or the
/// chip's ICW1.LTIM) make IRR follow the line, so a request that goes away before INTA yields a spurious IR7.</item>
/// <item>A device driving "IRQ 2" is routed to IRQ 9, as the PC/AT wires the ISA bus's IRQ2 pin to slave IR1.
/// Master IR2 is driven only by the slave's INT output.</item>
/// <item>The master always acts as master and the slave as slave (fixed PC wiring); ICW4's buffered-mode M/S bit
/// is accepted and stored but changes nothing. The slave answers a cascade acknowledge only when the master's ICW3
/// marks IR2 as a slave input and the slave's ICW3 ID is 2; a cascade address nobody answers reads 0xFF
/// (floating bus).</item>
/// <item>Vectors are always formed the 8086 way, (ICW2 &amp; 0xF8) | level, even if ICW4.µPM is left 0: the CPU
/// is an x86 and reads one vector byte.</item>
/// <item>ICW1 also clears ISR, the edge latches and rotate-in-AEOI (the datasheet is silent on them); as it says,
/// it clears IMR, makes IR7 lowest priority, clears special mask mode, selects IRR for reading and resets the
/// edge sense, so a line already high must go low and high again to request.</item>
/// <item>Power-on state is undefined for the part. <see cref="Reset"/> leaves both chips programmed as a PC/AT
/// BIOS does (ICW1 0x11, vector bases 0x08/0x70, cascade on IR2, 8086 mode) with every line masked, and ELCR 0
/// (PIIX3 default); firmware normally re-initializes anyway.</item>
/// <item>In special mask mode an in-service level whose IMR bit is set neither blocks other levels nor is seen by
/// a non-specific EOI (the datasheet tells software to use specific EOIs in that mode).</item>
/// </list>
/// </remarks>
public sealed class Pic8259Pair : IIoDevice, IInterruptController, IIrqLines
{
    /// <summary>Master command (A0=0) and data (A0=1) ports.</summary>
    public const ushort MasterCommand = 0x20, MasterData = 0x21;

    /// <summary>Slave command (A0=0) and data (A0=1) ports.</summary>
    public const ushort SlaveCommand = 0xA0, SlaveData = 0xA1;

    /// <summary>ELCR1 (IRQ 0–7) at 0x4D0 and ELCR2 (IRQ 8–15) at 0x4D1.</summary>
    public const ushort ElcrPort = 0x4D0;

    /// <summary>ELCR bits that can be set: IRQ 0, 1, 2, 8 and 13 are hardwired edge-triggered.</summary>
    public const ushort ElcrWritable = 0xDEF8;

    const int CascadeInput = 2;

    readonly Action<bool> outputChanged;
    readonly Chip master = new(isMaster: true);
    readonly Chip slave = new(isMaster: false);
    bool output;

    /// <param name="outputChanged">Called with the new level whenever the master's INT output (the CPU's INTR pin)
    /// changes.</param>
    public Pic8259Pair(Action<bool> outputChanged)
    {
        this.outputChanged = outputChanged;
        master.PowerOn();
        slave.PowerOn();
    }

    /// <summary>Registers the master (0x20–0x21), the slave (0xA0–0xA1) and the ELCR (0x4D0–0x4D1).</summary>
    public void Attach(IoBus io)
    {
        io.Register(MasterCommand, 2, this);
        io.Register(SlaveCommand, 2, this);
        io.Register(ElcrPort, 2, this);
    }

    /// <summary>
    /// Reset: both chips programmed as a PC/AT BIOS leaves them, all lines masked, nothing requested or in service,
    /// ELCR 0. Line levels are forgotten (devices re-drive their lines after their own reset).
    /// </summary>
    public void Reset()
    {
        master.PowerOn();
        slave.PowerOn();
        Propagate();
        Notify();
    }

    /// <summary>The master's INT output: an interrupt is waiting for the CPU.</summary>
    public bool InterruptPending => output;

    /// <summary>Master IRR, ISR and IMR (IRQ 0–7) as the chip holds them.</summary>
    public byte MasterIrr => master.Irr;
    /// <inheritdoc cref="MasterIrr"/>
    public byte MasterIsr => master.Isr;
    /// <inheritdoc cref="MasterIrr"/>
    public byte MasterImr => master.Imr;

    /// <summary>Slave IRR, ISR and IMR (IRQ 8–15) as the chip holds them.</summary>
    public byte SlaveIrr => slave.Irr;
    /// <inheritdoc cref="SlaveIrr"/>
    public byte SlaveIsr => slave.Isr;
    /// <inheritdoc cref="SlaveIrr"/>
    public byte SlaveImr => slave.Imr;

    /// <summary>The vector bases programmed by ICW2 (low three bits clear).</summary>
    public byte MasterVectorBase => master.VectorBase;
    /// <inheritdoc cref="MasterVectorBase"/>
    public byte SlaveVectorBase => slave.VectorBase;

    /// <summary>The edge/level control registers: bit n set means IRQ n is level-triggered.</summary>
    public ushort Elcr => (ushort)(master.ElcrLevel | slave.ElcrLevel << 8);

    /// <summary>
    /// Drives ISA line <paramref name="irq"/> (0–15). IRQ 2 is the cascade and is routed to IRQ 9 (PC/AT wiring).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The line number is not 0–15 (a host bug, not guest input).</exception>
    public void SetIrq(int irq, bool high)
    {
        if ((uint)irq > 15) throw new ArgumentOutOfRangeException(nameof(irq));
        if (irq == CascadeInput) irq = 9;
        if (irq < 8) master.SetLine(irq, high);
        else slave.SetLine(irq - 8, high);
        Propagate();
        Notify();
    }

    /// <summary>
    /// The INTA sequence. The master resolves its highest request; if it is a slave input, the slave supplies the
    /// vector. A master with no request returns its IR7 vector without touching ISR (spurious); a slave with no
    /// request returns its own IR7 vector while the master's IR2 in-service bit stays set.
    /// </summary>
    public byte Acknowledge()
    {
        // First INTA pulse: each chip involved freezes its choice, sets ISR and clears an edge request.
        int m = master.BeginAcknowledge();
        Chip? answering = null;
        int s = -1;
        byte vector;
        if (m < 0) vector = master.Vector(7);
        else if (master.IsCascadeInput(m))
        {
            if (m == CascadeInput && slave.SlaveId == CascadeInput)
            {
                answering = slave;
                s = slave.BeginAcknowledge();
                vector = slave.Vector(s < 0 ? 7 : s);
            }
            else vector = 0xFF;                                // no slave drives the bus for this cascade address
        }
        else vector = master.Vector(m);

        // The slave's INT drops while its new in-service bit blocks the rest, so master IR2 sees the falling edge...
        Propagate();
        // ...and the second INTA pulse ends the cycle: automatic EOI, which may raise INT again (a fresh edge).
        if (m >= 0) master.EndAcknowledge(m);
        if (s >= 0) answering!.EndAcknowledge(s);
        Propagate();
        Notify();
        return vector;
    }

    public uint In(ushort port, int size)
    {
        uint v;
        switch (port)
        {
            case MasterCommand: v = master.ReadCommand(); break;
            case MasterData: v = master.Imr; break;
            case SlaveCommand: v = slave.ReadCommand(); break;
            case SlaveData: v = slave.Imr; break;
            case ElcrPort: return master.ElcrLevel;
            case ElcrPort + 1: return slave.ElcrLevel;
            default: return 0xFF;
        }
        Propagate();                                           // a poll read acknowledges
        Notify();
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port)
        {
            case MasterCommand: master.WriteCommand(v); break;
            case MasterData: master.WriteData(v); break;
            case SlaveCommand: slave.WriteCommand(v); break;
            case SlaveData: slave.WriteData(v); break;
            case ElcrPort: master.SetElcr((byte)(v & ElcrWritable)); break;
            case ElcrPort + 1: slave.SetElcr((byte)(v & (ElcrWritable >> 8))); break;
            default: return;
        }
        Propagate();
        Notify();
    }

    /// <summary>The slave's INT output is the level on master IR2.</summary>
    void Propagate() => master.SetLine(CascadeInput, slave.Output);

    void Notify()
    {
        bool now = master.Output;
        if (now == output) return;
        output = now;
        outputChanged(now);
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>Writes section "PIC ": both chips (registers, ICWs, initialization step, priority, line levels) and the INT output.</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("PIC ", 1);
        master.Save(w);
        slave.Save(w);
        w.WriteBool(output);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote; the CPU's INTR level is the processor's own state, so nothing is notified.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("PIC ", 1);
        master.Load(r, "master");
        slave.Load(r, "slave");
        output = r.ReadBool("output");
        r.EndSection();
    }

    /// <summary>One 8259A.</summary>
    sealed class Chip(bool isMaster)
    {
        public byte Irr, Isr, Imr, ElcrLevel;
        byte lines;                 // current input levels (edge sense compares against these)
        byte icw1, icw2, icw3, icw4;
        int expect;                 // next ICW the data port takes: 2, 3, 4, or 0 when operational
        int lowest = 7;             // the level with the lowest priority
        bool readIsr, poll, specialMask, rotateInAeoi;

        bool Single => (icw1 & 0x02) != 0;
        bool Aeoi => (icw4 & 0x02) != 0;
        bool SpecialFullyNested => (icw4 & 0x10) != 0;
        /// <summary>Inputs that are level-sensitive: all with ICW1.LTIM, else those set in ELCR.</summary>
        byte LevelInputs => (icw1 & 0x08) != 0 ? (byte)0xFF : ElcrLevel;

        public byte VectorBase => (byte)(icw2 & 0xF8);
        public int SlaveId => icw3 & 7;
        public byte Vector(int level) => (byte)(VectorBase | level);
        public bool IsCascadeInput(int level) => isMaster && !Single && (icw3 & 1 << level) != 0;

        /// <summary>The INT output: the priority resolver has a request to present.</summary>
        public bool Output => Resolve() >= 0;

        public void PowerOn()
        {
            ElcrLevel = 0;
            lines = 0;
            Initialize(0x11);                                  // edge, cascade, ICW4 needed
            WriteData(isMaster ? (byte)0x08 : (byte)0x70);
            WriteData(isMaster ? (byte)(1 << CascadeInput) : (byte)CascadeInput);
            WriteData(0x01);                                   // 8086 mode, normal EOI
            Imr = 0xFF;
        }

        public void SetLine(int level, bool high)
        {
            byte bit = (byte)(1 << level);
            bool wasHigh = (lines & bit) != 0;
            if (high) lines |= bit;
            else lines &= (byte)~bit;
            if ((LevelInputs & bit) != 0) Irr = high ? (byte)(Irr | bit) : (byte)(Irr & ~bit);
            else if (high && !wasHigh) Irr |= bit;              // rising edge; a falling one leaves the latch
        }

        public void SetElcr(byte value)
        {
            ElcrLevel = value;
            FollowLevelInputs();
        }

        /// <summary>Level-sensitive IRR bits are the line levels; edge latches are left as they are.</summary>
        void FollowLevelInputs() => Irr = (byte)(Irr & ~LevelInputs | lines & LevelInputs);

        static int Priority(int level, int lowest) => (level - lowest - 1) & 7;     // 0 = highest

        /// <summary>In-service bits the priority logic sees: in special mask mode masked ones are ignored.</summary>
        byte VisibleIsr => specialMask ? (byte)(Isr & ~Imr) : Isr;

        /// <summary>The level the resolver would present, or -1: the highest-priority unmasked request that no
        /// in-service level of equal or higher priority blocks (fully nested mode).</summary>
        int Resolve()
        {
            byte requests = (byte)(Irr & ~Imr);
            if (requests == 0) return -1;
            byte inService = VisibleIsr;
            for (int p = 0; p < 8; p++)
            {
                int level = (lowest + 1 + p) & 7;
                int bit = 1 << level;
                if ((requests & bit) != 0)
                {
                    // Special fully nested mode: a slave input in service still lets a (higher) request from the
                    // same slave through; the slave's own priority logic did the ordering.
                    if ((inService & bit) == 0 || SpecialFullyNested && IsCascadeInput(level)) return level;
                    return -1;
                }
                if ((inService & bit) != 0) return -1;
            }
            return -1;
        }

        int HighestInService()
        {
            byte inService = VisibleIsr;
            for (int p = 0; p < 8; p++)
            {
                int level = (lowest + 1 + p) & 7;
                if ((inService & 1 << level) != 0) return level;
            }
            return -1;
        }

        /// <summary>First INTA: the chosen level goes in service; an edge request is consumed (a level one keeps
        /// following its line). Returns the level or -1 when there is no request (spurious).</summary>
        public int BeginAcknowledge()
        {
            int level = Resolve();
            if (level < 0) return -1;
            byte bit = (byte)(1 << level);
            Isr |= bit;
            if ((LevelInputs & bit) == 0) Irr &= (byte)~bit;
            return level;
        }

        /// <summary>End of the INTA sequence: automatic EOI, with rotation if rotate-in-AEOI is on.</summary>
        public void EndAcknowledge(int level)
        {
            if (!Aeoi) return;
            Isr &= (byte)~(1 << level);
            if (rotateInAeoi) lowest = level;
        }

        public byte ReadCommand()
        {
            if (poll)
            {
                // Poll: this read is the acknowledge; the word is I (bit 7) and the level (bits 2-0).
                poll = false;
                int level = BeginAcknowledge();
                if (level < 0) return 0;
                EndAcknowledge(level);
                return (byte)(0x80 | level);
            }
            return readIsr ? Isr : Irr;
        }

        public void WriteCommand(byte v)
        {
            if ((v & 0x10) != 0) Initialize(v);
            else if ((v & 0x08) == 0) Ocw2(v);
            else Ocw3(v);
        }

        public void WriteData(byte v)
        {
            switch (expect)
            {
                case 2:
                    icw2 = v;
                    expect = !Single ? 3 : (icw1 & 1) != 0 ? 4 : 0;
                    break;
                case 3:
                    icw3 = v;
                    expect = (icw1 & 1) != 0 ? 4 : 0;
                    break;
                case 4:
                    icw4 = (byte)(v & 0x1F);
                    expect = 0;
                    break;
                default:
                    Imr = v;                                   // OCW1
                    break;
            }
        }

        void Initialize(byte v)
        {
            icw1 = v;
            icw4 = 0;                                          // ICW4 functions are zero unless ICW4 follows
            icw3 = isMaster ? (byte)0 : (byte)7;               // "slave mode address is set to 7"
            expect = 2;
            Imr = 0;
            Isr = 0;
            lowest = 7;
            specialMask = false;
            readIsr = false;
            poll = false;
            rotateInAeoi = false;
            // Edge sense reset: pending edges are forgotten and a line already high must rise again.
            Irr = 0;
            FollowLevelInputs();
        }

        void Ocw2(byte v)
        {
            int level = v & 7;
            switch (v >> 5)
            {
                case 0b001:                                    // non-specific EOI
                    level = HighestInService();
                    if (level >= 0) Isr &= (byte)~(1 << level);
                    break;
                case 0b011:                                    // specific EOI
                    Isr &= (byte)~(1 << level);
                    break;
                case 0b101:                                    // rotate on non-specific EOI
                    level = HighestInService();
                    if (level >= 0)
                    {
                        Isr &= (byte)~(1 << level);
                        lowest = level;
                    }
                    break;
                case 0b100: rotateInAeoi = true; break;
                case 0b000: rotateInAeoi = false; break;
                case 0b111:                                    // rotate on specific EOI
                    Isr &= (byte)~(1 << level);
                    lowest = level;
                    break;
                case 0b110: lowest = level; break;             // set priority
                // 0b010: no operation
            }
        }

        void Ocw3(byte v)
        {
            if ((v & 0x40) != 0) specialMask = (v & 0x20) != 0;
            if ((v & 0x04) != 0) poll = true;
            if ((v & 0x02) != 0) readIsr = (v & 0x01) != 0;
        }

        public void Save(Core.State.StateWriter w)
        {
            w.WriteByte(Irr); w.WriteByte(Isr); w.WriteByte(Imr); w.WriteByte(ElcrLevel); w.WriteByte(lines);
            w.WriteByte(icw1); w.WriteByte(icw2); w.WriteByte(icw3); w.WriteByte(icw4);
            w.WriteByte((byte)expect); w.WriteByte((byte)lowest);
            w.WriteBool(readIsr); w.WriteBool(poll); w.WriteBool(specialMask); w.WriteBool(rotateInAeoi);
        }

        public void Load(Core.State.StateReader r, string name)
        {
            Irr = r.ReadByte(name + " irr"); Isr = r.ReadByte(name + " isr"); Imr = r.ReadByte(name + " imr");
            ElcrLevel = r.ReadByte(name + " elcr"); lines = r.ReadByte(name + " lines");
            icw1 = r.ReadByte(name + " icw1"); icw2 = r.ReadByte(name + " icw2"); icw3 = r.ReadByte(name + " icw3"); icw4 = r.ReadByte(name + " icw4");
            expect = r.ReadByte(name + " expected icw", 0, 4);
            if (expect == 1) throw r.Invalid(name + " expected icw", "must be 0, 2, 3 or 4");
            lowest = r.ReadByte(name + " lowest priority", 0, 7);
            readIsr = r.ReadBool(name + " read isr"); poll = r.ReadBool(name + " poll");
            specialMask = r.ReadBool(name + " special mask"); rotateInAeoi = r.ReadBool(name + " rotate in aeoi");
        }
    }
}
