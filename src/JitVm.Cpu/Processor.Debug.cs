using JitVm.Core;

namespace JitVm.Cpu;

/// <summary>
/// Hardware breakpoints (SDM vol. 3, chapter 17): DR0-DR3 with their DR7 enables, types and lengths. Instruction
/// breakpoints are matched by the dispatcher at instruction boundaries and only while one is enabled
/// (<see cref="CodeBreakpoints"/>); data breakpoints keep the pages they watch out of the TLB, so only accesses to
/// those pages reach the slow path, which matches them and leaves a trap pending for the end of the instruction.
/// With nothing enabled neither costs anything on the fast paths.
/// </summary>
public sealed partial class Processor
{
    /// <summary>DR6 bits: B0-B3 (breakpoint conditions met), BD (debug-register access), BS (single step), BT (task switch).</summary>
    public const uint Dr6B0 = 1, Dr6Breakpoints = 0xF, Dr6BD = 0x2000, Dr6BS = 0x4000, Dr6BT = 0x8000;

    /// <summary>DR7.GD: the next debug-register access raises #DB (BD).</summary>
    public const uint Dr7GD = 0x2000;

    /// <summary>
    /// Bit n set: DRn is an enabled instruction breakpoint (L or G set, R/W = 00). Bit 31
    /// (<see cref="HostBreakpointsArmed"/>) stands for the host debugger's breakpoints.
    /// </summary>
    public uint CodeBreakpoints;

    /// <summary>Bit n set: DRn is an enabled data breakpoint (R/W = 01 writes, 11 reads and writes).</summary>
    uint dataBreakpoints;
    uint dataWriteOnly;

    /// <summary>
    /// DR6 bits of debug traps raised by the running instruction (data breakpoints hit, and BS for a single step),
    /// delivered as one #DB when it completes; a fault discards them.
    /// </summary>
    public uint PendingDebugTrap;

    /// <summary>Some data breakpoint is enabled: string instructions then run one element per dispatch, so a hit traps after the element that made it.</summary>
    public bool DataBreakpointsArmed => dataBreakpoints != 0;

    /// <summary>
    /// Recomputes the enabled breakpoints from DR0-DR3 and DR7. Call after writing any of them. Data breakpoints
    /// decide which pages the TLB may cache, so a change of them flushes it.
    /// </summary>
    public void UpdateBreakpoints()
    {
        uint dr7 = Dr[7], code = 0, data = 0, writeOnly = 0;
        for (int n = 0; n < 4; n++)
        {
            if (((dr7 >> (2 * n)) & 3) == 0) continue;
            uint rw = (dr7 >> (16 + 4 * n)) & 3;
            if (rw == 0) code |= 1u << n;
            else if (rw == 1) { data |= 1u << n; writeOnly |= 1u << n; }
            else if (rw == 3) data |= 1u << n;
            // R/W = 10 is an I/O breakpoint with CR4.DE (undefined without it): not modelled.
        }
        CodeBreakpoints = code | (CodeBreakpoints & (HostBreakpointsArmed | TracerArmed));
        if (data != 0 || dataBreakpoints != 0) FlushTlb();
        dataBreakpoints = data;
        dataWriteOnly = writeOnly;
    }

    /// <summary>DR6 B bits of the enabled instruction breakpoints at linear address <paramref name="lin"/> (the first byte of an instruction).</summary>
    public uint MatchCodeBreakpoints(uint lin)
    {
        uint hit = 0;
        for (int n = 0; n < 4; n++)
            if ((CodeBreakpoints & (1u << n)) != 0 && Dr[n] == lin) hit |= 1u << n;
        return hit;
    }

    /// <summary>Bytes watched by DRn: 1, 2, 4 or 8 (LEN = 10, defined as 8 bytes on later processors).</summary>
    int BreakpointLength(int n) => ((Dr[7] >> (18 + 4 * n)) & 3) switch { 0 => 1, 1 => 2, 2 => 8, _ => 4 };

    /// <summary>A data access reached the slow path while data breakpoints are enabled: record the ones it hits.</summary>
    void MatchDataBreakpoints(uint lin, int size, bool write)
    {
        for (int n = 0; n < 4; n++)
        {
            uint bit = 1u << n;
            if ((dataBreakpoints & bit) == 0 || (!write && (dataWriteOnly & bit) != 0)) continue;
            uint len = (uint)BreakpointLength(n);
            uint start = Dr[n] & ~(len - 1);
            // [lin, lin + size) and [start, start + len) overlap (modulo 2^32).
            if (lin - start < len || start - lin < (uint)size)
            {
                PendingDebugTrap |= bit;
                ExitBlock = true;
            }
        }
    }

