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

    public StopReason Run(long budget)
    {
        long end = cpu.InstructionCount + budget;
        // Exception deliveries retire no instruction; count loop turns too so a guest that faults forever
        // (e.g. on a fetch from an unusable address) still returns to the caller.
        long turns = 0;
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

            // Single-step, and RF (set by IRETD or a task switch for the one instruction it returns to) both need
            // the next instruction run alone.
            if ((cpu.Flags & (Processor.FlagTF | Processor.FlagRF)) != 0)
            {
                Step();
                continue;
            }

            DecodedBlock block;
            try
            {
                block = Blocks.Lookup();
            }
            catch (CpuFault f)
            {
                cpu.Interrupt(f.Vector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);
                continue;
            }
            Execute(block, block.Insns.Length);
        }
        return cpu.Shutdown ? StopReason.Shutdown : StopReason.Budget;
    }

    /// <summary>Executes exactly one instruction (with its single-step trap when TF was set before it).</summary>
    public void Step()
    {
        bool trap = (cpu.Flags & Processor.FlagTF) != 0;
        // RF only suppresses instruction breakpoints of the instruction it was set for: it is cleared as that
        // instruction starts (SDM vol. 3, 17.3.1.1), and a fault during it pushes RF = 1 again.
        cpu.Flags &= ~Processor.FlagRF;
        DecodedBlock block;
        try
        {
            block = Blocks.Lookup();
        }
        catch (CpuFault f)
        {
            cpu.Interrupt(f.Vector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);
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
            cpu.Interrupt(f.Vector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);
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
