using JitVm.Cpu.Instructions;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class StringTests
{
    const uint Src = 0x1000, Dst = 0x2000;

    static void Poke(TestMachine m, uint addr, string ascii) => m.Memory.Poke(addr, System.Text.Encoding.ASCII.GetBytes(ascii));

    static string Peek(TestMachine m, uint addr, int n)
    {
        var b = new byte[n];
        m.Memory.ReadBytes(addr, b);
        return System.Text.Encoding.ASCII.GetString(b);
    }

    static bool Flag(TestMachine m, uint f) => (m.Cpu.GetEflags() & f) != 0;

    /// <summary>The IP the exception pushed (SS=2000, SP was FFFE: IP is at 2000:FFF8).</summary>
    static ushort PushedIp(TestMachine m) => m.Read16(0x2FFF8);

    [Fact]
    public void RepMovsbCopiesForward()
    {
        var m = new TestMachine();
        Poke(m, Src, "HELLO, WORLD");
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 12;
        m.Load(x => { x.cld(); x.rep.movsb(); });
        m.Run();
        Assert.Equal("HELLO, WORLD", Peek(m, Dst, 12));
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.Equal(Src + 12, m.Cpu.Esi);
        Assert.Equal(Dst + 12, m.Cpu.Edi);
        Assert.Equal(0, m.Memory.Read8(Dst + 12));
    }

    [Fact]
    public void RepMovsbBackwardCopiesOverlappingRangeFromTheTop()
    {
        var m = new TestMachine();
        // Move "ABCDE" two bytes up in place: only a top-down copy (DF=1) gives "ABABCDE".
        Poke(m, Src, "ABCDE");
        m.Cpu.Esi = Src + 4;
        m.Cpu.Edi = Src + 6;
        m.Cpu.Ecx = 5;
        m.Load(x => { x.std(); x.rep.movsb(); });
        m.Run();
        Assert.Equal("ABABCDE", Peek(m, Src, 7));
        Assert.Equal(Src - 1, m.Cpu.Esi);
        Assert.Equal(Src + 1, m.Cpu.Edi);
        Assert.Equal(0u, m.Cpu.Ecx);
    }

    [Fact]
    public void RepMovswStepsByTwo()
    {
        var m = new TestMachine();
        m.Memory.Poke(Src, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 3;
        m.Load(x => x.rep.movsw());
        m.Run();
        Assert.Equal(0x4433, m.Read16(Dst + 2));
        Assert.Equal(0x6655, m.Read16(Dst + 4));
        Assert.Equal(Src + 6, m.Cpu.Esi);
        Assert.Equal(Dst + 6, m.Cpu.Edi);
    }

    [Fact]
    public void RepeCmpsbStopsAtFirstDifference()
    {
        var m = new TestMachine();
        Poke(m, Src, "HELLO");
        Poke(m, Dst, "HELP!");
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 5;
        m.Load(x => x.repe.cmpsb());
        m.Run();
        // Elements H,E,L equal; the fourth ('L' - 'P') differs and ends the loop after its pointers moved.
        Assert.Equal(1u, m.Cpu.Ecx);
        Assert.Equal(Src + 4, m.Cpu.Esi);
        Assert.Equal(Dst + 4, m.Cpu.Edi);
        Assert.False(Flag(m, Processor.FlagZF));
        Assert.True(Flag(m, Processor.FlagCF));      // [SI] - [ES:DI] = 4C - 50 borrows
        Assert.True(Flag(m, Processor.FlagSF));
    }

    [Fact]
    public void RepeCmpsbOverEqualStringsRunsOutWithZfSet()
    {
        var m = new TestMachine();
        Poke(m, Src, "SAME");
        Poke(m, Dst, "SAME");
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 4;
        m.Load(x => x.repe.cmpsb());
        m.Run();
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.True(Flag(m, Processor.FlagZF));
        Assert.Equal(Src + 4, m.Cpu.Esi);
    }

    [Fact]
    public void RepneScasbFindsByte()
    {
        var m = new TestMachine();
        Poke(m, Dst, "abc\0def");
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 10;
        m.Cpu.Eax = 0xFF00;                           // AL = 0; AH must not take part
        m.Load(x => x.repne.scasb());
        m.Run();
        Assert.True(Flag(m, Processor.FlagZF));
        Assert.Equal(Dst + 4, m.Cpu.Edi);             // one past the match
        Assert.Equal(6u, m.Cpu.Ecx);
    }

    [Fact]
    public void RepneScasbWithoutMatchExhaustsCount()
    {
        var m = new TestMachine();
        Poke(m, Dst, "abcdef");
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 6;
        m.Cpu.Eax = 'z';
        m.Load(x => x.repne.scasb());
        m.Run();
        Assert.False(Flag(m, Processor.FlagZF));
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.Equal(Dst + 6, m.Cpu.Edi);
        Assert.False(Flag(m, Processor.FlagCF));      // 'z' - 'f' does not borrow: AL is the minuend
    }

    [Fact]
    public void ScaswComparesAccumulatorWithMemory()
    {
        var m = new TestMachine();
        m.Memory.Poke(Dst, [0x00, 0x80]);             // word 8000
        m.Cpu.Edi = Dst;
        m.Cpu.Eax = 0x7FFF;
        m.Load(x => x.scasw());
        m.Run();
        Assert.True(Flag(m, Processor.FlagOF));       // 7FFF - 8000 overflows
        Assert.True(Flag(m, Processor.FlagCF));
        Assert.Equal(Dst + 2, m.Cpu.Edi);
        Assert.Equal(0x7FFFu, m.Cpu.Eax);
    }

    [Fact]
    public void CountOfZeroExecutesNothingAndKeepsFlags()
    {
        var m = new TestMachine();
        Poke(m, Src, "x");
        Poke(m, Dst, "y");
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 0xABCD0000;                       // CX = 0 (the high half is not the count)
        m.Load(x => { x.stc(); x.repe.cmpsb(); x.rep.stosb(); x.rep.movsb(); });
        m.Run();
        Assert.True(Flag(m, Processor.FlagCF));       // CMPS never ran
        Assert.Equal(Src, m.Cpu.Esi);
        Assert.Equal(Dst, m.Cpu.Edi);
        Assert.Equal(0xABCD0000u, m.Cpu.Ecx);
        Assert.Equal("y", Peek(m, Dst, 1));
    }

    [Fact]
    public void LodsAndStosWithoutRepDoOneElementAndLeaveCx()
    {
        var m = new TestMachine();
        m.Memory.Poke(Src, [0x34, 0x12]);
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 7;
        m.Load(x => { x.lodsw(); x.stosb(); x.stosw(); });
        m.Run();
        Assert.Equal(0x1234u, m.Cpu.Eax);
        Assert.Equal(0x34, m.Memory.Read8(Dst));
        Assert.Equal(0x1234, m.Read16(Dst + 1));
        Assert.Equal(Src + 2, m.Cpu.Esi);
        Assert.Equal(Dst + 3, m.Cpu.Edi);
        Assert.Equal(7u, m.Cpu.Ecx);
    }

    [Fact]
    public void SegmentOverrideChangesSourceOnly()
    {
        var m = new TestMachine();
        m.Cpu.LoadRealModeSegmentFull(SegReg.ES, 0x3000, 0x30000, 0xFFFF, Segment.RealModeData);
        m.Memory.Poke(0x30000 + Src, [0xAB]);         // ES:Src
        m.Memory.Poke(Src, [0xCD]);                   // DS:Src
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.LoadBytes(0x26, 0xA4);                      // ES: MOVSB  — reads ES:SI, writes ES:DI
        m.Run();
        Assert.Equal(0xAB, m.Memory.Read8(0x30000 + Dst));
        Assert.Equal(0, m.Memory.Read8(Dst));
    }

    [Fact]
    public void RepneActsAsRepForMovs()
    {
        var m = new TestMachine();
        Poke(m, Src, "abc");
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 3;
        m.LoadBytes(0xF2, 0xA4);                      // REPNE MOVSB
        m.Run();
        Assert.Equal("abc", Peek(m, Dst, 3));
        Assert.Equal(0u, m.Cpu.Ecx);
    }

    [Fact]
    public void SixteenBitPointersWrapAndKeepTheirHighHalves()
    {
        var m = new TestMachine();
        m.Memory.Poke(0xFFFE, [1, 2]);
        m.Memory.Poke(0x0000, [3]);                   // DS:0000 after the wrap (vector 0's entry; unused here)
        m.Cpu.Esi = 0x1234FFFE;
        m.Cpu.Edi = 0x56780000 + Dst;
        m.Cpu.Ecx = 0xABCD0003;
        m.Load(x => x.rep.movsb());
        m.Run();
        Assert.Equal(0x12340001u, m.Cpu.Esi);
        Assert.Equal(0x56780000 + Dst + 3, m.Cpu.Edi);
        Assert.Equal(0xABCD0000u, m.Cpu.Ecx);
        Assert.Equal(0x030201u, m.Memory.Read32(Dst));
    }

    [Fact]
    public void AddressSize32UsesEcxAndFullEdi()
    {
        var m = new TestMachine();
        m.Cpu.LoadRealModeSegmentFull(SegReg.ES, 0x3000, 0x30000, 0xFFFF, Segment.RealModeData);
        m.Cpu.Edi = 0;
        m.Cpu.Ecx = 0x10000;                          // CX alone would be 0: nothing would happen
        m.Cpu.Eax = 0x5A;
        m.LoadBytes(0x67, 0xF3, 0xAA);                // a32 REP STOSB
        m.Run();
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.Equal(0x10000u, m.Cpu.Edi);            // no 16-bit wrap
        Assert.Equal(0x5A, m.Memory.Read8(0x30000));
        Assert.Equal(0x5A, m.Memory.Read8(0x3FFFF));
        Assert.Equal(0, m.Memory.Read8(0x40000));
    }

    [Fact]
    public void AddressSize32OffsetBeyondLimitFaults()
    {
        var m = new TestMachine();
        m.Cpu.Esi = 0x10000;
        m.Cpu.Eax = 0x77;
        m.LoadBytes(0x67, 0xAC);                      // a32 LODSB from DS:00010000 (limit FFFF)
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(0x10000u, m.Cpu.Esi);
        Assert.Equal(0x77u, m.Cpu.Eax);
    }

    [Fact]
    public void Operand32MovsdAndCmpsd()
    {
        var m = new TestMachine();
        m.Memory.Poke(Src, [1, 2, 3, 4]);
        m.Cpu.Esi = Src;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 1;
        m.Load(x => { x.rep.movsd(); x.mov(esi, Src); x.mov(edi, Dst); x.cmpsd(); });
        m.Run();
        Assert.Equal(0x04030201u, m.Memory.Read32(Dst));
        Assert.True(Flag(m, Processor.FlagZF));
        Assert.Equal(Src + 4, m.Cpu.Esi);
        Assert.Equal(Dst + 4, m.Cpu.Edi);
    }

    [Fact]
    public void FaultMidwayLeavesCompletedIterationsAndEipOnInstruction()
    {
        var m = new TestMachine();
        m.Cpu.Esi = 0xFFF9;                           // elements at FFF9, FFFB, FFFD; the word at FFFF faults
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 10;
        m.Load(x => x.rep.movsw());
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(7u, m.Cpu.Ecx);
        Assert.Equal(0xFFFFu, m.Cpu.Esi);
        Assert.Equal(Dst + 6, m.Cpu.Edi);
        Assert.Equal(0, PushedIp(m));                 // restartable: the return address is the REP MOVSW itself
    }

    [Fact]
    public void I286FaultingElementStepsItsPointerAndCount()
    {
        // Hardware behaviour of the 80286 (SingleStepTests vectors): the pointer of the failing access is
        // already stepped when #GP is taken, and REP MOVS has counted the element.
        var m = new TestMachine(CpuModel.I286);
        m.Cpu.Esi = 0xFFF9;
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 10;
        m.Load(x => x.rep.movsw());
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(6u, m.Cpu.Ecx);
        Assert.Equal(0x0001u, m.Cpu.Esi);
        Assert.Equal(Dst + 6, m.Cpu.Edi);
        Assert.Equal(0, PushedIp(m));
        Assert.Equal(0x0000, m.Read16(Dst + 6));      // the failing element wrote nothing
    }

    [Fact]
    public void I286CmpswReadsDestinationFirst()
    {
        var m = new TestMachine(CpuModel.I286);
        m.Cpu.Esi = 0x1000;
        m.Cpu.Edi = 0xFFFF;
        m.Load(x => x.cmpsw());
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(0x0001u, m.Cpu.Edi);
        Assert.Equal(0x1000u, m.Cpu.Esi);             // the source was never reached
    }

    [Fact]
    public void LargeCountCompletesAcrossTheIterationCap()
    {
        var m = new TestMachine();
        m.Cpu.LoadRealModeSegmentFull(SegReg.ES, 0x3000, 0x30000, 0xFFFF, Segment.RealModeData);
        m.Cpu.Edi = 0;
        m.Cpu.Ecx = 0xFFFF;
        m.Cpu.Eax = 0xA5;
        m.Load(x => { x.rep.stosb(); x.inc(bx); });
        m.Run();
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.Equal(0xFFFFu, m.Cpu.Edi);
        Assert.Equal(1u, m.Cpu.Ebx);                  // the next instruction ran once, after the whole fill
        for (uint a = 0x30000; a < 0x3FFFF; a += 0x1000 - 1) Assert.Equal(0xA5, m.Memory.Read8(a));
        Assert.Equal(0xA5, m.Memory.Read8(0x3FFFE));
        Assert.Equal(0, m.Memory.Read8(0x3FFFF));
        Assert.True(0xFFFF > Strings.MaxElementsPerCall);
    }

    [Fact]
    public void RepeCmpsLargeCountResumesWithCorrectFlags()
    {
        var m = new TestMachine();
        // Two equal 10000-byte regions differing at the last byte: the mismatch is found in a later call.
        m.Cpu.LoadRealModeSegmentFull(SegReg.ES, 0x3000, 0x30000, 0xFFFF, Segment.RealModeData);
        m.Memory.Poke(0x30000 + 9999, [1]);
        m.Cpu.Esi = 0x4000;                           // DS:4000.. all zero
        m.Cpu.Edi = 0;
        m.Cpu.Ecx = 12000;
        m.Load(x => x.repe.cmpsb());
        m.Run();
        Assert.Equal(12000u - 10000, m.Cpu.Ecx);
        Assert.Equal(10000u, m.Cpu.Edi);
        Assert.False(Flag(m, Processor.FlagZF));
        Assert.True(Flag(m, Processor.FlagCF));       // 0 - 1 borrows
    }

    [Fact]
    public void SingleStepTrapsAfterEachIteration()
    {
        var m = new TestMachine();
        m.Cpu.Edi = Dst;
        m.Cpu.Ecx = 5;
        m.Cpu.SetEflags(0x2 | Processor.FlagTF);
        m.Load(x => x.rep.stosb());
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.DB));
        Assert.Equal(4u, m.Cpu.Ecx);
        Assert.Equal(Dst + 1, m.Cpu.Edi);
        Assert.Equal(0, PushedIp(m));                 // the trap returns to the REP to continue it
    }

    [Fact]
    public void RepOnNonStringInstructionIsIgnored()
    {
        var m = new TestMachine();
        m.Cpu.Ecx = 5;
        m.LoadBytes(0xF3, 0x40);                      // REP INC AX
        m.Run();
        Assert.Equal(1u, m.Cpu.Eax);
        Assert.Equal(5u, m.Cpu.Ecx);
    }
}

