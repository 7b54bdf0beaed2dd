using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// System instructions that real mode can execute: LGDT LIDT SGDT SIDT, SMSW LMSW CLTS, MOV to/from control and
/// debug registers, INVD WBINVD INVLPG, UD2, CPUID, RDTSC, RDMSR WRMSR. The protected-mode-only descriptor
/// instructions (0F 00 group, LAR, LSL, ARPL) are in <see cref="Descriptors"/>.
/// </summary>
internal static unsafe class SystemInstructions
{
    /// <summary>Privileged instructions need CPL 0 (always true in real mode; V86 mode runs at CPL 3).</summary>
    static void RequireCpl0(Processor c)
    {
        if (c.Cpl != 0) c.Fault(CpuVectors.GP, 0);
    }

    // ---- descriptor-table registers ----
    // The operand is 6 bytes: the 16-bit limit, then the base. With a 16-bit operand size only 24 bits of base
    // are loaded (the 286 format); SGDT/SIDT with a 16-bit operand store the 24-bit base and fill the last byte
    // with 1s on the 286 and 0s on the 386 and later (SDM SGDT, "IA-32 architecture compatibility"). The base
    // follows the limit at EA+2, wrapped to the address size like the selector of LDS.

    static void Lgdt<S>(Processor c, ref Insn i) where S : IOperandSize => LoadTable<S>(c, ref i, ref c.Gdtr);
    static void Lidt<S>(Processor c, ref Insn i) where S : IOperandSize => LoadTable<S>(c, ref i, ref c.Idtr);
    static void Sgdt<S>(Processor c, ref Insn i) where S : IOperandSize => StoreTable<S>(c, ref i, c.Gdtr);
    static void Sidt<S>(Processor c, ref Insn i) where S : IOperandSize => StoreTable<S>(c, ref i, c.Idtr);

    static void LoadTable<S>(Processor c, ref Insn i, ref DescriptorTableRegister table) where S : IOperandSize
    {
        RequireCpl0(c);
        uint ea = c.Ea(ref i);
        ushort limit = c.Read16(i.Seg, ea);
        uint @base = c.Read32(i.Seg, (ea + 2) & i.EaMask);
        table.Limit = limit;
        table.Base = S.Bytes == 2 ? @base & 0x00FFFFFF : @base;
    }

    static void StoreTable<S>(Processor c, ref Insn i, DescriptorTableRegister table) where S : IOperandSize
    {
        uint ea = c.Ea(ref i), baseEa = (ea + 2) & i.EaMask;
        uint @base = table.Base;
        if (S.Bytes == 2) @base = (@base & 0x00FFFFFF) | (c.Model.Is286 ? 0xFF000000 : 0);
        // Check both parts before storing either, so a fault leaves memory unchanged.
        c.CheckWritable(i.Seg, ea, 2);
        c.CheckWritable(i.Seg, baseEa, 4);
        c.Write16(i.Seg, ea, table.Limit);
        c.Write32(i.Seg, baseEa, @base);
    }

    // ---- machine status word ----

    // SMSW is not privileged. It stores CR0's low word; a 32-bit register destination gets all of CR0 on the 386
    // and later (the SDM leaves the high half undefined; P6-class processors return CR0). On the 286 the unused
    // MSW bits read as 1s (Cr0 holds FFF0h | flags there).
    static void SmswR16(Processor c, ref Insn i) => c.SetReg16(i.R0, c.Cr0);
    static void SmswR32(Processor c, ref Insn i) => c.SetReg32(i.R0, c.Cr0);
    static void SmswM(Processor c, ref Insn i) => c.Write16(i.Seg, c.Ea(ref i), c.Cr0 & 0xFFFF);

    // LMSW loads PE MP EM TS from the low 4 bits of the source. It can set PE but never clear it (only MOV CR0
    // leaves protected mode), and it leaves the other CR0 bits alone.
    static void LmswR(Processor c, ref Insn i) => Lmsw(c, c.Reg16(i.R0));
    static void LmswM(Processor c, ref Insn i) => Lmsw(c, c.Read16(i.Seg, c.Ea(ref i)));

    static void Lmsw(Processor c, uint v)
    {
        RequireCpl0(c);
        c.WriteCr0((c.Cr0 & ~(Processor.Cr0MP | Processor.Cr0EM | Processor.Cr0TS)) | (v & 0xF));
    }

