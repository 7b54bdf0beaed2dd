using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// x87 loads and stores: FLD/FST/FSTP (m32fp, m64fp, m80fp, ST(i)), FILD/FIST/FISTP/FISTTP, FBLD/FBSTP, FXCH,
/// FCMOVcc and the constants FLDZ, FLD1, FLDPI, FLDL2T, FLDL2E, FLDLG2, FLDLN2.
/// A push onto a non-empty ST(7) is a stack overflow and a read of an empty register an underflow (#IS): masked,
/// the instruction goes on with the indefinite value; unmasked it changes nothing but the status word.
/// Memory is read before and written after the conversion, before anything in the FPU changes.
/// </summary>
internal static unsafe class X87DataMovement
{
    /// <summary>Integer indefinite of each width (what FIST stores for NaNs, infinities and out-of-range values).</summary>
    const ushort Int16Indefinite = 0x8000;
    const uint Int32Indefinite = 0x80000000;
    const ulong Int64Indefinite = 0x8000_0000_0000_0000;
    /// <summary>The QNaN indefinite in single and double format.</summary>
    const uint SingleIndefinite = SoftFloat.SingleIndefinite;
    const ulong DoubleIndefinite = SoftFloat.DoubleIndefinite;

    /// <summary>
    /// Pushes a value, or handles the stack overflow when ST(7) is in use. Returns false when nothing was pushed
    /// (the unmasked overflow). C1 is cleared on success (set by the overflow otherwise).
    /// </summary>
    static bool Push(Processor c, in Float80 v)
    {
        if (!c.FpuEmpty(7))
        {
            if (!c.FpuStackFault(overflow: true)) return false;
            c.FpuPush(Float80.Indefinite);
            return true;
        }
        c.FpuPush(v);
        c.SetFpuC1(false);
        return true;
    }

    /// <summary>True when a push would overflow and the instruction must stop: the unmasked response (flags already set).</summary>
    static bool OverflowStops(Processor c) => !c.FpuEmpty(7) && !c.FpuStackFault(overflow: true);

    // ---- FLD ----

    static void FldM80(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        var v = c.ReadFloat80(i.Seg, c.Ea(ref i));
        Push(c, v);                                   // the 80-bit format loads any encoding as it is
        c.FpuRecord(ref i);
    }

