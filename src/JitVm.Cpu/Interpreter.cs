using System.Runtime.CompilerServices;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu;

/// <summary>Why <see cref="Interpreter.Run"/> returned.</summary>
public enum StopReason
{
    /// <summary>The instruction budget ran out.</summary>
    Budget,
    /// <summary>HLT, and no interrupt can wake the CPU now.</summary>
    Halted,
    /// <summary>Triple fault: the CPU shut down.</summary>
    Shutdown,
    /// <summary>
    /// An exception listed in <see cref="Interpreter.StopOnExceptions"/> was raised; it was not delivered, and the
    /// CPU holds the state the exception left (a fault's EIP on the faulting instruction, CR2 for #PF).
    /// </summary>
    Exception,
    /// <summary>
    /// The next instruction is at a host (debugger) breakpoint (<see cref="Processor.AddHostBreakpoint"/>); it has
    /// not run, and the guest saw nothing.
    /// </summary>
    Breakpoint,
}

/// <summary>Something that executes guest code on a <see cref="Cpu"/>: the interpreter, or the translator with its fallback.</summary>
public interface IExecutionEngine
{
    Processor Cpu { get; }

    /// <summary>Runs until roughly <paramref name="budget"/> more instructions have retired, the CPU halts or shuts down.</summary>
    StopReason Run(long budget);
}

/// <summary>
/// The interpreter's dispatcher: finds the decoded block at CS:EIP, runs its handlers in order, delivers
/// faults, single-step traps and external interrupts at instruction boundaries. No allocation or dictionary
/// lookup per instruction: handlers are function pointers in the decoded records, and the block lookup hits a
/// direct-mapped table.
/// </summary>
public sealed unsafe partial class Interpreter : IExecutionEngine
{
    readonly Processor cpu;

    public Interpreter(Processor cpu, HandlerTable? table = null)
    {
        this.cpu = cpu;
        Blocks = new BlockCache(cpu, table ?? HandlerTable.Default);
    }

    public BlockCache Blocks { get; }
    public Processor Cpu => cpu;

    /// <summary>Compiles hot blocks; null for a pure interpreter.</summary>
    public IBlockTranslator? Translator { get; set; }

    /// <summary>Guest instructions retired inside translated code (the rest were interpreted).</summary>
    public long TranslatedInstructions { get; private set; }

    /// <summary>Dispatches that followed a translated block's successor link instead of a cache lookup.</summary>
    public long LinkedDispatches { get; private set; }

    /// <summary>
    /// Exceptions (bit n = vector n) at which <see cref="Run"/> stops instead of delivering them, like a
    /// debugger's "catch": tests look at a fault without building an IDT, a monitor can break on #PF.
    /// </summary>
    public uint StopOnExceptions { get; set; }

    /// <summary>The exception that made <see cref="Run"/> return <see cref="StopReason.Exception"/>.</summary>
    public (int Vector, uint ErrorCode) StoppedOn { get; private set; }

    bool stopped;

    /// <summary>The careful path stopped before an instruction at a host breakpoint.</summary>
    bool atHostBreakpoint;

    /// <summary>
    /// A run retires exactly its budget (true, the default: every engine stops at the same instruction, which the
    /// machine's deterministic clock relies on), or stops at the first block or translated-region boundary at or
    /// after it (false: one <c>Run(1)</c> is one dispatch, which the lockstep harness compares engines by).
    /// </summary>
    public bool ExactBudget { get; set; } = true;

    /// <summary>With <see cref="ExactBudget"/> off, how far past the budget a translated region may run before its budget check stops it.</summary>
    const long LooseBudgetSlack = 1024;

    /// <summary>At most this many blocks start a run in the interpreter after one that stopped inside a block.</summary>
    const int HeadBlocks = 64;

    /// <summary>The last run ended because its budget was used up (so this one starts wherever that left off).</summary>
    bool resumeAfterBudget;