    static void Clts(Processor c, ref Insn i)
    {
        RequireCpl0(c);
        c.Cr0 &= ~Processor.Cr0TS;
    }

    // ---- control registers (386+) ----
    // The register operand is always 32 bits and the ModRM mod field is ignored (Iced decodes both as a register).
    // CR1 and CR5-CR7 do not exist (#UD); CR4 exists on processors with CPUID (late 486 and later).

    static void CheckControlRegister(Processor c, int n)
    {
        RequireCpl0(c);
        if (n is 1 or > 4 || (n == 4 && c.Model.Cpuid is null)) c.Fault(CpuVectors.UD);
    }

    static void MovRCr(Processor c, ref Insn i)
    {
        int n = i.R1;
        CheckControlRegister(c, n);
        c.SetReg32(i.R0, n switch { 0 => c.Cr0, 2 => c.Cr2, 3 => c.Cr3, _ => c.Cr4 });
    }

    static void MovCrR(Processor c, ref Insn i)
    {
        int n = i.R0;
        CheckControlRegister(c, n);
        uint v = c.Reg32(i.R1);
        switch (n)
        {
            case 0: WriteCr0(c, v); break;
            case 2: c.Cr2 = v; break;
            case 3: c.WriteCr3(v); break;
            default: WriteCr4(c, v); break;
        }
    }

    /// <summary>CR0 bits the 386 implements: PE MP EM TS ET PG. The 486 adds NE WP AM NW CD (ET is then fixed at 1).</summary>
    const uint Cr0Bits386 = Processor.Cr0PE | Processor.Cr0MP | Processor.Cr0EM | Processor.Cr0TS | Processor.Cr0ET | Processor.Cr0PG;
    const uint Cr0Bits486 = Cr0Bits386 | Processor.Cr0NE | Processor.Cr0WP | Processor.Cr0AM | Processor.Cr0NW | Processor.Cr0CD;

    static void WriteCr0(Processor c, uint v)
    {
        // Invalid combinations raise #GP(0): paging without protection, not-write-through without cache-disable.
        if ((v & (Processor.Cr0PG | Processor.Cr0PE)) == Processor.Cr0PG) c.Fault(CpuVectors.GP, 0);
        bool i486 = c.Model.Generation >= CpuGeneration.I486;
        if (i486 && (v & (Processor.Cr0NW | Processor.Cr0CD)) == Processor.Cr0NW) c.Fault(CpuVectors.GP, 0);
        // Writes to reserved CR0 bits are ignored (SDM vol. 3, 2.5): they keep their value.
        uint bits = i486 ? Cr0Bits486 : Cr0Bits386;
        uint value = (c.Cr0 & ~bits) | (v & bits);
        if (i486) value |= Processor.Cr0ET;
        // Setting PE is allowed; what then needs protected-mode segmentation stops the emulation for now.
        c.WriteCr0(value);
    }

    static void WriteCr4(Processor c, uint v)
    {
        // Only the bits of the features the model advertises exist; setting any other is #GP(0).
        var id = c.Model.Cpuid!;
        uint f = id.FeaturesEdx, allowed = 0;
        if ((f & CpuidInfo.FeatureVme) != 0) allowed |= Processor.Cr4VME | Processor.Cr4PVI;
        if ((f & CpuidInfo.FeatureTsc) != 0) allowed |= Processor.Cr4TSD;
        if ((f & CpuidInfo.FeatureDe) != 0) allowed |= Processor.Cr4DE;
        if ((f & CpuidInfo.FeaturePse) != 0) allowed |= Processor.Cr4PSE;
        if ((f & CpuidInfo.FeaturePge) != 0) allowed |= Processor.Cr4PGE;
        if ((f & CpuidInfo.FeatureMce) != 0) allowed |= Processor.Cr4MCE;
        if ((f & CpuidInfo.FeatureFxsr) != 0) allowed |= Processor.Cr4OSFXSR;     // (FXSAVE saves no XMM state here: no SSE)
        if (c.Model.Generation >= CpuGeneration.P6) allowed |= Processor.Cr4PCE;
        if ((v & ~allowed) != 0) c.Fault(CpuVectors.GP, 0);
        // Changing how pages are mapped (PSE, PAE) or whether entries are global (PGE) flushes every translation.
        bool flush = ((c.Cr4 ^ v) & (Processor.Cr4PSE | Processor.Cr4PGE | Processor.Cr4PAE)) != 0;
        c.Cr4 = v;
        if (flush) c.FlushTlb();
    }

