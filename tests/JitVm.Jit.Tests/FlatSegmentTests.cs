using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// Accesses through flat segments (base 0, 4 GiB limit) skip the limit check and the base in translated code; the
/// method checks on entry that the segments it treats so are still flat. Here in "unreal" mode (real mode with
/// 4 GiB cached limits), where a plain real-mode segment load changes the base but keeps the limit: the same
/// translated routine runs with DS flat, then with a DS base of 1000h, then flat again, against the interpreter.
/// </summary>
public class FlatSegmentTests
{
    const ushort Routine = 0x2000;           // a page of its own (10000h + 2000h), so it is a region of its own

    static byte[] Program() => Pair.Assemble(16, 0, a =>
    {
        var again = a.CreateLabel();
        a.mov(ebx, 0x3000);
        a.mov(esi, 0x4000);
        a.xor(edi, edi);
        a.mov(bp, 3);                          // three rounds: DS flat, DS based at 1000h, DS flat again
        a.Label(ref again);
        a.mov(cx, 40);
        var calls = a.CreateLabel();
        a.Label(ref calls);
        a.call((ulong)Routine);
        a.dec(cx);
        a.jnz(calls);
        a.mov(ax, ds);
        a.xor(ax, 0x100);                       // 0 ↔ 100h: base 0 ↔ 1000h, the 4 GiB limit stays
        a.mov(ds, ax);
        a.dec(bp);
        a.jnz(again);
    });

    static byte[] RoutineCode() => Pair.Assemble(16, Routine, a =>
    {
        // 32-bit addressing (67h) through DS and ES, reads and writes, and one dword straddling FFFFFFFFh.
        a.mov(eax, __dword_ptr[ebx + edi * 4]);
        a.add(__dword_ptr[esi + edi * 4], eax);
        a.mov(edx, __dword_ptr.es[esi]);
        a.push(ebx);
        a.mov(ebx, 0xFFFFFFFE);
        a.add(edx, __dword_ptr[ebx]);
        a.pop(ebx);
        a.mov(__dword_ptr.es[ebx + 0x100], edx);
        a.inc(edi);
        a.and(edi, 0x3F);
        a.ret();
    });

    [Fact]
    public void TranslatedAccessesFollowTheSegmentBaseOnceItIsNoLongerFlat()
    {
        var lockstep = Pair.Create(CpuModel.Pentium, 1 << 21);
        var code = Program();
        lockstep.Both((c, m) =>
        {
            Pair.RealMode(c, m, code);
            m.Poke(0x10000u + Routine, RoutineCode());
            foreach (int s in new[] { SegReg.DS, SegReg.ES })
                c.LoadRealModeSegmentFull(s, 0, 0, 0xFFFFFFFF, Segment.RealModeData);
            for (uint k = 0; k < 0x3000; k++) m.Poke(0x3000 + k, [(byte)(k * 7 + 1)]);
        });
        Assert.Null(lockstep.Run(100_000));
        var cpu = lockstep.Candidate.Cpu;
        Assert.True(cpu.Halted);
        Assert.Equal(0u, cpu.Seg[SegReg.DS].Base ^ 0x1000);    // three flips: ends based at 1000h
        // The second round read and wrote 1000h higher: the first dword of [4000h] gained a DS-based sum.
        var mem = lockstep.Candidate.Memory;
        uint Dword(uint at) => mem.Read8(at) | (uint)mem.Read8(at + 1) << 8 | (uint)mem.Read8(at + 2) << 16 | (uint)mem.Read8(at + 3) << 24;
        Assert.NotEqual(Dword(0x4000), Dword(0x5000));
    }
}