    public StopReason Run(long budget)
    {
        long end = cpu.InstructionCount + budget;
        // Exception deliveries retire no instruction; count loop turns too so a guest that faults forever
        // (e.g. on a fetch from an unusable address) still returns to the caller.
        long turns = 0;
        stopped = false;
        // The block that ran last, translated or interpreted whole (null once anything else happened), and how it
        // left (0 fall-through, 1 taken, 2 indirect): the successor link to follow or make.
        DecodedBlock? previous = null;
        int previousStatus = 0;
        bool tail = false;
        int headBlocks = resumeAfterBudget && ExactBudget ? HeadBlocks : 0;
        resumeAfterBudget = false;
        while (cpu.InstructionCount < end && turns++ < budget)
        {
            if (cpu.Shutdown) return StopReason.Shutdown;
            bool oneInstruction = false;
            if (cpu.InterruptShadow)
            {
                cpu.InterruptShadow = false;          // this block's first instruction is the shadowed one
                // A request waits for the shadow to end (STI with one pending): run just that instruction and take
                // it after, as the processor does, rather than wherever this block or translation would end.
                oneInstruction = cpu.IrqLine && (cpu.Flags & Processor.FlagIF) != 0;
            }
            else if (cpu.IrqLine && (cpu.Flags & Processor.FlagIF) != 0 && cpu.InterruptController is { } pic)
            {
                cpu.Interrupt(pic.Acknowledge(), InterruptSource.External);
                previous = null;
                continue;
            }
            if (cpu.Halted) return StopReason.Halted;

            // Single-step, a resume flag to honour, instruction breakpoints (the guest's or the host debugger's) or a
            // tracer (Processor.TracerArmed): the careful path. It interprets, so no translated region runs past a breakpoint.
            if (((cpu.Flags & (Processor.FlagTF | Processor.FlagRF)) | cpu.CodeBreakpoints) != 0 || cpu.DataBreakpointsArmed)
            {
                RunDebug((cpu.Flags & Processor.FlagTF) != 0, ExactBudget ? end - cpu.InstructionCount : long.MaxValue);
                previous = null;
                if (stopped) return StopReason.Exception;
                if (atHostBreakpoint)
                {
                    atHostBreakpoint = false;
                    return StopReason.Breakpoint;
                }
                continue;
            }

            DecodedBlock? block = previous is null ? null : FollowLink(ref previous.Links[previousStatus]);
            if (block is null)
            {
                try
                {
                    block = Blocks.Lookup();
                }
                catch (CpuFault f)
                {
                    previous = null;
                    if (!RaiseFault(f)) return StopReason.Exception;
                    continue;
                }
                if (previous is not null && block.Cacheable && !block.Straddles)
                    previous.Links[previousStatus] = new SuccessorLink { Block = block, Linear = cpu.Seg[SegReg.CS].Base + cpu.Eip, Generation = cpu.TlbGeneration };
            }
            previous = null;
            if (oneInstruction)
            {
                if (!Execute(block, 1) && stopped) return StopReason.Exception;
                continue;
            }
            // A slice ends at exactly its budget in every engine (devices then see the same instruction counts at
            // the same guest state): its tail, from a block longer than what is left or a translation whose longest
            // run does not fit, is interpreted, the last block only in part. Nothing is compiled for the tail.
            // A run that continues where the previous one's budget ended (possibly inside a block) interprets until
            // it reaches a block that already has a translation (for a while): the places it passes are not where
            // code is normally entered, and translations entered there would duplicate the ones covering them.
            if (headBlocks > 0 && (block.Translation is not null || --headBlocks == 0)) headBlocks = 0;
            long left = end - cpu.InstructionCount;
            if (ExactBudget && (tail || headBlocks > 0 || block.Insns.Length > left))
            {
                bool partial = block.Insns.Length > left;
                tail |= partial;
                if (!Execute(block, (int)Math.Min(block.Insns.Length, left)) && stopped) return StopReason.Exception;
                continue;
            }
            var code = block.Translation;
            if (code is null && Translator is { } t) code = t.Translate(block);
            if (code is not null)
            {
                cpu.RunLimit = ExactBudget ? end : end + LooseBudgetSlack;
                int status = RunTranslated(block, code);
                if (status == TranslatedExit.OutOfBudget)
                {
                    tail = true;
                    if (!Execute(block, (int)Math.Min(block.Insns.Length, end - cpu.InstructionCount)) && stopped) return StopReason.Exception;
                    continue;
                }
                if (status == TranslatedExit.Bail)
                {
                    // The translation did not apply (stack size, flat segments, CS extent, or its longest run does
                    // not fit in what is left of the budget): interpret the block, or with an exact budget as much of
                    // it as the budget allows (as the interpreter runs whole blocks when the budget is loose).
                    int n = ExactBudget ? (int)Math.Min(block.Insns.Length, end - cpu.InstructionCount) : block.Insns.Length;
                    if (!Execute(block, n) && stopped) return StopReason.Exception;
                    continue;
                }
                else if (status is >= 0 and <= 2 && !stopped)
                {
                    previous = block;
                    previousStatus = status;
                }
                if (stopped) return StopReason.Exception;
                continue;
            }
            // An interpreted block links to where it went too (slot 0 when it fell through, 1 otherwise): the next
            // dispatch follows the link (which checks address, mode and TLB generation) instead of a lookup.
            uint fallThrough = cpu.Eip + (uint)block.ByteLength;
            if (Execute(block, block.Insns.Length))
            {
                previous = block;
                previousStatus = cpu.Eip == fallThrough ? 0 : 1;
            }
            else if (stopped) return StopReason.Exception;
        }
        if (cpu.Shutdown) return StopReason.Shutdown;
        resumeAfterBudget = true;
        return StopReason.Budget;
    }

