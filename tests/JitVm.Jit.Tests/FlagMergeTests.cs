using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// Flags that live across a merge point of a region: the join of an if/else whose arms set them differently (an
/// INC, which keeps the carry of the ADD before it, against a SUB), read there by ADC and by a fault's pushed
/// FLAGS image. The translation carries them in its dynamic flag locals; they must be exactly the interpreter's.
/// </summary>
public class FlagMergeTests
{
    static byte[] Program(ushort startSi) => Pair.Assemble(16, 0, a =>
    {
        var top = a.CreateLabel();
        var carry = a.CreateLabel();
        var join = a.CreateLabel();
        a.mov(cx, 300);
        a.mov(si, startSi);
        a.xor(ax, ax);
        a.xor(bx, bx);
        a.xor(dx, dx);
        a.mov(di, 0x7777);
        a.Label(ref top);
        a.dec(si);
        a.add(ax, 0x9E37);
        a.jc(carry);
        a.sub(di, 3);
        a.jmp(join);
        a.Label(ref carry);
        a.inc(dx);
        a.Label(ref join);
        a.mov(__word_ptr[si], ax);      // a word at DS:FFFF is beyond the limit: #GP with the merged flags pushed
        a.adc(bx, 0);
        a.dec(cx);
        a.jnz(top);
    });

    [Theory]
    [InlineData(0x2000, false)]
    [InlineData(0x0020, true)]
    public void FlagsMergedFromDifferentProducersMatchTheInterpreter(int startSi, bool faults)
    {
        var lockstep = Pair.Create(CpuModel.Pentium);
        var code = Program((ushort)startSi);
        lockstep.Both((c, m) => Pair.RealMode(c, m, code));
        Assert.Null(lockstep.Run(10_000));
        var cpu = lockstep.Candidate.Cpu;
        Assert.True(cpu.Halted);
        // What the loop computes, independently of either engine.
        ushort ax = 0, bx = 0, dx = 0, di = 0x7777, si = (ushort)startSi;
        int iterations = 0;
        bool faulted = false;
        for (int k = 0; k < 300; k++)
        {
            si--;
            int sum = ax + 0x9E37;
            ax = (ushort)sum;
            bool cf = sum > 0xFFFF;
            if (cf) dx++; else di -= 3;
            if (si == 0xFFFF)
            {
                faulted = true;
                break;
            }
            bx = (ushort)(bx + (cf ? 1 : 0));
            iterations++;
        }
        Assert.Equal(faults, faulted);
        Assert.Equal(ax, (ushort)cpu.Eax);
        Assert.Equal(bx, (ushort)cpu.Ebx);
        Assert.Equal(dx, (ushort)cpu.Edx);
        Assert.Equal(di, (ushort)cpu.Edi);
        if (faults)
        {
            // The #GP pushed FLAGS, CS, IP: CF is the merged carry of the faulting iteration's ADD (kept by INC).
            var mem = lockstep.Candidate.Memory;
            uint flagsAt = 0x20000 + 0xFFFE - 2;
            ushort pushedFlags = (ushort)(mem.Read8(flagsAt) | mem.Read8(flagsAt + 1) << 8);
            bool carryThen = ((uint)(ax - 0x9E37) & 0xFFFF) + 0x9E37 > 0xFFFF;
            Assert.Equal(carryThen, (pushedFlags & 1) != 0);
        }
        var stats = ((JitEngine)lockstep.Candidate.Engine).GetStatistics();
        Assert.True(stats.BlocksTranslated >= 4, $"{stats.BlocksTranslated} blocks translated");
    }
}
