using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>Regions (several blocks of a page in one method), their invalidation, and the thrash limit, on the auto/jit engine.</summary>
public class RegionTests
{
    static (Processor Cpu, JitEngine Jit, Interpreter Ref, Processor RefCpu) Build(byte[] code, int threshold = 0, bool background = false)
    {
        var side = Pair.Side(CpuModel.Pentium, 1 << 20, jit: false);
        var mem = new Core.PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.Pentium, mem, new Core.IoBus());
        var jit = new JitEngine(cpu, threshold, background);
        Pair.RealMode(cpu, mem, code);
        Pair.RealMode(side.Cpu, side.Memory, code);
        return (cpu, jit, (Interpreter)side.Engine, side.Cpu);
    }

    // A loop of three blocks: the body, a conditional NEG, and the counter.
    static byte[] ThreeBlockLoop(uint passes = 1000) => Pair.Assemble(16, 0, a =>
    {
        var top = a.CreateLabel();
        var skip = a.CreateLabel();
        a.mov(ecx, passes);
        a.xor(eax, eax);
        a.Label(ref top);
        a.add(eax, ecx);
        a.test(al, 1);
        a.jz(skip);
        a.neg(edx);
        a.Label(ref skip);
        a.inc(edx);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    });

    [Fact]
    public void ALoopSpanningBlocksRunsInsideOneTranslation()
    {
        var (cpu, jit, reference, refCpu) = Build(ThreeBlockLoop());
        Assert.Equal(StopReason.Halted, jit.Run(1_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(1_000_000));
        Assert.Equal(refCpu.Eax, cpu.Eax);
        Assert.Equal(refCpu.Edx, cpu.Edx);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        // 1000 passes of 5-6 instructions, but only a handful of dispatches: the loop stays in the method.
        var s = jit.GetStatistics();
        Assert.True(s.CacheLookups < 10, $"{s.CacheLookups} dispatches");
        Assert.True(jit.BlocksCompiled <= 3, $"{jit.BlocksCompiled} translations");
    }

    [Fact]
    public void BackgroundTranslationsAreInstalledAndChangeNothing()
    {
        var (cpu, jit, reference, refCpu) = Build(ThreeBlockLoop(10_000_000), threshold: 32, background: true);
        while (!cpu.Halted) jit.Run(100_000);
        Assert.Equal(StopReason.Halted, reference.Run(200_000_000));
        Assert.Equal(refCpu.Eax, cpu.Eax);
        Assert.Equal(refCpu.Edx, cpu.Edx);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        // The worker compiled the loop while the interpreter ran it; the rest of the run used the translation.
        Assert.True(jit.BlocksCompiled > 0, "no background translation was installed");
        Assert.True(jit.GetStatistics().TranslatedInstructions > 0);
    }

    [Fact]
    public void MappingAROMMovesGuestRamAndDropsEveryTranslation()
    {
        // Translations address guest RAM's host array directly; mapping a ROM too large for the room reserved
        // behind RAM replaces that array.
        var code = Pair.Assemble(16, 0, a =>
        {
            var top = a.CreateLabel();
            a.mov(cx, 3000);
            a.mov(si, 0x400);
            a.Label(ref top);
            a.add(__word_ptr[si], cx);
            a.mov(ax, __word_ptr[si]);
            a.add(si, 2);
            a.and(si, 0x7FE);
            a.or(si, 0x400);
            a.dec(cx);
            a.jnz(top);
            a.hlt();
        });
        var (cpu, jit, reference, refCpu) = Build(code);
        // Twice: the first run leaves at the loop head, the second compiles the loop's own region and runs it.
        for (int k = 0; k < 2; k++)
        {
            Assert.Equal(StopReason.Budget, jit.Run(1000));
            Assert.Equal(StopReason.Budget, reference.Run(1000));
        }
        long before = jit.BlocksCompiled;
        var oldRam = cpu.Memory.Backing;
        cpu.Memory.MapRom(0xFFE00000, new byte[2 << 20]);
        refCpu.Memory.MapRom(0xFFE00000, new byte[2 << 20]);
        Assert.NotSame(oldRam, cpu.Memory.Backing);
        Assert.Equal(StopReason.Halted, jit.Run(1_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(1_000_000));
        Assert.True(jit.BlocksCompiled > before, "the loop was not translated again for the new array");
        Assert.Equal(refCpu.Eax, cpu.Eax);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        Assert.True(refCpu.Memory.Backing.AsSpan(0x400, 0x400).SequenceEqual(cpu.Memory.Backing.AsSpan(0x400, 0x400)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ATranslationThatCannotBeBuiltLeavesTheBlockToTheInterpreter(bool background)
    {
        // A translator with a broken emitter for NOP: building any region holding one throws.
        var table = new Translation.EmitterTable();
        table.Add(Iced.Intel.Code.Nopw, (Translation.EmitContext cx, ref Cpu.Decoding.Insn i) => throw new InvalidOperationException("broken emitter"), Translation.FlagUse.None);
        var code = Pair.Assemble(16, 0, a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 200_000);
            a.Label(ref top);
            a.add(eax, ecx);
            a.nop();
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        var side = Pair.Side(CpuModel.Pentium, 1 << 20, jit: false);
        var mem = new Core.PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.Pentium, mem, new Core.IoBus());
        var jit = new JitEngine(cpu, new Translation.Translator(table), threshold: background ? 8 : 0, background);
        Pair.RealMode(cpu, mem, code);
        Pair.RealMode(side.Cpu, side.Memory, code);
        while (!cpu.Halted) jit.Run(100_000);
        Assert.Equal(StopReason.Halted, side.Engine.Run(10_000_000));
        Assert.Equal(side.Cpu.Eax, cpu.Eax);
        Assert.Equal(side.Cpu.InstructionCount, cpu.InstructionCount);
        // In the background the failure may be reported after the guest is done: collect it (Run installs or
        // records finished work before it looks at the halted CPU).
        for (int k = 0; k < 500 && jit.CompileFailures == 0; k++)
        {
            Thread.Sleep(10);
            jit.Run(1);
        }
        Assert.True(jit.CompileFailures > 0);
        Assert.Contains("broken emitter", jit.FirstCompileFailure);
        Assert.Equal(jit.CompileFailures, jit.GetStatistics().CompileFailures);
    }

    [Fact]
    public void DirectExitsToAnotherPageFollowSuccessorLinks()
    {
        // The loop's body is in the next page (not gathered into the region): every pass leaves the translation
        // through a direct JMP and comes back through one, which the dispatcher follows by the blocks' links.
        var code = Pair.Assemble(16, 0, a =>
        {
            var top = a.CreateLabel();
            var far = a.CreateLabel();
            a.mov(ecx, 5000);
            a.Label(ref top);
            a.jmp(far);
            for (int k = 0; k < 0x1010; k++) a.nop();
            a.Label(ref far);
            a.add(eax, ecx);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        var (cpu, jit, reference, refCpu) = Build(code);
        Assert.Equal(StopReason.Halted, jit.Run(10_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(10_000_000));
        Assert.Equal(refCpu.Eax, cpu.Eax);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        var s = jit.GetStatistics();
        Assert.True(s.LinkedDispatches > 9000, $"{s.LinkedDispatches} linked dispatches, {s.CacheLookups} lookups");
        Assert.True(s.CacheLookups < 100, $"{s.CacheLookups} lookups");
    }

    [Fact]
    public void ALinkIsNotFollowedAcrossARemapOfItsTarget()
    {
        // Flat 32-bit code with paging: linear 400000h (the loop) jumps to 401000h and back. Halfway, the loop
        // points 401000h's page table entry at other code and INVLPGs it; the direct exit's link must not keep
        // going to the old frame.
        const uint Pd = 0x8000, PtLow = 0x9000, PtHigh = 0xA000, LoopFrame = 0x30000, FrameA = 0x31000, FrameB = 0x32000;
        const uint Pte401 = PtHigh + 4;
        var loop = new Iced.Intel.Assembler(32);
        var top = loop.CreateLabel();
        var back = loop.CreateLabel();
        var done = loop.CreateLabel();
        var same = loop.CreateLabel();
        loop.mov(ecx, 2000);
        loop.xor(ebx, ebx);
        loop.Label(ref top);
        loop.jmp(0x401000);
        loop.Label(ref back);
        loop.add(ebx, eax);
        loop.dec(ecx);
        loop.jz(done);
        loop.cmp(ecx, 1000);
        loop.jne(same);
        loop.mov(__dword_ptr[Pte401], FrameB | 7);
        loop.invlpg(__[0x401000]);
        loop.Label(ref same);
        loop.jmp(top);
        loop.Label(ref done);
        loop.hlt();
        var w = new List<byte>();
        var result = loop.Assemble(new ListWriter(w), 0x400000, Iced.Intel.BlockEncoderOptions.ReturnNewInstructionOffsets);
        uint backAddress = (uint)result.GetLabelRIP(back);
        byte[] Target(uint value) => Pair.Assemble(32, 0x401000, a => { a.mov(eax, value); a.jmp(backAddress); });

        void Setup(Processor cpu, Core.PhysicalMemory mem)
        {
            cpu.Reset();
            mem.Poke(LoopFrame, [.. w]);
            mem.Poke(FrameA, Target(1));
            mem.Poke(FrameB, Target(2));
            mem.Poke(Pd, BitConverter.GetBytes(PtLow | 7));
            mem.Poke(Pd + 4, BitConverter.GetBytes(PtHigh | 7));
            for (uint p = 0; p < 256; p++) mem.Poke(PtLow + p * 4, BitConverter.GetBytes((p << 12) | 7));
            mem.Poke(PtHigh, BitConverter.GetBytes(LoopFrame | 7));
            mem.Poke(Pte401, BitConverter.GetBytes(FrameA | 7));
            cpu.Cr3 = Pd;
            cpu.WriteCr0(cpu.Cr0 | Processor.Cr0PE | Processor.Cr0PG);
            Pair.FlatProtectedMode(cpu, eip: 0x400000, esp: 0x7000);
        }
        var side = Pair.Side(CpuModel.Pentium, 1 << 20, jit: false);
        var mem = new Core.PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.Pentium, mem, new Core.IoBus());
        var jit = new JitEngine(cpu, threshold: 0);
        Setup(cpu, mem);
        Setup(side.Cpu, side.Memory);
        Assert.Equal(StopReason.Halted, jit.Run(1_000_000));
        Assert.Equal(StopReason.Halted, side.Engine.Run(1_000_000));
        Assert.Equal(1000u * 1 + 1000u * 2, side.Cpu.Ebx);
        Assert.Equal(side.Cpu.Ebx, cpu.Ebx);
        Assert.True(jit.GetStatistics().LinkedDispatches > 1000);
    }

    sealed class ListWriter(List<byte> bytes) : Iced.Intel.CodeWriter
    {
        public override void WriteByte(byte value) => bytes.Add(value);
    }

    [Fact]
    public void ABlockRunOnlyOnceStaysOutOfTheRegion()
    {
        // The INC DX block runs on the first pass only; the loop's other two blocks run 300 times each.
        var code = Pair.Assemble(16, 0, a =>
        {
            var top = a.CreateLabel();
            var skip = a.CreateLabel();
            a.mov(cx, 300);
            a.xor(bx, bx);
            a.xor(dx, dx);
            a.Label(ref top);
            a.cmp(cx, 300);
            a.jne(skip);
            a.inc(dx);
            a.Label(ref skip);
            a.inc(bx);
            a.dec(cx);
            a.jnz(top);
            a.hlt();
        });
        // At a threshold of 32 a member must have run 32 / MemberRunDivisor = 2 times.
        Assert.Equal(2, 32 / JitEngine.MemberRunDivisor);
        var (cpu, jit, reference, refCpu) = Build(code, threshold: 32);
        Assert.Equal(StopReason.Halted, jit.Run(1_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(1_000_000));
        Assert.Equal(300u, cpu.Ebx & 0xFFFF);
        Assert.Equal(1u, cpu.Edx & 0xFFFF);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        var stats = jit.GetStatistics();
        Assert.Equal(1, stats.BlocksCompiled);
        Assert.Equal(2, stats.BlocksTranslated);            // the compare and the counter; not the INC
        // With every decoded block taken in (a threshold below the divisor), the INC's block is a member too.
        var (cpu2, jit2, _, _) = Build(code, threshold: 8);
        Assert.Equal(StopReason.Halted, jit2.Run(1_000_000));
        Assert.Equal(1u, cpu2.Edx & 0xFFFF);
        Assert.True(jit2.GetStatistics().BlocksTranslated > 2);
    }

    [Fact]
    public void TheBudgetStillEndsALoopInsideATranslation()
    {
        var (cpu, jit, _, _) = Build(ThreeBlockLoop());
        Assert.Equal(StopReason.Budget, jit.Run(100));
        Assert.InRange(cpu.InstructionCount, 100, 110);
    }

    [Fact]
    public void RecursionReturnsInsideTheTranslation()
    {
        // sum(n) = n + sum(n - 1) by recursion: CALL to the function and RET to its return site are both in the region.
        var code = Pair.Assemble(16, 0, a =>
        {
            var f = a.CreateLabel();
            var leaf = a.CreateLabel();
            a.mov(cx, 200);
            a.xor(ax, ax);
            a.call(f);
            a.hlt();
            a.Label(ref f);
            a.jcxz(leaf);
            a.add(ax, cx);
            a.dec(cx);
            a.call(f);
            a.Label(ref leaf);
            a.ret();
        });
        var (cpu, jit, reference, refCpu) = Build(code);
        Assert.Equal(StopReason.Halted, jit.Run(1_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(1_000_000));
        Assert.Equal(200 * 201 / 2, (int)cpu.Eax & 0xFFFF);
        Assert.Equal(refCpu.Eax, cpu.Eax);
        Assert.Equal(refCpu.Esp, cpu.Esp);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        Assert.True(jit.GetStatistics().CacheLookups < 20, $"{jit.GetStatistics().CacheLookups} dispatches for 200 calls");
    }

    [Fact]
    public void WritingIntoAMemberDropsTheRegionAndTakesEffect()
    {
        // The loop's second block holds "add edx, 1"; after the first pass the loop patches its immediate to 5.
        var code = Pair.Assemble(16, 0, a =>
        {
            var top = a.CreateLabel();
            var second = a.CreateLabel();
            var patched = a.CreateLabel();
            a.mov(ecx, 10);
            a.xor(edx, edx);
            a.Label(ref top);
            a.cmp(ecx, 10);
            a.jne(second);
            a.mov(__byte_ptr.cs[0x100], 5);       // patch (address fixed below)
            a.Label(ref second);
            a.add(dx, 1);
            a.Label(ref patched);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        // Find the immediate of "add dx, 1" (83 C2 01) and point the patching store at it.
        int imm = -1;
        for (int k = 0; k + 2 < code.Length; k++)
            if (code[k] == 0x83 && code[k + 1] == 0xC2 && code[k + 2] == 0x01) imm = k + 2;
        Assert.True(imm > 0);
        for (int k = 0; k + 4 < code.Length; k++)
            if (code[k] == 0x2E && code[k + 1] == 0xC6 && code[k + 2] == 0x06) { code[k + 3] = (byte)imm; code[k + 4] = 0; }
        var (cpu, jit, reference, refCpu) = Build(code);
        Assert.Equal(StopReason.Halted, jit.Run(1_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(1_000_000));
        Assert.Equal(refCpu.Edx, cpu.Edx);
        Assert.True(10 * 5 == (int)cpu.Edx, Convert.ToHexString(code));
        Assert.Equal(refCpu.Edx, cpu.Edx);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
    }

    /// <summary>Sets the addresses of the program's "mov cs:[addr], bl" stores (2E 88 1E lo hi), in order, to <paramref name="targets"/>.</summary>
    static void PatchStores(byte[] code, params int[] targets)
    {
        int next = 0;
        for (int k = 0; k + 4 < code.Length && next < targets.Length; k++)
            if (code[k] == 0x2E && code[k + 1] == 0x88 && code[k + 2] == 0x1E)
            {
                code[k + 3] = (byte)targets[next];
                code[k + 4] = (byte)(targets[next] >> 8);
                next++;
            }
        Assert.Equal(targets.Length, next);
    }

    [Fact]
    public void APageRewrittenOverAndOverStopsBeingCompiled()
    {
        // Each pass rewrites the immediate of "mov al, imm" in the called routine, then calls it 40 times.
        var code = Pair.Assemble(16, 0, a =>
        {
            var outer = a.CreateLabel();
            var inner = a.CreateLabel();
            var routine = a.CreateLabel();
            a.mov(si, 50);
            a.Label(ref outer);
            a.mov(bx, si);
            a.mov(__byte_ptr.cs[0x200], bl);     // patch (address fixed below)
            a.mov(di, 40);
            a.Label(ref inner);
            a.call(routine);
            a.add(dx, ax);
            a.dec(di);
            a.jnz(inner);
            a.dec(si);
            a.jnz(outer);
            a.hlt();
            a.Label(ref routine);
            a.mov(ax, 0x77);
            a.ret();
        });
        int imm = code.AsSpan().IndexOf((ReadOnlySpan<byte>)[0xB8, 0x77, 0x00, 0xC3]) + 1;
        Assert.True(imm > 0);
        PatchStores(code, imm);
        var (cpu, jit, reference, refCpu) = Build(code, threshold: 4);
        Assert.Equal(StopReason.Halted, jit.Run(10_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(10_000_000));
        Assert.Equal(refCpu.Edx, cpu.Edx);
        Assert.Equal(refCpu.InstructionCount, cpu.InstructionCount);
        Assert.True(jit.ThrashRefusals > 0, "the rewritten page was never refused");
        // The routine's page is the whole program here: after ThrashLimit rewrites nothing more is compiled.
        Assert.True(jit.BlocksCompiled < 50, $"{jit.BlocksCompiled} translations for 50 rewrites");
    }

    [Fact]
    public void RewritingCodeThatWasOnlyDecodedDoesNotStopCompilation()
    {
        // Six routines run once (decoded, never compiled), then each gets one byte rewritten, as Linux turns every
        // function's ftrace call into a NOP at boot; then a hot loop on the same page must still be compiled.
        var code = Pair.Assemble(16, 0, a =>
        {
            var loop = a.CreateLabel();
            var hot = a.CreateLabel();
            var cold = new Iced.Intel.Label[6];
            for (int k = 0; k < 6; k++) cold[k] = a.CreateLabel();
            a.xor(dx, dx);
            for (int k = 0; k < 6; k++) a.call(cold[k]);
            a.mov(bl, 0x11);
            for (int k = 0; k < 6; k++) a.mov(__byte_ptr.cs[0x200 + k], bl);    // patched below to each routine's immediate
            a.mov(di, 300);
            a.Label(ref loop);
            a.call(hot);
            a.add(dx, ax);
            a.dec(di);
            a.jnz(loop);
            a.hlt();
            for (int k = 0; k < 6; k++)
            {
                a.Label(ref cold[k]);
                a.mov(al, (byte)(0x70 + k));
                a.ret();
            }
            a.Label(ref hot);
            a.mov(ax, 5);
            a.ret();
        });
        var immediates = new int[6];
        for (int k = 0; k < 6; k++)
        {
            immediates[k] = code.AsSpan().IndexOf((ReadOnlySpan<byte>)[0xB0, (byte)(0x70 + k), 0xC3]) + 1;
            Assert.True(immediates[k] > 0);
        }
        PatchStores(code, immediates);
        var (cpu, jit, reference, refCpu) = Build(code, threshold: 4);
        Assert.Equal(StopReason.Halted, jit.Run(10_000_000));
        Assert.Equal(StopReason.Halted, reference.Run(10_000_000));
        Assert.Equal(refCpu.Edx, cpu.Edx);
        Assert.Equal(300u * 5, cpu.Edx & 0xFFFF);
        Assert.True(jit.Invalidations >= 6, $"{jit.Invalidations} invalidations");
        Assert.Equal(0, jit.ThrashRefusals);
        Assert.True(jit.BlocksCompiled > 0, "the hot loop was never compiled");
    }
}

