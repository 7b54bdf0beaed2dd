using System.Runtime.CompilerServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu;

/// <summary>The eight physical x87 data registers R0-R7 (ST(i) is R[(TOP + i) mod 8]).</summary>
[InlineArray(8)]
public struct FpuRegisterFile
{
    private Float80 _e0;
}

/// <summary>
/// The x87 FPU's architectural state (Intel SDM vol. 1, 8.1): the data registers, control and status words, which
/// registers are empty, and the pointers to the last non-control instruction and its memory operand. Plain fields,
/// like the rest of <see cref="Processor"/>.
/// </summary>
public struct FpuState
{
    public FpuRegisterFile R;
    public ushort Control;
    /// <summary>The status word without its TOP field (bits 11-13 are kept clear; see <see cref="Top"/>).</summary>
    public ushort Status;
    /// <summary>Top-of-stack pointer, 0..7.</summary>
    public int Top;
    /// <summary>Bit i set: physical register i is not empty (FXSAVE's abridged tag word). The full tags are derived.</summary>
    public byte Valid;
    /// <summary>FOP: the low 3 bits of the first opcode byte and the ModRM byte of the last non-control instruction.</summary>
    public ushort Opcode;
    /// <summary>Last non-control instruction (offset and CS selector, FIP/FCS) and its memory operand (FDP/FDS).</summary>
    public uint Ip, Dp;
    public ushort Cs, Ds;
    /// <summary>The FERR# output: asserted when a waiting instruction found a pending exception with CR0.NE = 0.</summary>
    public bool Ferr;
}

/// <summary>
/// The x87 FPU inside the processor: state, the stack, exception bookkeeping and delivery, and the last-instruction
/// pointers. The instructions are in Instructions/X87*.cs; the arithmetic in Fpu/SoftFloat.
/// Unmasked exceptions set ES and B and are reported at the next waiting x87 instruction (SDM vol. 1, 8.6): as #MF
/// when CR0.NE = 1, otherwise through the FERR# pin (<see cref="FerrAsserted"/>, IRQ 13 on a PC) while that
/// instruction waits.
/// </summary>
public sealed partial class Processor
{
    // Status word bits (exception flags are FpuExceptions in bits 0-5).
    public const ushort FpuStackFaultBit = 0x40, FpuErrorSummary = 0x80, FpuC0 = 0x100, FpuC1 = 0x200, FpuC2 = 0x400,
        FpuTopMask = 0x3800, FpuC3 = 0x4000, FpuBusy = 0x8000;
    public const ushort FpuConditionBits = FpuC0 | FpuC1 | FpuC2 | FpuC3;

    /// <summary>Control word after FNINIT/FINIT: everything masked, 64-bit precision, round to nearest.</summary>
    public const ushort FpuDefaultControl = 0x037F;

    public FpuState Fpu;

    /// <summary>The model has an FPU; otherwise the escape opcodes behave as on a CPU without a coprocessor.</summary>
    public bool HasFpu => fpuPresent;
    bool fpuPresent;

    /// <summary>
    /// Called when the FERR# output becomes active (a waiting x87 instruction met a pending unmasked exception while
    /// CR0.NE = 0). The PC routes it to IRQ 13 through a latch that a write to port F0h clears.
    /// </summary>
    public Action? FerrAsserted { get; set; }

    /// <summary>
    /// Power-up state (SDM vol. 3, table 9-1): control word 0040h, status 0, every register +0.0 and tagged zero
    /// (tag word 5555h), pointers 0.
    /// </summary>
    void ResetFpu()
    {
        fpuPresent = Model.HasFpu;
        Fpu = default;
        Fpu.Control = 0x0040;
        Fpu.Valid = 0xFF;
    }

    /// <summary>FNINIT: control 037Fh, status 0, every register empty, pointers and opcode cleared.</summary>
    public void FpuInit()
    {
        Fpu.Control = FpuDefaultControl;
        Fpu.Status = 0;
        Fpu.Top = 0;
        Fpu.Valid = 0;
        Fpu.Opcode = 0;
        Fpu.Ip = Fpu.Dp = 0;
        Fpu.Cs = Fpu.Ds = 0;
        Fpu.Ferr = false;
    }

    // ---------------------------------------------------------------- words

    /// <summary>The status word as FNSTSW stores it (TOP in bits 11-13).</summary>
    public ushort FpuStatusWord => (ushort)(Fpu.Status | (Fpu.Top << 11));

