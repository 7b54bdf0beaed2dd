using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// x87 transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN (the 387's range: |ST(0)| &lt; 2^63, otherwise C2 = 1
/// and ST(0) is left alone), FPATAN, F2XM1, FYL2X and FYL2XP1. The functions are <see cref="SoftFloat"/>'s.
/// </summary>
internal static unsafe class X87Transcendental
{
    /// <summary>
    /// |v| ≥ 2^63 (finite and supported; an unnormal is invalid instead): the trigonometric instructions set C2 and leave
    /// the operand for the program to reduce.
    /// </summary>
    static bool OutOfRange(in Float80 v) =>
        v.Exponent >= Float80.Bias + 63 && v.Exponent != Float80.MaxExponent && (v.Significand & Float80.IntegerBit) != 0;

    static void Underflow(Processor c, int dst, bool pop)
    {
        if (!c.FpuStackFault(overflow: false)) return;
        c.FpuSetSt(dst, Float80.Indefinite);
        if (pop) c.FpuPop();
    }

    // FSIN, FCOS, F2XM1: ST(0) ← f(ST(0)).
    static void Unary(Processor c, ref Insn i, delegate*<in Float80, ref FpuEnv, Float80> f, bool trigonometric)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0)) { c.SetFpuConditions(c.FpuStatusWord & ~Processor.FpuC2); Underflow(c, 0, false); return; }
        if (trigonometric && OutOfRange(c.FpuSt(0))) { c.SetFpuConditions((c.FpuStatusWord & ~Processor.FpuC1) | Processor.FpuC2); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var r = f(c.FpuSt(0), ref env);
        bool suppressed = X87.Suppressed(c, env);
        if (trigonometric) c.SetFpuConditions(c.FpuStatusWord & ~Processor.FpuC2);
        X87.Finish(c, env);
        if (!suppressed) c.FpuSt(0) = r;
    }

    static Float80 SinOf(in Float80 a, ref FpuEnv e) => SoftFloat.Sin(a, ref e);
    static Float80 CosOf(in Float80 a, ref FpuEnv e) => SoftFloat.Cos(a, ref e);
    static Float80 F2xm1Of(in Float80 a, ref FpuEnv e) => SoftFloat.F2xm1(a, ref e);

    static void Fsin(Processor c, ref Insn i) => Unary(c, ref i, &SinOf, true);
    static void Fcos(Processor c, ref Insn i) => Unary(c, ref i, &CosOf, true);
    static void F2xm1(Processor c, ref Insn i) => Unary(c, ref i, &F2xm1Of, false);

    // FSINCOS: ST(0) ← sin, then cos pushed; FPTAN: ST(0) ← tan, then 1.0 pushed.
    static void PushingTrig(Processor c, ref Insn i, bool tan)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || !c.FpuEmpty(7))
        {
            c.SetFpuConditions(c.FpuStatusWord & ~Processor.FpuC2);
            if (!c.FpuStackFault(overflow: !c.FpuEmpty(0))) return;
            c.FpuSetSt(0, Float80.Indefinite);
            c.FpuPush(Float80.Indefinite);
            return;
        }
        if (OutOfRange(c.FpuSt(0))) { c.SetFpuConditions((c.FpuStatusWord & ~Processor.FpuC1) | Processor.FpuC2); return; }
        var env = new FpuEnv(c.Fpu.Control);
        Float80 first, second;
        if (tan)
        {
            // A NaN tangent (NaN operand, or the indefinite of an invalid one) is pushed in place of the 1.0 too.
            first = SoftFloat.Tan(c.FpuSt(0), ref env);
            second = first.IsNaN ? first : Float80.One;
        }
        else first = SoftFloat.SinCos(c.FpuSt(0), out second, ref env);
        bool suppressed = X87.Suppressed(c, env);
        c.SetFpuConditions(c.FpuStatusWord & ~Processor.FpuC2);
        X87.Finish(c, env);
        if (suppressed) return;
        c.FpuSt(0) = first;
        c.FpuPush(second);
    }

    static void Fsincos(Processor c, ref Insn i) => PushingTrig(c, ref i, false);
    static void Fptan(Processor c, ref Insn i) => PushingTrig(c, ref i, true);

    // FPATAN, FYL2X, FYL2XP1: ST(1) ← f(ST(1), ST(0)), then pop.
    static void Binary(Processor c, ref Insn i, delegate*<in Float80, in Float80, ref FpuEnv, Float80> f)
    {
        if (!X87.Begin(c, ref i)) return;
        c.FpuRecord(ref i);
        if (c.FpuEmpty(0) || c.FpuEmpty(1)) { Underflow(c, 1, true); return; }
        var env = new FpuEnv(c.Fpu.Control);
        var r = f(c.FpuSt(1), c.FpuSt(0), ref env);
        bool suppressed = X87.Suppressed(c, env);
        X87.Finish(c, env);
        if (suppressed) return;
        c.FpuSt(1) = r;
        c.FpuPop();
    }

    static Float80 AtanOf(in Float80 y, in Float80 x, ref FpuEnv e) => SoftFloat.Atan(y, x, ref e);
    static Float80 Yl2xOf(in Float80 y, in Float80 x, ref FpuEnv e) => SoftFloat.Yl2x(y, x, ref e);
    static Float80 Yl2xp1Of(in Float80 y, in Float80 x, ref FpuEnv e) => SoftFloat.Yl2xp1(y, x, ref e);

    static void Fpatan(Processor c, ref Insn i) => Binary(c, ref i, &AtanOf);
    static void Fyl2x(Processor c, ref Insn i) => Binary(c, ref i, &Yl2xOf);
    static void Fyl2xp1(Processor c, ref Insn i) => Binary(c, ref i, &Yl2xp1Of);

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Fsin, &Fsin);
        t.Add(Code.Fcos, &Fcos);
        t.Add(Code.Fsincos, &Fsincos);
        t.Add(Code.Fptan, &Fptan);
        t.Add(Code.Fpatan, &Fpatan);
        t.Add(Code.F2xm1, &F2xm1);
        t.Add(Code.Fyl2x, &Fyl2x);
        t.Add(Code.Fyl2xp1, &Fyl2xp1);
    }
}
