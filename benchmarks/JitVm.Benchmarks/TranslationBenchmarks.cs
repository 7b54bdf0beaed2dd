using BenchmarkDotNet.Attributes;
using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Jit;
using JitVm.Jit.Translation;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Benchmarks;

/// <summary>
/// Translation cost: generating the IL of one typical guest block and having RyuJIT compile it (the translator
/// calls the new method once with a null processor, which forces compilation). Mean is per block.
/// </summary>
public class TranslationBenchmarks
{
    Processor cpu = null!;
    DecodedBlock small = null!, large = null!;
    readonly Translator translator = new();

    [GlobalSetup]
    public void Setup()
    {
        var memory = new PhysicalMemory(1 << 20);
        cpu = new Processor(CpuModel.Pentium, memory, new IoBus());
        var interp = new Interpreter(cpu);
        small = Decode(interp, memory, 0x1000, a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.mov(eax, __dword_ptr[si]);
            a.add(eax, ebx);
            a.xor(edx, eax);
            a.mov(__dword_ptr[si + 4], edx);
            a.add(si, 8);
            a.dec(ecx);
            a.jnz(top);
        });
        large = Decode(interp, memory, 0x2000, a =>
        {
            var skip = a.CreateLabel();
            for (int k = 0; k < 6; k++)
            {
                a.mov(ax, __word_ptr[bx + si + k * 2]);
                a.add(ax, cx);
                a.adc(dx, 0);
                a.cmp(ax, 0x1234);
                a.push(ax);
                a.pop(di);
                a.and(__word_ptr[bp + k], 0x0F0F);
            }
            a.jz(skip);
            a.Label(ref skip);
            a.hlt();
        });
        emptyTarget = translator.Translate(small, cpu);
    }

    static DecodedBlock Decode(Interpreter interp, PhysicalMemory memory, ushort segment, Action<Assembler> code)
    {
        var a = new Assembler(16);
        code(a);
        var w = new Writer();
        a.Assemble(w, 0);
        memory.Poke((uint)segment << 4, w.Bytes.ToArray());
        interp.Cpu.LoadRealModeSegmentFull(SegReg.CS, segment, (uint)segment << 4, 0xFFFF, Segment.RealModeCode);
        interp.Cpu.Eip = 0;
        return interp.Blocks.Lookup();
    }

    /// <summary>A 7-instruction loop block (the kind hot loops are made of).</summary>
    [Benchmark]
    public TranslatedBlock TranslateLoopBlock() => translator.Translate(small, cpu);

    /// <summary>A 43-instruction straight-line block with memory operands, stack traffic and flag users.</summary>
    [Benchmark]
    public TranslatedBlock TranslateLargeBlock() => translator.Translate(large, cpu);

    /// <summary>
    /// The floor under every translation: a DynamicMethod of the translators' signature that only returns 0, bound
    /// to its TranslatedBlock and called once to force RyuJIT (what a translation pays before any guest code).
    /// </summary>
    [Benchmark(Baseline = true)]
    public TranslatedCode EmptyDynamicMethod()
    {
        var dm = new System.Reflection.Emit.DynamicMethod("empty", typeof(int), [typeof(TranslatedBlock), typeof(Processor)],
            typeof(Translator).Module, skipVisibility: true);
        var il = dm.GetILGenerator();
        il.Emit(System.Reflection.Emit.OpCodes.Ldc_I4_0);
        il.Emit(System.Reflection.Emit.OpCodes.Ret);
        var code = (TranslatedCode)dm.CreateDelegate(typeof(TranslatedCode), emptyTarget);
        code(null);
        return code;
    }

    TranslatedBlock emptyTarget = null!;

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
