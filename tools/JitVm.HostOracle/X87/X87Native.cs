using System.Runtime.InteropServices;
using Iced.Intel;
using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.HostOracle.X87;

/// <summary>The x87 operations the oracle runs natively, each as one short instruction sequence.</summary>
public enum X87Op
{
    // ST(0) = A, ST(1) = B; ST(0) ← ST(0) op ST(1).
    Add, Sub, Subr, Mul, Div, Divr,
    // ST(0) = A.
    Sqrt,
    // Loads from memory (A's bytes) then FSTP m80.
    Fild64, FldSingle, FldDouble, Fbld,
    // ST(0) = A stored to memory (R0's bytes).
    Fist16, Fist32, Fist64, FstSingle, FstDouble, Fbstp,
    // Compares ST(0) = A with ST(1) = B; FXAM of ST(0) = A; FTST compares A with 0.
    Fcom, Fucom, Ftst, Fxam,
    Frndint, Fscale, Fxtract, Fprem, Fprem1,
    Fsin, Fcos, Fsincos, Fptan, Fpatan, F2xm1, Fyl2x, Fyl2xp1,
}

/// <summary>
/// One vector: the operands and control word in, the status word and up to two results out (as the host stored
/// them with FSTP m80, or raw memory bytes for stores to integer/single/double/BCD).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct X87Vector
{
    public const int Size = 80;
    internal const int AOffset = 0, BOffset = 16, ControlOffset = 32, StatusOffset = 34, R0Offset = 48, R1Offset = 64;

    [FieldOffset(AOffset)] public ulong ASig;
    [FieldOffset(AOffset + 8)] public ushort AExp;
    [FieldOffset(BOffset)] public ulong BSig;
    [FieldOffset(BOffset + 8)] public ushort BExp;
    [FieldOffset(ControlOffset)] public ushort Control;
    [FieldOffset(StatusOffset)] public ushort Status;
    [FieldOffset(R0Offset)] public ulong R0Sig;
    [FieldOffset(R0Offset + 8)] public ushort R0Exp;
    [FieldOffset(R1Offset)] public ulong R1Sig;
    [FieldOffset(R1Offset + 8)] public ushort R1Exp;

    public Float80 A
    {
        readonly get => new(AExp, ASig);
        set { AExp = value.SignExponent; ASig = value.Significand; }
    }

    public Float80 B
    {
        readonly get => new(BExp, BSig);
        set { BExp = value.SignExponent; BSig = value.Significand; }
    }

    public readonly Float80 R0 => new(R0Exp, R0Sig);
    public readonly Float80 R1 => new(R1Exp, R1Sig);
}

/// <summary>
/// Runs x87 operations on the host CPU: one stub per <see cref="X87Op"/>, generated with Iced's 64-bit assembler.
/// A stub takes (vectors, count) per the SysV ABI and for each vector does FNINIT, FLDCW with the vector's control
/// word (the callers keep every exception masked, so nothing traps), loads the operands (B first, so A is ST(0)),
/// runs the instruction, FNSTSW right after it (before any store could change C1), and stores the results. The
/// caller's control word is saved and restored and the stack is left empty (FNINIT), as the ABI requires.
/// </summary>
public sealed unsafe class X87Native : IDisposable
{
    static readonly X87Op[] Ops = Enum.GetValues<X87Op>();
    readonly ExecutableMemory memory;
    readonly int[] offsets;

    public X87Native()
    {
        memory = new ExecutableMemory(Ops.Length * 192 + 4096, 4096);
        // Stub i is for Ops[i], and Enum.GetValues lists X87Op's values 0, 1, 2... in order, so offsets[(int)op] is op's stub.
        offsets = memory.LayOutStubs(Ops.Length, (i, ip) => BuildStub(Ops[i], ip));
    }

    /// <summary>Runs <paramref name="op"/> natively on every vector; the outputs not written by the instruction are zeroed first.</summary>
    public void Execute(X87Op op, Span<X87Vector> vectors)
    {
        foreach (ref var v in vectors)
        {
            v.Status = 0;
            v.R0Sig = v.R1Sig = 0;
            v.R0Exp = v.R1Exp = 0;
        }
        var fn = (delegate* unmanaged<X87Vector*, nint, void>)(memory.Code + offsets[(int)op]);
        fixed (X87Vector* p = vectors) fn(p, vectors.Length);
    }

    static byte[] BuildStub(X87Op op, ulong ip)
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        var done = a.CreateLabel();
        var A = __tword_ptr[rdi + X87Vector.AOffset];
        var B = __tword_ptr[rdi + X87Vector.BOffset];
        var R0 = __tword_ptr[rdi + X87Vector.R0Offset];
        var R1 = __tword_ptr[rdi + X87Vector.R1Offset];
        var Sw = __word_ptr[rdi + X87Vector.StatusOffset];

