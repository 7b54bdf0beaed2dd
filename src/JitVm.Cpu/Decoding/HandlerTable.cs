using Iced.Intel;
using JitVm.Cpu.Instructions;

namespace JitVm.Cpu.Decoding;

/// <summary>How an instruction form interacts with block formation.</summary>
[Flags]
public enum HandlerFlags : byte
{
    None = 0,
    /// <summary>The handler always sets EIP itself (jumps, calls, returns, interrupts); the block ends here.</summary>
    Branch = 1,
    /// <summary>The block ends after this instruction (mode changes, interrupt shadows, HLT).</summary>
    EndsBlock = 2,
}

/// <summary>
/// The opcode table: for every Iced <see cref="Code"/> the interpreter handles, the handler for its register
/// form and for its memory form, how it affects block formation, and the first CPU generation that has it.
/// Filled by each instruction family's <c>Register</c> method; codes without an entry decode to #UD.
/// </summary>
public sealed unsafe class HandlerTable
{
    public struct Entry
    {
        public delegate* managed<Processor, ref Insn, void> Reg;
        public delegate* managed<Processor, ref Insn, void> Mem;
        public HandlerFlags Flags;
        public CpuGeneration MinGeneration;
        /// <summary>CPUID.1:EDX feature bits the model must advertise (0: none); checked by the decoder.</summary>
        public uint RequiredFeatures;
        public readonly bool IsDefined => Reg != null || Mem != null;
    }

    readonly Entry[] entries = new Entry[(int)Enum.GetValues<Code>().Max() + 1];

    /// <summary>The interpreter's table, built once.</summary>
    public static HandlerTable Default { get; } = Build();

    static HandlerTable Build()
    {
        var t = new HandlerTable();
        Families.RegisterAll(t);
        return t;
    }

    public ref readonly Entry this[Code code] => ref entries[(int)code];

    /// <summary>Registers one handler used for both the register and memory forms (or a form without r/m).</summary>
    public void Add(Code code, delegate* managed<Processor, ref Insn, void> handler, HandlerFlags flags = HandlerFlags.None,
        CpuGeneration min = CpuGeneration.I286, uint features = 0) => AddRm(code, handler, handler, flags, min, features);

    /// <summary>Registers the register-operand and memory-operand handlers of an r/m form.</summary>
    /// <param name="features">
    /// CPUID.1:EDX bits (<see cref="CpuidInfo"/>.Feature*) the model must advertise, for instructions whose presence
    /// software detects through CPUID (CMOV, CMPXCHG8B, RDTSC, RDMSR): without them the decoder substitutes #UD,
    /// so the check costs nothing at run time.
    /// </param>
    public void AddRm(Code code, delegate* managed<Processor, ref Insn, void> reg, delegate* managed<Processor, ref Insn, void> mem,
        HandlerFlags flags = HandlerFlags.None, CpuGeneration min = CpuGeneration.I286, uint features = 0)
    {
        ref Entry e = ref entries[(int)code];
        if (e.IsDefined) throw new InvalidOperationException($"handler for {code} registered twice");
        e.Reg = reg;
        e.Mem = mem;
        e.Flags = flags;
        e.MinGeneration = min;
        e.RequiredFeatures = features;
    }

    /// <summary>Every code with a handler (coverage tests, diagnostics).</summary>
    public IEnumerable<Code> DefinedCodes()
    {
        for (int i = 0; i < entries.Length; i++)
            if (entries[i].IsDefined) yield return (Code)i;
    }
}
