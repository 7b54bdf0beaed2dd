namespace JitVm.Devices.Pci;

/// <summary>
/// The Intel 82371SB (PIIX3) PCI-to-ISA bridge, function 0 of the PIIX3 at PCI 00:01.0 (vendor 8086h, device 7000h,
/// class 06 01 00, header type 80h: multi-function, the IDE controller is function 1).
/// </summary>
/// <remarks>
/// <para>PIRQ route control registers PIRQRC[A:D] at 60h–63h: bit 7 = IRQEN# (1 = routing disabled, the reset value
/// 80h), bits 3:0 = ISA IRQ to drive. IRQ numbers 0, 1, 2, 8 and 13 are reserved by the datasheet and route nowhere;
/// <see cref="PirqToIrq"/> reports them, like a disabled route, as -1. Bits 6:4 are reserved (read 0).</para>
/// <para>The other function-0 registers (ISA I/O recovery, X-bus chip select, top of memory, motherboard IRQ/DMA,
/// deterministic latency control, APIC base, SMI control) are stored with their datasheet reset values and have no
/// effect here. The edge/level control registers (ELCR, 4D0h/4D1h) are in the PIC model; the reset control
/// register at CF9h is not part of this class.</para>
/// </remarks>
public sealed class Piix3 : PciFunction
{
    /// <summary>PIRQRC[A] offset; PIRQB–D follow at 61h–63h.</summary>
    public const int PirqOffset = 0x60;

    /// <summary>Top of memory register (TOM).</summary>
    public const int TopOfMemoryOffset = 0x69;

    /// <summary>Deterministic latency control register (DLC).</summary>
    public const int DeterministicLatencyOffset = 0x82;

    /// <summary>Creates the ISA bridge function with its power-on register values.</summary>
    public Piix3() : base(0x8086, 0x7000, 0x00, 0x060100, headerType: 0x80)
    {
        // PCICMD: I/O, memory and bus master hardwired 1; special cycle enable (3) R/W.
        DefineRegister(CommandOffset, 2, 0x0007, writableMask: 0x0008);
        // PCISTS: medium DEVSEL; master abort / target abort bits write-one-to-clear.
        DefineRegister(StatusOffset, 2, 0x0200, writeOneToClearMask: 0x3800);
        DefineRegister(CacheLineOffset, 1, 0);
        DefineRegister(LatencyOffset, 1, 0);
        DefineRegister(InterruptLineOffset, 1, 0);
        DefineRegister(0x4C, 1, 0x4D, writableMask: 0xFF);           // IORT
        DefineRegister(0x4E, 2, 0x0003, writableMask: 0xFFFF);       // XBCS
        for (int i = 0; i < 4; i++) DefineRegister(PirqOffset + i, 1, 0x80, writableMask: 0x8F);
        DefineRegister(TopOfMemoryOffset, 1, 0x02, writableMask: 0xFF);
        DefineRegister(0x6A, 2, 0x0000, writableMask: 0xFFFF);       // MSTAT
        DefineRegister(0x70, 2, 0x8080, writableMask: 0xFFFF);       // MBIRQ0/1
        DefineRegister(0x76, 2, 0x0404, writableMask: 0xFFFF);       // MBDMA0/1
        DefineRegister(0x78, 2, 0x0002, writableMask: 0xFFFF);       // PCSC
        DefineRegister(0x80, 1, 0x00, writableMask: 0xFF);           // APICBASE
        DefineRegister(DeterministicLatencyOffset, 1, 0x00, writableMask: 0xFF);
        DefineRegister(0xA0, 1, 0x08, writableMask: 0xFF);           // SMICNTL
        DefineRegister(0xA2, 2, 0x0000, writableMask: 0xFFFF);       // SMIEN
        DefineRegister(0xA4, 4, 0, writableMask: 0xFFFFFFFF);        // SEE
        DefineRegister(0xA8, 1, 0x0F, writableMask: 0xFF);           // FTMR
        DefineRegister(0xAA, 2, 0x0000, writableMask: 0xFFFF);       // SMIREQ
        DefineRegister(0xAC, 1, 0x00, writableMask: 0xFF);           // CTLTMR
        DefineRegister(0xAE, 1, 0x00, writableMask: 0xFF);           // CTHTMR
    }

    /// <summary>
    /// Called with (PIRQ index 0–3 for PIRQA–D, routed IRQ or -1) after a guest write to its route control register,
    /// and for all four on <see cref="PciFunction.Reset"/>.
    /// </summary>
    public Action<int, int>? PirqChanged { get; set; }

