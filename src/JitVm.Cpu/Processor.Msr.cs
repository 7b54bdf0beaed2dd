namespace JitVm.Cpu;

/// <summary>
/// Model-specific registers (RDMSR/WRMSR): the ones a P6-class CPUID implies. The TSC (10h) exists wherever
/// CPUID.MSR does; the P6 family adds IA32_PLATFORM_ID (17h), IA32_APIC_BASE (1Bh) and IA32_BIOS_SIGN_ID (8Bh);
/// the SYSENTER MSRs (174h-176h) exist when CPUID advertises SEP; the P6 performance-monitoring counters
/// (PerfCtr0/1 at C1h/C2h, PerfEvtSel0/1 at 186h/187h) hold what is written but count no events (no event is
/// modelled: a guest profiler sees counters that stay where it put them). With CPUID.MCA, the machine-check
/// architecture's MSRs: IA32_MCG_CAP (179h, five banks and MCG_CTL present, as a Pentium II), IA32_MCG_STATUS (17Ah),
/// IA32_MCG_CTL (17Bh) and per bank CTL/STATUS/ADDR/MISC from 400h; no error is ever logged, so the status, address
/// and misc registers read 0 and take only 0. Anything else is #GP(0).
/// </summary>
public sealed partial class Processor
{
    public const uint MsrTsc = 0x10, MsrPlatformId = 0x17, MsrApicBase = 0x1B, MsrBiosSignId = 0x8B,
        MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176,
        MsrPerfCtr0 = 0xC1, MsrPerfCtr1 = 0xC2, MsrPerfEvtSel0 = 0x186, MsrPerfEvtSel1 = 0x187;

    /// <summary>P6 PerfEvtSel bits that exist (bit 21 and the high half are reserved; EN, bit 22, only counts in PerfEvtSel0).</summary>
    public const ulong PerfEvtSelMask = 0xFFDF_FFFF;

    /// <summary>P6 performance counters are 40 bits wide.</summary>
    public const ulong PerfCtrMask = 0xFF_FFFF_FFFF;

    public const uint MsrMcgCap = 0x179, MsrMcgStatus = 0x17A, MsrMcgCtl = 0x17B, MsrMc0Ctl = 0x400;

    /// <summary>Machine-check banks (a Pentium II has five) and IA32_MCG_CAP: the count and MCG_CTL_P (bit 8).</summary>
    public const int McBanks = 5;
    public const ulong McgCapValue = McBanks | 0x100;

    /// <summary>IA32_MCG_CTL and the banks' IA32_MCi_CTL (what the guest enabled; nothing is ever reported).</summary>
    public ulong McgCtl;
    public readonly ulong[] McCtl = new ulong[McBanks];

    /// <summary>The model has the machine-check architecture's MSRs (CPUID.1:EDX.MCA).</summary>
    public bool HasMca => ((Model.Cpuid?.FeaturesEdx ?? 0) & CpuidInfo.FeatureMca) != 0;

    /// <summary>PerfEvtSel0/1 and PerfCtr0/1 (P6).</summary>
    public readonly uint[] PerfEvtSel = new uint[2];
    public readonly ulong[] PerfCtr = new ulong[2];

    /// <summary>IA32_APIC_BASE bits: bootstrap processor (read-only), global enable, base address (bits 31:12).</summary>
    public const ulong ApicBaseBsp = 0x100, ApicBaseEnable = 0x800, ApicBaseAddressMask = 0xFFFFF000;

    /// <summary>CPUID.1:EDX.APIC: an on-chip local APIC (not modelled as a device; only its base MSR is).</summary>
    const uint CpuidApic = 1u << 9;

    /// <summary>IA32_SYSENTER_CS/ESP/EIP: the flat ring-0 code selector and the entry stack and instruction pointers.</summary>
    public uint SysenterCs, SysenterEsp, SysenterEip;

    /// <summary>IA32_APIC_BASE.</summary>
    public ulong ApicBase;

    /// <summary>The model has SYSENTER/SYSEXIT and their MSRs (CPUID.1:EDX.SEP).</summary>
    public bool HasSysenter => ((Model.Cpuid?.FeaturesEdx ?? 0) & CpuidInfo.FeatureSep) != 0;

    bool IsP6 => Model.Generation >= CpuGeneration.P6;

