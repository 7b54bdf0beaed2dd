using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// Saving and loading the x87 state: FNSTENV/FLDENV (the 14- or 28-byte environment), FNSAVE/FRSTOR (the
/// environment and the eight registers) and FXSAVE/FXRSTOR (the 512-byte image). The environment layout depends on
/// the operand size and on the mode (SDM vol. 1, figures 8-9 to 8-12): protected mode stores the instruction and
/// operand pointers as offset and selector, real and virtual-8086 mode as 20- or 32-bit linear addresses. Every
/// access is checked before anything is written or loaded, so a fault leaves memory and the FPU as they were.
/// </summary>
internal static unsafe class X87Environment
{
    static bool UsesProtectedFormat(Processor c) => c.ProtectedMode && !c.V86Mode;

    static uint LinearPointer(ushort selector, uint offset) => ((uint)selector << 4) + offset;

    static int EnvironmentSize(bool o32) => o32 ? 28 : 14;

    /// <summary>Writes the environment image; the destination has been checked.</summary>
    static void WriteEnvironment(Processor c, int seg, uint off, bool o32)
    {
        ref FpuState f = ref c.Fpu;
        uint cw = f.Control, sw = c.FpuStatusWord, tw = c.FpuTagWord, op = f.Opcode & 0x7FFu;
        bool pm = UsesProtectedFormat(c);
        if (o32)
        {
            // The reserved upper halves read as ones on the hardware.
            c.Write32(seg, off, 0xFFFF0000 | cw);
            c.Write32(seg, off + 4, 0xFFFF0000 | sw);
            c.Write32(seg, off + 8, 0xFFFF0000 | tw);
            if (pm)
            {
                c.Write32(seg, off + 12, f.Ip);
                c.Write32(seg, off + 16, f.Cs | op << 16);
                c.Write32(seg, off + 20, f.Dp);
                c.Write32(seg, off + 24, 0xFFFF0000 | f.Ds);
            }
            else
            {
                uint ip = LinearPointer(f.Cs, f.Ip), dp = LinearPointer(f.Ds, f.Dp);
                c.Write32(seg, off + 12, 0xFFFF0000 | (ip & 0xFFFF));
                c.Write32(seg, off + 16, (ip & 0xFFFF0000) >> 4 | op);
                c.Write32(seg, off + 20, 0xFFFF0000 | (dp & 0xFFFF));
                c.Write32(seg, off + 24, (dp & 0xFFFF0000) >> 4);
            }
        }
        else
        {
            c.Write16(seg, off, cw);
            c.Write16(seg, off + 2, sw);
            c.Write16(seg, off + 4, tw);
            if (pm)
            {
                c.Write16(seg, off + 6, f.Ip);
                c.Write16(seg, off + 8, f.Cs);
                c.Write16(seg, off + 10, f.Dp);
                c.Write16(seg, off + 12, f.Ds);
            }
            else
            {
                uint ip = LinearPointer(f.Cs, f.Ip), dp = LinearPointer(f.Ds, f.Dp);
                c.Write16(seg, off + 6, ip);
                c.Write16(seg, off + 8, (ip & 0xF0000) >> 4 | op);
                c.Write16(seg, off + 10, dp);
                c.Write16(seg, off + 12, (dp & 0xF0000) >> 4);
            }
        }
    }

    /// <summary>An environment image read from memory, not yet loaded.</summary>
    struct Environment
    {
        public ushort Control, Status, Tags, Opcode, Cs, Ds;
        public uint Ip, Dp;
        public bool HasOpcode;
    }

    static Environment ReadEnvironment(Processor c, int seg, uint off, bool o32)
    {
        var e = new Environment();
        bool pm = UsesProtectedFormat(c);
        if (o32)
        {
            e.Control = (ushort)c.Read32(seg, off);
            e.Status = (ushort)c.Read32(seg, off + 4);
            e.Tags = (ushort)c.Read32(seg, off + 8);
            uint w3 = c.Read32(seg, off + 12), w4 = c.Read32(seg, off + 16), w5 = c.Read32(seg, off + 20), w6 = c.Read32(seg, off + 24);
            e.HasOpcode = true;
            if (pm)
            {
                e.Ip = w3;
                e.Cs = (ushort)w4;
                e.Opcode = (ushort)((w4 >> 16) & 0x7FF);
                e.Dp = w5;
                e.Ds = (ushort)w6;
            }
            else
            {
                // Real-mode images hold linear pointers: kept as offsets with a zero selector.
                e.Ip = (w3 & 0xFFFF) | (w4 & 0x0FFFF000) << 4;
                e.Opcode = (ushort)(w4 & 0x7FF);
                e.Dp = (w5 & 0xFFFF) | (w6 & 0x0FFFF000) << 4;
            }
        }
        else
        {
            e.Control = c.Read16(seg, off);
            e.Status = c.Read16(seg, off + 2);
            e.Tags = c.Read16(seg, off + 4);
            uint w3 = c.Read16(seg, off + 6), w4 = c.Read16(seg, off + 8), w5 = c.Read16(seg, off + 10), w6 = c.Read16(seg, off + 12);
            if (pm)
            {
                e.Ip = w3;
                e.Cs = (ushort)w4;
                e.Dp = w5;
                e.Ds = (ushort)w6;
            }
            else
            {
                e.Ip = w3 | (w4 & 0xF000) << 4;
                e.Opcode = (ushort)(w4 & 0x7FF);
                e.HasOpcode = true;
                e.Dp = w5 | (w6 & 0xF000) << 4;
            }
        }
        return e;
    }

