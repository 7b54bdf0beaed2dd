using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Workloads;

/// <summary>
/// Self-modifying code, two ways, each iteration: (A) a hot loop whose immediates (an ADD constant, a rotate count,
/// an IMUL multiplier) are patched every <see cref="LoopRuns"/> iterations; (B) a tiny compiler in the guest that
/// turns a stack-machine program into x86 code from templates, with new constants every iteration, and then calls
/// the generated function <see cref="Calls"/> times. Both code buffers are in their own pages, away from the code
/// that writes them, as a JIT-in-the-guest would keep them.
/// </summary>
/// <remarks>
/// Part A, per iteration, <see cref="Patches"/> times: <c>x = x·1103515245 + 12345</c> (from <see cref="SeedA"/>),
/// patch <c>i1 = x</c>, <c>i2 = ((x &gt;&gt; 8) &amp; 31) | 1</c>, <c>i3 = (x &gt;&gt; 4) | 1</c>, then run
/// <see cref="LoopRuns"/> times <c>a += i1; d ^= a; d = rol(d, i2); a *= i3; a -= d</c> (a, d carried across).
/// Part B, per iteration: <c>y = y·1664525 + 1013904223</c> (from <see cref="SeedB"/>) five times gives
/// <c>k0 = y1 | 1, k1 = y2, k2 = y3, s1 = y4 &amp; 31, s2 = y5 &amp; 31</c>; the program computes
/// <c>f(x) = (((x·k0) ^ (x &lt;&lt; s1)) + k1 - ror(x, s2)) ^ k2</c>, and for x = 0..Calls-1
/// <c>acc = rol(acc, 3) + f(x)</c>. Checksum: <c>a ^ rol(d, 13) ^ acc</c>.
/// </remarks>
public sealed class SelfModifying : Workload
{
    public const int Patches = 16, LoopRuns = 64, Calls = 256;
    public const uint SeedA = 0xC0FFEE, SeedB = 0xBADC0DE, A0 = 0x01234567, D0 = 0x89ABCDEF;

    /// <summary>Stack-machine operations of the guest compiler (the bytecode's opcode numbers).</summary>
    public enum Op : uint { PushX, PushK, Add, Sub, Mul, Xor, Shl, Ror, Ret }

    /// <summary>The program part B compiles; the arguments marked -1..-5 are replaced by k0, k1, k2, s1, s2 each iteration.</summary>
    public static readonly (Op Op, int Arg)[] Program =
    [
        (Op.PushX, 0), (Op.PushK, -1), (Op.Mul, 0), (Op.PushX, 0), (Op.Shl, -4), (Op.Xor, 0), (Op.PushK, -2), (Op.Add, 0),
        (Op.PushX, 0), (Op.Ror, -5), (Op.Sub, 0), (Op.PushK, -3), (Op.Xor, 0), (Op.Ret, 0),
    ];

    const int TemplateRecord = 20;

    public override string Name => "self-modifying";
    public override string Description => "patched immediates in a hot loop and a guest compiler regenerating code";
    public override int DefaultIterations => 25_000;

