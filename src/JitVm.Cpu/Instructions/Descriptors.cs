using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// The protected-mode descriptor instructions: SLDT STR LLDT LTR (0F 00 /0-/3), VERR VERW (0F 00 /4-/5), LAR, LSL
/// and ARPL. None of them is recognised in real or V86 mode (#UD). LAR/LSL/VERR/VERW never fault on a bad
/// selector: they report it through ZF.
/// </summary>
internal static unsafe class Descriptors
{
    static void RequireProtected(Processor c)
    {
        if (!c.ProtectedMode || c.V86Mode) c.Fault(CpuVectors.UD);
    }

    static void RequireCpl0(Processor c)
    {
        if (c.Cpl != 0) c.Fault(CpuVectors.GP, 0);
    }

    // ---- SLDT / STR: store the selector (a 32-bit register gets it zero-extended; memory is always a word) ----

    static void SldtR16(Processor c, ref Insn i) { RequireProtected(c); c.SetReg16(i.R0, c.Ldtr.Selector); }
    static void SldtR32(Processor c, ref Insn i) { RequireProtected(c); c.SetReg32(i.R0, c.Ldtr.Selector); }
    static void SldtM(Processor c, ref Insn i) { RequireProtected(c); c.Write16(i.Seg, c.Ea(ref i), c.Ldtr.Selector); }
    static void StrR16(Processor c, ref Insn i) { RequireProtected(c); c.SetReg16(i.R0, c.Tr.Selector); }
    static void StrR32(Processor c, ref Insn i) { RequireProtected(c); c.SetReg32(i.R0, c.Tr.Selector); }
    static void StrM(Processor c, ref Insn i) { RequireProtected(c); c.Write16(i.Seg, c.Ea(ref i), c.Tr.Selector); }

    // ---- LLDT / LTR ----

    static void LldtR(Processor c, ref Insn i) { RequireProtected(c); Lldt(c, c.Reg16(i.R0)); }
    static void LldtM(Processor c, ref Insn i) { RequireProtected(c); Lldt(c, c.Read16(i.Seg, c.Ea(ref i))); }

    // LLDT: a null selector leaves LDTR unusable; otherwise the selector must name a present LDT descriptor in the GDT.
    static void Lldt(Processor c, ushort sel)
    {
        RequireCpl0(c);
        if ((sel & 0xFFFC) == 0)
        {
            c.Ldtr = default;
            c.Ldtr.Selector = sel;
            return;
        }
        if ((sel & 4) != 0) c.SelectorFault(CpuVectors.GP, sel);
        if (!c.TryReadDescriptor(sel, out var d) || !d.IsSystem(Descriptor.Ldt)) c.SelectorFault(CpuVectors.GP, sel);
        if (!d.Present) c.SelectorFault(CpuVectors.NP, sel);
        c.Ldtr = new Segment { Selector = sel, Base = d.Base, Limit = d.Limit, Attributes = d.Attributes };
    }

    static void LtrR(Processor c, ref Insn i) { RequireProtected(c); Ltr(c, c.Reg16(i.R0)); }
    static void LtrM(Processor c, ref Insn i) { RequireProtected(c); Ltr(c, c.Read16(i.Seg, c.Ea(ref i))); }

    // LTR: an available TSS in the GDT (286 or, from the 386, 32-bit), present; it is marked busy in memory.
    static void Ltr(Processor c, ushort sel)
    {
        RequireCpl0(c);
        if ((sel & 0xFFFC) == 0) c.Fault(CpuVectors.GP, 0);
        if ((sel & 4) != 0) c.SelectorFault(CpuVectors.GP, sel);
        if (!c.TryReadDescriptor(sel, out var d)) c.SelectorFault(CpuVectors.GP, sel);
        bool available = d.IsSystem(Descriptor.Tss16Available) || (!c.Model.Is286 && d.IsSystem(Descriptor.Tss32Available));
        if (!available) c.SelectorFault(CpuVectors.GP, sel);
        if (!d.Present) c.SelectorFault(CpuVectors.NP, sel);
        uint at = c.Gdtr.Base + (sel & 0xFFF8u) + 5;
        c.WriteSys8(at, (d.High >> 8) | 2);
        c.Tr = new Segment { Selector = sel, Base = d.Base, Limit = d.Limit, Attributes = (ushort)(d.Attributes | 2) };
    }

    // ---- LAR / LSL / VERR / VERW ----

    /// <summary>
    /// The descriptor of <paramref name="sel"/> when the current CPL and the RPL may see it (conforming code is
    /// visible from any level); false for a null selector or one outside its table.
    /// </summary>
    static bool Visible(Processor c, ushort sel, out Descriptor d)
    {
        d = default;
        if ((sel & 0xFFFC) == 0 || !c.TryReadDescriptor(sel, out d)) return false;
        if (d.IsConformingCode) return true;
        return d.Dpl >= c.Cpl && d.Dpl >= (sel & 3);
    }

    static void SetZf(Processor c, bool z)
    {
        c.MaterializeFlags();
        if (z) c.Flags |= Processor.FlagZF;
        else c.Flags &= ~Processor.FlagZF;
    }

    // System types LAR reports: TSSs, LDT, call gates and task gates (not interrupt/trap gates). LSL: TSSs and LDT.
    static bool LarType(Processor c, in Descriptor d) => d.IsSegment || d.Type switch
    {
        Descriptor.Tss16Available or Descriptor.Ldt or Descriptor.Tss16Busy or Descriptor.CallGate16 or Descriptor.TaskGate => true,
        Descriptor.Tss32Available or Descriptor.Tss32Busy or Descriptor.CallGate32 => !c.Model.Is286,
        _ => false,
    };

