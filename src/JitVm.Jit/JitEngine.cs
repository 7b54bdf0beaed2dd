using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Jit.Translation;

namespace JitVm.Jit;

/// <summary>
/// The translating engine: the interpreter's dispatcher with a translator attached. <c>jit</c> compiles every
/// block before its first execution (threshold 0); <c>auto</c> interprets a block until it has run
/// <see cref="Threshold"/> times, then compiles it. Whatever the translator leaves out (cold code, the careful
/// debug path, instructions without an emitter) runs in the interpreter on the same state.
/// </summary>
public sealed class JitEngine : IExecutionEngine, IBlockTranslator
{
    /// <summary>Default hotness threshold of the <c>auto</c> engine.</summary>
    public const int DefaultThreshold = 32;

    readonly Interpreter interpreter;
    readonly Translator translator = new();
    readonly List<TimeSpan> compileTimes = new();

    public JitEngine(Processor cpu, int threshold = DefaultThreshold)
    {
        Threshold = threshold;
        interpreter = new Interpreter(cpu) { Translator = this };
    }

    public Processor Cpu => interpreter.Cpu;
    public Interpreter Interpreter => interpreter;
    public int Threshold { get; }

    public long BlocksCompiled { get; private set; }
    public TimeSpan TotalCompileTime { get; private set; }
    public long InlineInstructions { get; private set; }
    public long InterpretedInstructionsInTranslations { get; private set; }

    /// <summary>Compile times of every translation so far (for the median).</summary>
    public IReadOnlyList<TimeSpan> CompileTimes => compileTimes;

    public StopReason Run(long budget) => interpreter.Run(budget);

    public TranslatedCode? Translate(DecodedBlock block)
    {
        if (block.ExecutionCount < Threshold || !block.Cacheable) return null;
        var tb = translator.Translate(block, interpreter.Cpu);
        block.Translation = tb.Code;
        block.TranslatorData = tb;
        BlocksCompiled++;
        TotalCompileTime += tb.CompileTime;
        compileTimes.Add(tb.CompileTime);
        InlineInstructions += tb.InlineInstructions;
        InterpretedInstructionsInTranslations += block.Insns.Length - tb.InlineInstructions;
        return tb.Code;
    }
}
