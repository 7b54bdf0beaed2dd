using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>XADD, CMPXCHG (486 and later), CMPXCHG8B (CPUID.CX8).</summary>
/// <remarks>
/// Memory forms store before they change a register, so a faulting store leaves the instruction without effect.
/// A LOCK prefix needs nothing more: one guest processor, and each handler runs to completion.
/// </remarks>
internal static unsafe class Exchange
{
    // XADD: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP. DEST is written last, so XADD r, r with one register
    // leaves the sum in it. Flags as ADD.
    static void XaddRR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint d = S.GetReg(c, i.R0), s = S.GetReg(c, i.R1);
        uint r = (d + s) & S.Mask;
        S.SetReg(c, i.R1, d);
        S.SetReg(c, i.R0, r);
        c.SetLazy(FlagOp.Add, d, s, r, S.Sign);
    }

    static void XaddMR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint d = S.Read(c, i.Seg, ea), s = S.GetReg(c, i.R1);
        uint r = (d + s) & S.Mask;
        S.Write(c, i.Seg, ea, r);
        S.SetReg(c, i.R1, d);
        c.SetLazy(FlagOp.Add, d, s, r, S.Sign);
    }

    // CMPXCHG: compare the accumulator with DEST (flags as CMP acc, DEST). Equal: DEST = SRC. Not equal:
    // acc = DEST. A memory DEST is written either way (its own value when unequal), as the processor does.
    static void CmpxchgRR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint acc = S.GetReg(c, Processor.EAX), d = S.GetReg(c, i.R0);
        if (acc == d) S.SetReg(c, i.R0, S.GetReg(c, i.R1));
        else S.SetReg(c, Processor.EAX, d);
        c.SetLazy(FlagOp.Sub, acc, d, (acc - d) & S.Mask, S.Sign);
    }

    static void CmpxchgMR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint acc = S.GetReg(c, Processor.EAX), d = S.Read(c, i.Seg, ea);
        if (acc == d)
        {
            S.Write(c, i.Seg, ea, S.GetReg(c, i.R1));
        }
        else
        {
            S.Write(c, i.Seg, ea, d);
            S.SetReg(c, Processor.EAX, d);
        }
        c.SetLazy(FlagOp.Sub, acc, d, (acc - d) & S.Mask, S.Sign);
    }

    // CMPXCHG8B m64: EDX:EAX == m64 ? (ZF=1, m64 = ECX:EBX) : (ZF=0, EDX:EAX = m64, m64 written back).
    // Both halves are checked for writing (segment and page) before either is stored. Other flags are unaffected.
    static void Cmpxchg8b(Processor c, ref Insn i)
    {
        uint lo = c.Ea(ref i), hi = (lo + 4) & i.EaMask;
        uint memLo = c.Read32(i.Seg, lo), memHi = c.Read32(i.Seg, hi);
        c.CheckWritable(i.Seg, lo, 4);
        c.CheckWritable(i.Seg, hi, 4);
        c.MaterializeFlags();
        if (memLo == c.Eax && memHi == c.Edx)
        {
            c.Write32(i.Seg, lo, c.Ebx);
            c.Write32(i.Seg, hi, c.Ecx);
            c.Flags |= Processor.FlagZF;
        }
        else
        {
            c.Write32(i.Seg, lo, memLo);
            c.Write32(i.Seg, hi, memHi);
            c.Eax = memLo;
            c.Edx = memHi;
            c.Flags &= ~Processor.FlagZF;
        }
    }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i486 = CpuGeneration.I486;
        t.AddRm(Code.Xadd_rm8_r8, &XaddRR<Size8>, &XaddMR<Size8>, min: i486);
        t.AddRm(Code.Xadd_rm16_r16, &XaddRR<Size16>, &XaddMR<Size16>, min: i486);
        t.AddRm(Code.Xadd_rm32_r32, &XaddRR<Size32>, &XaddMR<Size32>, min: i486);
        t.AddRm(Code.Cmpxchg_rm8_r8, &CmpxchgRR<Size8>, &CmpxchgMR<Size8>, min: i486);
        t.AddRm(Code.Cmpxchg_rm16_r16, &CmpxchgRR<Size16>, &CmpxchgMR<Size16>, min: i486);
        t.AddRm(Code.Cmpxchg_rm32_r32, &CmpxchgRR<Size32>, &CmpxchgMR<Size32>, min: i486);
        // Pentium instruction, present where CPUID advertises CX8 (the floor is the first generation with CPUID).
        t.Add(Code.Cmpxchg8b_m64, &Cmpxchg8b, min: i486, features: CpuidInfo.FeatureCx8);
    }
}
