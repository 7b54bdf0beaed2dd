using System.Text;
using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Jit.Diagnostics;

/// <summary>One machine of a lockstep pair: its processor, memory and engine.</summary>
public sealed record LockstepSide(Processor Cpu, PhysicalMemory Memory, IExecutionEngine Engine);

/// <summary>Where and how two engines first disagreed.</summary>
public sealed record Divergence(long Step, uint Eip, string What)
{
    public override string ToString() => $"step {Step} (EIP {Eip:X8}): {What}";
}

/// <summary>
/// Differential testing of the translator: runs the same guest on a reference engine (the interpreter) and a
/// candidate (the translator with threshold 0, so every block runs translated) one dispatch at a time, and compares
/// registers, flags, segment caches, control registers, the instruction count and memory after every step.
/// The first difference is reported with both values.
/// </summary>
public sealed class Lockstep
{
    public Lockstep(LockstepSide reference, LockstepSide candidate)
    {
        Reference = reference;
        Candidate = candidate;
        // One Run(1) must be one dispatch (a whole block or translated region), not one instruction.
        if (reference.Engine is Interpreter ri) ri.ExactBudget = false;
        if (candidate.Engine is JitEngine cj) cj.Interpreter.ExactBudget = false;
        if (candidate.Engine is Interpreter ci) ci.ExactBudget = false;
    }

    public LockstepSide Reference { get; }
    public LockstepSide Candidate { get; }

    /// <summary>Compares memory every this many steps (and always at the end); 1 = after every step.</summary>
    public int MemoryCheckInterval { get; set; } = 1;

    /// <summary>
    /// Restricts memory comparisons to these physical ranges (null: all of RAM). Useful when a test knows what it
    /// can touch and RAM is large.
    /// </summary>
    public IReadOnlyList<(uint Start, uint Length)>? MemoryRanges { get; set; }

    /// <summary>
    /// Runs both sides until both stop (halt, shutdown, exception stop) or <paramref name="maxSteps"/>: each step
    /// runs one dispatch of the candidate (a translated region may retire several blocks), then the reference block
    /// by block until it has retired as many instructions and delivered as many exceptions.
    /// </summary>
    public Divergence? Run(long maxSteps)
    {
        for (long step = 0; step < maxSteps; step++)
        {
            StopReason a = StopReason.Budget, b;
            string? stopDiff = null;
            try { b = Candidate.Engine.Run(1); }
            catch (EmulationStopException e) { b = StopReason.Shutdown; stopDiff = "candidate stopped: " + e.Message; }
            long target = Candidate.Cpu.InstructionCount, exceptions = Exceptions(Candidate.Cpu);
            try
            {
                // At least one reference block; more while the candidate is ahead (regions run several).
                for (int blocks = 0; blocks < 100_000; blocks++)
                {
                    a = Reference.Engine.Run(1);
                    if (a != StopReason.Budget) break;
                    if (Reference.Cpu.InstructionCount >= target && Exceptions(Reference.Cpu) >= exceptions) break;
                }
            }
            catch (EmulationStopException e)
            {
                a = StopReason.Shutdown;
                stopDiff = stopDiff is null ? "reference stopped: " + e.Message : null;
            }
            if (stopDiff is not null) return new Divergence(step, Reference.Cpu.Eip, stopDiff);
            if (a != b) return new Divergence(step, Reference.Cpu.Eip, $"stop reason: reference {a}, candidate {b}");
            // A translation that failed to build runs interpreted, which would hide the bug from the comparison.
            if (Candidate.Engine is JitEngine { FirstCompileFailure: { } failure })
                return new Divergence(step, Reference.Cpu.Eip, "translation failed: " + failure);
            string? diff = CompareState(Reference.Cpu, Candidate.Cpu);
            if (diff is null && (step % MemoryCheckInterval == 0 || a != StopReason.Budget)) diff = CompareMemory();
            if (diff is not null) return new Divergence(step, Reference.Cpu.Eip, diff);
            if (a != StopReason.Budget) return null;
        }
        return CompareMemory() is { } m ? new Divergence(maxSteps, Reference.Cpu.Eip, m) : null;
    }

    static long Exceptions(Processor cpu)
    {
        long n = 0;
        foreach (long c in cpu.ExceptionCounts) n += c;
        return n;
    }

    /// <summary>Every architectural difference between two processors, or null.</summary>
    public static string? CompareState(Processor r, Processor c)
    {
        var sb = new StringBuilder();
        void Check(string name, ulong x, ulong y)
        {
            if (x != y) sb.Append($"{name}: reference {x:X} candidate {y:X}; ");
        }
        for (int i = 0; i < 8; i++) Check(RegisterNames[i], r.Gpr[i], c.Gpr[i]);
        Check("eip", r.Eip, c.Eip);
        Check("eflags", r.GetEflags(), c.GetEflags());
        for (int s = 0; s < 6; s++)
        {
            ref Segment x = ref r.Seg[s];
            ref Segment y = ref c.Seg[s];
            Check(SegReg.Names[s], x.Selector, y.Selector);
            Check(SegReg.Names[s] + ".base", x.Base, y.Base);
            Check(SegReg.Names[s] + ".limit", x.Limit, y.Limit);
            Check(SegReg.Names[s] + ".attr", x.Attributes, y.Attributes);
        }
        Check("cr0", r.Cr0, c.Cr0);
        Check("cr2", r.Cr2, c.Cr2);
        Check("cr3", r.Cr3, c.Cr3);
        Check("cr4", r.Cr4, c.Cr4);
        Check("instructions", (ulong)r.InstructionCount, (ulong)c.InstructionCount);
        Check("halted", r.Halted ? 1u : 0u, c.Halted ? 1u : 0u);
        Check("shutdown", r.Shutdown ? 1u : 0u, c.Shutdown ? 1u : 0u);
        return sb.Length == 0 ? null : sb.ToString().TrimEnd(' ', ';');
    }

    static readonly string[] RegisterNames = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

    string? CompareMemory()
    {
        var a = Reference.Memory;
        var b = Candidate.Memory;
        var ranges = MemoryRanges ?? [(0u, a.RamSize)];
        foreach (var (start, length) in ranges)
        {
            uint end = Math.Min(start + length, a.RamSize);
            if (start >= end) continue;
            var x = a.Backing.AsSpan((int)start, (int)(end - start));
            var y = b.Backing.AsSpan((int)start, (int)(end - start));
            int at = x.CommonPrefixLength(y);
            if (at < x.Length) return $"memory at {start + (uint)at:X8}: reference {x[at]:X2} candidate {y[at]:X2}";
        }
        return null;
    }
}
