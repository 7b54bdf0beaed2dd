using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>Emits one instruction inline; always returns true (the return value guards the contract).</summary>
internal delegate bool Emitter(EmitContext cx, ref Insn i);

/// <summary>How an inline-emitted instruction uses the arithmetic flags (for dead-flag elimination).</summary>
[Flags]
internal enum FlagUse : byte
{
    None = 0,
    /// <summary>Reads some arithmetic flag.</summary>
    Reads = 1,
    /// <summary>Writes all six arithmetic flags unconditionally.</summary>
    WritesAll = 2,
    /// <summary>Can fault when it has a memory operand (a fault makes the flags before it observable).</summary>
    CanFault = 4,
    /// <summary>Ends the block (a branch): the block's exits read the flags.</summary>
    Branch = 8,
    /// <summary>Can fault whatever its operands (stack accesses, jump-target limit checks).</summary>
    Faults = 16,
    /// <summary>
    /// Keeps some of the previous flags in its own result (shifts and rotates): it reads them only when its own
    /// flags are read later.
    /// </summary>
    Merges = 32,
    /// <summary>Inline only without a REP/REPNE prefix and not on the 286 (string instructions); otherwise interpreted.</summary>
    NoRepeat = 64,
    /// <summary>With a nonzero immediate count (low 5 bits), writes all six flags and merges none (SHL/SHR/SAR imm8).</summary>
    ImmShift = 128,
}

internal sealed record EmitterEntry(Emitter Emit, FlagUse Flags);

/// <summary>The translator's opcode table: Iced code → inline emitter. Codes without an entry are interpreted.</summary>
internal sealed class EmitterTable
{
    readonly Dictionary<Code, EmitterEntry> entries = new();

    public static EmitterTable Default { get; } = Build();

    static EmitterTable Build()
    {
        var t = new EmitterTable();
        Emitters.Alu.Register(t);
        Emitters.DataMovement.Register(t);
        Emitters.ControlFlow.Register(t);
        Emitters.Stack.Register(t);
        Emitters.ShiftRotate.Register(t);
        Emitters.MulDiv.Register(t);
        Emitters.Conditional.Register(t);
        Emitters.Strings.Register(t);
        return t;
    }

    public void Add(Code code, Emitter emit, FlagUse flags)
    {
        if (!entries.TryAdd(code, new EmitterEntry(emit, flags))) throw new InvalidOperationException($"emitter for {code} registered twice");
    }

    public EmitterEntry? Find(ushort code) => entries.TryGetValue((Code)code, out var e) ? e : null;

    public IEnumerable<Code> Codes => entries.Keys;

    public static Code C(string name) => Enum.Parse<Code>(name);
}
