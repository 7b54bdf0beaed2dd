using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>MOV (all forms), MOVZX/MOVSX, XCHG, LEA, CBW/CWDE/CWD/CDQ, XLAT, LDS/LES/LSS/LFS/LGS, BSWAP, NOP.</summary>
internal static unsafe class DataMovement
{
    static void MovRR<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, i.R0, S.GetReg(c, i.R1));
    static void MovMR<S>(Processor c, ref Insn i) where S : IOperandSize => S.Write(c, i.Seg, c.Ea(ref i), S.GetReg(c, i.R1));
    static void MovRM<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, i.R0, S.Read(c, i.Seg, c.Ea(ref i)));
    static void MovRI<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, i.R0, i.Imm);
    static void MovMI<S>(Processor c, ref Insn i) where S : IOperandSize => S.Write(c, i.Seg, c.Ea(ref i), i.Imm & S.Mask);

    // MOVZX / MOVSX: source size S, destination size D.
    static void MovzxRR<S, D>(Processor c, ref Insn i) where S : IOperandSize where D : IOperandSize => D.SetReg(c, i.R0, S.GetReg(c, i.R1));
    static void MovzxRM<S, D>(Processor c, ref Insn i) where S : IOperandSize where D : IOperandSize => D.SetReg(c, i.R0, S.Read(c, i.Seg, c.Ea(ref i)));
    static void MovsxRR<S, D>(Processor c, ref Insn i) where S : IOperandSize where D : IOperandSize => D.SetReg(c, i.R0, (uint)S.SignExtend(S.GetReg(c, i.R1)) & D.Mask);
    static void MovsxRM<S, D>(Processor c, ref Insn i) where S : IOperandSize where D : IOperandSize => D.SetReg(c, i.R0, (uint)S.SignExtend(S.Read(c, i.Seg, c.Ea(ref i))) & D.Mask);

    // MOV r/m, Sreg. A 32-bit register destination gets the selector zero-extended.
    static void MovRSreg16(Processor c, ref Insn i) => c.SetReg16(i.R0, c.Seg[i.R1].Selector);
    static void MovRSreg32(Processor c, ref Insn i) => c.SetReg32(i.R0, c.Seg[i.R1].Selector);
    static void MovMSreg(Processor c, ref Insn i) => c.Write16(i.Seg, c.Ea(ref i), c.Seg[i.R1].Selector);

    // MOV Sreg, r/m. CS cannot be a destination (#UD); SS starts an interrupt shadow.
    static void MovSregR(Processor c, ref Insn i) => LoadSreg(c, i.R0, c.Reg16(i.R1));
    static void MovSregM(Processor c, ref Insn i) => LoadSreg(c, i.R0, c.Read16(i.Seg, c.Ea(ref i)));

    static void LoadSreg(Processor c, int seg, ushort selector)
    {
        if (seg == SegReg.CS) c.Fault(CpuVectors.UD);
        c.LoadSegment(seg, selector);
        if (seg == SegReg.SS) c.InterruptShadow = true;
    }

    static void XchgRR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint a = S.GetReg(c, i.R0), b = S.GetReg(c, i.R1);
        S.SetReg(c, i.R0, b);
        S.SetReg(c, i.R1, a);
    }

    static void XchgMR<S>(Processor c, ref Insn i) where S : IOperandSize
    {
        uint ea = c.Ea(ref i);
        uint m = S.Read(c, i.Seg, ea);
        S.Write(c, i.Seg, ea, S.GetReg(c, i.R1));
        S.SetReg(c, i.R1, m);
    }

    // LEA: the effective address (at the address size), truncated to the operand size.
    static void Lea<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, i.R0, c.Ea(ref i));

    static void Cbw(Processor c, ref Insn i) => c.SetReg16(Processor.EAX, (uint)(sbyte)c.Reg8(Processor.EAX));
    static void Cwde(Processor c, ref Insn i) => c.Eax = (uint)(short)c.Reg16(Processor.EAX);
    static void Cwd(Processor c, ref Insn i) => c.SetReg16(Processor.EDX, (c.Reg16(Processor.EAX) & 0x8000) != 0 ? 0xFFFFu : 0);
    static void Cdq(Processor c, ref Insn i) => c.Edx = (c.Eax & 0x80000000) != 0 ? 0xFFFFFFFFu : 0;

    // XLAT: AL = [seg:(E)BX + AL], address-size wrap.
    static void Xlat(Processor c, ref Insn i) => c.SetReg8(Processor.EAX, c.Read8(i.Seg, (c.Ebx + c.Reg8(Processor.EAX)) & i.EaMask));

    // LDS/LES/LSS/LFS/LGS: offset then selector from memory; the segment load (which may fault) happens first.
    static void LoadFar<S, G>(Processor c, ref Insn i) where S : IOperandSize where G : ISegmentRegister
    {
        uint ea = c.Ea(ref i);
        uint off = S.Read(c, i.Seg, ea);
        ushort sel = c.Read16(i.Seg, (ea + (uint)S.Bytes) & i.EaMask);
        c.LoadSegment(G.Index, sel);
        S.SetReg(c, i.R0, off);
    }

    static void Bswap32(Processor c, ref Insn i) => c.SetReg32(i.R0, System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(c.Reg32(i.R0)));
    // BSWAP with a 16-bit operand is undefined; P6-class and later processors clear the low word.
    static void Bswap16(Processor c, ref Insn i) => c.SetReg16(i.R0, 0);

    static void Nop(Processor c, ref Insn i) { }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i386 = CpuGeneration.I386;
        t.AddRm(Code.Mov_rm8_r8, &MovRR<Size8>, &MovMR<Size8>);
        t.AddRm(Code.Mov_rm16_r16, &MovRR<Size16>, &MovMR<Size16>);
        t.AddRm(Code.Mov_rm32_r32, &MovRR<Size32>, &MovMR<Size32>, min: i386);
        t.AddRm(Code.Mov_r8_rm8, &MovRR<Size8>, &MovRM<Size8>);
        t.AddRm(Code.Mov_r16_rm16, &MovRR<Size16>, &MovRM<Size16>);
        t.AddRm(Code.Mov_r32_rm32, &MovRR<Size32>, &MovRM<Size32>, min: i386);
        t.Add(Code.Mov_AL_moffs8, &MovRM<Size8>);
        t.Add(Code.Mov_AX_moffs16, &MovRM<Size16>);
        t.Add(Code.Mov_EAX_moffs32, &MovRM<Size32>, min: i386);
        t.Add(Code.Mov_moffs8_AL, &MovMR<Size8>);
        t.Add(Code.Mov_moffs16_AX, &MovMR<Size16>);
        t.Add(Code.Mov_moffs32_EAX, &MovMR<Size32>, min: i386);
        t.Add(Code.Mov_r8_imm8, &MovRI<Size8>);
        t.Add(Code.Mov_r16_imm16, &MovRI<Size16>);
        t.Add(Code.Mov_r32_imm32, &MovRI<Size32>, min: i386);
        t.AddRm(Code.Mov_rm8_imm8, &MovRI<Size8>, &MovMI<Size8>);
        t.AddRm(Code.Mov_rm16_imm16, &MovRI<Size16>, &MovMI<Size16>);
        t.AddRm(Code.Mov_rm32_imm32, &MovRI<Size32>, &MovMI<Size32>, min: i386);

        t.AddRm(Code.Mov_rm16_Sreg, &MovRSreg16, &MovMSreg);
        t.AddRm(Code.Mov_r32m16_Sreg, &MovRSreg32, &MovMSreg, min: i386);
        t.AddRm(Code.Mov_Sreg_rm16, &MovSregR, &MovSregM, HandlerFlags.EndsBlock);
        t.AddRm(Code.Mov_Sreg_r32m16, &MovSregR, &MovSregM, HandlerFlags.EndsBlock, i386);

        t.AddRm(Code.Movzx_r16_rm8, &MovzxRR<Size8, Size16>, &MovzxRM<Size8, Size16>, min: i386);
        t.AddRm(Code.Movzx_r32_rm8, &MovzxRR<Size8, Size32>, &MovzxRM<Size8, Size32>, min: i386);
        t.AddRm(Code.Movzx_r16_rm16, &MovzxRR<Size16, Size16>, &MovzxRM<Size16, Size16>, min: i386);
        t.AddRm(Code.Movzx_r32_rm16, &MovzxRR<Size16, Size32>, &MovzxRM<Size16, Size32>, min: i386);
        t.AddRm(Code.Movsx_r16_rm8, &MovsxRR<Size8, Size16>, &MovsxRM<Size8, Size16>, min: i386);
        t.AddRm(Code.Movsx_r32_rm8, &MovsxRR<Size8, Size32>, &MovsxRM<Size8, Size32>, min: i386);
        t.AddRm(Code.Movsx_r16_rm16, &MovsxRR<Size16, Size16>, &MovsxRM<Size16, Size16>, min: i386);
        t.AddRm(Code.Movsx_r32_rm16, &MovsxRR<Size16, Size32>, &MovsxRM<Size16, Size32>, min: i386);

        t.AddRm(Code.Xchg_rm8_r8, &XchgRR<Size8>, &XchgMR<Size8>);
        t.AddRm(Code.Xchg_rm16_r16, &XchgRR<Size16>, &XchgMR<Size16>);
        t.AddRm(Code.Xchg_rm32_r32, &XchgRR<Size32>, &XchgMR<Size32>, min: i386);
        t.Add(Code.Xchg_r16_AX, &XchgRR<Size16>);
        t.Add(Code.Xchg_r32_EAX, &XchgRR<Size32>, min: i386);
        t.Add(Code.Nopw, &Nop);
        t.Add(Code.Nopd, &Nop, min: i386);
        t.Add(Code.Pause, &Nop);

        t.Add(Code.Lea_r16_m, &Lea<Size16>);
        t.Add(Code.Lea_r32_m, &Lea<Size32>, min: i386);
        t.Add(Code.Cbw, &Cbw);
        t.Add(Code.Cwde, &Cwde, min: i386);
        t.Add(Code.Cwd, &Cwd);
        t.Add(Code.Cdq, &Cdq, min: i386);
        t.Add(Code.Xlat_m8, &Xlat);

        t.Add(Code.Les_r16_m1616, &LoadFar<Size16, SegES>);
        t.Add(Code.Les_r32_m1632, &LoadFar<Size32, SegES>, min: i386);
        t.Add(Code.Lds_r16_m1616, &LoadFar<Size16, SegDS>);
        t.Add(Code.Lds_r32_m1632, &LoadFar<Size32, SegDS>, min: i386);
        t.Add(Code.Lss_r16_m1616, &LoadFar<Size16, SegSS>, min: i386);
        t.Add(Code.Lss_r32_m1632, &LoadFar<Size32, SegSS>, min: i386);
        t.Add(Code.Lfs_r16_m1616, &LoadFar<Size16, SegFS>, min: i386);
        t.Add(Code.Lfs_r32_m1632, &LoadFar<Size32, SegFS>, min: i386);
        t.Add(Code.Lgs_r16_m1616, &LoadFar<Size16, SegGS>, min: i386);
        t.Add(Code.Lgs_r32_m1632, &LoadFar<Size32, SegGS>, min: i386);

        t.Add(Code.Bswap_r32, &Bswap32, min: CpuGeneration.I486);
        t.Add(Code.Bswap_r16, &Bswap16, min: CpuGeneration.I486);
    }
}
