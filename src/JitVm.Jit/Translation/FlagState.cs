using JitVm.Cpu;

namespace JitVm.Jit.Translation;

/// <summary>
/// What the translator knows at compile time about the arithmetic flags at a point in a block. Either the
/// processor's lazy fields hold them (<see cref="Known"/> false: whatever ran before, or after an interpreted
/// instruction), or the last flag-producing instruction was emitted inline and its operands are in the
/// translator's flag locals (<see cref="Known"/> true), from which conditions are evaluated with direct
/// compares and the lazy fields are written only where something outside the block could look (exits,
/// interpreted instructions, faults). Immutable, so exits and fault paths can keep a snapshot.
/// </summary>
internal sealed record FlagState
{
    public static readonly FlagState InCpu = new() { Known = false };

    /// <summary>
    /// The flags of whatever ran before are described by the translator's dynamic flag locals (operation, operands,
    /// result, sign, INC/DEC carry), in the processor's lazy-field format: the state at the start of a member that
    /// several edges reach, each of which stores its own description there (a few local stores instead of the
    /// processor writes of a flush). Not <see cref="Known"/>: a reader flushes them and evaluates them from the processor.
    /// </summary>
    public static readonly FlagState InLocals = new() { Known = false, Dynamic = true };

    /// <summary>See <see cref="InLocals"/>.</summary>
    public bool Dynamic { get; init; }

    /// <summary>The producer's operation and operands are in the flag locals.</summary>
    public bool Known { get; init; }

    /// <summary>The processor's lazy fields already describe this producer (no store needed at an exit).</summary>
    public bool Flushed { get; init; }

    public FlagOp Op { get; init; }

    /// <summary>A shift's count (1-31) when <see cref="Op"/> is Shl, Shr or Sar.</summary>
    public int Count { get; init; }

    public bool IsShift => Op is FlagOp.Shl or FlagOp.Shr or FlagOp.Sar;

    /// <summary>Operand size in bits (8, 16, 32).</summary>
    public int Bits { get; init; }

    public uint Sign => Bits == 32 ? 0x80000000u : Bits == 16 ? 0x8000u : 0x80u;
}