    static bool LslType(Processor c, in Descriptor d) => d.IsSegment || d.Type switch
    {
        Descriptor.Tss16Available or Descriptor.Ldt or Descriptor.Tss16Busy => true,
        Descriptor.Tss32Available or Descriptor.Tss32Busy => !c.Model.Is286,
        _ => false,
    };

    static void LarRR<S>(Processor c, ref Insn i) where S : IOperandSize { RequireProtected(c); Lar<S>(c, ref i, c.Reg16(i.R1)); }
    static void LarRM<S>(Processor c, ref Insn i) where S : IOperandSize { RequireProtected(c); Lar<S>(c, ref i, c.Read16(i.Seg, c.Ea(ref i))); }

    // LAR: the access rights (second dword masked with 00F0FF00h; FF00h for a 16-bit destination).
    static void Lar<S>(Processor c, ref Insn i, ushort sel) where S : IOperandSize
    {
        bool ok = Visible(c, sel, out var d) && LarType(c, d);
        if (ok) S.SetReg(c, i.R0, d.High & 0x00F0FF00 & S.Mask);
        SetZf(c, ok);
    }

    static void LslRR<S>(Processor c, ref Insn i) where S : IOperandSize { RequireProtected(c); Lsl<S>(c, ref i, c.Reg16(i.R1)); }
    static void LslRM<S>(Processor c, ref Insn i) where S : IOperandSize { RequireProtected(c); Lsl<S>(c, ref i, c.Read16(i.Seg, c.Ea(ref i))); }

    // LSL: the byte limit, granularity applied (truncated to 16 bits for a 16-bit destination).
    static void Lsl<S>(Processor c, ref Insn i, ushort sel) where S : IOperandSize
    {
        bool ok = Visible(c, sel, out var d) && LslType(c, d);
        if (ok) S.SetReg(c, i.R0, d.Limit & S.Mask);
        SetZf(c, ok);
    }

    static void VerrR(Processor c, ref Insn i) { RequireProtected(c); Verr(c, c.Reg16(i.R0)); }
    static void VerrM(Processor c, ref Insn i) { RequireProtected(c); Verr(c, c.Read16(i.Seg, c.Ea(ref i))); }
    static void VerwR(Processor c, ref Insn i) { RequireProtected(c); Verw(c, c.Reg16(i.R0)); }
    static void VerwM(Processor c, ref Insn i) { RequireProtected(c); Verw(c, c.Read16(i.Seg, c.Ea(ref i))); }

    // VERR: readable (any data segment, readable code). VERW: writable data. Both need the privilege to load it.
    static void Verr(Processor c, ushort sel) => SetZf(c, Visible(c, sel, out var d) && (d.IsData || d.IsReadableCode));
    static void Verw(Processor c, ushort sel) => SetZf(c, Visible(c, sel, out var d) && d.IsWritableData);

    // ---- ARPL ----

    // ARPL dest, src: when dest.RPL < src.RPL, raise it to src.RPL and set ZF; otherwise ZF = 0. Always 16-bit.
    static void ArplRR(Processor c, ref Insn i)
    {
        RequireProtected(c);
        uint dst = c.Reg16(i.R0), src = c.Reg16(i.R1);
        bool adjust = (dst & 3) < (src & 3);
        if (adjust) c.SetReg16(i.R0, (dst & ~3u) | (src & 3));
        SetZf(c, adjust);
    }

    static void ArplMR(Processor c, ref Insn i)
    {
        RequireProtected(c);
        uint ea = c.Ea(ref i);
        uint dst = c.Read16(i.Seg, ea), src = c.Reg16(i.R1);
        bool adjust = (dst & 3) < (src & 3);
        if (adjust) c.Write16(i.Seg, ea, (dst & ~3u) | (src & 3));
        SetZf(c, adjust);
    }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i386 = CpuGeneration.I386;
        t.AddRm(Code.Sldt_rm16, &SldtR16, &SldtM);
        t.AddRm(Code.Sldt_r32m16, &SldtR32, &SldtM, min: i386);
        t.AddRm(Code.Str_rm16, &StrR16, &StrM);
        t.AddRm(Code.Str_r32m16, &StrR32, &StrM, min: i386);
        t.AddRm(Code.Lldt_rm16, &LldtR, &LldtM);
        t.AddRm(Code.Lldt_r32m16, &LldtR, &LldtM, min: i386);
        t.AddRm(Code.Ltr_rm16, &LtrR, &LtrM);
        t.AddRm(Code.Ltr_r32m16, &LtrR, &LtrM, min: i386);
        t.AddRm(Code.Verr_rm16, &VerrR, &VerrM);
        t.AddRm(Code.Verr_r32m16, &VerrR, &VerrM, min: i386);
        t.AddRm(Code.Verw_rm16, &VerwR, &VerwM);
        t.AddRm(Code.Verw_r32m16, &VerwR, &VerwM, min: i386);
        t.AddRm(Code.Lar_r16_rm16, &LarRR<Size16>, &LarRM<Size16>);
        t.AddRm(Code.Lar_r32_r32m16, &LarRR<Size32>, &LarRM<Size32>, min: i386);
        t.AddRm(Code.Lsl_r16_rm16, &LslRR<Size16>, &LslRM<Size16>);
        t.AddRm(Code.Lsl_r32_r32m16, &LslRR<Size32>, &LslRM<Size32>, min: i386);
        t.AddRm(Code.Arpl_rm16_r16, &ArplRR, &ArplMR);
        t.AddRm(Code.Arpl_r32m16_r32, &ArplRR, &ArplMR, min: i386);
    }
}
