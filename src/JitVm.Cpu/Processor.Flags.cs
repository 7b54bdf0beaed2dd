using System.Numerics;
using System.Runtime.CompilerServices;
using JitVm.Cpu.Instructions;

namespace JitVm.Cpu;

/// <summary>Which operation last set the arithmetic flags (see <see cref="Cpu.LazyOp"/>).</summary>
public enum FlagOp : byte
{
    /// <summary>All flags are in <see cref="Cpu.Flags"/>.</summary>
    None,
    Add,
    Adc,
    Sub,
    Sbb,
    /// <summary>AND/OR/XOR/TEST: CF=OF=0, AF=0, SF/ZF/PF from the result.</summary>
    Logic,
    /// <summary>INC: as ADD with source 1, but CF is kept in <see cref="Cpu.Flags"/>.</summary>
    Inc,
    /// <summary>DEC: as SUB with source 1, but CF is kept in <see cref="Cpu.Flags"/>.</summary>
    Dec,
    /// <summary>
    /// SHL/SAL by a count of 1-31 (in <see cref="Processor.LazySrc"/>; the operand before the shift in
    /// <see cref="Processor.LazyDst"/>): the six flags exactly as the interpreter's shift computes them.
    /// </summary>
    Shl,
    /// <summary>SHR by a count of 1-31, recorded as for <see cref="Shl"/>.</summary>
    Shr,
    /// <summary>SAR by a count of 1-31, recorded as for <see cref="Shl"/>.</summary>
    Sar,
}

/// <summary>
/// Lazy arithmetic flags, the one model both engines use. An arithmetic instruction records its operation,
/// operands and result (each masked to the operand size) plus the sign bit of that size; the six arithmetic
/// flags are computed only when something reads them. Instructions whose flag rules are irregular (shifts,
/// multiplies, BCD) compute the flags eagerly into <see cref="Flags"/> and set <see cref="LazyOp"/> to None.
/// </summary>
public sealed partial class Processor
{
    public const uint FlagCF = 1, FlagPF = 4, FlagAF = 0x10, FlagZF = 0x40, FlagSF = 0x80, FlagTF = 0x100,
        FlagIF = 0x200, FlagDF = 0x400, FlagOF = 0x800, FlagIOPL = 0x3000, FlagNT = 0x4000, FlagRF = 0x10000,
        FlagVM = 0x20000, FlagAC = 0x40000, FlagVIF = 0x80000, FlagVIP = 0x100000, FlagID = 0x200000;
    public const uint ArithFlags = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF;

    /// <summary>EFLAGS; the arithmetic bits are only meaningful when <see cref="LazyOp"/> is None (CF also for Inc/Dec).</summary>
    public uint Flags;
    public FlagOp LazyOp;
    public uint LazyDst, LazySrc, LazyRes;
    /// <summary>Sign bit of the operand size of the last lazy operation (0x80, 0x8000 or 0x80000000).</summary>
    public uint LazySign;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLazy(FlagOp op, uint dst, uint src, uint res, uint sign)
    {
        LazyOp = op;
        LazyDst = dst;
        LazySrc = src;
        LazyRes = res;
        LazySign = sign;
    }

    /// <summary>Records a logic result (AND/OR/XOR/TEST).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLazyLogic(uint res, uint sign)
    {
        LazyOp = FlagOp.Logic;
        LazyRes = res;
        LazySign = sign;
    }

    /// <summary>INC/DEC keep CF: fold the current CF into Flags before the lazy op stops describing it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLazyIncDec(FlagOp op, uint dst, uint res, uint sign)
    {
        if (LazyOp is not (FlagOp.None or FlagOp.Inc or FlagOp.Dec))
            Flags = (Flags & ~FlagCF) | CarryFlag();
        LazyOp = op;
        LazyDst = dst;
        LazySrc = 1;
        LazyRes = res;
        LazySign = sign;
    }

    /// <summary>Sets the six arithmetic flags eagerly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetArithFlags(uint arith)
    {
        Flags = (Flags & ~ArithFlags) | (arith & ArithFlags);
        LazyOp = FlagOp.None;
    }

    /// <summary>Moves the lazy flags into <see cref="Flags"/> so single bits can be changed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MaterializeFlags()
    {
        if (LazyOp != FlagOp.None)
        {
            Flags = (Flags & ~ArithFlags) | ComputeArith();
            LazyOp = FlagOp.None;
        }
    }

    /// <summary>PF for a result: set when its low byte has an even number of ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Parity(uint res) => (uint)(~BitOperations.PopCount(res & 0xFF) & 1) << 2;

    /// <summary>SF, ZF and PF of a result of the given size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint SzpFlags(uint res, uint sign) =>
        ((res & sign) != 0 ? FlagSF : 0) | (res == 0 ? FlagZF : 0) | Parity(res);

    /// <summary>CF as 0 or 1.</summary>
    public uint CarryFlag()
    {
        switch (LazyOp)
        {
            case FlagOp.Add: return LazyRes < LazyDst ? 1u : 0u;                           // CF = res < dst
            case FlagOp.Adc: return (AdcCarryIn() != 0 ? LazyRes <= LazyDst : LazyRes < LazyDst) ? 1u : 0u;
            case FlagOp.Sub: return LazyDst < LazySrc ? 1u : 0u;                           // CF = dst < src (borrow)
            case FlagOp.Sbb: return (SbbBorrowIn() != 0 ? LazyDst <= LazySrc : LazyDst < LazySrc) ? 1u : 0u;
            case FlagOp.Logic: return 0;
            case FlagOp.Shl or FlagOp.Shr or FlagOp.Sar: return ShiftArith() & FlagCF;
            default: return Flags & FlagCF;
        }
    }

