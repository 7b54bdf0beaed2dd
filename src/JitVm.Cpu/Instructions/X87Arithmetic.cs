using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// x87 arithmetic: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR with m32fp, m64fp and ST(i) operands, their popping forms
/// (FADDP...) and integer forms (FIADD... m16int/m32int), FSQRT, FSCALE, FPREM, FPREM1, FRNDINT, FXTRACT, FABS,
/// FCHS. The arithmetic itself is <see cref="SoftFloat"/>'s; here are the operands, the stack and the exception
/// bookkeeping: an empty operand is a stack underflow (masked: the destination gets the indefinite), an unmasked
/// invalid, denormal or zero-divide exception leaves the destination and TOP unchanged.
/// </summary>
internal static unsafe class X87Arithmetic
{
    /// <summary>
    /// A read of an empty register: with IE masked ST(<paramref name="dst"/>) becomes the indefinite (and the pop
    /// happens); unmasked nothing changes.
    /// </summary>
    static void Underflow(Processor c, int dst, bool pop)
    {
        if (!c.FpuStackFault(overflow: false)) return;
        c.FpuSetSt(dst, Float80.Indefinite);
        if (pop) c.FpuPop();
    }

    // ---- FABS, FCHS: only the sign changes; no exception but the stack underflow ----

    static void Fabs(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        c.FpuSt(0) = c.FpuSt(0).Abs();
        c.SetFpuC1(false);
    }

    static void Fchs(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        c.FpuSt(0) = c.FpuSt(0).Negate();
        c.SetFpuC1(false);
    }

    /// <summary>One of the six basic operations, as dst ← dst op src (the R forms reverse the operands).</summary>
    internal interface IOperation
    {
        static abstract Float80 Apply(in Float80 dst, in Float80 src, ref FpuEnv env);
    }

    internal struct AddOp : IOperation { public static Float80 Apply(in Float80 d, in Float80 s, ref FpuEnv e) => SoftFloat.Add(d, s, ref e); }
    internal struct MulOp : IOperation { public static Float80 Apply(in Float80 d, in Float80 s, ref FpuEnv e) => SoftFloat.Mul(d, s, ref e); }
    internal struct SubOp : IOperation { public static Float80 Apply(in Float80 d, in Float80 s, ref FpuEnv e) => SoftFloat.Sub(d, s, ref e); }
    internal struct SubrOp : IOperation { public static Float80 Apply(in Float80 d, in Float80 s, ref FpuEnv e) => SoftFloat.Sub(s, d, ref e); }
    internal struct DivOp : IOperation { public static Float80 Apply(in Float80 d, in Float80 s, ref FpuEnv e) => SoftFloat.Div(d, s, ref e); }
    internal struct DivrOp : IOperation { public static Float80 Apply(in Float80 d, in Float80 s, ref FpuEnv e) => SoftFloat.Div(s, d, ref e); }

    /// <summary>
    /// ST(<paramref name="dst"/>) ← ST(dst) op <paramref name="src"/>. <paramref name="env"/> holds the invalid flag of
    /// an SNaN memory operand; <paramref name="srcDenormal"/> says the memory operand was a denormal in its format.
    /// </summary>
    static void Complete<Op>(Processor c, int dst, in Float80 src, ref FpuEnv env, bool pop, bool srcDenormal = false)
        where Op : struct, IOperation
    {
        if (X87.Suppressed(c, env))
        {
            X87.Finish(c, env);
            return;
        }
        var d = c.FpuSt(dst);
        var r = Op.Apply(d, src, ref env);
        if (!X87.SourceDenormal(c, ref env, srcDenormal, d))
        {
            X87.Finish(c, env);
            return;
        }
        bool suppressed = X87.Suppressed(c, env);
        X87.Finish(c, env);
        if (suppressed) return;
        c.FpuSt(dst) = r;
        if (pop) c.FpuPop();
    }

    static void ArithSt<Op>(Processor c, ref Insn i) where Op : struct, IOperation => ArithRegisters<Op>(c, ref i, false);
    static void ArithStPop<Op>(Processor c, ref Insn i) where Op : struct, IOperation => ArithRegisters<Op>(c, ref i, true);