    /// <summary>
    /// The link's block, if the exit goes where it went last time: same linear address, same mode, block still valid
    /// and inside the CS limit, and no TLB flush since the link was made (the linear-to-physical mapping is then the
    /// one the TLB would still give). Null otherwise: the dispatcher looks the block up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    DecodedBlock? FollowLink(ref SuccessorLink link)
    {
        var b = link.Block;
        ref Segment cs = ref cpu.Seg[SegReg.CS];
        if (b is null || !b.Valid || cs.Base + cpu.Eip != link.Linear || cpu.TlbGeneration != link.Generation ||
            b.Mode != BlockCache.ModeKey(cpu) || (ulong)cpu.Eip + (ulong)b.ByteLength - 1 > cs.Limit) return null;
        LinkedDispatches++;
        return b;
    }

    /// <summary>Runs a translated block and delivers the fault it stopped on, if any; returns its exit status.</summary>
    int RunTranslated(DecodedBlock block, TranslatedCode code)
    {
        block.ExecutionCount++;
        Blocks.CurrentId = block.Id;
        cpu.ExitBlock = false;
        long before = cpu.InstructionCount;
        int status = code(cpu);
        Blocks.CurrentId = 0;
        TranslatedInstructions += cpu.InstructionCount - before;
        if (status != TranslatedExit.Fault) return status;
        cpu.FaultPending = false;
        cpu.RepeatInstruction = false;
        var f = cpu.PendingFault;
        if (cpu.Model.Generation >= CpuGeneration.I386) cpu.Flags |= Processor.FlagRF;
        Raise(f.Vector, f.HasErrorCode, f.ErrorCode);
        return status;
    }

    /// <summary>Executes exactly one instruction (with its single-step trap when TF was set before it).</summary>
    public void Step() => RunDebug(singleInstruction: true, 1);

    /// <summary>
    /// Runs one block, or one instruction, with the debug rules (SDM vol. 3, 17.3): an enabled instruction
    /// breakpoint at the next instruction is a #DB fault before it runs unless RF is set; RF is cleared as the
    /// instruction starts; the block stops short of any later instruction with a breakpoint; with TF the
    /// instruction is followed by a single-step trap (DR6.BS), delivered together with data-breakpoint hits.
    /// A host breakpoint at the next instruction stops the run before it (<see cref="atHostBreakpoint"/>), and
    /// the block stops short of a later one. At most <paramref name="left"/> instructions run (the exact budget).
    /// </summary>
    void RunDebug(bool singleInstruction, long left)
    {
        bool trap = (cpu.Flags & Processor.FlagTF) != 0;
        ref Segment cs = ref cpu.Seg[SegReg.CS];
        uint lin = cs.Base + cpu.Eip;
        bool host = (cpu.CodeBreakpoints & Processor.HostBreakpointsArmed) != 0;
        atHostBreakpoint = false;
        if (host && cpu.HostBreakpointStops(lin))
        {
            atHostBreakpoint = true;
            return;
        }
        if ((cpu.Flags & Processor.FlagRF) == 0 && cpu.CodeBreakpoints != 0)
        {
            uint hit = cpu.MatchCodeBreakpoints(lin);
            if (hit != 0)
            {
                // A fault: EIP stays on the instruction and the pushed RF is the current one (0); the handler
                // returns with RF set in the image to run the instruction once past its breakpoint.
                cpu.Dr[6] = (cpu.Dr[6] & ~Processor.Dr6Breakpoints) | hit;
                Raise(CpuVectors.DB, false, 0);
                return;
            }
        }
        cpu.Flags &= ~Processor.FlagRF;

        DecodedBlock block;
        try
        {
            block = Blocks.Lookup();
        }
        catch (CpuFault f)
        {
            RaiseFault(f);
            return;
        }
        Insn[] insns = block.Insns;
        int limit = singleInstruction ? 1 : (int)Math.Min(insns.Length, left);
        if (cpu.TraceInstructions && cpu.Tracer is { } tracer)
        {
            // run --trace insn: one instruction per dispatch, reported before it runs.
            limit = 1;
            tracer.Instruction(cpu, block);
        }
        if (cpu.CodeBreakpoints != 0)
            for (int k = 1; k < limit; k++)
                if (cpu.MatchCodeBreakpoints(lin + insns[k].Offset) != 0 || (host && cpu.HostBreakpointAt(lin + insns[k].Offset)))
                {
                    limit = k;
                    break;
                }
        if (trap) cpu.PendingDebugTrap |= Processor.Dr6BS;
        Execute(block, limit);
    }