    // ---- debug registers (386+) ----
    // DR4/DR5 alias DR6/DR7 unless CR4.DE makes them #UD. With DR7.GD set any access is a debug fault (#DB)
    // with DR6.BD set, and GD is cleared so the handler can use the registers.

    static int CheckDebugRegister(Processor c, int n)
    {
        RequireCpl0(c);
        if (n is 4 or 5)
        {
            if ((c.Cr4 & Processor.Cr4DE) != 0) c.Fault(CpuVectors.UD);
            n += 2;
        }
        if (n > 7) c.Fault(CpuVectors.UD);
        if ((c.Dr[7] & Processor.Dr7GD) != 0)
        {
            c.Dr[6] |= Processor.Dr6BD;
            c.Dr[7] &= ~Processor.Dr7GD;
            c.Fault(CpuVectors.DB);
        }
        return n;
    }

    static void MovRDr(Processor c, ref Insn i)
    {
        int n = CheckDebugRegister(c, i.R1);
        c.SetReg32(i.R0, c.Dr[n]);
    }

    // Writing DR0-DR3 or DR7 re-arms the breakpoints; the block ends so a breakpoint set on a following
    // instruction of the same block is seen.
    static void MovDrR(Processor c, ref Insn i)
    {
        int n = CheckDebugRegister(c, i.R0);
        uint v = c.Reg32(i.R1);
        c.Dr[n] = n switch
        {
            6 => (v & 0x0000E00F) | 0xFFFF0FF0,        // reserved bits: 4-11 and 16-31 read as 1, bit 12 as 0
            7 => (v | 0x400) & ~0x0000D800u,           // bit 10 reads as 1, bits 11, 12, 14, 15 as 0
            _ => v,
        };
        if (n != 6) c.UpdateBreakpoints();
    }

    // ---- caches and TLB (486+) ----
    // No caches are modelled, so INVD and WBINVD only check privilege. INVLPG drops the translation of the page
    // holding the operand's linear address (no segment checks: nothing is accessed). It is serializing, so the
    // block ends: the next instruction is fetched through the new translation.

    static void Invd(Processor c, ref Insn i) => RequireCpl0(c);

    static void Invlpg(Processor c, ref Insn i)
    {
        RequireCpl0(c);
        c.InvalidatePage(c.Seg[i.Seg].Base + c.Ea(ref i));
    }

    static void Ud2(Processor c, ref Insn i) => c.Fault(CpuVectors.UD);

    // ---- identification and time ----

    /// <summary>Highest basic CPUID leaf implemented.</summary>
    const uint MaxCpuidLeaf = 1;

    // CPUID: leaf 0 gives the highest leaf and the vendor string (EBX, EDX, ECX); leaf 1 the signature and feature
    // bits. A leaf above the maximum (basic or extended, as there are no extended leaves) returns the data of the
    // highest basic leaf (SDM CPUID).
    static void Cpuid(Processor c, ref Insn i)
    {
        if (c.Model.Cpuid is not { } id)
        {
            c.Fault(CpuVectors.UD);
            return;
        }
        uint leaf = Math.Min(c.Eax, MaxCpuidLeaf);
        if (leaf == 0)
        {
            c.Eax = MaxCpuidLeaf;
            c.Ebx = VendorWord(id.Vendor, 0);
            c.Edx = VendorWord(id.Vendor, 4);
            c.Ecx = VendorWord(id.Vendor, 8);
        }
        else
        {
            c.Eax = id.Signature;
            c.Ebx = 0;                                   // no brand index, CLFLUSH size or APIC id
            c.Ecx = id.FeaturesEcx;
            c.Edx = id.FeaturesEdx;
        }
    }

    /// <summary>Four characters of the 12-character vendor string as a little-endian register value.</summary>
    static uint VendorWord(string vendor, int start)
    {
        uint w = 0;
        for (int k = 3; k >= 0; k--) w = (w << 8) | (start + k < vendor.Length ? (byte)vendor[start + k] : (byte)' ');
        return w;
    }

