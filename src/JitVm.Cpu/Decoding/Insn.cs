using System.Runtime.InteropServices;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// One decoded instruction, as the interpreter runs it: the handler for its exact form and its operands
/// pre-digested into register byte offsets, effective-address parts and immediates. Built once per block by
/// <see cref="BlockDecoder"/>; the translator reads the same records.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Insn
{
    /// <summary>Interpreter handler for this instruction form (register or memory variant already chosen).</summary>
    public delegate* managed<Processor, ref Insn, void> Handler;

    /// <summary>First immediate; for near branches the displacement relative to the next instruction; for far pointers the offset.</summary>
    public uint Imm;
    /// <summary>Second immediate (ENTER's nesting level, a far pointer's selector).</summary>
    public uint Imm2;
    /// <summary>Memory displacement.</summary>
    public uint Disp;
    /// <summary>Address-size mask applied to effective addresses (0xFFFF or 0xFFFFFFFF).</summary>
    public uint EaMask;

    /// <summary>Register byte offsets of memory base and index (Processor.ZeroReg when absent).</summary>
    public byte Base, Index;
    /// <summary>Index scale as a shift count (0..3).</summary>
    public byte Scale;
    /// <summary>Effective segment of the memory operand (SegReg index, overrides applied).</summary>
    public byte Seg;

    /// <summary>Register operands 0..2: GPR byte offsets, or segment/control/debug register numbers.</summary>
    public byte R0, R1, R2;
    public byte Length;

    /// <summary>Byte offset of this instruction from the start of its block.</summary>
    public ushort Offset;
    /// <summary>Iced <c>Code</c> of the instruction (diagnostics, translator).</summary>
    public ushort Code;

    public InsnPrefix Prefixes;
    /// <summary>Condition code for Jcc/SETcc/CMOVcc/LOOPcc, or another small per-form constant.</summary>
    public byte Cond;
    /// <summary>Operand size in bytes (1, 2, 4) for handlers shared between sizes.</summary>
    public byte OpSize;

    /// <summary>The r/m operand is in memory (the handler is the memory variant).</summary>
    public bool HasMemory;
}

[Flags]
public enum InsnPrefix : byte
{
    None = 0,
    Rep = 1,
    Repne = 2,
    Lock = 4,
    SegmentOverride = 8,
}
