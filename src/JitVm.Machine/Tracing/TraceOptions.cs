namespace JitVm.Machine.Tracing;

/// <summary>What <c>run --trace</c> records (see docs/decisions/0018-tracing.md).</summary>
[Flags]
public enum TraceEvents
{
    None = 0,
    /// <summary><c>insn</c>: every instruction before it runs (the engine then interprets one instruction per dispatch).</summary>
    Instructions = 1,
    /// <summary><c>regs</c>: <see cref="Instructions"/> with the general registers and EFLAGS before each.</summary>
    Registers = 2,
    /// <summary><c>int</c>: every interrupt and exception delivered.</summary>
    Interrupts = 4,
    /// <summary><c>io</c>: every IN and OUT.</summary>
    Io = 8,
    /// <summary><c>mmio</c>: every byte read or written on a memory-mapped device page (the engine then interprets).</summary>
    Mmio = 16,
}

/// <summary>
/// A trace to record: which events, where the lines go, and after how many lines to stop (null: never). The
/// writer belongs to the caller, who flushes and closes it.
/// </summary>
public sealed record TraceOptions(TraceEvents Events, TextWriter Output, long? Limit = null)
{
    /// <summary>The names <c>--trace</c> takes, in the order help lists them.</summary>
    public static readonly IReadOnlyList<(string Name, TraceEvents Events, string Description)> Names =
    [
        ("insn", TraceEvents.Instructions, "every instruction executed, disassembled (interprets one instruction at a time)"),
        ("regs", TraceEvents.Instructions | TraceEvents.Registers, "insn, with the registers before each instruction"),
        ("int", TraceEvents.Interrupts, "every interrupt and exception delivered"),
        ("io", TraceEvents.Io, "every port IN and OUT"),
        ("mmio", TraceEvents.Mmio, "every byte access to a memory-mapped device (interprets)"),
    ];

    /// <summary>
    /// Parses a comma-separated list of <see cref="Names"/> (<c>insn,int,io</c>); false with a message naming
    /// the bad item otherwise.
    /// </summary>
    public static bool TryParse(string spec, out TraceEvents events, out string? error)
    {
        events = TraceEvents.None;
        error = null;
        foreach (string raw in spec.Split(','))
        {
            string item = raw.Trim();
            int i = 0;
            while (i < Names.Count && !string.Equals(Names[i].Name, item, StringComparison.OrdinalIgnoreCase)) i++;
            if (i == Names.Count)
            {
                error = $"unknown trace event '{item}' (expected a comma-separated list of: {string.Join(", ", Names.Select(n => n.Name))})";
                events = TraceEvents.None;
                return false;
            }
            events |= Names[i].Events;
        }
        return true;
    }
}