    // RDTSC: CR4.TSD restricts it to CPL 0. It ends its block so that the count of retired instructions, which
    // the interpreter adds up per block, has moved on before the next RDTSC runs: two reads never return the same
    // value.
    static void Rdtsc(Processor c, ref Insn i)
    {
        if ((c.Cr4 & Processor.Cr4TSD) != 0 && c.Cpl > 0) c.Fault(CpuVectors.GP, 0);
        ulong t = c.TimeStampCounter;
        c.Eax = (uint)t;
        c.Edx = (uint)(t >> 32);
    }

    /// <summary>RDPMC (P6): performance counter ECX (0 or 1) into EDX:EAX; outside ring 0 only with CR4.PCE.</summary>
    static void Rdpmc(Processor c, ref Insn i)
    {
        if ((c.Cr4 & Processor.Cr4PCE) == 0 && c.Cpl > 0) c.Fault(CpuVectors.GP, 0);
        if (c.Ecx > 1) c.Fault(CpuVectors.GP, 0);
        ulong v = c.PerfCtr[c.Ecx];
        c.Eax = (uint)v;
        c.Edx = (uint)(v >> 32);
    }

    // RDMSR/WRMSR: ECX selects the register, EDX:EAX holds the value (Processor.Msr.cs lists what exists).

    static void Rdmsr(Processor c, ref Insn i)
    {
        RequireCpl0(c);
        if (!c.TryReadMsr(c.Ecx, out ulong v)) c.Fault(CpuVectors.GP, 0);
        c.Eax = (uint)v;
        c.Edx = (uint)(v >> 32);
    }

    static void Wrmsr(Processor c, ref Insn i)
    {
        RequireCpl0(c);
        if (!c.TryWriteMsr(c.Ecx, (ulong)c.Edx << 32 | c.Eax)) c.Fault(CpuVectors.GP, 0);
    }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i386 = CpuGeneration.I386, i486 = CpuGeneration.I486;
        const HandlerFlags End = HandlerFlags.EndsBlock;

        t.Add(Code.Lgdt_m1632_16, &Lgdt<Size16>);
        t.Add(Code.Lgdt_m1632, &Lgdt<Size32>, min: i386);
        t.Add(Code.Lidt_m1632_16, &Lidt<Size16>);
        t.Add(Code.Lidt_m1632, &Lidt<Size32>, min: i386);
        t.Add(Code.Sgdt_m1632_16, &Sgdt<Size16>);
        t.Add(Code.Sgdt_m1632, &Sgdt<Size32>, min: i386);
        t.Add(Code.Sidt_m1632_16, &Sidt<Size16>);
        t.Add(Code.Sidt_m1632, &Sidt<Size32>, min: i386);

        t.AddRm(Code.Smsw_rm16, &SmswR16, &SmswM);
        t.AddRm(Code.Smsw_r32m16, &SmswR32, &SmswM, min: i386);
        t.AddRm(Code.Lmsw_rm16, &LmswR, &LmswM, End);
        t.AddRm(Code.Lmsw_r32m16, &LmswR, &LmswM, End, i386);
        t.Add(Code.Clts, &Clts);

        t.Add(Code.Mov_r32_cr, &MovRCr, min: i386);
        t.Add(Code.Mov_cr_r32, &MovCrR, End, i386);
        t.Add(Code.Mov_r32_dr, &MovRDr, min: i386);
        t.Add(Code.Mov_dr_r32, &MovDrR, End, i386);

        t.Add(Code.Invd, &Invd, min: i486);
        t.Add(Code.Wbinvd, &Invd, min: i486);
        t.Add(Code.Invlpg_m, &Invlpg, End, i486);
        t.Add(Code.Ud2, &Ud2);

        // CPUID exists on models that have it (checked when it runs). RDTSC and the MSR instructions are gated on
        // their CPUID feature bits; the floor is the first generation with CPUID.
        t.Add(Code.Cpuid, &Cpuid, min: i486);
        t.Add(Code.Rdtsc, &Rdtsc, End, i486, CpuidInfo.FeatureTsc);
        t.Add(Code.Rdmsr, &Rdmsr, min: i486, features: CpuidInfo.FeatureMsr);
        t.Add(Code.Wrmsr, &Wrmsr, min: i486, features: CpuidInfo.FeatureMsr);
        t.Add(Code.Rdpmc, &Rdpmc, min: CpuGeneration.P6);
    }
}
