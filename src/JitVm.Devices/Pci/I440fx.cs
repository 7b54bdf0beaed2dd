namespace JitVm.Devices.Pci;

/// <summary>
/// The Intel 82441FX PCI and memory controller (PMC) of the 440FX chipset: host bridge at PCI 00:00.0
/// (vendor 8086h, device 1237h, revision 02h, class 06 00 00).
/// </summary>
/// <remarks>
/// <para>Programmable attribute map (PAM) registers 59h–5Fh control shadow RAM below 1 MiB. Each register holds two
/// 4-bit attribute fields; in each field bit 0 is RE (read enable) and bit 1 is WE (write enable) — bits 2–3 are
/// reserved on the 82441FX (cacheability comes from the CPU's MTRRs). So a field's value means:
/// 0 = DRAM disabled (reads and writes go to ROM / the PCI bus), 1 = read-only DRAM (writes go to the bus),
/// 2 = write-only DRAM (reads come from ROM — used while copying the BIOS into shadow RAM), 3 = read/write DRAM.</para>
/// <para>Regions (see <see cref="PamRange"/>): PAM0 (59h) high nibble = F0000h–FFFFFh (64 KiB; its low nibble is
/// reserved); PAM1–PAM6 (5Ah–5Fh) cover C0000h–EFFFFh in 16 KiB pieces, low nibble first: 5Ah = C0000h/C4000h,
/// 5Bh = C8000h/CC000h, 5Ch = D0000h/D4000h, 5Dh = D8000h/DC000h, 5Eh = E0000h/E4000h, 5Fh = E8000h/EC000h.</para>
/// <para>The machine applies the attributes through <see cref="PamChanged"/>. SMRAM (72h), DRAM row boundaries
/// (60h–67h) and the other DRAM/cache control registers are stored only; nothing here models SMM or DRAM sizing.</para>
/// </remarks>
public sealed class I440fx : PciFunction
{
    /// <summary>First PAM register (PAM0).</summary>
    public const int PamOffset = 0x59;

    /// <summary>Number of PAM registers (PAM0–PAM6).</summary>
    public const int PamCount = 7;

    /// <summary>SMRAM control register.</summary>
    public const int SmramOffset = 0x72;

    /// <summary>DRAM row boundary registers DRB0–DRB7 (60h–67h).</summary>
    public const int DrbOffset = 0x60;

    /// <summary>Creates the host bridge with its power-on register values (82441FX datasheet defaults).</summary>
    public I440fx() : base(0x8086, 0x1237, 0x02, 0x060000)
    {
        // PCICMD: memory access and bus master enable are hardwired 1; parity error response (6) and SERR# (8) R/W.
        DefineRegister(CommandOffset, 2, 0x0006, writableMask: 0x0140);
        // PCISTS: fast back-to-back capable, medium DEVSEL; error bits write-one-to-clear.
        DefineRegister(StatusOffset, 2, 0x0280, writeOneToClearMask: 0xF900);
        DefineRegister(CacheLineOffset, 1, 0);                       // not implemented: reads 0
        DefineRegister(LatencyOffset, 1, 0, writableMask: 0xF8);     // MLT: bits 2:0 hardwired 0
        DefineRegister(InterruptLineOffset, 1, 0);                   // a host bridge has no interrupt
        // DRAM/cache control registers (PMCCFG 50h–51h, DETURBO, DBC, AXC, DRAMR, DRAMC, DRAMT 52h–58h): storage only,
        // power-on value 0 (their datasheet defaults are not modelled; firmware programs them).
        DefineRegister(0x50, 4, 0, writableMask: 0xFFFFFFFF);
        DefineRegister(0x54, 4, 0, writableMask: 0xFFFFFFFF);
        DefineRegister(0x58, 1, 0, writableMask: 0xFF);
        DefineRegister(PamOffset, 1, 0x00, writableMask: 0x30);      // PAM0: only the F0000h field
        for (int i = 1; i < PamCount; i++) DefineRegister(PamOffset + i, 1, 0x00, writableMask: 0x33);
        for (int i = 0; i < 8; i++) DefineRegister(DrbOffset + i, 1, 0x01, writableMask: 0xFF);
        DefineRegister(0x68, 1, 0x00, writableMask: 0xFF);           // FDHC
        DefineRegister(0x70, 2, 0x0000, writableMask: 0xFFFF);       // MTT, CLT
        // SMRAM: bits 2:0 (C_BASE_SEG) hardwired 010b = A0000h; D_OPEN/D_CLS/D_LCK/G_SMRAME stored.
        DefineRegister(SmramOffset, 1, 0x02, writableMask: 0x78);
        DefineRegister(0x90, 1, 0x00, writableMask: 0xFF);           // ERRCMD
        DefineRegister(0x91, 1, 0x00, writeOneToClearMask: 0xFF);    // ERRSTS
        DefineRegister(0x93, 1, 0x00, writableMask: 0xFF);           // TRC
    }

    /// <summary>
    /// Called with the PAM index (0–6, register 59h + index) and its new value after a guest write to that register,
    /// and for all seven registers (value 0: everything routed to ROM/PCI) on <see cref="PciFunction.Reset"/>.
    /// Decode with <see cref="PamRange"/>: nibble value 0 = disabled, 1 = read-only, 2 = write-only, 3 = read/write DRAM.
    /// </summary>
    public Action<int, byte>? PamChanged { get; set; }

    /// <summary>Current value of PAM register <paramref name="pamIndex"/> (0–6).</summary>
    public byte Pam(int pamIndex) => Get8(PamOffset + pamIndex);

    /// <summary>Current SMRAM control register (72h).</summary>
    public byte Smram => Get8(SmramOffset);

    /// <summary>
    /// The physical range governed by one attribute field: <paramref name="highNibble"/> selects bits 7:4 (else 3:0)
    /// of PAM register <paramref name="pamIndex"/>. Returns length 0 for the reserved low nibble of PAM0.
    /// </summary>
    public static (uint Base, uint Length) PamRange(int pamIndex, bool highNibble)
    {
        if (pamIndex is < 0 or >= PamCount) throw new ArgumentOutOfRangeException(nameof(pamIndex));
        if (pamIndex == 0) return highNibble ? (0xF0000u, 0x10000u) : (0u, 0u);
        return (0xC0000u + (uint)(pamIndex - 1) * 0x8000u + (highNibble ? 0x4000u : 0u), 0x4000u);
    }

    protected override void OnConfigWritten(int offset, int size)
    {
        if (PamChanged is not { } changed) return;
        for (int i = 0; i < PamCount; i++)
            if (Touches(offset, size, PamOffset + i)) changed(i, Pam(i));
    }

    protected override void OnReset()
    {
        if (PamChanged is not { } changed) return;
        for (int i = 0; i < PamCount; i++) changed(i, Pam(i));
    }
}
