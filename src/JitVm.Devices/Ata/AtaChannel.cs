using JitVm.Core;

namespace JitVm.Devices.Ata;

/// <summary>
/// One legacy (compatibility-mode) ATA channel per ATA/ATAPI-6: the Command Block registers at
/// <c>commandBase</c>+0..7 (Data, Error/Features, Sector Count, LBA Low/Mid/High, Device, Status/Command), the
/// Control Block register at <c>controlPort</c> (Alternate Status / Device Control) and the channel's interrupt line,
/// shared by a master (device 0) and an optional slave (device 1), each an <see cref="IdeDevice"/>: an ATA hard disk
/// (<see cref="AtaDrive"/>) or an ATAPI CD-ROM (<see cref="AtapiDrive"/>).
/// </summary>
/// <remarks>
/// <para>Register writes reach both devices; the Command register is executed by the device the DEV bit selects
/// (EXECUTE DEVICE DIAGNOSTIC by both). INTRQ is driven by the selected device only: the line is high while that
/// device has an interrupt pending and Device Control nIEN is 0. Reading Status acknowledges the pending interrupt;
/// reading Alternate Status does not.</para>
/// <para>Device Control: nIEN (bit 1) releases INTRQ (a pending interrupt stays pending and reappears when nIEN is
/// cleared); SRST (bit 2) holds both devices in reset (BSY) until it is cleared, when each leaves the ATA signature
/// (Sector Count 1, LBA Low 1, LBA Mid/High 0, Error 01h), DRDY|DSC, DEV cleared and no interrupt; HOB (bit 7)
/// selects the "previous content" of the LBA48 FIFO registers on reads and is cleared by any write to a Command
/// Block register.</para>
/// <para>Absent devices: when the selected device is absent but the other one is present (normally a missing slave),
/// Status and Alternate Status read 00h, as ATA-6 requires of device 0 answering for a missing device 1 (this is
/// what BIOS and Linux probes take for "no device"); the other registers read the present device's copy, which
/// holds the same written values. A channel with no device at all reads 7Fh from every byte register (the host's
/// pull-down on DD7 with the other data lines floating) and FF7Fh from the Data register.</para>
/// <para>The Data register is 16 bits wide: a 32-bit access transfers two words (low word first) and an 8-bit access
/// moves one whole word of which the low byte is returned (the device always sees a 16-bit strobe).</para>
/// </remarks>
public sealed class AtaChannel : IIoDevice
{
    /// <summary>Primary channel Command Block base.</summary>
    public const ushort PrimaryCommandBase = 0x1F0;
    /// <summary>Primary channel Control Block (Alternate Status / Device Control).</summary>
    public const ushort PrimaryControlPort = 0x3F6;
    /// <summary>Primary channel interrupt line.</summary>
    public const int PrimaryIrq = 14;
    /// <summary>Secondary channel Command Block base.</summary>
    public const ushort SecondaryCommandBase = 0x170;
    /// <summary>Secondary channel Control Block (Alternate Status / Device Control).</summary>
    public const ushort SecondaryControlPort = 0x376;
    /// <summary>Secondary channel interrupt line.</summary>
    public const int SecondaryIrq = 15;

    const byte ControlNien = 0x02, ControlSrst = 0x04, ControlHob = 0x80;
    const byte NoDevice = 0x7F;

    readonly IIrqLines irq;
    readonly int irqLine;
    readonly IdeDevice?[] drives = new IdeDevice?[2];
    ushort commandBase = PrimaryCommandBase, controlPort = PrimaryControlPort;
    byte control;
    int selected;
    bool lineHigh;

    /// <summary>Creates a channel that drives ISA line <paramref name="irqLine"/> of <paramref name="irq"/>.</summary>
    public AtaChannel(IIrqLines irq, int irqLine)
    {
        this.irq = irq;
        this.irqLine = irqLine;
    }

    /// <summary>Registers the Command Block at <paramref name="commandBase"/>..+7 (the Data register accepting 16- and
    /// 32-bit accesses) and the Control Block register at <paramref name="controlPort"/>.</summary>
    public void Attach(IoBus io, ushort commandBase, ushort controlPort)
    {
        this.commandBase = commandBase;
        this.controlPort = controlPort;
        io.Register(commandBase, 1, this, acceptsWide: true);
        io.Register((ushort)(commandBase + 1), 7, this);
        io.Register(controlPort, 1, this);
    }

