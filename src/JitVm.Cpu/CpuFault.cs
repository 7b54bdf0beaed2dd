namespace JitVm.Cpu;

/// <summary>Architectural exception vectors.</summary>
public static class CpuVectors
{
    public const int DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
        TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17;

    /// <summary>Faults that push an error code in protected mode.</summary>
    public static bool HasErrorCode(int vector) => vector is DF or TS or NP or SS or GP or PF or AC;
}

/// <summary>
/// Thrown by instruction handlers to raise a guest exception (a fault: EIP still points at the
/// faulting instruction and no architectural state of that instruction has been committed). Caught by the
/// execution loop, which delivers it to the guest. One instance per CPU is reused so faults do not allocate.
/// </summary>
public sealed class CpuFault : Exception
{
    public int Vector { get; internal set; }
    public uint ErrorCode { get; internal set; }
    public bool HasErrorCode { get; internal set; }

    internal CpuFault() : base("guest CPU exception") { }

    public override string Message => HasErrorCode ? $"#{Vector} ({ErrorCode:X4})" : $"#{Vector}";
}

/// <summary>
/// The guest did something the emulator cannot continue from (an unsupported mode, a shutdown): the run stops
/// with this message instead of crashing the host.
/// </summary>
public sealed class EmulationStopException(string message) : Exception(message);