    protected override void EmitMain(KernelBuilder k, KernelRuntime rt, Label main, int iterations)
    {
        var a = k.Code;
        uint loopPage = k.Bss(4096, 4096), genPage = k.Bss(4096, 4096);
        uint vars = k.Bss(32, 4);
        uint stA = vars, stD = vars + 4, lcgA = vars + 8, lcgB = vars + 12, acc = vars + 16, iter = vars + 20;

        // Part A's loop, assembled for the page it will run in; the patch sites are found from the labels that
        // follow each patched instruction (the immediate is its last field).
        var t = new Assembler(32);
        var loopTop = t.CreateLabel();
        var afterAdd = t.CreateLabel();
        var afterRol = t.CreateLabel();
        var afterImul = t.CreateLabel();
        t.Label(ref loopTop);
        t.add(eax, 0x12345678);
        t.Label(ref afterAdd);
        t.xor(edx, eax);
        t.rol(edx, 5);
        t.Label(ref afterRol);
        t.imul(eax, eax, 0x12345679);
        t.Label(ref afterImul);
        t.sub(eax, edx);
        t.dec(ecx);
        t.jnz(loopTop);
        t.ret();
        var (loopBytes, loopResult) = KernelBuilder.AssembleAt(t, loopPage);
        uint patch1 = (uint)loopResult.GetLabelRIP(afterAdd) - 4;
        uint patch2 = (uint)loopResult.GetLabelRIP(afterRol) - 1;
        uint patch3 = (uint)loopResult.GetLabelRIP(afterImul) - 4;
        uint loopTemplate = k.Data(loopBytes);

        // Part B's templates: one 20-byte record per operation: length, distance of the immediate from the end,
        // immediate size (0, 1 or 4), padding, then the code bytes.
        var records = new byte[TemplateRecord * 9];
        foreach (Op op in Enum.GetValues<Op>())
        {
            var x = new Assembler(32);
            int imm = 0;
            switch (op)
            {
                case Op.PushX: x.push(esi); break;
                case Op.PushK: x.push(0x12345678); imm = 4; break;
                case Op.Add: x.pop(eax); x.add(__dword_ptr[esp], eax); break;
                case Op.Sub: x.pop(eax); x.sub(__dword_ptr[esp], eax); break;
                case Op.Mul: x.pop(eax); x.imul(eax, __dword_ptr[esp]); x.mov(__dword_ptr[esp], eax); break;
                case Op.Xor: x.pop(eax); x.xor(__dword_ptr[esp], eax); break;
                case Op.Shl: x.shl(__dword_ptr[esp], 7); imm = 1; break;
                case Op.Ror: x.ror(__dword_ptr[esp], 7); imm = 1; break;
                case Op.Ret: x.pop(eax); x.ret(); break;
            }
            var (bytes, _) = KernelBuilder.AssembleAt(x, 0);
            if (bytes.Length > TemplateRecord - 4) throw new InvalidOperationException($"template {op} too long");
            int r = (int)op * TemplateRecord;
            records[r] = (byte)bytes.Length;
            records[r + 1] = (byte)imm;          // the immediate is the last field: it starts imm bytes before the end
            records[r + 2] = (byte)imm;
            bytes.CopyTo(records, r + 4);
        }
        uint templates = k.Data(records);
        var prog = new uint[Program.Length * 2];
        for (int i = 0; i < Program.Length; i++)
        {
            prog[2 * i] = (uint)Program[i].Op;
            prog[2 * i + 1] = (uint)Program[i].Arg;
        }
        uint program = k.Dwords(prog);
        uint ArgSlot(int marker) => program + 8 * (uint)Array.FindIndex(Program, p => p.Arg == marker) + 4;

        var iterLoop = a.CreateLabel();
        var patchLoop = a.CreateLabel();
        var compile = a.CreateLabel();
        var callLoop = a.CreateLabel();

        a.Label(ref main);
        a.push(ebp);
        a.push(ebx);
        a.push(esi);
        a.push(edi);
        // Copy part A's loop into its page; set the state.
        a.mov(esi, loopTemplate);
        a.mov(edi, loopPage);
        a.mov(ecx, (uint)loopBytes.Length);
        a.rep.movsb();
        a.mov(__dword_ptr[stA], A0);
        a.mov(__dword_ptr[stD], D0);
        a.mov(__dword_ptr[lcgA], SeedA);
        a.mov(__dword_ptr[lcgB], SeedB);
        a.mov(__dword_ptr[acc], 0);
        a.mov(__dword_ptr[iter], (uint)iterations);
        a.Label(ref iterLoop);

        // ---- part A: patch, run 64 iterations, Patches times ----
        a.mov(ebp, Patches);
        a.Label(ref patchLoop);
        a.imul(eax, __dword_ptr[lcgA], 1103515245);
        a.add(eax, 12345);
        a.mov(__dword_ptr[lcgA], eax);
        a.mov(__dword_ptr[patch1], eax);
        a.mov(edx, eax);
        a.shr(edx, 8);
        a.and(dl, 31);
        a.or(dl, 1);
        a.mov(__byte_ptr[patch2], dl);
        a.shr(eax, 4);
        a.or(eax, 1);
        a.mov(__dword_ptr[patch3], eax);
        a.mov(eax, __dword_ptr[stA]);
        a.mov(edx, __dword_ptr[stD]);
        a.mov(ecx, LoopRuns);
        a.call(loopPage);
        a.mov(__dword_ptr[stA], eax);
        a.mov(__dword_ptr[stD], edx);
        a.dec(ebp);
        a.jnz(patchLoop);

        // ---- part B: new constants, compile, call ----
        void NextB()
        {
            a.imul(eax, __dword_ptr[lcgB], 1664525);
            a.add(eax, 1013904223);
            a.mov(__dword_ptr[lcgB], eax);
        }
        NextB();
        a.or(eax, 1);
        a.mov(__dword_ptr[ArgSlot(-1)], eax);
        NextB();
        a.mov(__dword_ptr[ArgSlot(-2)], eax);
        NextB();
        a.mov(__dword_ptr[ArgSlot(-3)], eax);
        NextB();
        a.and(eax, 31);
        a.mov(__dword_ptr[ArgSlot(-4)], eax);
        NextB();
        a.and(eax, 31);
        a.mov(__dword_ptr[ArgSlot(-5)], eax);
        a.call(compile);
        a.xor(esi, esi);
        a.Label(ref callLoop);
        a.call(genPage);
        a.mov(edx, __dword_ptr[acc]);
        a.rol(edx, 3);
        a.add(edx, eax);
        a.mov(__dword_ptr[acc], edx);
        a.inc(esi);
        a.cmp(esi, Calls);
        a.jb(callLoop);

        a.dec(__dword_ptr[iter]);
        a.jnz(iterLoop);
        a.mov(eax, __dword_ptr[stD]);
        a.rol(eax, 13);
        a.xor(eax, __dword_ptr[stA]);
        a.xor(eax, __dword_ptr[acc]);
        a.pop(edi);
        a.pop(esi);
        a.pop(ebx);
        a.pop(ebp);
        a.ret();

        // compile: the program at `program` into genPage. For each (op, arg): copy the op's template, then store
        // arg into its immediate (4 or 1 bytes, ending where the template ends). Stops after Ret.
        var next = a.CreateLabel();
        var imm8 = a.CreateLabel();
        var noImm = a.CreateLabel();
        var compileLoop = a.CreateLabel();
        a.Label(ref compile);
        a.push(esi);
        a.mov(esi, program);
        a.mov(edi, genPage);
        a.Label(ref compileLoop);
        a.imul(ebx, __dword_ptr[esi], TemplateRecord);
        a.add(ebx, templates);
        a.push(esi);
        a.lea(esi, __dword_ptr[ebx + 4]);
        a.movzx(ecx, __byte_ptr[ebx]);
        a.rep.movsb();
        a.pop(esi);
        a.movzx(ecx, __byte_ptr[ebx + 2]);
        a.test(ecx, ecx);
        a.jz(noImm);
        a.mov(eax, __dword_ptr[esi + 4]);
        a.mov(edx, edi);
        a.movzx(ecx, __byte_ptr[ebx + 1]);
        a.sub(edx, ecx);
        a.cmp(__byte_ptr[ebx + 2], 1);
        a.je(imm8);
        a.mov(__dword_ptr[edx], eax);
        a.jmp(noImm);
        a.Label(ref imm8);
        a.mov(__byte_ptr[edx], al);
        a.Label(ref noImm);
        a.cmp(__dword_ptr[esi], (uint)Op.Ret);
        a.je(next);
        a.add(esi, 8);
        a.jmp(compileLoop);
        a.Label(ref next);
        a.pop(esi);
        a.ret();
    }
}