    /// <summary>Loads an environment image: the control word first, so ES follows the loaded flags and masks.</summary>
    static void LoadEnvironment(Processor c, in Environment e)
    {
        c.SetFpuControlWord(e.Control);
        c.SetFpuStatusWord(e.Status);
        c.SetFpuTagWord(e.Tags);
        c.Fpu.Ip = e.Ip;
        c.Fpu.Cs = e.Cs;
        c.Fpu.Dp = e.Dp;
        c.Fpu.Ds = e.Ds;
        if (e.HasOpcode) c.Fpu.Opcode = e.Opcode;
    }

    // FNSTENV stores the environment and then masks every exception (the usual start of an exception handler).
    static void Fnstenv(Processor c, ref Insn i, bool o32)
    {
        if (!X87.BeginNoWait(c, ref i)) return;
        uint ea = c.Ea(ref i);
        c.CheckFpuStore(i.Seg, ea, EnvironmentSize(o32));
        WriteEnvironment(c, i.Seg, ea, o32);
        c.Fpu.Control |= (ushort)FpuExceptions.All;
    }

    static void Fnstenv16(Processor c, ref Insn i) => Fnstenv(c, ref i, false);
    static void Fnstenv32(Processor c, ref Insn i) => Fnstenv(c, ref i, true);

    static void Fldenv(Processor c, ref Insn i, bool o32)
    {
        if (!X87.Begin(c, ref i)) return;
        uint ea = c.Ea(ref i);
        c.CheckFpuOperand(i.Seg, ea, EnvironmentSize(o32), false);
        var e = ReadEnvironment(c, i.Seg, ea, o32);
        LoadEnvironment(c, e);
    }

    static void Fldenv16(Processor c, ref Insn i) => Fldenv(c, ref i, false);
    static void Fldenv32(Processor c, ref Insn i) => Fldenv(c, ref i, true);

    // FNSAVE: the environment, then ST(0)..ST(7) (10 bytes each, stack order), then FNINIT.
    static void Fnsave(Processor c, ref Insn i, bool o32)
    {
        if (!X87.BeginNoWait(c, ref i)) return;
        uint ea = c.Ea(ref i);
        int env = EnvironmentSize(o32);
        c.CheckFpuStore(i.Seg, ea, env + 80);
        WriteEnvironment(c, i.Seg, ea, o32);
        for (int k = 0; k < 8; k++) c.WriteFloat80Unchecked(i.Seg, ea + (uint)(env + 10 * k), c.FpuSt(k));
        c.FpuInit();
    }

    static void Fnsave16(Processor c, ref Insn i) => Fnsave(c, ref i, false);
    static void Fnsave32(Processor c, ref Insn i) => Fnsave(c, ref i, true);

    // FRSTOR: the registers are in stack order relative to the TOP the loaded status word holds.
    static void Frstor(Processor c, ref Insn i, bool o32)
    {
        if (!X87.Begin(c, ref i)) return;
        uint ea = c.Ea(ref i);
        int env = EnvironmentSize(o32);
        c.CheckFpuOperand(i.Seg, ea, env + 80, false);
        var e = ReadEnvironment(c, i.Seg, ea, o32);
        Span<Float80> regs = stackalloc Float80[8];
        for (int k = 0; k < 8; k++) regs[k] = c.ReadFloat80(i.Seg, ea + (uint)(env + 10 * k));
        LoadEnvironment(c, e);
        for (int k = 0; k < 8; k++) c.Fpu.R[(c.Fpu.Top + k) & 7] = regs[k];
    }

    static void Frstor16(Processor c, ref Insn i) => Frstor(c, ref i, false);
    static void Frstor32(Processor c, ref Insn i) => Frstor(c, ref i, true);

