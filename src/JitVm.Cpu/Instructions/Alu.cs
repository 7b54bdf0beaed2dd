using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>A two-operand integer operation: computes the result, then records its flags.</summary>
/// <remarks>Flags are set only after the result is stored, so a faulting store leaves them untouched.</remarks>
internal interface IAluOp
{
    static abstract bool WritesResult { get; }
    static abstract uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize;
    static abstract void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize;
}

internal struct AddOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => (d + s) & S.Mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazy(FlagOp.Add, d, s, r, S.Sign);
}

internal struct OrOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => d | s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazyLogic(r, S.Sign);
}

internal struct AdcOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => (d + s + c.CarryFlag()) & S.Mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazy(FlagOp.Adc, d, s, r, S.Sign);
}

internal struct SbbOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => (d - s - c.CarryFlag()) & S.Mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazy(FlagOp.Sbb, d, s, r, S.Sign);
}

internal struct AndOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => d & s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazyLogic(r, S.Sign);
}

internal struct SubOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => (d - s) & S.Mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazy(FlagOp.Sub, d, s, r, S.Sign);
}

internal struct XorOp : IAluOp
{
    public static bool WritesResult => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => d ^ s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazyLogic(r, S.Sign);
}

internal struct CmpOp : IAluOp
{
    public static bool WritesResult => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => (d - s) & S.Mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazy(FlagOp.Sub, d, s, r, S.Sign);
}

internal struct TestOp : IAluOp
{
    public static bool WritesResult => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Compute<S>(Processor c, uint d, uint s) where S : IOperandSize => d & s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetFlags<S>(Processor c, uint d, uint s, uint r) where S : IOperandSize => c.SetLazyLogic(r, S.Sign);
}

/// <summary>ADD OR ADC SBB AND SUB XOR CMP TEST, INC DEC NEG NOT.</summary>
internal static unsafe class Alu
{
    // dst register R0, src register R1
    static void RR<Op, S>(Processor c, ref Insn i) where Op : IAluOp where S : IOperandSize
    {
        uint d = S.GetReg(c, i.R0), s = S.GetReg(c, i.R1);
        uint r = Op.Compute<S>(c, d, s);
        if (Op.WritesResult) S.SetReg(c, i.R0, r);
        Op.SetFlags<S>(c, d, s, r);
    }