    /// <summary>
    /// The six flags of a lazily recorded shift, from the interpreter's own value-level shift (one definition of
    /// their defined and undefined bits for both engines).
    /// </summary>
    uint ShiftArith()
    {
        uint flags;
        switch (LazyOp, LazySign)
        {
            case (FlagOp.Shl, 0x80u): ShlOp.Apply<Size8>(this, LazyDst, LazySrc, out flags); break;
            case (FlagOp.Shl, 0x8000u): ShlOp.Apply<Size16>(this, LazyDst, LazySrc, out flags); break;
            case (FlagOp.Shl, _): ShlOp.Apply<Size32>(this, LazyDst, LazySrc, out flags); break;
            case (FlagOp.Shr, 0x80u): ShrOp.Apply<Size8>(this, LazyDst, LazySrc, out flags); break;
            case (FlagOp.Shr, 0x8000u): ShrOp.Apply<Size16>(this, LazyDst, LazySrc, out flags); break;
            case (FlagOp.Shr, _): ShrOp.Apply<Size32>(this, LazyDst, LazySrc, out flags); break;
            case (_, 0x80u): SarOp.Apply<Size8>(this, LazyDst, LazySrc, out flags); break;
            case (_, 0x8000u): SarOp.Apply<Size16>(this, LazyDst, LazySrc, out flags); break;
            default: SarOp.Apply<Size32>(this, LazyDst, LazySrc, out flags); break;
        }
        return flags;
    }

    static bool IsShift(FlagOp op) => op is FlagOp.Shl or FlagOp.Shr or FlagOp.Sar;

    // The carry/borrow that went into an ADC/SBB, recovered from the operands: res = dst + src + cin (mod 2^n).
    uint SizeMask => (LazySign << 1) - 1;
    uint AdcCarryIn() => (LazyRes - LazyDst - LazySrc) & SizeMask;
    uint SbbBorrowIn() => (LazyDst - LazySrc - LazyRes) & SizeMask;

    public bool ZeroFlag => LazyOp == FlagOp.None ? (Flags & FlagZF) != 0 : LazyRes == 0;
    public bool SignFlag => LazyOp == FlagOp.None ? (Flags & FlagSF) != 0 : (LazyRes & LazySign) != 0;

    public bool OverflowFlag
    {
        get
        {
            switch (LazyOp)
            {
                case FlagOp.Add:
                case FlagOp.Adc:
                case FlagOp.Inc:
                    return ((LazyDst ^ LazyRes) & (LazySrc ^ LazyRes) & LazySign) != 0;    // both inputs differ in sign from the result
                case FlagOp.Sub:
                case FlagOp.Sbb:
                case FlagOp.Dec:
                    return ((LazyDst ^ LazySrc) & (LazyDst ^ LazyRes) & LazySign) != 0;    // inputs differ and result differs from dst
                case FlagOp.Logic: return false;
                case FlagOp.Shl or FlagOp.Shr or FlagOp.Sar: return (ShiftArith() & FlagOF) != 0;
                default: return (Flags & FlagOF) != 0;
            }
        }
    }

    public bool ParityFlag => LazyOp == FlagOp.None ? (Flags & FlagPF) != 0 : Parity(LazyRes) != 0;

    /// <summary>The six arithmetic flags, computed from the lazy state.</summary>
    public uint ComputeArith()
    {
        if (LazyOp == FlagOp.None) return Flags & ArithFlags;
        if (IsShift(LazyOp)) return ShiftArith();
        uint f = CarryFlag() | SzpFlags(LazyRes, LazySign);
        if (LazyOp != FlagOp.Logic) f |= (LazyDst ^ LazySrc ^ LazyRes) & FlagAF;      // AF = carry out of bit 3
        if (OverflowFlag) f |= FlagOF;
        return f;
    }

    /// <summary>The full EFLAGS value.</summary>
    public uint GetEflags() => LazyOp == FlagOp.None ? Flags : (Flags & ~ArithFlags) | ComputeArith();

    /// <summary>Replaces EFLAGS entirely (no privilege filtering; bit 1 forced on, bits 3, 5, 15 forced off).</summary>
    public void SetEflags(uint value)
    {
        uint old = Flags;
        Flags = (value | 2) & ~0x8028u;
        LazyOp = FlagOp.None;
        if (((old ^ Flags) & FlagVM) != 0) UpdateMemoryPrivilege();   // entering or leaving V86 mode changes CPL
        // Interrupts just enabled with one pending: it is taken after this instruction (see OpenInterruptWindow).
        if ((~old & Flags & FlagIF) != 0 && IrqLine) ExitBlock = true;
    }

    /// <summary>Evaluates condition code <paramref name="cc"/> (the low nibble of Jcc/SETcc/CMOVcc).</summary>
    public bool Condition(int cc)
    {
        bool r;
        switch (cc >> 1)
        {
            case 0: r = OverflowFlag; break;                              // O
            case 1: r = CarryFlag() != 0; break;                          // B
            case 2: r = ZeroFlag; break;                                  // E
            case 3: r = LazyOp == FlagOp.Sub ? LazyDst <= LazySrc : CarryFlag() != 0 || ZeroFlag; break; // BE
            case 4: r = SignFlag; break;                                  // S
            case 5: r = ParityFlag; break;                                // P
            case 6:                                                       // L: SF != OF
                r = LazyOp == FlagOp.Sub ? (LazyDst ^ LazySign) < (LazySrc ^ LazySign) : SignFlag != OverflowFlag;
                break;
            default:                                                      // LE: ZF or SF != OF
                r = LazyOp == FlagOp.Sub ? (LazyDst ^ LazySign) <= (LazySrc ^ LazySign) : ZeroFlag || SignFlag != OverflowFlag;
                break;
        }
        return r ^ ((cc & 1) != 0);
    }
}