    /// <summary>
    /// Power-up values: the APIC at its default base FEE00000h, this processor the bootstrap processor, the APIC
    /// globally enabled when CPUID advertises it (clearing the enable is what hides CPUID.APIC on a P6).
    /// </summary>
    void ResetMsrs()
    {
        SysenterCs = SysenterEsp = SysenterEip = 0;
        Array.Clear(PerfEvtSel);
        Array.Clear(PerfCtr);
        McgCtl = 0;
        Array.Clear(McCtl);
        bool apic = ((Model.Cpuid?.FeaturesEdx ?? 0) & CpuidApic) != 0;
        ApicBase = 0xFEE00000 | ApicBaseBsp | (apic ? ApicBaseEnable : 0);
    }

    /// <summary>RDMSR: false when the MSR does not exist on this model (the caller raises #GP(0)).</summary>
    public bool TryReadMsr(uint index, out ulong value)
    {
        value = 0;
        switch (index)
        {
            case MsrTsc: value = TimeStampCounter; return true;
            case MsrPlatformId or MsrBiosSignId when IsP6: return true;    // platform 0; no microcode update loaded
            case MsrApicBase when IsP6: value = ApicBase; return true;
            case MsrSysenterCs when HasSysenter: value = SysenterCs; return true;
            case MsrSysenterEsp when HasSysenter: value = SysenterEsp; return true;
            case MsrSysenterEip when HasSysenter: value = SysenterEip; return true;
            case MsrPerfCtr0 or MsrPerfCtr1 when IsP6: value = PerfCtr[index - MsrPerfCtr0]; return true;
            case MsrPerfEvtSel0 or MsrPerfEvtSel1 when IsP6: value = PerfEvtSel[index - MsrPerfEvtSel0]; return true;
            case MsrMcgCap when HasMca: value = McgCapValue; return true;
            case MsrMcgStatus when HasMca: return true;
            case MsrMcgCtl when HasMca: value = McgCtl; return true;
            case >= MsrMc0Ctl and < MsrMc0Ctl + 4 * McBanks when HasMca:
                if ((index & 3) == 0) value = McCtl[(index - MsrMc0Ctl) / 4];
                return true;                                              // STATUS, ADDR, MISC: nothing logged
            default: return false;
        }
    }

    /// <summary>WRMSR: false when the MSR does not exist or the value sets reserved bits (#GP(0)).</summary>
    public bool TryWriteMsr(uint index, ulong value)
    {
        switch (index)
        {
            case MsrTsc:
                // P6-family processors write only the low 32 bits and clear the high half (SDM vol. 3,
                // "Time-Stamp Counter"); the Pentium takes all 64.
                TimeStampCounter = IsP6 ? (uint)value : value;
                return true;
            case MsrBiosSignId when IsP6:
                return true;                                               // the microcode-update trigger: nothing to load
            case MsrApicBase when IsP6:
                // Base and enable are writable; BSP is read-only; everything else is reserved (32-bit physical space).
                if ((value & ~(ApicBaseAddressMask | ApicBaseEnable | ApicBaseBsp)) != 0) return false;
                ApicBase = (value & (ApicBaseAddressMask | ApicBaseEnable)) | (ApicBase & ApicBaseBsp);
                return true;
            // The SYSENTER MSRs hold 32 bits on a 32-bit processor; the high half is ignored.
            case MsrSysenterCs when HasSysenter: SysenterCs = (uint)value; return true;
            case MsrSysenterEsp when HasSysenter: SysenterEsp = (uint)value; return true;
            case MsrSysenterEip when HasSysenter: SysenterEip = (uint)value; return true;
            // P6 counters take the low 32 bits written, sign-extended to 40 (SDM vol. 3, P6 performance monitoring).
            case MsrPerfCtr0 or MsrPerfCtr1 when IsP6: PerfCtr[index - MsrPerfCtr0] = (ulong)(long)(int)(uint)value & PerfCtrMask; return true;
            case MsrPerfEvtSel0 or MsrPerfEvtSel1 when IsP6:
                if ((value & ~PerfEvtSelMask) != 0) return false;
                PerfEvtSel[index - MsrPerfEvtSel0] = (uint)value;
                return true;
            case MsrMcgStatus when HasMca: return value == 0;
            case MsrMcgCtl when HasMca: McgCtl = value; return true;
            case >= MsrMc0Ctl and < MsrMc0Ctl + 4 * McBanks when HasMca:
                if ((index & 3) != 0) return value == 0;                  // STATUS, ADDR, MISC take only zeros
                McCtl[(index - MsrMc0Ctl) / 4] = value;
                return true;
            default: return false;
        }
    }
}