    /// <summary>Connects the hard disk <paramref name="drive"/> as device <paramref name="unit"/> (0 master, 1 slave).</summary>
    public void AttachDrive(int unit, AtaDrive drive) => AttachDevice(unit, drive);

    /// <summary>Connects the ATAPI CD-ROM <paramref name="drive"/> as device <paramref name="unit"/> (0 master, 1 slave).</summary>
    public void AttachCdrom(int unit, AtapiDrive drive) => AttachDevice(unit, drive);

    void AttachDevice(int unit, IdeDevice device)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(unit);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(unit, 1);
        drives[unit] = device;
        device.Connect(this);
        device.PowerOn();
        UpdateIrq();
    }

    /// <summary>The hard disk at <paramref name="unit"/> (0 master, 1 slave), if that device is one.</summary>
    public AtaDrive? Drive(int unit) => Device(unit) as AtaDrive;

    /// <summary>The CD-ROM at <paramref name="unit"/> (0 master, 1 slave), if that device is one.</summary>
    public AtapiDrive? Cdrom(int unit) => Device(unit) as AtapiDrive;

    /// <summary>The device at <paramref name="unit"/> (0 master, 1 slave), if any.</summary>
    public IdeDevice? Device(int unit) => unit is 0 or 1 ? drives[unit] : null;

    /// <summary>Hardware reset: Device Control cleared, device 0 selected, every device at its power-on state.</summary>
    public void Reset()
    {
        control = 0;
        selected = 0;
        foreach (var d in drives) d?.PowerOn();
        UpdateIrq();
    }

    /// <summary>The channel's interrupt line level (for diagnostics).</summary>
    public bool IrqAsserted => lineHigh;

    internal void UpdateIrq()
    {
        bool high = (control & ControlNien) == 0 && drives[selected] is { InterruptPending: true };
        if (high == lineHigh) return;
        lineHigh = high;
        irq.SetIrq(irqLine, high);
    }

    bool NoDevices => drives[0] is null && drives[1] is null;

    /// <summary>The device answering register reads: the selected one, else the other one present.</summary>
    IdeDevice? Responder => drives[selected] ?? drives[selected ^ 1];

    byte StatusOf(bool acknowledge)
    {
        if (NoDevices) return NoDevice;
        if (drives[selected] is not { } d) return 0;
        return acknowledge ? d.ReadStatusAndAcknowledge() : d.Status;
    }

    public uint In(ushort port, int size)
    {
        if (port == controlPort) return StatusOf(acknowledge: false);
        int reg = port - commandBase;
        if (reg == 0)
        {
            uint lo = ReadDataWord();
            if (size == 4) return lo | (uint)ReadDataWord() << 16;
            return size == 1 ? lo & 0xFF : lo;
        }
        if (reg is < 1 or > 7) return 0xFF;
        if (reg == 7) return StatusOf(acknowledge: true);
        if (NoDevices) return NoDevice;
        return Responder!.ReadRegister(reg, (control & ControlHob) != 0);
    }

    ushort ReadDataWord()
    {
        if (NoDevices) return 0xFF7F;
        return drives[selected] is { } d ? d.ReadData() : (ushort)0xFFFF;
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port == controlPort)
        {
            WriteControl((byte)value);
            return;
        }
        int reg = port - commandBase;
        if (reg == 0)
        {
            if (drives[selected] is not { } d) return;
            d.WriteData((ushort)value);
            if (size == 4) d.WriteData((ushort)(value >> 16));
            return;
        }
        if (reg is < 1 or > 7) return;
        control &= unchecked((byte)~ControlHob);   // a Command Block write clears HOB (ATA-6, Device Control)
        byte v = (byte)value;
        if (reg == 7)
        {
            Command(v);
            return;
        }
        foreach (var d in drives) d?.WriteRegister(reg, v);
        if (reg == 6 && (control & ControlSrst) == 0)
        {
            selected = (v >> 4) & 1;
            UpdateIrq();
        }
    }

    void Command(byte command)
    {
        if (command == 0x90)
        {
            // EXECUTE DEVICE DIAGNOSTIC is executed by both devices whatever DEV says; device 0 (or the lone
            // device) reports completion with the interrupt, and device 0's Error register says 01h: both passed.
            int reporter = drives[0] is not null ? 0 : 1;
            for (int u = 0; u < 2; u++) drives[u]?.Diagnose(interrupt: u == reporter);
            UpdateIrq();
            return;
        }
        drives[selected]?.Command(command);
    }

    void WriteControl(byte value)
    {
        bool wasReset = (control & ControlSrst) != 0, reset = (value & ControlSrst) != 0;
        control = value;
        if (reset && !wasReset)
            foreach (var d in drives) d?.EnterSoftReset();
        else if (!reset && wasReset)
        {
            foreach (var d in drives) d?.LeaveSoftReset();
            selected = 0;
        }
        UpdateIrq();
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes an "IDE " section: Device Control, the selected device, the IRQ level, and for each unit its kind (0 none,
    /// 1 hard disk, 2 CD-ROM) and state. The disk contents are not saved (the machine records which images they are).
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("IDE ", 1);
        w.WriteByte(control);
        w.WriteByte((byte)selected);
        w.WriteBool(lineHigh);
        foreach (var d in drives)
        {
            w.WriteByte(Kind(d));
            d?.SaveState(w);
        }
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote; each unit must hold the same kind of device.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("IDE ", 1);
        control = r.ReadByte("device control");
        selected = r.ReadByte("selected device", 0, 1);
        lineHigh = r.ReadBool("irq level");
        for (int u = 0; u < 2; u++)
        {
            byte kind = r.ReadByte($"unit {u} kind", 0, 2);
            if (kind != Kind(drives[u]))
                throw r.Invalid($"unit {u} kind", $"the snapshot has {KindName(kind)} as {(u == 0 ? "master" : "slave")}, this machine {KindName(Kind(drives[u]))}");
            drives[u]?.LoadState(r);
        }
        r.EndSection();
    }

    static byte Kind(IdeDevice? d) => d switch { AtaDrive => 1, AtapiDrive => 2, _ => 0 };

    static string KindName(byte kind) => kind switch { 1 => "a hard disk", 2 => "a CD-ROM drive", _ => "no device" };
}