    // Register forms: R0 is the destination, R1 the source (ST(0), ST(i) or ST(i), ST(0)).
    static void ArithRegisters<Op>(Processor c, ref Insn i, bool pop) where Op : struct, IOperation
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        int dst = i.R0, src = i.R1;
        if (c.FpuEmpty(dst) || c.FpuEmpty(src)) { Underflow(c, dst, pop); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var s = c.FpuSt(src);
        Complete<Op>(c, dst, s, ref env, pop);
    }

    static void ArithM32<Op>(Processor c, ref Insn i) where Op : struct, IOperation
    {
        if (!X87.Begin(c, ref i)) return;
        uint bits = c.Read32(i.Seg, c.Ea(ref i));
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var s = X87.FromSingle(bits, ref env, out bool denormal);
        Complete<Op>(c, 0, s, ref env, false, denormal);
    }

    static void ArithM64<Op>(Processor c, ref Insn i) where Op : struct, IOperation
    {
        if (!X87.Begin(c, ref i)) return;
        ulong bits = c.Read64(i.Seg, c.Ea(ref i));
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var s = X87.FromDouble(bits, ref env, out bool denormal);
        Complete<Op>(c, 0, s, ref env, false, denormal);
    }

    static void ArithI16<Op>(Processor c, ref Insn i) where Op : struct, IOperation
    {
        if (!X87.Begin(c, ref i)) return;
        short v = (short)c.Read16(i.Seg, c.Ea(ref i));
        ArithInteger<Op>(c, ref i, v);
    }

    static void ArithI32<Op>(Processor c, ref Insn i) where Op : struct, IOperation
    {
        if (!X87.Begin(c, ref i)) return;
        int v = (int)c.Read32(i.Seg, c.Ea(ref i));
        ArithInteger<Op>(c, ref i, v);
    }

    static void ArithInteger<Op>(Processor c, ref Insn i, long value) where Op : struct, IOperation
    {
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var s = SoftFloat.FromInt(value, ref env);
        Complete<Op>(c, 0, s, ref env, false);
    }

    // ---- unary operations on ST(0) ----

    static void Unary(Processor c, ref Insn i, delegate*<in Float80, ref FpuEnv, Float80> op)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { Underflow(c, 0, false); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var r = op(c.FpuSt(0), ref env);
        bool suppressed = X87.Suppressed(c, env);
        X87.Finish(c, env);
        if (!suppressed) c.FpuSt(0) = r;
    }

    static Float80 SqrtOf(in Float80 a, ref FpuEnv env) => SoftFloat.Sqrt(a, ref env);
    static Float80 RoundOf(in Float80 a, ref FpuEnv env) => SoftFloat.RoundToInteger(a, ref env);

    static void Fsqrt(Processor c, ref Insn i) => Unary(c, ref i, &SqrtOf);
    static void Frndint(Processor c, ref Insn i) => Unary(c, ref i, &RoundOf);

    // FSCALE: ST(0) ← ST(0) · 2^trunc(ST(1)).
    static void Fscale(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || c.FpuEmpty(1)) { Underflow(c, 0, false); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var r = SoftFloat.Scale(c.FpuSt(0), c.FpuSt(1), ref env);
        bool suppressed = X87.Suppressed(c, env);
        X87.Finish(c, env);
        if (!suppressed) c.FpuSt(0) = r;
    }