    /// <summary>The ISA IRQ that PCI interrupt line <paramref name="pirq"/> (0–3 = PIRQA–D) drives, or -1 when its
    /// routing is disabled (IRQEN# set) or names a reserved IRQ.</summary>
    public int PirqToIrq(int pirq)
    {
        if (pirq is < 0 or > 3) throw new ArgumentOutOfRangeException(nameof(pirq));
        byte r = Get8(PirqOffset + pirq);
        if ((r & 0x80) != 0) return -1;
        int irq = r & 0x0F;
        return irq is 0 or 1 or 2 or 8 or 13 ? -1 : irq;
    }

    protected override void OnConfigWritten(int offset, int size)
    {
        if (PirqChanged is not { } changed) return;
        for (int i = 0; i < 4; i++)
            if (Touches(offset, size, PirqOffset + i)) changed(i, PirqToIrq(i));
    }

    protected override void OnReset()
    {
        if (PirqChanged is not { } changed) return;
        for (int i = 0; i < 4; i++) changed(i, PirqToIrq(i));
    }
}

/// <summary>
/// The PIIX3 IDE interface's PCI header, function 1 at PCI 00:01.1 (vendor 8086h, device 7010h, class 01 01 80:
/// IDE, bus-master capable, both channels fixed in legacy (compatibility) mode at 1F0h/3F6h and 170h/376h, IRQ 14/15).
/// The ATA channels themselves are modelled elsewhere; this class only provides the configuration registers.
/// </summary>
/// <remarks>
/// BAR4 (BMIBA, 20h) is the 16-byte bus-master I/O block; its base and the command register's I/O enable are
/// reported through <see cref="PciFunction.BarChanged"/> (index 4). The command register has I/O space enable (bit 0)
/// and bus master enable (bit 2) writable, reset 0. The IDE timing registers IDETIM (40h–41h primary, 42h–43h
/// secondary; bit 15 = IDE decode enable) and SIDETIM (44h) are stored, reset 0.
/// </remarks>
public sealed class Piix3Ide : PciFunction
{
    /// <summary>Index of the bus-master BAR.</summary>
    public const int BusMasterBar = 4;

    /// <summary>Primary and secondary IDE timing registers.</summary>
    public const int PrimaryTimingOffset = 0x40, SecondaryTimingOffset = 0x42, SlaveTimingOffset = 0x44;

    /// <summary>Creates the IDE function with its power-on register values.</summary>
    public Piix3Ide() : base(0x8086, 0x7010, 0x00, 0x010180)
    {
        DefineRegister(CommandOffset, 2, 0x0000, writableMask: 0x0005);
        // PCISTS: fast back-to-back capable, medium DEVSEL; master/target abort bits write-one-to-clear.
        DefineRegister(StatusOffset, 2, 0x0280, writeOneToClearMask: 0x3800);
        DefineRegister(CacheLineOffset, 1, 0);
        DefineRegister(LatencyOffset, 1, 0, writableMask: 0xF0);     // MLT: bits 3:0 hardwired 0
        DefineRegister(InterruptLineOffset, 1, 0);                   // legacy mode: IRQ 14/15, no INTx
        DefineBar(BusMasterBar, 16, isIo: true);
        DefineRegister(PrimaryTimingOffset, 2, 0x0000, writableMask: 0xFFFF);
        DefineRegister(SecondaryTimingOffset, 2, 0x0000, writableMask: 0xFFFF);
        DefineRegister(SlaveTimingOffset, 1, 0x00, writableMask: 0xFF);
    }

    /// <summary>Current bus-master I/O base (BAR4), valid when <see cref="BusMasterDecoded"/>.</summary>
    public ushort BusMasterBase => (ushort)BarBase(BusMasterBar);

    /// <summary>Whether the bus-master registers are decoded (I/O space enabled in the command register).</summary>
    public bool BusMasterDecoded => IsBarDecoded(BusMasterBar);

    /// <summary>Whether the command register allows the function to master the bus (bit 2).</summary>
    public bool BusMasterEnabled => (Command & CommandBusMaster) != 0;

    /// <summary>IDE decode enable (IDETIM bit 15) of the primary (0) or secondary (1) channel.</summary>
    public bool ChannelDecodeEnabled(int channel) =>
        (Get16(channel == 0 ? PrimaryTimingOffset : SecondaryTimingOffset) & 0x8000) != 0;
}
