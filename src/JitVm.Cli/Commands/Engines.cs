using JitVm.Cpu;

namespace JitVm.Cli.Commands;

/// <summary>An execution engine by name: what <c>--engine</c>/<c>--engines</c> resolve to.</summary>
internal sealed record EngineChoice(string Name, Func<Processor, IExecutionEngine> Factory);

/// <summary>
/// The one place engine names become engines, for <c>run</c>, <c>bench</c> and <c>conformance</c>. The translator
/// plugs in here: resolve "jit" (and make "auto" prefer it) once src/JitVm.Jit exists.
/// </summary>
internal static class Engines
{
    /// <summary>Every name the options accept.</summary>
    public static readonly string[] Names = ["interp", "jit", "auto"];

    /// <summary>The engine for <paramref name="name"/>, or null with a message saying why it cannot be had.</summary>
    public static EngineChoice? Resolve(string name, out string? error)
    {
        error = null;
        switch (name)
        {
            case "interp":
                return Interpreter;
            // ---- JIT hook -------------------------------------------------------------------------------------
            // When src/JitVm.Jit lands: return new EngineChoice("jit", cpu => <the translating engine>(cpu)) for
            // "jit", and let "auto" return that too. Until then "auto" is the interpreter and "jit" is refused.
            case "auto":
                return Interpreter;
            case "jit":
                error = "engine 'jit' is not available yet (the translator has not landed); use --engine interp or auto";
                return null;
            // ----------------------------------------------------------------------------------------------------
            default:
                error = $"unknown engine '{name}' (expected one of: {string.Join(", ", Names)})";
                return null;
        }
    }

    static readonly EngineChoice Interpreter = new("interp", cpu => new Interpreter(cpu));
}
