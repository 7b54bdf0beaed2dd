using JitVm.Cpu;

namespace JitVm.Cli.Commands;

/// <summary>An execution engine by name: what <c>--engine</c>/<c>--engines</c> resolve to.</summary>
internal sealed record EngineChoice(string Name, Func<Processor, IExecutionEngine> Factory);

/// <summary>
/// The one place engine names become engines, for <c>run</c>, <c>bench</c> and <c>conformance</c>: <c>interp</c>
/// never compiles; <c>jit</c> translates every block before its first execution; <c>auto</c> interprets cold code
/// and translates blocks once they have run <see cref="JitVm.Jit.JitEngine.DefaultThreshold"/> times, on a worker
/// thread while the interpreter goes on running them.
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
            case "auto":
                return Auto;
            case "jit":
                return Jit;
            default:
                error = $"unknown engine '{name}' (expected one of: {string.Join(", ", Names)})";
                return null;
        }
    }

    static readonly EngineChoice Interpreter = new("interp", cpu => new Interpreter(cpu));
    static readonly EngineChoice Jit = new("jit", cpu => new JitVm.Jit.JitEngine(cpu, threshold: 0));
    static readonly EngineChoice Auto = new("auto", cpu => new JitVm.Jit.JitEngine(cpu, background: true));
}