        a.sub(rsp, 8);
        a.fnstcw(__word_ptr[rsp]);
        a.test(rsi, rsi);
        a.jz(done);
        a.Label(ref loop);
        a.fninit();
        a.fldcw(__word_ptr[rdi + X87Vector.ControlOffset]);
        switch (op)
        {
            case X87Op.Add: Binary(() => a.fadd(st0, st1)); break;
            case X87Op.Sub: Binary(() => a.fsub(st0, st1)); break;
            case X87Op.Subr: Binary(() => a.fsubr(st0, st1)); break;
            case X87Op.Mul: Binary(() => a.fmul(st0, st1)); break;
            case X87Op.Div: Binary(() => a.fdiv(st0, st1)); break;
            case X87Op.Divr: Binary(() => a.fdivr(st0, st1)); break;
            case X87Op.Fscale: Binary(a.fscale); break;
            case X87Op.Fprem: Binary(a.fprem); break;
            case X87Op.Fprem1: Binary(a.fprem1); break;
            case X87Op.Fcom: Binary(() => a.fcom(st0, st1)); break;
            case X87Op.Fucom: Binary(() => a.fucom(st0, st1)); break;
            case X87Op.Fpatan: Binary(a.fpatan); break;
            case X87Op.Fyl2x: Binary(a.fyl2x); break;
            case X87Op.Fyl2xp1: Binary(a.fyl2xp1); break;
            case X87Op.Sqrt: Unary(a.fsqrt); break;
            case X87Op.Ftst: Unary(a.ftst); break;
            case X87Op.Fxam: Unary(a.fxam); break;
            case X87Op.Frndint: Unary(a.frndint); break;
            case X87Op.Fsin: Unary(a.fsin); break;
            case X87Op.Fcos: Unary(a.fcos); break;
            case X87Op.F2xm1: Unary(a.f2xm1); break;
            case X87Op.Fxtract: Unary(a.fxtract, twoResults: true); break;
            case X87Op.Fsincos: Unary(a.fsincos, twoResults: true); break;
            case X87Op.Fptan: Unary(a.fptan, twoResults: true); break;
            case X87Op.Fild64: Load(() => a.fild(__qword_ptr[rdi + X87Vector.AOffset])); break;
            case X87Op.FldSingle: Load(() => a.fld(__dword_ptr[rdi + X87Vector.AOffset])); break;
            case X87Op.FldDouble: Load(() => a.fld(__qword_ptr[rdi + X87Vector.AOffset])); break;
            case X87Op.Fbld: Load(() => a.fbld(A)); break;
            case X87Op.Fist16: Store(() => a.fistp(__word_ptr[rdi + X87Vector.R0Offset])); break;
            case X87Op.Fist32: Store(() => a.fistp(__dword_ptr[rdi + X87Vector.R0Offset])); break;
            case X87Op.Fist64: Store(() => a.fistp(__qword_ptr[rdi + X87Vector.R0Offset])); break;
            case X87Op.FstSingle: Store(() => a.fstp(__dword_ptr[rdi + X87Vector.R0Offset])); break;
            case X87Op.FstDouble: Store(() => a.fstp(__qword_ptr[rdi + X87Vector.R0Offset])); break;
            case X87Op.Fbstp: Store(() => a.fbstp(R0)); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
        a.add(rdi, X87Vector.Size);
        a.dec(rsi);
        a.jnz(loop);
        a.Label(ref done);
        a.fninit();
        a.fldcw(__word_ptr[rsp]);
        a.add(rsp, 8);
        a.ret();

        var w = new OracleForm.ByteWriter();
        a.Assemble(w, ip);
        return w.ToArray();

        // ST(0) = A, ST(1) = B; results: ST(0) (and ST(1) for the popping ones, whatever is left).
        void Binary(Action insn)
        {
            a.fld(B);
            a.fld(A);
            insn();
            a.fnstsw(Sw);
            a.fstp(R0);
            a.fstp(R1);
        }

        void Unary(Action insn, bool twoResults = false)
        {
            a.fld(A);
            insn();
            a.fnstsw(Sw);
            a.fstp(R0);
            if (twoResults) a.fstp(R1);
        }

        void Load(Action insn)
        {
            insn();
            a.fnstsw(Sw);
            a.fstp(R0);
        }

        void Store(Action insn)
        {
            a.fld(A);
            insn();
            a.fnstsw(Sw);
        }
    }

    public void Dispose() => memory.Dispose();
}
