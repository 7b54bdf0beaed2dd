using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// With paging off, code above 1 MiB reads RAM above 1 MiB straight from the backing array, skipping the TLB; the
/// method checks on entry that paging is still off and the A20 gate still open. Here a routine above 1 MiB, first
/// translated with paging off, runs again after the program turns paging on with a page table that maps its data
/// page elsewhere, and after it closes the A20 gate, against the interpreter. Reads below 1 MiB, of the last byte of
/// RAM and past the end of RAM take the slow path and must still agree.
/// </summary>
public class DirectReadTests
{
    const uint Ram = 1 << 22;                 // 4 MiB
    const uint Routine = 0x240000;            // above 1 MiB (and A20 does not alias it): direct reads
    const uint Data = 0x280000;               // linear page the routine reads
    const uint Moved = 0x290000;              // where the page table maps it once paging is on
    const uint Pd = 0x10000, Pt = 0x11000, Pt2 = 0x12000;

    static byte[] Program() => Pair.Assemble(32, 0x1000, a =>
    {
        var round = a.CreateLabel();
        var calls = a.CreateLabel();
        var paged = a.CreateLabel();
        var done = a.CreateLabel();
        a.xor(esi, esi);
        a.xor(edi, edi);
        a.mov(ebp, 3);                          // three rounds: paging off, paging on, A20 closed (paging off again)
        a.Label(ref round);
        a.mov(ecx, 60);
        a.Label(ref calls);
        a.call(Routine);
        a.dec(ecx);
        a.jnz(calls);
        a.dec(ebp);
        a.jz(done);
        a.cmp(ebp, 2);
        a.jne(paged);
        a.mov(eax, Pd);
        a.mov(cr3, eax);
        a.mov(eax, cr0);
        a.or(eax, 0x80000000);
        a.mov(cr0, eax);
        a.jmp(round);
        a.Label(ref paged);
        a.mov(eax, cr0);
        a.and(eax, 0x7FFFFFFF);
        a.mov(cr0, eax);
        a.@in(al, 0x92);
        a.and(al, 0xFD);                        // port 92h bit 1: the A20 gate
        a.@out(0x92, al);
        a.jmp(round);
        a.Label(ref done);
        a.hlt();
    });

    static byte[] RoutineCode() => Pair.Assemble(32, Routine, a =>
    {
        a.mov(eax, __dword_ptr[edi * 4 + Data]);
        a.add(esi, eax);
        a.movzx(eax, __word_ptr[Data + 0x802]);
        a.add(esi, eax);
        a.movzx(eax, __byte_ptr[Ram - 1]);    // the last byte of RAM: still direct (with A20 closed, 2FFFFFh)
        a.add(esi, eax);
        a.add(esi, __dword_ptr[Ram - 2]);     // half past the end of RAM: slow path
        a.add(esi, __dword_ptr[edi * 4 + 0x8000]);   // below 1 MiB: slow path
        a.add(esi, __dword_ptr[0x100000 + 0x8000]);  // 1 MiB + 8000h: with A20 closed it is 8000h
        a.inc(edi);
        a.and(edi, 0x1F);
        a.ret();
    });

    [Fact]
    public void TranslatedReadsFollowPagingAndTheA20GateOnceTheyChange()
    {
        var lockstep = Pair.Create(CpuModel.Pentium, Ram);
        var program = Program();
        var routine = RoutineCode();
        lockstep.Both((c, m) =>
        {
            c.Reset();
            m.Poke(0x1000, program);
            m.Poke(Routine, routine);
            for (uint k = 0; k < 0x1000; k++)
            {
                m.Poke(Data + k, [(byte)(k * 7 + 1)]);
                m.Poke(Moved + k, [(byte)(k * 13 + 5)]);
                m.Poke(0x8000 + k, [(byte)(k * 3 + 2)]);
                m.Poke(0x108000 + k, [(byte)(k * 5 + 9)]);
            }
            m.Poke(Ram - 4, [0x11, 0x22, 0x33, 0x44]);
            m.Poke(Pd, BitConverter.GetBytes(Pt | 7));
            m.Poke(Pd + 4, BitConverter.GetBytes(Pt2 | 7));
            for (uint p = 0; p < 1024; p++)
            {
                m.Poke(Pt + p * 4, BitConverter.GetBytes((p << 12) | 7));
                m.Poke(Pt2 + p * 4, BitConverter.GetBytes((Ram + (p << 12)) | 7));
            }
            m.Poke(Pt + (Data >> 12) * 4, BitConverter.GetBytes(Moved | 7));
            Pair.FlatProtectedMode(c, eip: 0x1000, esp: 0x7000);
            c.A20Enabled = true;
            c.Io.Register(Devices.SystemControlPortA.Port, 1, new Devices.SystemControlPortA(c));
        });
        Assert.Null(lockstep.Run(200_000));
        var cpu = lockstep.Candidate.Cpu;
        Assert.True(cpu.Halted, $"EIP={cpu.Eip:X} EBP={cpu.Ebp} ECX={cpu.Ecx} n={cpu.InstructionCount} cr0={cpu.Cr0:X} shutdown={cpu.Shutdown}");
        Assert.False(cpu.A20Enabled);
        Assert.Equal(lockstep.Reference.Cpu.Esi, cpu.Esi);
        // The routine ran translated in the first round (so the later rounds tested the entry check, not a first compile).
        Assert.True(lockstep.Candidate.Engine is JitEngine j && j.GetStatistics().TranslatedInstructions > 500);
    }
}