    // FLD ST(i): ST(i) is read relative to the old TOP. An empty source is an underflow (C1 = 0) even when the push
    // would also overflow (the host CPU agrees).
    static void FldSt(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(i.R0))
        {
            if (c.FpuStackFault(overflow: false)) c.FpuPush(Float80.Indefinite);
            return;
        }
        Push(c, c.FpuSt(i.R0));
    }

    // ---- FST/FSTP to a register ----

    static void StoreSt(Processor c, ref Insn i, bool pop)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0))
        {
            if (!c.FpuStackFault(overflow: false)) return;
            c.FpuSetSt(i.R0, Float80.Indefinite);
        }
        else
        {
            c.FpuSetSt(i.R0, c.FpuSt(0));
            c.SetFpuC1(false);
        }
        if (pop) c.FpuPop();
    }

    static void FstSt(Processor c, ref Insn i) => StoreSt(c, ref i, false);
    static void FstpSt(Processor c, ref Insn i) => StoreSt(c, ref i, true);

    // FSTP m80: stored as it is, without exceptions but the stack underflow.
    static void FstpM80(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        uint ea = c.Ea(ref i);
        if (c.FpuEmpty(0))
        {
            if (!UnderflowStore(c, ref i)) return;
            c.WriteFloat80(i.Seg, ea, Float80.Indefinite);
            CommitUnderflow(c, ref i, true);
            return;
        }
        c.WriteFloat80(i.Seg, ea, c.FpuSt(0));
        c.SetFpuC1(false);
        c.FpuRecord(ref i);
        c.FpuPop();
    }

    /// <summary>
    /// A store from an empty ST(0): with IE masked the indefinite is stored (true); unmasked nothing is stored, the
    /// flags record the underflow (false). The flags of the masked case are set by <see cref="CommitUnderflow"/>
    /// after the store, so a faulting store changes nothing.
    /// </summary>
    static bool UnderflowStore(Processor c, ref Insn i)
    {
        if (c.FpuMasked(FpuExceptions.Invalid)) return true;
        c.FpuStackFault(overflow: false);
        c.FpuRecord(ref i);
        return false;
    }

    static void CommitUnderflow(Processor c, ref Insn i, bool pop)
    {
        c.FpuStackFault(overflow: false);
        c.FpuRecord(ref i);
        if (pop) c.FpuPop();
    }

    // ---- FXCH ----

    // Empty operands are an underflow; masked, they take the indefinite value and the exchange proceeds.
    static void Fxch(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        int n = i.R0 | i.R1;
        if (c.FpuEmpty(0) || c.FpuEmpty(n))
        {
            if (!c.FpuStackFault(overflow: false)) return;
            if (c.FpuEmpty(0)) c.FpuSetSt(0, Float80.Indefinite);
            if (c.FpuEmpty(n)) c.FpuSetSt(n, Float80.Indefinite);
        }
        else c.SetFpuC1(false);
        var t = c.FpuSt(0);
        c.FpuSt(0) = c.FpuSt(n);
        c.FpuSt(n) = t;
    }

    // ---- FCMOVcc (CPUID.CMOV and FPU): ST(0) ← ST(i) when the EFLAGS condition holds; C1 changes only on underflow ----

    static int FcmovCondition(ushort code) => (Code)code switch
    {
        Code.Fcmovb_st0_sti => 0x2, Code.Fcmove_st0_sti => 0x4, Code.Fcmovbe_st0_sti => 0x6, Code.Fcmovu_st0_sti => 0xA,
        Code.Fcmovnb_st0_sti => 0x3, Code.Fcmovne_st0_sti => 0x5, Code.Fcmovnbe_st0_sti => 0x7, _ => 0xB,
    };

    static void Fcmov(Processor c, ref Insn i)
    {
        if (!X87.BeginFeature(c, ref i, CpuidInfo.FeatureCmov, 0)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || c.FpuEmpty(i.R1))
        {
            if (c.FpuStackFault(overflow: false)) c.FpuSetSt(0, Float80.Indefinite);
            return;
        }
        if (c.Condition(FcmovCondition(i.Code))) c.FpuSt(0) = c.FpuSt(i.R1);
    }

    // ---- constants ----
    // The FPU holds its constants with more than 64 significand bits and rounds them by RC (the 387 and later):
    // each entry is the significand truncated to 64 bits and whether round-to-nearest rounds it up. Rounding up
    // (or to nearest, when it rounds up) adds one ulp; a positive constant rounds down and toward zero alike.

    readonly record struct Constant(ushort SignExponent, ulong Truncated, bool NearestUp);

    static readonly Constant L2T = new(0x4000, 0xD49A_784B_CD1B_8AFE, false);   // log2(10)
    static readonly Constant L2E = new(0x3FFF, 0xB8AA_3B29_5C17_F0BB, true);    // log2(e)
    static readonly Constant Pi = new(0x4000, 0xC90F_DAA2_2168_C234, true);
    static readonly Constant Lg2 = new(0x3FFD, 0x9A20_9A84_FBCF_F798, true);    // log10(2)
    static readonly Constant Ln2 = new(0x3FFE, 0xB172_17F7_D1CF_79AB, true);    // ln(2)

    static Float80 Rounded(Processor c, in Constant k)
    {
        bool up = ((c.Fpu.Control >> 10) & 3) switch
        {
            (int)Fpu.RoundingControl.Nearest => k.NearestUp,
            (int)Fpu.RoundingControl.Up => true,
            _ => false,
        };
        return new Float80(k.SignExponent, k.Truncated + (up ? 1UL : 0));
    }

    static void LoadConstant(Processor c, ref Insn i, in Float80 v)
    {
        if (!X87.Begin(c, ref i)) return;
        Push(c, v);
        c.FpuRecord(ref i);
    }

    static void Fldz(Processor c, ref Insn i) => LoadConstant(c, ref i, Float80.Zero);
    static void Fld1(Processor c, ref Insn i) => LoadConstant(c, ref i, Float80.One);
    static void Fldl2t(Processor c, ref Insn i) => LoadConstant(c, ref i, Rounded(c, L2T));
    static void Fldl2e(Processor c, ref Insn i) => LoadConstant(c, ref i, Rounded(c, L2E));
    static void Fldpi(Processor c, ref Insn i) => LoadConstant(c, ref i, Rounded(c, Pi));
    static void Fldlg2(Processor c, ref Insn i) => LoadConstant(c, ref i, Rounded(c, Lg2));
    static void Fldln2(Processor c, ref Insn i) => LoadConstant(c, ref i, Rounded(c, Ln2));

    // ---- FLD m32fp / m64fp: exact widening; a denormal raises #D, an SNaN #IA (and is quieted) ----
    // Only an unmasked #IA stops the load; with #D unmasked the value is still pushed (as the host CPU does), and the
    // exception is reported by the next waiting instruction.

    static void LoadConverted(Processor c, ref Insn i, in Float80 v, in FpuEnv env)
    {
        if (OverflowStops(c)) { c.FpuRecord(ref i); return; }
        if (!c.FpuEmpty(7)) { c.FpuPush(Float80.Indefinite); c.FpuRecord(ref i); return; }
        bool suppressed = (env.Raised & FpuExceptions.Invalid) != 0 && !c.FpuMasked(FpuExceptions.Invalid);
        X87.Finish(c, env);
        if (!suppressed) c.FpuPush(v);
        c.FpuRecord(ref i);
    }

    static void FldM32(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        uint bits = c.Read32(i.Seg, c.Ea(ref i));
        var env = new FpuEnv(c.Fpu.Control);
        var v = SoftFloat.FromSingle(bits, ref env);
        LoadConverted(c, ref i, v, env);
    }

    static void FldM64(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        ulong bits = c.Read64(i.Seg, c.Ea(ref i));
        var env = new FpuEnv(c.Fpu.Control);
        var v = SoftFloat.FromDouble(bits, ref env);
        LoadConverted(c, ref i, v, env);
    }

    // ---- FST/FSTP m32fp / m64fp: rounded by RC to the format (not by PC) ----

    static void FstM32(Processor c, ref Insn i, bool pop) => FstReal(c, ref i, pop, isDouble: false);

    static void FstM64(Processor c, ref Insn i, bool pop) => FstReal(c, ref i, pop, isDouble: true);

    /// <summary>FST/FSTP m32fp or m64fp: ST(0) converted by RC to the format (the indefinite when ST(0) is empty).</summary>
    static void FstReal(Processor c, ref Insn i, bool pop, bool isDouble)
    {
        if (!X87.Begin(c, ref i)) return;
        uint ea = c.Ea(ref i);
        int seg = i.Seg;
        void Store(ulong bits)
        {
            if (isDouble) c.Write64(seg, ea, bits);
            else c.Write32(seg, ea, (uint)bits);
        }
        if (c.FpuEmpty(0))
        {
            if (!UnderflowStore(c, ref i)) return;
            Store(isDouble ? DoubleIndefinite : SingleIndefinite);
            CommitUnderflow(c, ref i, pop);
            return;
        }
        var env = new FpuEnv(c.Fpu.Control);
        ulong result = isDouble ? SoftFloat.ToDouble(c.FpuSt(0), ref env) : SoftFloat.ToSingle(c.FpuSt(0), ref env);
        if (!X87.StoreSuppressed(c, env)) Store(result);
        else X87.Undelivered(ref env, ref pop);
        X87.Finish(c, env);
        c.FpuRecord(ref i);
        if (pop) c.FpuPop();
    }

    static void FstM32(Processor c, ref Insn i) => FstM32(c, ref i, false);
    static void FstpM32(Processor c, ref Insn i) => FstM32(c, ref i, true);
    static void FstM64(Processor c, ref Insn i) => FstM64(c, ref i, false);
    static void FstpM64(Processor c, ref Insn i) => FstM64(c, ref i, true);

    // ---- FILD: exact ----

    static void Fild(Processor c, ref Insn i, long value)
    {
        var env = new FpuEnv(c.Fpu.Control);
        var v = SoftFloat.FromInt(value, ref env);
        Push(c, v);
        c.FpuRecord(ref i);
    }

    static void FildM16(Processor c, ref Insn i)
    {
        if (X87.Begin(c, ref i)) Fild(c, ref i, (short)c.Read16(i.Seg, c.Ea(ref i)));
    }

    static void FildM32(Processor c, ref Insn i)
    {
        if (X87.Begin(c, ref i)) Fild(c, ref i, (int)c.Read32(i.Seg, c.Ea(ref i)));
    }

    static void FildM64(Processor c, ref Insn i)
    {
        if (X87.Begin(c, ref i)) Fild(c, ref i, (long)c.Read64(i.Seg, c.Ea(ref i)));
    }

    // ---- FIST/FISTP/FISTTP: rounded by RC (FISTTP: truncated); NaN, infinity or out of range → #IA, the integer indefinite ----

    enum IntWidth { W16, W32, W64 }

    static void Fist(Processor c, ref Insn i, IntWidth width, bool pop, bool truncate)
    {
        uint ea = c.Ea(ref i);
        if (c.FpuEmpty(0))
        {
            if (!UnderflowStore(c, ref i)) return;
            WriteInt(c, i.Seg, ea, width, width switch { IntWidth.W16 => Int16Indefinite, IntWidth.W32 => Int32Indefinite, _ => Int64Indefinite });
            CommitUnderflow(c, ref i, pop);
            return;
        }
        var env = new FpuEnv(truncate ? (ushort)(c.Fpu.Control | 0x0C00) : c.Fpu.Control);
        ulong value = width switch
        {
            IntWidth.W16 => (ushort)SoftFloat.ToInt16(c.FpuSt(0), ref env),
            IntWidth.W32 => (uint)SoftFloat.ToInt32(c.FpuSt(0), ref env),
            _ => (ulong)SoftFloat.ToInt64(c.FpuSt(0), ref env),
        };
        if (!X87.StoreSuppressed(c, env)) WriteInt(c, i.Seg, ea, width, value);
        else X87.Undelivered(ref env, ref pop);
        X87.Finish(c, env);
        c.FpuRecord(ref i);
        if (pop) c.FpuPop();
    }

    static void WriteInt(Processor c, int seg, uint ea, IntWidth width, ulong value)
    {
        switch (width)
        {
            case IntWidth.W16: c.Write16(seg, ea, (uint)value); break;
            case IntWidth.W32: c.Write32(seg, ea, (uint)value); break;
            default: c.Write64(seg, ea, value); break;
        }
    }

    static void FistM16(Processor c, ref Insn i) { if (X87.Begin(c, ref i)) Fist(c, ref i, IntWidth.W16, false, false); }
    static void FistM32(Processor c, ref Insn i) { if (X87.Begin(c, ref i)) Fist(c, ref i, IntWidth.W32, false, false); }
    static void FistpM16(Processor c, ref Insn i) { if (X87.Begin(c, ref i)) Fist(c, ref i, IntWidth.W16, true, false); }
    static void FistpM32(Processor c, ref Insn i) { if (X87.Begin(c, ref i)) Fist(c, ref i, IntWidth.W32, true, false); }
    static void FistpM64(Processor c, ref Insn i) { if (X87.Begin(c, ref i)) Fist(c, ref i, IntWidth.W64, true, false); }

    // FISTTP (SSE3): #UD unless CPUID advertises SSE3, which no model here does.
    static void FisttpM16(Processor c, ref Insn i) { if (X87.BeginFeature(c, ref i, 0, CpuidInfo.FeatureEcxSse3)) Fist(c, ref i, IntWidth.W16, true, true); }
    static void FisttpM32(Processor c, ref Insn i) { if (X87.BeginFeature(c, ref i, 0, CpuidInfo.FeatureEcxSse3)) Fist(c, ref i, IntWidth.W32, true, true); }
    static void FisttpM64(Processor c, ref Insn i) { if (X87.BeginFeature(c, ref i, 0, CpuidInfo.FeatureEcxSse3)) Fist(c, ref i, IntWidth.W64, true, true); }

    // ---- FBLD / FBSTP: 18 packed BCD digits and a sign byte ----

    static void Fbld(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        uint ea = c.Ea(ref i);
        c.CheckFpuOperand(i.Seg, ea, 10, false);
        ulong digits = c.Read32(i.Seg, ea) | (ulong)c.Read32(i.Seg, ea + 4) << 32;
        ushort top = c.Read16(i.Seg, ea + 8);
        var env = new FpuEnv(c.Fpu.Control);
        var v = SoftFloat.FromBcd(digits, top, ref env);
        Push(c, v);
        c.FpuRecord(ref i);
    }

    static void Fbstp(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        uint ea = c.Ea(ref i);
        c.CheckFpuStore(i.Seg, ea, 10);
        if (c.FpuEmpty(0))
        {
            if (!UnderflowStore(c, ref i)) return;
            // The packed BCD indefinite: FFFF C000 0000 0000 0000.
            c.WriteFloat80Unchecked(i.Seg, ea, new Float80(0xFFFF, 0xC000_0000_0000_0000));
            CommitUnderflow(c, ref i, true);
            return;
        }
        var env = new FpuEnv(c.Fpu.Control);
        ulong low = SoftFloat.ToBcd(c.FpuSt(0), out ushort high, ref env);
        bool pop = true;
        if (!X87.StoreSuppressed(c, env)) c.WriteFloat80Unchecked(i.Seg, ea, new Float80(high, low));
        else X87.Undelivered(ref env, ref pop);
        X87.Finish(c, env);
        c.FpuRecord(ref i);
        if (pop) c.FpuPop();
    }

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Fld_m80fp, &FldM80);
        t.Add(Code.Fld_sti, &FldSt);
        t.Add(Code.Fstp_m80fp, &FstpM80);
        t.Add(Code.Fst_sti, &FstSt);
        t.Add(Code.Fstp_sti, &FstpSt);
        // Aliases of FSTP ST(i) the P6 decodes (D9 D8+i, DF D0+i, DF D8+i).
        t.Add(Code.Fstpnce_sti, &FstpSt);
        t.Add(Code.Fstp_sti_DFD0, &FstpSt);
        t.Add(Code.Fstp_sti_DFD8, &FstpSt);
        t.Add(Code.Fxch_st0_sti, &Fxch);
        t.Add(Code.Fxch_st0_sti_DDC8, &Fxch);
        t.Add(Code.Fxch_st0_sti_DFC8, &Fxch);
        foreach (var code in new[] { Code.Fcmovb_st0_sti, Code.Fcmove_st0_sti, Code.Fcmovbe_st0_sti, Code.Fcmovu_st0_sti,
                     Code.Fcmovnb_st0_sti, Code.Fcmovne_st0_sti, Code.Fcmovnbe_st0_sti, Code.Fcmovnu_st0_sti })
            t.Add(code, &Fcmov);
        t.Add(Code.Fldz, &Fldz);
        t.Add(Code.Fld1, &Fld1);
        t.Add(Code.Fldl2t, &Fldl2t);
        t.Add(Code.Fldl2e, &Fldl2e);
        t.Add(Code.Fldpi, &Fldpi);
        t.Add(Code.Fldlg2, &Fldlg2);
        t.Add(Code.Fldln2, &Fldln2);
        t.Add(Code.Fld_m32fp, &FldM32);
        t.Add(Code.Fld_m64fp, &FldM64);
        t.Add(Code.Fst_m32fp, &FstM32);
        t.Add(Code.Fstp_m32fp, &FstpM32);
        t.Add(Code.Fst_m64fp, &FstM64);
        t.Add(Code.Fstp_m64fp, &FstpM64);
        t.Add(Code.Fild_m16int, &FildM16);
        t.Add(Code.Fild_m32int, &FildM32);
        t.Add(Code.Fild_m64int, &FildM64);
        t.Add(Code.Fist_m16int, &FistM16);
        t.Add(Code.Fist_m32int, &FistM32);
        t.Add(Code.Fistp_m16int, &FistpM16);
        t.Add(Code.Fistp_m32int, &FistpM32);
        t.Add(Code.Fistp_m64int, &FistpM64);
        t.Add(Code.Fisttp_m16int, &FisttpM16);
        t.Add(Code.Fisttp_m32int, &FisttpM32);
        t.Add(Code.Fisttp_m64int, &FisttpM64);
        t.Add(Code.Fbld_m80bcd, &Fbld);
        t.Add(Code.Fbstp_m80bcd, &Fbstp);
    }
}
