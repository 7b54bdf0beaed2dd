namespace JitVm.Cpu;

/// <summary>
/// System state beyond the registers of Processor.cs: CR4 bits, the time-stamp counter, and the side effects of
/// writing CR0. The instruction handlers (Instructions/SystemInstructions.cs) validate values per model and
/// privilege; what is here only commits them.
/// </summary>
public sealed partial class Processor
{
    public const uint Cr4VME = 1, Cr4PVI = 2, Cr4TSD = 4, Cr4DE = 8, Cr4PSE = 0x10, Cr4PAE = 0x20, Cr4MCE = 0x40,
        Cr4PGE = 0x80, Cr4PCE = 0x100, Cr4OSFXSR = 0x200;

    /// <summary>
    /// Time-stamp counter ticks per retired instruction when there is no clock: a rough cycles-per-instruction figure
    /// for 486/Pentium class code. Guests calibrate the TSC against the PIT, so only its monotonic growth matters.
    /// </summary>
    public const int TscTicksPerInstruction = 2;

    /// <summary>
    /// Guest nanoseconds per time-stamp counter tick when the machine supplies <see cref="GuestTimeNs"/>: a 200 MHz
    /// TSC, which is <see cref="TscTicksPerInstruction"/> ticks per instruction at the deterministic clock's default
    /// 10 ns per instruction.
    /// </summary>
    public const long TscNanosecondsPerTick = 5;

    ulong tscBase;

    /// <summary>
    /// The machine's guest time in nanoseconds (its virtual clock: a function of the instruction count and of the time
    /// skipped while halted in deterministic mode, host time in realtime mode). Null: the TSC counts instructions.
    /// </summary>
    public Func<long>? GuestTimeNs { get; set; }

    ulong TscTicks => GuestTimeNs is { } now ? (ulong)(now() / TscNanosecondsPerTick) : (ulong)InstructionCount * TscTicksPerInstruction;

    /// <summary>
    /// The time-stamp counter (RDTSC, MSR 10h): guest time at 200 MHz, or the instruction count without a clock, so
    /// it never goes backwards and costs nothing while nobody reads it. Writing it moves the base.
    /// </summary>
    public ulong TimeStampCounter
    {
        get => TscTicks + tscBase;
        set => tscBase = value - TscTicks;
    }

    /// <summary>
    /// Commits a new, already validated CR0 value. Changing PE, PG or WP changes how linear addresses are
    /// translated and checked, so the TLB is flushed (global entries included); changing PE also switches the
    /// segment caches between real-mode and protected-mode type checks and may change CPL. The current block ends
    /// (what follows may run in another mode).
    /// </summary>
    public void WriteCr0(uint value)
    {
        uint changed = Cr0 ^ value;
        Cr0 = value;
        if ((changed & (Cr0PE | Cr0PG | Cr0WP)) != 0) FlushTlb();
        if ((changed & Cr0PE) != 0)
            for (int s = 0; s < 6; s++) Seg[s].UpdateLimits(ProtectedMode);
        UpdateMemoryPrivilege();
        ExitBlock = true;
    }

    /// <summary>
    /// Commits a CR3 value (MOV CR3 and task switches to a 386 TSS while paging is on): the page-directory base
    /// and PCD/PWT, reserved low bits kept as written. Non-global translations are dropped; those of global pages
    /// (CR4.PGE) survive.
    /// </summary>
    public void WriteCr3(uint value)
    {
        Cr3 = value;
        FlushTlbNonGlobal();
    }
}