/// <summary>
/// REP MOVS/STOS going up run page-sized runs at once when nothing can fault; these compare that path with an
/// element-by-element model over random lengths, element sizes, offsets near page ends and the 64 KiB wrap,
/// overlapping ranges (which must fall back to element order) and counts above one call's slice.
/// </summary>
public class RepeatedStringRunTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RunsMatchAnElementByElementModel(int seed)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 60; trial++)
        {
            var m = new TestMachine(CpuModel.Pentium);
            // DS at 3000:0, ES at 4000:0 or the same segment (overlap), random contents.
            var fill = new byte[0x20000];
            rng.NextBytes(fill);
            m.Memory.Poke(0x30000, fill);
            int size = 1 << rng.Next(3);
            bool stos = rng.Next(4) == 0;
            ushort es = rng.Next(3) == 0 ? (ushort)0x3000 : (ushort)0x4000;
            ushort si = (ushort)((rng.Next(3) switch { 0 => 0x1000 - rng.Next(0, 64), 1 => 0x10000 - rng.Next(1, 200), _ => rng.Next(0, 0x10000) }) & ~(size - 1));
            ushort di = (ushort)((es == 0x3000 ? si + rng.Next(-40, 40) : rng.Next(0, 0x10000)) & ~(size - 1));
            uint count = (uint)(rng.Next(4) == 0 ? rng.Next(4000, 9000) : rng.Next(0, 300));
            uint eax = (uint)rng.Next();
            m.Load(a =>
            {
                a.mov(ax, 0x3000);
                a.mov(ds, ax);
                a.mov(ax, es);
                a.mov(Iced.Intel.AssemblerRegisters.es, ax);
                a.cld();
                a.mov(Iced.Intel.AssemblerRegisters.eax, eax);
                a.mov(Iced.Intel.AssemblerRegisters.si, si);
                a.mov(Iced.Intel.AssemblerRegisters.di, di);
                a.mov(Iced.Intel.AssemblerRegisters.ecx, count);
                if (stos) { if (size == 1) a.rep.stosb(); else if (size == 2) a.rep.stosw(); else a.rep.stosd(); }
                else { if (size == 1) a.rep.movsb(); else if (size == 2) a.rep.movsw(); else a.rep.movsd(); }
            });
            // The model: one element at a time, 16-bit pointers wrapping inside their segments.
            var mem = m.Memory.Backing.AsSpan(0, 0x60000).ToArray();
            uint ms = si, md = di;
            for (uint k = 0; k < (count & 0xFFFF); k++)
            {
                for (int b = 0; b < size; b++)
                {
                    byte v = stos ? (byte)(eax >> (8 * b)) : mem[0x30000 + ((ms + b) & 0xFFFF)];
                    mem[(es << 4) + ((md + b) & 0xFFFF)] = v;
                }
                if (!stos) ms = (ms + (uint)size) & 0xFFFF;
                md = (md + (uint)size) & 0xFFFF;
            }
            m.Run(10_000_000);
            Assert.False(m.InHandler, $"trial {trial}: faulted");
            Assert.Equal(0u, m.Cpu.Ecx & 0xFFFF);
            Assert.Equal(md, m.Cpu.Edi & 0xFFFF);
            if (!stos) Assert.Equal(ms, m.Cpu.Esi & 0xFFFF);
            Assert.True(mem.AsSpan(0x30000, 0x30000).SequenceEqual(m.Memory.Backing.AsSpan(0x30000, 0x30000)),
                $"trial {trial}: size {size} stos {stos} si {si:X4} di {di:X4} es {es:X4} count {count}");
        }
    }
}