    // dst memory, src register R1
    static void MR<Op, S>(Processor c, ref Insn i) where Op : IAluOp where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea), s = S.GetReg(c, i.R1);
        uint r = Op.Compute<S>(c, d, s);
        if (Op.WritesResult) S.Write(c, i.Seg, ea, r);
        Op.SetFlags<S>(c, d, s, r);
    }

    // dst register R0, src memory
    static void RM<Op, S>(Processor c, ref Insn i) where Op : IAluOp where S : IOperandSize
    {
        uint d = S.GetReg(c, i.R0), s = S.Read(c, i.Seg, c.Ea(ref i));
        uint r = Op.Compute<S>(c, d, s);
        if (Op.WritesResult) S.SetReg(c, i.R0, r);
        Op.SetFlags<S>(c, d, s, r);
    }

    // dst register R0, src immediate
    static void RI<Op, S>(Processor c, ref Insn i) where Op : IAluOp where S : IOperandSize
    {
        uint d = S.GetReg(c, i.R0), s = i.Imm & S.Mask;
        uint r = Op.Compute<S>(c, d, s);
        if (Op.WritesResult) S.SetReg(c, i.R0, r);
        Op.SetFlags<S>(c, d, s, r);
    }

    // dst memory, src immediate
    static void MI<Op, S>(Processor c, ref Insn i) where Op : IAluOp where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea), s = i.Imm & S.Mask;
        uint r = Op.Compute<S>(c, d, s);
        if (Op.WritesResult) S.Write(c, i.Seg, ea, r);
        Op.SetFlags<S>(c, d, s, r);
    }

    static Code C(string name) => Enum.Parse<Code>(name);

    static void Binary<Op>(HandlerTable t, string n) where Op : IAluOp
    {
        t.AddRm(C(n + "_rm8_r8"), &RR<Op, Size8>, &MR<Op, Size8>);
        t.AddRm(C(n + "_rm16_r16"), &RR<Op, Size16>, &MR<Op, Size16>);
        t.AddRm(C(n + "_rm32_r32"), &RR<Op, Size32>, &MR<Op, Size32>, min: CpuGeneration.I386);
        t.AddRm(C(n + "_r8_rm8"), &RR<Op, Size8>, &RM<Op, Size8>);
        t.AddRm(C(n + "_r16_rm16"), &RR<Op, Size16>, &RM<Op, Size16>);
        t.AddRm(C(n + "_r32_rm32"), &RR<Op, Size32>, &RM<Op, Size32>, min: CpuGeneration.I386);
        t.Add(C(n + "_AL_imm8"), &RI<Op, Size8>);
        t.Add(C(n + "_AX_imm16"), &RI<Op, Size16>);
        t.Add(C(n + "_EAX_imm32"), &RI<Op, Size32>, min: CpuGeneration.I386);
        t.AddRm(C(n + "_rm8_imm8"), &RI<Op, Size8>, &MI<Op, Size8>);
        t.AddRm(C(n + "_rm8_imm8_82"), &RI<Op, Size8>, &MI<Op, Size8>);
        t.AddRm(C(n + "_rm16_imm16"), &RI<Op, Size16>, &MI<Op, Size16>);
        t.AddRm(C(n + "_rm32_imm32"), &RI<Op, Size32>, &MI<Op, Size32>, min: CpuGeneration.I386);
        t.AddRm(C(n + "_rm16_imm8"), &RI<Op, Size16>, &MI<Op, Size16>);
        t.AddRm(C(n + "_rm32_imm8"), &RI<Op, Size32>, &MI<Op, Size32>, min: CpuGeneration.I386);
    }

    // ---- INC / DEC / NEG / NOT ----

    static void IncR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint d = S.GetReg(c, i.R0), r = (d + 1) & S.Mask;
        S.SetReg(c, i.R0, r);
        c.SetLazyIncDec(FlagOp.Inc, d, r, S.Sign);
    }

    static void IncM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea), r = (d + 1) & S.Mask;
        S.Write(c, i.Seg, ea, r);
        c.SetLazyIncDec(FlagOp.Inc, d, r, S.Sign);
    }

    static void DecR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint d = S.GetReg(c, i.R0), r = (d - 1) & S.Mask;
        S.SetReg(c, i.R0, r);
        c.SetLazyIncDec(FlagOp.Dec, d, r, S.Sign);
    }

    static void DecM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea), r = (d - 1) & S.Mask;
        S.Write(c, i.Seg, ea, r);
        c.SetLazyIncDec(FlagOp.Dec, d, r, S.Sign);
    }

    // NEG: 0 - src, flags as SUB with dst = 0 (CF = src != 0).
    static void NegR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint s = S.GetReg(c, i.R0), r = (0 - s) & S.Mask;
        S.SetReg(c, i.R0, r);
        c.SetLazy(FlagOp.Sub, 0, s, r, S.Sign);
    }

    static void NegM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint s = S.Read(c, i.Seg, ea), r = (0 - s) & S.Mask;
        S.Write(c, i.Seg, ea, r);
        c.SetLazy(FlagOp.Sub, 0, s, r, S.Sign);
    }

    static void NotR<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, i.R0, ~S.GetReg(c, i.R0) & S.Mask);

    static void NotM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        S.Write(c, i.Seg, ea, ~S.Read(c, i.Seg, ea) & S.Mask);
    }

    internal static void Register(HandlerTable t)
    {
        Binary<AddOp>(t, "Add");
        Binary<OrOp>(t, "Or");
        Binary<AdcOp>(t, "Adc");
        Binary<SbbOp>(t, "Sbb");
        Binary<AndOp>(t, "And");
        Binary<SubOp>(t, "Sub");
        Binary<XorOp>(t, "Xor");
        Binary<CmpOp>(t, "Cmp");

        t.AddRm(Code.Test_rm8_r8, &RR<TestOp, Size8>, &MR<TestOp, Size8>);
        t.AddRm(Code.Test_rm16_r16, &RR<TestOp, Size16>, &MR<TestOp, Size16>);
        t.AddRm(Code.Test_rm32_r32, &RR<TestOp, Size32>, &MR<TestOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Test_AL_imm8, &RI<TestOp, Size8>);
        t.Add(Code.Test_AX_imm16, &RI<TestOp, Size16>);
        t.Add(Code.Test_EAX_imm32, &RI<TestOp, Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Test_rm8_imm8, &RI<TestOp, Size8>, &MI<TestOp, Size8>);
        t.AddRm(Code.Test_rm8_imm8_F6r1, &RI<TestOp, Size8>, &MI<TestOp, Size8>);
        t.AddRm(Code.Test_rm16_imm16, &RI<TestOp, Size16>, &MI<TestOp, Size16>);
        t.AddRm(Code.Test_rm16_imm16_F7r1, &RI<TestOp, Size16>, &MI<TestOp, Size16>);
        t.AddRm(Code.Test_rm32_imm32, &RI<TestOp, Size32>, &MI<TestOp, Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Test_rm32_imm32_F7r1, &RI<TestOp, Size32>, &MI<TestOp, Size32>, min: CpuGeneration.I386);

        t.Add(Code.Inc_r16, &IncR<Size16>);
        t.Add(Code.Inc_r32, &IncR<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Inc_rm8, &IncR<Size8>, &IncM<Size8>);
        t.AddRm(Code.Inc_rm16, &IncR<Size16>, &IncM<Size16>);
        t.AddRm(Code.Inc_rm32, &IncR<Size32>, &IncM<Size32>, min: CpuGeneration.I386);
        t.Add(Code.Dec_r16, &DecR<Size16>);
        t.Add(Code.Dec_r32, &DecR<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Dec_rm8, &DecR<Size8>, &DecM<Size8>);
        t.AddRm(Code.Dec_rm16, &DecR<Size16>, &DecM<Size16>);
        t.AddRm(Code.Dec_rm32, &DecR<Size32>, &DecM<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Neg_rm8, &NegR<Size8>, &NegM<Size8>);
        t.AddRm(Code.Neg_rm16, &NegR<Size16>, &NegM<Size16>);
        t.AddRm(Code.Neg_rm32, &NegR<Size32>, &NegM<Size32>, min: CpuGeneration.I386);
        t.AddRm(Code.Not_rm8, &NotR<Size8>, &NotM<Size8>);
        t.AddRm(Code.Not_rm16, &NotR<Size16>, &NotM<Size16>);
        t.AddRm(Code.Not_rm32, &NotR<Size32>, &NotM<Size32>, min: CpuGeneration.I386);
    }
}