    /// <summary>The linear page holds bytes a data breakpoint watches (such pages are not cached in the TLB).</summary>
    bool WatchedPage(uint lin)
    {
        for (int n = 0; n < 4; n++)
        {
            if ((dataBreakpoints & (1u << n)) == 0) continue;
            uint len = (uint)BreakpointLength(n);
            uint start = Dr[n] & ~(len - 1), last = start + len - 1;
            if (((start ^ lin) & ~PhysicalMemory.PageMask) == 0 || ((last ^ lin) & ~PhysicalMemory.PageMask) == 0) return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- host (debugger) breakpoints

    /// <summary>
    /// Set in <see cref="CodeBreakpoints"/> while the host debugger (the GDB stub) has breakpoints: it sends every
    /// block through the dispatcher's careful path, which stops the run before an instruction at one of them
    /// (<see cref="StopReason.Breakpoint"/>). Being a bit of the mask the dispatcher already tests, it costs nothing
    /// when no host breakpoint exists. The guest never sees these breakpoints (no DR6 bits, no #DB).
    /// </summary>
    public const uint HostBreakpointsArmed = 1u << 31;

    /// <summary>Host breakpoints by linear address (the first byte of an instruction).</summary>
    readonly HashSet<uint> hostBreakpoints = new();

    /// <summary>Linear address at which the next careful-path dispatch does not stop (a resume from a breakpoint), or -1.</summary>
    long hostBreakpointResume = -1;

    /// <summary>Adds a host breakpoint at linear address <paramref name="linear"/>; false if one was already there.</summary>
    public bool AddHostBreakpoint(uint linear)
    {
        bool added = hostBreakpoints.Add(linear);
        CodeBreakpoints |= HostBreakpointsArmed;
        return added;
    }

    /// <summary>Removes the host breakpoint at <paramref name="linear"/>; false if there was none.</summary>
    public bool RemoveHostBreakpoint(uint linear)
    {
        bool removed = hostBreakpoints.Remove(linear);
        if (hostBreakpoints.Count == 0) CodeBreakpoints &= ~HostBreakpointsArmed;
        return removed;
    }

    /// <summary>Removes every host breakpoint (a debugger detached).</summary>
    public void ClearHostBreakpoints()
    {
        hostBreakpoints.Clear();
        CodeBreakpoints &= ~HostBreakpointsArmed;
    }

    public int HostBreakpointCount => hostBreakpoints.Count;

    /// <summary>
    /// The next run resumes at <paramref name="linear"/> (CS:EIP now) without stopping at a host breakpoint there:
    /// a "continue" from a breakpoint executes the instruction it stopped before.
    /// </summary>
    public void ResumeFromHostBreakpoint(uint linear) => hostBreakpointResume = linear;

    /// <summary>A host breakpoint at <paramref name="linear"/>, the next instruction to run (consumes a pending resume).</summary>
    internal bool HostBreakpointStops(uint linear)
    {
        bool resuming = hostBreakpointResume == linear;
        hostBreakpointResume = -1;
        return !resuming && hostBreakpoints.Contains(linear);
    }

    /// <summary>A host breakpoint at <paramref name="linear"/>, a later instruction of the block being dispatched.</summary>
    internal bool HostBreakpointAt(uint linear) => hostBreakpoints.Contains(linear);

    // ---------------------------------------------------------------- tracing (run --trace)

    /// <summary>
    /// Set in <see cref="CodeBreakpoints"/> while a tracer needs every instruction interpreted: each dispatch takes
    /// the careful path, so no translated code runs and EIP and the instruction count are exact at every
    /// instruction (and with <see cref="TraceInstructions"/> one instruction runs per dispatch, reported first). A
    /// bit of the mask the dispatcher already tests, like <see cref="HostBreakpointsArmed"/>: nothing when off.
    /// </summary>
    public const uint TracerArmed = 1u << 30;

    /// <summary>
    /// What the tracer is told: interrupt and exception deliveries (a null test on that rare path) and, with
    /// <see cref="TraceInstructions"/>, each instruction before it runs. Null: nothing is traced.
    /// </summary>
    public ICpuTracer? Tracer { get; private set; }

    /// <summary>The careful path runs one instruction per dispatch and reports it to <see cref="Tracer"/> first.</summary>
    public bool TraceInstructions { get; private set; }

    /// <summary>
    /// Installs <paramref name="tracer"/> (null removes it). <paramref name="instructions"/>: report every instruction;
    /// <paramref name="interpret"/>: interpret everything (exact EIP and count at every instruction, for accesses the
    /// tracer sees from outside the CPU, such as MMIO); either arms <see cref="TracerArmed"/>.
    /// </summary>
    public void SetTracer(ICpuTracer? tracer, bool instructions = false, bool interpret = false)
    {
        Tracer = tracer;
        TraceInstructions = tracer is not null && instructions;
        if (tracer is not null && (instructions || interpret)) CodeBreakpoints |= TracerArmed;
        else CodeBreakpoints &= ~TracerArmed;
    }
}

/// <summary>Receives what the processor reports for tracing (<see cref="Processor.SetTracer"/>).</summary>
public interface ICpuTracer
{
    /// <summary>
    /// An interrupt or exception is about to be delivered (each attempt: a fault during delivery reports the
    /// exception it turns into, #DF included). CS:EIP, CPL and the instruction count are still the interrupted
    /// ones; EIP is the address the delivery pushes (the faulting instruction for a fault, the next one otherwise).
    /// </summary>
    void Interrupt(Processor cpu, int vector, InterruptSource source, bool hasErrorCode, uint errorCode);

    /// <summary>The first instruction of <paramref name="block"/>, at CS:EIP, is about to run (instruction count not yet advanced).</summary>
    void Instruction(Processor cpu, Decoding.DecodedBlock block);
}