    /// <summary>
    /// Delivers a fault-class exception raised by an instruction or its fetch. The EFLAGS image it pushes has RF
    /// set (SDM vol. 3, 17.3.1.1), so an instruction breakpoint on the faulting instruction does not fire again
    /// when the handler returns to it; RF does not exist before the 386.
    /// </summary>
    bool RaiseFault(CpuFault f)
    {
        if (cpu.Model.Generation >= CpuGeneration.I386) cpu.Flags |= Processor.FlagRF;
        return Raise(f.Vector, f.HasErrorCode, f.ErrorCode);
    }

    /// <summary>Delivers an exception, or records it and returns false when <see cref="StopOnExceptions"/> asks to stop there.</summary>
    bool Raise(int vector, bool hasError, uint errorCode)
    {
        if (vector < 32 && (StopOnExceptions & (1u << vector)) != 0)
        {
            cpu.ExceptionCounts[vector]++;
            StoppedOn = (vector, errorCode);
            stopped = true;
            return false;
        }
        cpu.Interrupt(vector, InterruptSource.Exception, hasError, errorCode);
        return true;
    }

    /// <summary>The debug traps the instruction just completed raised (data breakpoints, single step): one #DB after it.</summary>
    bool DeliverDebugTrap()
    {
        uint pending = cpu.PendingDebugTrap;
        cpu.PendingDebugTrap = 0;
        if (cpu.Shutdown) return true;
        uint dr6 = cpu.Dr[6] | (pending & Processor.Dr6BS);
        if ((pending & Processor.Dr6Breakpoints) != 0) dr6 = (dr6 & ~Processor.Dr6Breakpoints) | (pending & Processor.Dr6Breakpoints);
        cpu.Dr[6] = dr6;
        return Raise(CpuVectors.DB, false, 0);
    }

    /// <summary>
    /// Runs up to <paramref name="limit"/> instructions of <paramref name="block"/>; false when one faulted (or a
    /// debug trap after the last one stopped the run).
    /// </summary>
    bool Execute(DecodedBlock block, int limit)
    {
        Insn[] insns = block.Insns;
        uint eip0 = cpu.Eip;
        long count0 = cpu.InstructionCount;
        int n = Math.Min(limit, insns.Length);
        int i = 0;
        block.ExecutionCount++;
        Blocks.CurrentId = block.Id;
        cpu.ExitBlock = false;
        try
        {
            for (; i < n; i++)
            {
                ref Insn ins = ref insns[i];
                cpu.Eip = eip0 + ins.Offset;
                // The count is exact at every instruction, as in translated code: guest time (RDTSC, the timers
                // an IN or OUT reads or programs) follows it, so a block's third instruction sees two more than its first.
                cpu.InstructionCount = count0 + i;
                ins.Handler(cpu, ref ins);
                if (cpu.ExitBlock)
                {
                    i++;
                    break;
                }
            }
        }
        catch (CpuFault f)
        {
            cpu.RepeatInstruction = false;
            cpu.PendingDebugTrap = 0;                 // a faulting instruction raises no traps
            cpu.InstructionCount = count0 + i;
            Blocks.CurrentId = 0;
            RaiseFault(f);
            return false;
        }
        cpu.InstructionCount = count0 + i;
        Blocks.CurrentId = 0;
        if (cpu.RepeatInstruction)
        {
            // An unfinished REP string instruction: its registers hold the progress so far; run it again next.
            // RF is set as for an interrupt between iterations, so a breakpoint on it does not fire again.
            cpu.RepeatInstruction = false;
            cpu.Eip = eip0 + insns[i - 1].Offset;
            if (cpu.Model.Generation >= CpuGeneration.I386) cpu.Flags |= Processor.FlagRF;
        }
        // Unless the last instruction run was a branch (which set EIP), continue after it.
        else if (!(i == insns.Length && block.EndsInBranch))
        {
            ref Insn last = ref insns[i - 1];
            cpu.Eip = eip0 + last.Offset + last.Length;
        }
        if (cpu.PendingDebugTrap != 0) return DeliverDebugTrap();
        return true;
    }
}