    /// <summary>Loads a whole status word (FLDENV, FRSTOR, FXRSTOR); ES and B follow the flags and masks.</summary>
    public void SetFpuStatusWord(ushort value)
    {
        Fpu.Top = (value >> 11) & 7;
        Fpu.Status = (ushort)(value & ~FpuTopMask);
        UpdateFpuErrorSummary();
    }

    /// <summary>Loads the control word (FLDCW...): bits 6 and 13-15 are reserved and read back as 1, 0, 0 on the 387 and later.</summary>
    public void SetFpuControlWord(ushort value)
    {
        Fpu.Control = (ushort)((value & 0x1F3F) | 0x0040);
        UpdateFpuErrorSummary();
    }

    /// <summary>
    /// ES (and B, which mirrors it on the 387 and later) says an exception flag is set whose mask is clear. Loading
    /// a control or status word can make an exception pending or drop it; clearing ES releases FERR#.
    /// </summary>
    void UpdateFpuErrorSummary()
    {
        if ((Fpu.Status & ~Fpu.Control & (ushort)FpuExceptions.All) != 0) Fpu.Status |= FpuErrorSummary | FpuBusy;
        else
        {
            Fpu.Status &= unchecked((ushort)~(FpuErrorSummary | FpuBusy));
            Fpu.Ferr = false;
        }
    }

    /// <summary>Tag of one register's contents: 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unsupported).</summary>
    public static int FpuTagOf(in Float80 v)
    {
        int e = v.Exponent;
        if (e == 0) return v.Significand == 0 ? 1 : 2;
        if (e == Float80.MaxExponent || (v.Significand & Float80.IntegerBit) == 0) return 2;
        return 0;
    }

    /// <summary>The full tag word (two bits per physical register; 3 = empty), derived from the contents.</summary>
    public ushort FpuTagWord
    {
        get
        {
            int w = 0;
            for (int r = 0; r < 8; r++)
                w |= ((Fpu.Valid & (1 << r)) == 0 ? 3 : FpuTagOf(Fpu.R[r])) << (2 * r);
            return (ushort)w;
        }
    }

    /// <summary>
    /// Loads a tag word (FLDENV, FRSTOR): only empty or not matters; the processor derives the other tags from the
    /// register contents when it stores them.
    /// </summary>
    public void SetFpuTagWord(ushort tags)
    {
        int valid = 0;
        for (int r = 0; r < 8; r++)
            if (((tags >> (2 * r)) & 3) != 3) valid |= 1 << r;
        Fpu.Valid = (byte)valid;
    }

    /// <summary>Sets C0-C3 (the bits in <paramref name="bits"/>, a mask of <see cref="FpuConditionBits"/>), clearing the others.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetFpuConditions(int bits) => Fpu.Status = (ushort)((Fpu.Status & ~FpuConditionBits) | (bits & FpuConditionBits));

    /// <summary>Sets or clears C1 alone.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetFpuC1(bool set) => Fpu.Status = (ushort)(set ? Fpu.Status | FpuC1 : Fpu.Status & ~FpuC1);

    // ---------------------------------------------------------------- stack

    /// <summary>ST(<paramref name="i"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Float80 FpuSt(int i) => ref Fpu.R[(Fpu.Top + i) & 7];

    /// <summary>ST(<paramref name="i"/>) is empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool FpuEmpty(int i) => (Fpu.Valid & (1 << ((Fpu.Top + i) & 7))) == 0;

    /// <summary>Decrements TOP and stores <paramref name="v"/> in the new ST(0), tagging it non-empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FpuPush(in Float80 v)
    {
        Fpu.Top = (Fpu.Top - 1) & 7;
        Fpu.R[Fpu.Top] = v;
        Fpu.Valid |= (byte)(1 << Fpu.Top);
    }

    /// <summary>Marks ST(0) empty and increments TOP.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FpuPop()
    {
        Fpu.Valid &= (byte)~(1 << Fpu.Top);
        Fpu.Top = (Fpu.Top + 1) & 7;
    }

    /// <summary>Writes ST(<paramref name="i"/>) and tags it non-empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FpuSetSt(int i, in Float80 v)
    {
        int r = (Fpu.Top + i) & 7;
        Fpu.R[r] = v;
        Fpu.Valid |= (byte)(1 << r);
    }

