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
public sealed unsafe class Interpreter : IExecutionEngine
{
    readonly Processor cpu;

    public Interpreter(Processor cpu, HandlerTable? table = null)
    {
        this.cpu = cpu;
        Blocks = new BlockCache(cpu, table ?? HandlerTable.Default);
    }

    public BlockCache Blocks { get; }
    public Processor Cpu => cpu;

    /// <summary>
    /// Exceptions (bit n = vector n) at which <see cref="Run"/> stops instead of delivering them, like a
    /// debugger's "catch": tests look at a fault without building an IDT, a monitor can break on #PF.
    /// </summary>
    public uint StopOnExceptions { get; set; }

    /// <summary>The exception that made <see cref="Run"/> return <see cref="StopReason.Exception"/>.</summary>
    public (int Vector, uint ErrorCode) StoppedOn { get; private set; }

    bool stopped;

    public StopReason Run(long budget)
    {
        long end = cpu.InstructionCount + budget;
        // Exception deliveries retire no instruction; count loop turns too so a guest that faults forever
        // (e.g. on a fetch from an unusable address) still returns to the caller.
        long turns = 0;
        stopped = false;
        while (cpu.InstructionCount < end && turns++ < budget)
        {
            if (cpu.Shutdown) return StopReason.Shutdown;
            if (cpu.InterruptShadow)
            {
                cpu.InterruptShadow = false;          // this block's first instruction is the shadowed one
            }
            else if (cpu.IrqLine && (cpu.Flags & Processor.FlagIF) != 0 && cpu.InterruptController is { } pic)
            {
                cpu.Interrupt(pic.Acknowledge(), InterruptSource.External);
                continue;
            }
            if (cpu.Halted) return StopReason.Halted;

            if ((cpu.Flags & Processor.FlagTF) != 0)
            {
                Step();
                if (stopped) return StopReason.Exception;
                continue;
            }

            DecodedBlock block;
            try
            {
                block = Blocks.Lookup();
            }
            catch (CpuFault f)
            {
                if (!Raise(f)) return StopReason.Exception;
                continue;
            }
            if (!Execute(block, block.Insns.Length) && stopped) return StopReason.Exception;
        }
        return cpu.Shutdown ? StopReason.Shutdown : StopReason.Budget;
    }

    /// <summary>Delivers a fault, or records it and returns false when <see cref="StopOnExceptions"/> asks to stop there.</summary>
    bool Raise(CpuFault f)
    {
        if (f.Vector < 32 && (StopOnExceptions & (1u << f.Vector)) != 0)
        {
            cpu.ExceptionCounts[f.Vector]++;
            StoppedOn = (f.Vector, f.ErrorCode);
            stopped = true;
            return false;
        }
        cpu.Interrupt(f.Vector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);
        return true;
    }

    /// <summary>Executes exactly one instruction (with its single-step trap when TF was set before it).</summary>
    public void Step()
    {
        bool trap = (cpu.Flags & Processor.FlagTF) != 0;
        DecodedBlock block;
        try
        {
            block = Blocks.Lookup();
        }
        catch (CpuFault f)
        {
            Raise(f);
            return;
        }
        if (Execute(block, 1) && trap && !cpu.Shutdown)
        {
            cpu.Dr[6] |= 0x4000;                      // DR6.BS: single-step
            cpu.Interrupt(CpuVectors.DB, InterruptSource.Exception);
        }
    }

    /// <summary>Runs up to <paramref name="limit"/> instructions of <paramref name="block"/>; false when one faulted.</summary>
    bool Execute(DecodedBlock block, int limit)
    {
        Insn[] insns = block.Insns;
        uint eip0 = cpu.Eip;
        int n = Math.Min(limit, insns.Length);
        int i = 0;
        block.ExecutionCount++;
        Blocks.Current = block;
        cpu.ExitBlock = false;
        try
        {
            for (; i < n; i++)
            {
                ref Insn ins = ref insns[i];
                cpu.Eip = eip0 + ins.Offset;
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
            cpu.InstructionCount += i;
            Blocks.Current = null;
            Raise(f);
            return false;
        }
        cpu.InstructionCount += i;
        Blocks.Current = null;
        if (cpu.RepeatInstruction)
        {
            // An unfinished REP string instruction: its registers hold the progress so far; run it again next.
            cpu.RepeatInstruction = false;
            cpu.Eip = eip0 + insns[i - 1].Offset;
        }
        // Unless the last instruction run was a branch (which set EIP), continue after it.
        else if (!(i == insns.Length && block.EndsInBranch))
        {
            ref Insn last = ref insns[i - 1];
            cpu.Eip = eip0 + last.Offset + last.Length;
        }
        return true;
    }
}