    // FXTRACT: ST(0) becomes the exponent (a true value) and the significand (exponent 0) is pushed on top of it.
    static void Fxtract(Processor c, ref Insn i)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || !c.FpuEmpty(7))
        {
            if (!c.FpuStackFault(overflow: !c.FpuEmpty(0))) return;
            c.FpuSetSt(0, Float80.Indefinite);
            c.FpuPush(Float80.Indefinite);
            return;
        }
        var env = new FpuEnv(c.Fpu.Control);
        var significand = SoftFloat.Extract(c.FpuSt(0), out Float80 exponent, ref env);
        bool suppressed = X87.Suppressed(c, env);
        X87.Finish(c, env);
        if (suppressed) return;
        c.FpuSt(0) = exponent;
        c.FpuPush(significand);
    }

    // FPREM (truncating quotient, 8087 style) and FPREM1 (IEEE remainder): a partial remainder that reduces the
    // exponent difference by at most 63 per step. C2 = 1 says "not finished, run again"; when finished C0, C3, C1
    // hold quotient bits 2, 1, 0. A NaN result or an unmasked exception clears C2 and C1 and leaves C0 and C3 (as the
    // host CPU does).
    static void PartialRemainder(Processor c, ref Insn i, bool ieee)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || c.FpuEmpty(1))
        {
            c.SetFpuConditions(c.FpuStatusWord & Processor.FpuConditionBits & ~Processor.FpuC2);
            Underflow(c, 0, false);
            return;
        }
        var env = new FpuEnv(c.Fpu.Control);
        var r = SoftFloat.PartialRemainder(c.FpuSt(0), c.FpuSt(1), ieee, out ulong quotient, out bool incomplete, ref env);
        bool suppressed = X87.Suppressed(c, env);
        if (env.Raised != 0) c.FpuSignal(env.Raised);
        if (suppressed || r.IsNaN)
        {
            // No quotient: C2 and C1 cleared, C0 and C3 kept (also when an unmasked exception stops the operation).
            c.SetFpuConditions(c.FpuStatusWord & (Processor.FpuC0 | Processor.FpuC3));
            if (!suppressed) c.FpuSt(0) = r;
            return;
        }
        c.FpuSt(0) = r;
        int cc = incomplete ? Processor.FpuC2
            : ((quotient & 4) != 0 ? Processor.FpuC0 : 0) | ((quotient & 2) != 0 ? Processor.FpuC3 : 0) | ((quotient & 1) != 0 ? Processor.FpuC1 : 0);
        c.SetFpuConditions(cc);
    }

    static void Fprem(Processor c, ref Insn i) => PartialRemainder(c, ref i, false);
    static void Fprem1(Processor c, ref Insn i) => PartialRemainder(c, ref i, true);

    static void RegisterOperation<Op>(HandlerTable t, Code m32, Code m64, Code i16, Code i32, Code st0Sti, Code stiSt0, Code pop)
        where Op : struct, IOperation
    {
        t.Add(m32, &ArithM32<Op>);
        t.Add(m64, &ArithM64<Op>);
        t.Add(i16, &ArithI16<Op>);
        t.Add(i32, &ArithI32<Op>);
        t.Add(st0Sti, &ArithSt<Op>);
        t.Add(stiSt0, &ArithSt<Op>);
        t.Add(pop, &ArithStPop<Op>);
    }

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Fabs, &Fabs);
        t.Add(Code.Fchs, &Fchs);
        RegisterOperation<AddOp>(t, Code.Fadd_m32fp, Code.Fadd_m64fp, Code.Fiadd_m16int, Code.Fiadd_m32int,
            Code.Fadd_st0_sti, Code.Fadd_sti_st0, Code.Faddp_sti_st0);
        RegisterOperation<MulOp>(t, Code.Fmul_m32fp, Code.Fmul_m64fp, Code.Fimul_m16int, Code.Fimul_m32int,
            Code.Fmul_st0_sti, Code.Fmul_sti_st0, Code.Fmulp_sti_st0);
        RegisterOperation<SubOp>(t, Code.Fsub_m32fp, Code.Fsub_m64fp, Code.Fisub_m16int, Code.Fisub_m32int,
            Code.Fsub_st0_sti, Code.Fsub_sti_st0, Code.Fsubp_sti_st0);
        RegisterOperation<SubrOp>(t, Code.Fsubr_m32fp, Code.Fsubr_m64fp, Code.Fisubr_m16int, Code.Fisubr_m32int,
            Code.Fsubr_st0_sti, Code.Fsubr_sti_st0, Code.Fsubrp_sti_st0);
        RegisterOperation<DivOp>(t, Code.Fdiv_m32fp, Code.Fdiv_m64fp, Code.Fidiv_m16int, Code.Fidiv_m32int,
            Code.Fdiv_st0_sti, Code.Fdiv_sti_st0, Code.Fdivp_sti_st0);
        RegisterOperation<DivrOp>(t, Code.Fdivr_m32fp, Code.Fdivr_m64fp, Code.Fidivr_m16int, Code.Fidivr_m32int,
            Code.Fdivr_st0_sti, Code.Fdivr_sti_st0, Code.Fdivrp_sti_st0);
        t.Add(Code.Fsqrt, &Fsqrt);
        t.Add(Code.Frndint, &Frndint);
        t.Add(Code.Fscale, &Fscale);
        t.Add(Code.Fxtract, &Fxtract);
        t.Add(Code.Fprem, &Fprem);
        t.Add(Code.Fprem1, &Fprem1);
    }
}