    /// <summary>Tags ST(<paramref name="i"/>) empty (FFREE).</summary>
    public void FpuFree(int i) => Fpu.Valid &= (byte)~(1 << ((Fpu.Top + i) & 7));

    // ---------------------------------------------------------------- exceptions

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool FpuMasked(FpuExceptions e) => (Fpu.Control & (ushort)e) == (ushort)e;

    /// <summary>
    /// Records exception flags an operation raised; any whose mask is clear sets ES and B, so the next waiting
    /// instruction reports it.
    /// </summary>
    internal void FpuSignal(FpuExceptions raised)
    {
        Fpu.Status |= (ushort)raised;
        if (((ushort)raised & ~Fpu.Control & (ushort)FpuExceptions.All) != 0) Fpu.Status |= FpuErrorSummary | FpuBusy;
    }

    /// <summary>
    /// A stack overflow (push onto a non-empty register) or underflow (read of an empty one): #IS sets IE and SF, and
    /// C1 to 1 for overflow, 0 for underflow. Returns true when IE is masked: the caller then completes the
    /// instruction with the QNaN indefinite (or the integer/BCD indefinite) as the result. Unmasked, the instruction
    /// changes nothing else (TOP and the registers stay as they were).
    /// </summary>
    internal bool FpuStackFault(bool overflow)
    {
        Fpu.Status = (ushort)((Fpu.Status & ~FpuC1) | (ushort)FpuExceptions.Invalid | FpuStackFaultBit | (overflow ? FpuC1 : 0));
        if (FpuMasked(FpuExceptions.Invalid)) return true;
        Fpu.Status |= FpuErrorSummary | FpuBusy;
        return false;
    }

    /// <summary>
    /// A waiting x87 instruction (or WAIT) found ES set. With CR0.NE = 1 that is #MF, a fault on this instruction.
    /// With CR0.NE = 0 (MS-DOS compatible reporting) the processor asserts FERR# and this instruction waits: it is
    /// run again (EIP stays on it, the block ends) so the interrupt the PC derives from FERR# (IRQ 13) is taken
    /// first; once the handler has cleared the exception it proceeds. IGNNE# is not modelled. Returns false.
    /// </summary>
    internal bool FpuReportPending()
    {
        if ((Cr0 & Cr0NE) != 0) Fault(CpuVectors.MF);
        if (!Fpu.Ferr)
        {
            Fpu.Ferr = true;
            FerrAsserted?.Invoke();
        }
        RepeatInstruction = true;
        ExitBlock = true;
        return false;
    }

    // ---------------------------------------------------------------- last instruction and operand pointers

    /// <summary>
    /// Records FIP/FCS/FOP (and FDP/FDS for a memory operand) for a non-control instruction, after it has done its
    /// memory accesses (a faulting instruction leaves them unchanged). Without a memory operand the data pointer
    /// keeps its value (the SDM leaves it undefined).
    /// </summary>
    internal void FpuRecord(ref Insn i)
    {
        Fpu.Ip = Eip;
        Fpu.Cs = Seg[SegReg.CS].Selector;
        Fpu.Opcode = FpuOpcodeOf(ref i);
        if (i.HasMemory)
        {
            Fpu.Dp = Ea(ref i);
            Fpu.Ds = Seg[i.Seg].Selector;
        }
    }

    /// <summary>
    /// FOP of a decoded instruction: the low 3 bits of the escape byte, then the second byte (a register form's
    /// opcode byte, or the ModRM byte of a memory form). The ModRM's mod and r/m fields are rebuilt from the decoded
    /// address (the shortest encoding; an assembler that pads a displacement to 32 bits would differ).
    /// </summary>
    static ushort FpuOpcodeOf(ref Insn i)
    {
        int fop = FpuOpcodeBase(i.Code);
        if (!i.HasMemory) return (ushort)(fop | ((i.R0 | i.R1) & 7));
        int mod, rm;
        if (i.EaMask == 0xFFFF)
        {
            int b = i.Base, x = i.Index;
            short disp = (short)(ushort)i.Disp;
            rm = (b, x) switch
            {
                (EBX, ESI) => 0, (EBX, EDI) => 1, (EBP, ESI) => 2, (EBP, EDI) => 3,
                (ESI, ZeroReg) => 4, (EDI, ZeroReg) => 5, (EBP, ZeroReg) => 6, (EBX, ZeroReg) => 7, _ => 6,
            };
            if (b == ZeroReg && x == ZeroReg) mod = 0;
            else mod = disp == 0 && !(rm == 6) ? 0 : disp is >= -128 and <= 127 ? 1 : 2;
        }
        else
        {
            int b = i.Base, x = i.Index, disp = (int)i.Disp;
            if (b == ZeroReg && x == ZeroReg) { mod = 0; rm = 5; }
            else
            {
                rm = x != ZeroReg || b == ESP || b == ZeroReg ? 4 : b / 4;
                if (b == ZeroReg) mod = 0;
                else mod = disp == 0 && b != EBP ? 0 : disp is >= -128 and <= 127 ? 1 : 2;
            }
        }
        return (ushort)(fop | (mod << 6) | rm);
    }

