using JitVm.Cpu.Decoding;

namespace JitVm.Cpu;

/// <summary>
/// A translated block. Runs guest code starting at the block's first instruction and returns an exit status:
/// a value &gt;= 0 is a normal exit (EIP, registers, lazy flags and <see cref="Processor.InstructionCount"/> are
/// up to date; the value is the index of the exit taken, for successor links), <see cref="TranslatedExit.Fault"/>
/// means an instruction faulted: state is as it was before that instruction, EIP points at it, and the fault is
/// in <see cref="Processor.PendingFault"/>. Called with a null processor it returns at once (used to force
/// RyuJIT to compile the method before its first real use).
/// </summary>
public delegate int TranslatedCode(Processor? cpu);

/// <summary>Special exit statuses of <see cref="TranslatedCode"/>.</summary>
public static class TranslatedExit
{
    /// <summary>An instruction faulted; deliver <see cref="Processor.PendingFault"/>.</summary>
    public const int Fault = -1;

    /// <summary>
    /// The translation's compile-time assumptions (e.g. the stack size) do not hold; nothing ran. The
    /// dispatcher interprets the block instead.
    /// </summary>
    public const int Bail = -2;

    /// <summary>
    /// The longest run the translation can make before checking the budget again does not fit in what is left
    /// of the run's budget (<see cref="Processor.RunLimit"/>); nothing ran. The dispatcher interprets the rest of
    /// the slice, so it ends at exactly its budget.
    /// </summary>
    public const int OutOfBudget = -3;
}

/// <summary>
/// Supplies translations to the dispatcher. <see cref="Translate"/> is called when a block without a
/// translation is about to run: it may count the block's heat and return null (keep interpreting), or return
/// (and store in <see cref="DecodedBlock.Translation"/>) compiled code.
/// </summary>
public interface IBlockTranslator
{
    TranslatedCode? Translate(DecodedBlock block);
}

/// <summary>A guest exception raised inside translated code, waiting to be delivered by the dispatcher.</summary>
public struct PendingFault
{
    public int Vector;
    public uint ErrorCode;
    public bool HasErrorCode;
}

public sealed partial class Processor
{
    /// <summary>The fault a translated block's exit status <see cref="TranslatedExit.Fault"/> refers to.</summary>
    public PendingFault PendingFault;

    /// <summary>Set (with <see cref="PendingFault"/>) by the translator's slow-path helpers instead of throwing.</summary>
    public bool FaultPending;

    /// <summary>
    /// Instruction count at which translated code must return to the dispatcher (loops that stay inside a
    /// translated method check it on every back edge, so the run's budget and device events are honoured).
    /// </summary>
    public long RunLimit;

    /// <summary>Records a fault raised by a helper for translated code (which must not let it unwind through IL).</summary>
    public void SetPendingFault(CpuFault f)
    {
        PendingFault.Vector = f.Vector;
        PendingFault.ErrorCode = f.ErrorCode;
        PendingFault.HasErrorCode = f.HasErrorCode;
        FaultPending = true;
    }
}
