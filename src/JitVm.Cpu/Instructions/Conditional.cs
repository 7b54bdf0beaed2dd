using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>SETcc (386+) and CMOVcc (CPUID.CMOV). The condition is the low nibble of the opcode, in <see cref="Insn.Cond"/>.</summary>
internal static unsafe class Conditional
{
    static void SetR(Processor c, ref Insn i) => c.SetReg8(i.R0, c.Condition(i.Cond) ? 1u : 0u);
    static void SetM(Processor c, ref Insn i) => c.Write8(i.Seg, c.Ea(ref i), c.Condition(i.Cond) ? 1u : 0u);

    static void CmovRR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        if (c.Condition(i.Cond)) S.SetReg(c, i.R0, S.GetReg(c, i.R1));
    }

    // The memory source is read whether or not the condition holds, so a bad address faults either way.
    static void CmovRM<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint v = S.Read(c, i.Seg, c.Ea(ref i));
        if (c.Condition(i.Cond)) S.SetReg(c, i.R0, v);
    }

    static Code C(string name) => Enum.Parse<Code>(name);

    internal static void Register(HandlerTable t)
    {
        foreach (var cc in ControlFlow.Conditions)
        {
            t.AddRm(C("Set" + cc + "_rm8"), &SetR, &SetM, min: CpuGeneration.I386);
            // CMOV exists where CPUID says so (P6 and later); the floor is the first generation with CPUID.
            t.AddRm(C("Cmov" + cc + "_r16_rm16"), &CmovRR<Size16>, &CmovRM<Size16>, min: CpuGeneration.I486, features: CpuidInfo.FeatureCmov);
            t.AddRm(C("Cmov" + cc + "_r32_rm32"), &CmovRR<Size32>, &CmovRM<Size32>, min: CpuGeneration.I486, features: CpuidInfo.FeatureCmov);
        }
    }
}