    static readonly ushort[] fpuOpcodeBases = BuildOpcodeBases();

    static int FpuOpcodeBase(ushort code) => code < fpuOpcodeBases.Length ? fpuOpcodeBases[code] : 0;

    /// <summary>Per Iced code: (escape byte &amp; 7) &lt;&lt; 8 | the second byte's fixed bits (reg field, or the register form's byte minus i).</summary>
    static ushort[] BuildOpcodeBases()
    {
        var codes = Enum.GetValues<Code>();
        var table = new ushort[(int)codes.Max() + 1];
        foreach (var code in codes)
        {
            if (code == Code.INVALID) continue;
            var op = code.ToOpCode();
            if (op.Encoding != EncodingKind.Legacy || op.Table != OpCodeTableKind.Normal || op.Fwait) continue;
            uint first = op.OpCodeLength == 2 ? op.OpCode >> 8 : op.OpCode;
            if (first is < 0xD8 or > 0xDF) continue;
            int second = op.OpCodeLength == 2 ? (int)(op.OpCode & 0xFF) : op.GroupIndex << 3;
            int high = (int)(first & 7) << 8;
            if (op.OpCodeLength == 2 && op.OpCount > 0 && HasStiOperand(op)) second &= 0xF8;
            table[(int)code] = (ushort)(high | second);
        }
        return table;
    }

    static bool HasStiOperand(OpCodeInfo op)
    {
        for (int k = 0; k < op.OpCount; k++)
            if (op.GetOpKind(k) == OpCodeOperandKind.sti_opcode) return true;
        return false;
    }

    // ---------------------------------------------------------------- memory operands

    /// <summary>Raises the segment fault an access of <paramref name="size"/> bytes (any size) would raise.</summary>
    internal void CheckFpuOperand(int seg, uint off, int size, bool write)
    {
        ref Segment s = ref Seg[seg];
        if ((long)off + size - 1 > (write ? s.WriteLimit1 : s.ReadLimit1)) CheckSegmentSlow(seg, off, size, write);
    }

    /// <summary>Raises the segment or page fault a store of <paramref name="size"/> bytes would raise, writing nothing.</summary>
    internal void CheckFpuStore(int seg, uint off, int size)
    {
        CheckFpuOperand(seg, off, size, true);
        ProbeWriteLin(Seg[seg].Base + off, size);
    }

    internal ulong Read64(int seg, uint off)
    {
        CheckFpuOperand(seg, off, 8, false);
        uint lo = Read32(seg, off);
        return lo | (ulong)Read32(seg, off + 4) << 32;
    }

    internal Float80 ReadFloat80(int seg, uint off)
    {
        CheckFpuOperand(seg, off, 10, false);
        ulong sig = Read32(seg, off) | (ulong)Read32(seg, off + 4) << 32;
        return new Float80(Read16(seg, off + 8), sig);
    }

    /// <summary>Stores 8 bytes, checking the whole destination first so a fault writes nothing.</summary>
    internal void Write64(int seg, uint off, ulong v)
    {
        CheckFpuStore(seg, off, 8);
        Write32(seg, off, (uint)v);
        Write32(seg, off + 4, (uint)(v >> 32));
    }

    internal void WriteFloat80(int seg, uint off, in Float80 v)
    {
        CheckFpuStore(seg, off, 10);
        WriteFloat80Unchecked(seg, off, v);
    }

    /// <summary>Stores a register image where the caller has already checked the destination.</summary>
    internal void WriteFloat80Unchecked(int seg, uint off, in Float80 v)
    {
        Write32(seg, off, (uint)v.Significand);
        Write32(seg, off + 4, (uint)(v.Significand >> 32));
        Write16(seg, off + 8, v.SignExponent);
    }
}
