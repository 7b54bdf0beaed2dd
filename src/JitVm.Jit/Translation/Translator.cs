using System.Diagnostics;
using System.Reflection.Emit;
using Iced.Intel;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>
/// Turns one decoded guest block into one <see cref="DynamicMethod"/>. Instructions with an emitter are emitted
/// inline (registers in locals, lazy flags in locals, memory through the inline TLB path); the others call their
/// interpreter handler after writing registers and flags back. A block whose final branch returns to its own first
/// instruction loops inside the method, counting instructions against the run's limit.
/// </summary>
public sealed class Translator
{
    readonly EmitterTable table;

    internal Translator(EmitterTable table) => this.table = table;

    public Translator() : this(EmitterTable.Default) { }

    /// <summary>Iced codes the translator emits inline (the rest fall back to the interpreter).</summary>
    public IEnumerable<Code> InlineCodes => table.Codes;

    // LSS changes SS (and with it the stack size compiled into PUSH/POP): nothing after it in the block is translated.
    static bool ChangesStackSize(ushort code) => (Code)code is Code.Lss_r16_m1616 or Code.Lss_r32_m1632;

    public TranslatedBlock Translate(DecodedBlock block, Processor cpu)
    {
        long start = Stopwatch.GetTimestamp();
        var tb = new TranslatedBlock(block);
        var dm = new DynamicMethod($"x86_{block.Phys:X8}_{block.Mode:X}", typeof(int),
            [typeof(TranslatedBlock), typeof(Processor)], typeof(Translator).Module, skipVisibility: true);
        var il = dm.GetILGenerator(512);
        var cx = new EmitContext(il, block, cpu);
        Insn[] insns = block.Insns;
        int n = insns.Length;

        var entries = new EmitterEntry?[n];
        for (int k = 0; k < n; k++) entries[k] = table.Find(insns[k].Code);
        bool[] flagsNeeded = FlagLiveness(entries, insns, out bool liveAtHead);

        cx.EmitPrologue();
        bool ended = false;
        int inline = 0;
        for (int k = 0; k < n && !ended; k++)
        {
            ref Insn ins = ref insns[k];
            cx.BeginInstruction(k, flagsNeeded[k]);
            cx.LoopNeedsFlags = liveAtHead;
            var e = entries[k];
            if (e is not null)
            {
                // The flag liveness above was computed from the emitter's declared use, so an emitter must not
                // change its mind here and hand the instruction back.
                if (!e.Emit(cx, ref ins)) throw new InvalidOperationException($"emitter for {(Code)ins.Code} declined an instruction");
                inline++;
                if ((e.Flags & FlagUse.Branch) != 0) ended = true;
                else cx.EndInstruction();
                continue;
            }
            bool setsEip = k == n - 1 && block.EndsInBranch;
            cx.Interpret(setsEip, k);
            if (setsEip) ended = true;
            else if (ChangesStackSize(ins.Code))
            {
                cx.LoadNextEip();
                cx.Exit(k + 1, 0);
                ended = true;
            }
        }
        if (!ended)
        {
            cx.LoadNextEip();                                 // index is the last instruction
            cx.Exit(n, 0);
        }
        cx.EmitStubs();

        long emitted = Stopwatch.GetTimestamp();
        tb.Code = (TranslatedCode)dm.CreateDelegate(typeof(TranslatedCode), tb);
        tb.Code(null);                                        // compile now, not on the first real call
        tb.EmitTime = Stopwatch.GetElapsedTime(start, emitted);
        tb.InlineInstructions = inline;
        tb.IlBytes = il.ILOffset;
        tb.HasLoop = cx.LoopEmitted;
        tb.CompileTime = Stopwatch.GetElapsedTime(start);
        return tb;
    }

    /// <summary>
    /// Backward liveness of the arithmetic flags: flagsNeeded[k] says whether anything after instruction k reads
    /// the flags it produces before they are fully overwritten. Exits, interpreted instructions and instructions
    /// that can fault count as readers (a fault makes the flags before it architecturally visible).
    /// </summary>
    static bool[] FlagLiveness(EmitterEntry?[] entries, Insn[] insns, out bool liveAtHead)
    {
        int n = entries.Length;
        var needed = new bool[n];
        // Live at the end: the block's last instruction is a branch (its exits read them) or falls through to an exit.
        bool live = true;
        for (int k = n - 1; k >= 0; k--)
        {
            needed[k] = live;
            var f = entries[k]?.Flags ?? (FlagUse.Reads | FlagUse.Faults);
            bool faults = (f & FlagUse.Faults) != 0 || ((f & FlagUse.CanFault) != 0 && insns[k].HasMemory);
            bool reads = faults || (f & (FlagUse.Reads | FlagUse.Branch)) != 0;
            bool kills = (f & FlagUse.WritesAll) != 0;
            live = reads || (live && !kills);
        }
        // An in-method loop's back edge arrives at the first instruction with whatever flags the pass produced.
        liveAtHead = live;
        return needed;
    }
}