    // ---- FXSAVE / FXRSTOR (CPUID.FXSR) ----
    // The 512-byte image (SDM vol. 2, FXSAVE, table 3-53 for 32-bit mode): FCW, FSW, the abridged tag byte (1 =
    // valid, per physical register), FOP, FIP, FCS, FDP, FDS, MXCSR and its mask, then ST(0)-ST(7) in 16-byte slots.
    // No model here has SSE: MXCSR and its mask are stored as 0 and ignored when loaded, and the XMM area and the
    // rest of the image are left alone. The operand must be 16-byte aligned (#GP(0)); FXSAVE and FXRSTOR neither
    // wait for nor report pending exceptions.

    const int FxsaveSize = 512, FxsaveRegisters = 32, FxsaveRegisterArea = 8 * 16;

    static uint FxsaveOperand(Processor c, ref Insn i, bool write)
    {
        if ((c.Cr0 & (Processor.Cr0EM | Processor.Cr0TS)) != 0) c.Fault(CpuVectors.NM);
        uint ea = c.Ea(ref i);
        if (((c.Seg[i.Seg].Base + ea) & 15) != 0) c.Fault(CpuVectors.GP, 0);
        if (write) c.CheckFpuStore(i.Seg, ea, FxsaveRegisters + FxsaveRegisterArea);
        else c.CheckFpuOperand(i.Seg, ea, FxsaveSize, false);
        return ea;
    }

    static void Fxsave(Processor c, ref Insn i)
    {
        uint ea = FxsaveOperand(c, ref i, true);
        ref FpuState f = ref c.Fpu;
        int seg = i.Seg;
        c.Write16(seg, ea, f.Control);
        c.Write16(seg, ea + 2, c.FpuStatusWord);
        c.Write16(seg, ea + 4, f.Valid);
        c.Write16(seg, ea + 6, f.Opcode & 0x7FFu);
        c.Write32(seg, ea + 8, f.Ip);
        c.Write32(seg, ea + 12, f.Cs);
        c.Write32(seg, ea + 16, f.Dp);
        c.Write32(seg, ea + 20, f.Ds);
        c.Write32(seg, ea + 24, 0);                   // MXCSR
        c.Write32(seg, ea + 28, 0);                   // MXCSR_MASK
        for (int k = 0; k < 8; k++)
        {
            uint slot = ea + (uint)(FxsaveRegisters + 16 * k);
            c.WriteFloat80Unchecked(seg, slot, c.FpuSt(k));
            c.Write16(seg, slot + 10, 0);
            c.Write32(seg, slot + 12, 0);
        }
    }

    static void Fxrstor(Processor c, ref Insn i)
    {
        uint ea = FxsaveOperand(c, ref i, false);
        int seg = i.Seg;
        ushort cw = c.Read16(seg, ea), sw = c.Read16(seg, ea + 2);
        byte valid = c.Read8(seg, ea + 4);
        ushort op = c.Read16(seg, ea + 6);
        uint ip = c.Read32(seg, ea + 8), cs = c.Read32(seg, ea + 12), dp = c.Read32(seg, ea + 16), ds = c.Read32(seg, ea + 20);
        Span<Float80> regs = stackalloc Float80[8];
        for (int k = 0; k < 8; k++) regs[k] = c.ReadFloat80(seg, ea + (uint)(FxsaveRegisters + 16 * k));
        c.SetFpuControlWord(cw);
        c.SetFpuStatusWord(sw);
        c.Fpu.Valid = valid;
        c.Fpu.Opcode = (ushort)(op & 0x7FF);
        c.Fpu.Ip = ip;
        c.Fpu.Cs = (ushort)cs;
        c.Fpu.Dp = dp;
        c.Fpu.Ds = (ushort)ds;
        for (int k = 0; k < 8; k++) c.Fpu.R[(c.Fpu.Top + k) & 7] = regs[k];
    }

    internal static void Register(HandlerTable t)
    {
        const CpuGeneration i386 = CpuGeneration.I386;
        t.Add(Code.Fnstenv_m14byte, &Fnstenv16);
        t.Add(Code.Fnstenv_m28byte, &Fnstenv32, min: i386);
        t.Add(Code.Fldenv_m14byte, &Fldenv16);
        t.Add(Code.Fldenv_m28byte, &Fldenv32, min: i386);
        t.Add(Code.Fnsave_m94byte, &Fnsave16);
        t.Add(Code.Fnsave_m108byte, &Fnsave32, min: i386);
        t.Add(Code.Frstor_m94byte, &Frstor16);
        t.Add(Code.Frstor_m108byte, &Frstor32, min: i386);
        t.Add(Code.Fxsave_m512byte, &Fxsave, min: CpuGeneration.P6, features: CpuidInfo.FeatureFxsr);
        t.Add(Code.Fxrstor_m512byte, &Fxrstor, min: CpuGeneration.P6, features: CpuidInfo.FeatureFxsr);
    }
}