/// <summary>
/// A device on an <see cref="AtaChannel"/> (an ATA disk or an ATAPI packet device): its copy of the Command Block
/// registers, its Status, its data port and its pending-interrupt flag. Only this assembly derives from it.
/// </summary>
public abstract class IdeDevice
{
    private protected AtaChannel? channel;

    private protected IdeDevice() { }

    /// <summary>INTRQ pending: set when the device requests an interrupt, cleared by a Status read or a new command.</summary>
    internal bool InterruptPending { get; private protected set; }

    internal void Connect(AtaChannel owner) => channel = owner;

    /// <summary>The Status register (without acknowledging the interrupt, as an Alternate Status read).</summary>
    internal abstract byte Status { get; }

    /// <summary>A Status register read: returns it and acknowledges the interrupt.</summary>
    internal byte ReadStatusAndAcknowledge()
    {
        if (InterruptPending)
        {
            InterruptPending = false;
            channel?.UpdateIrq();
        }
        return Status;
    }

    private protected void RaiseInterrupt()
    {
        InterruptPending = true;
        channel?.UpdateIrq();
    }

    /// <summary>Power-on / hardware reset.</summary>
    internal abstract void PowerOn();

    /// <summary>SRST asserted: BSY until released.</summary>
    internal abstract void EnterSoftReset();

    /// <summary>SRST released: the reset signature.</summary>
    internal abstract void LeaveSoftReset();

    /// <summary>A host write of Command Block register <paramref name="reg"/> (1–6).</summary>
    internal abstract void WriteRegister(int reg, byte value);

    /// <summary>A host read of Command Block register <paramref name="reg"/> (1–6).</summary>
    internal abstract byte ReadRegister(int reg, bool hob);

    /// <summary>One 16-bit read of the Data register.</summary>
    internal abstract ushort ReadData();

    /// <summary>One 16-bit write of the Data register.</summary>
    internal abstract void WriteData(ushort value);

    /// <summary>A command written to the Command register while this device is selected.</summary>
    internal abstract void Command(byte command);

    /// <summary>EXECUTE DEVICE DIAGNOSTIC; the device 0 (or lone device) raises the interrupt.</summary>
    internal abstract void Diagnose(bool interrupt);

    /// <summary>Writes the device's state: the pending interrupt, then the device's own.</summary>
    internal void SaveState(Core.State.StateWriter w)
    {
        w.WriteBool(InterruptPending);
        SaveDeviceState(w);
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    internal void LoadState(Core.State.StateReader r)
    {
        InterruptPending = r.ReadBool("interrupt pending");
        LoadDeviceState(r);
    }

    private protected abstract void SaveDeviceState(Core.State.StateWriter w);

    private protected abstract void LoadDeviceState(Core.State.StateReader r);
}
