using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using JitVm.Cpu.Instructions;

namespace JitVm.Cpu.Tests.Instructions;

public class ShiftRotateTests
{
    const uint CF = Processor.FlagCF, PF = Processor.FlagPF, AF = Processor.FlagAF, ZF = Processor.FlagZF,
        SF = Processor.FlagSF, OF = Processor.FlagOF;

    static TestMachine Run(Action<Assembler> code, CpuModel? model = null)
    {
        var m = new TestMachine(model);
        m.Load(code);
        m.Run();
        return m;
    }

    static uint Flags(TestMachine m) => m.Cpu.GetEflags();

    [Fact]
    public void RclRotatesThroughCarryAsANineBitRing()
    {
        // CF=1, AL=5A: RCL by 8 is RCR by 1 in the 9-bit ring: AL = 1:0101101 = AD, CF = old bit 0 = 0.
        var m = Run(x => { x.stc(); x.mov(al, 0x5A); x.mov(cl, 8); x.rcl(al, cl); });
        Assert.Equal(0xADu, m.Cpu.Eax & 0xFF);
        Assert.Equal(0u, Flags(m) & CF);

        // A count of 9 goes once round the ring: AL and CF come back unchanged.
        m = Run(x => { x.stc(); x.mov(al, 0x5A); x.mov(cl, 9); x.rcl(al, cl); });
        Assert.Equal(0x5Au, m.Cpu.Eax & 0xFF);
        Assert.Equal(CF, Flags(m) & CF);

        // By 1: the old CF enters bit 0, bit 7 leaves into CF.
        m = Run(x => { x.stc(); x.mov(al, 0x80); x.rcl(al, 1); });
        Assert.Equal(0x01u, m.Cpu.Eax & 0xFF);
        Assert.Equal(CF, Flags(m) & CF);
    }

    [Fact]
    public void RcrWordUsesSeventeenBitRing()
    {
        // CF=0, AX=0001: RCR 1 moves bit 0 into CF; count 17 is a full turn; 18 == 1.
        var m = Run(x => { x.clc(); x.mov(ax, 1); x.rcr(ax, 1); });
        Assert.Equal(0u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(CF, Flags(m) & CF);

        m = Run(x => { x.clc(); x.mov(ax, 0x1234); x.mov(cl, 17); x.rcr(ax, cl); });
        Assert.Equal(0x1234u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0u, Flags(m) & CF);

        m = Run(x => { x.stc(); x.mov(ax, 0x1234); x.mov(cl, 18); x.rcr(ax, cl); });
        Assert.Equal(0x891Au, m.Cpu.Eax & 0xFFFF);         // CF=1 enters bit 15, bit 0 (0) leaves
        Assert.Equal(0u, Flags(m) & CF);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CountIsMaskedToFiveBits(bool i286)
    {
        var model = i286 ? CpuModel.I286 : null;
        var m = Run(x => { x.mov(ax, 0x4001); x.mov(cl, 33); x.shl(ax, cl); }, model);
        Assert.Equal(0x8002u, m.Cpu.Eax & 0xFFFF);          // 33 & 31 = 1
        Assert.Equal(OF, Flags(m) & (OF | CF));

        // 32 & 31 = 0: nothing changes, not even the flags (CF set by STC, ZF/PF from the CMP).
        m = Run(x => { x.mov(al, 0x81); x.cmp(al, al); x.stc(); x.mov(cl, 32); x.shl(al, cl); x.sar(al, 0x40); }, model);
        Assert.Equal(0x81u, m.Cpu.Eax & 0xFF);
        Assert.Equal(CF | ZF | PF, Flags(m) & (CF | ZF | PF | SF | OF));
    }

    [Theory]
    [InlineData(0x40, 0x80, false, true)]   // sign changes, nothing out
    [InlineData(0xC0, 0x80, true, false)]   // bit 7 out, sign kept
    [InlineData(0x80, 0x00, true, true)]
    public void ShlByOneSetsOverflowOnSignChange(byte a, byte r, bool cf, bool of)
    {
        var m = Run(x => { x.mov(al, a); x.shl(al, 1); });
        Assert.Equal(r, (byte)m.Cpu.Eax);
        Assert.Equal(cf, (Flags(m) & CF) != 0);
        Assert.Equal(of, (Flags(m) & OF) != 0);
        Assert.Equal(r == 0, (Flags(m) & ZF) != 0);
    }

    [Fact]
    public void RightShiftsByOneOverflowRules()
    {
        // SHR 1: OF = old MSB; SAR 1: OF = 0 and the sign stays.
        var m = Run(x => { x.mov(al, 0x81); x.shr(al, 1); });
        Assert.Equal(0x40u, m.Cpu.Eax & 0xFF);
        Assert.Equal(OF | CF, Flags(m) & (OF | CF | SF));

        m = Run(x => { x.mov(al, 0x81); x.sar(al, 1); });
        Assert.Equal(0xC0u, m.Cpu.Eax & 0xFF);
        Assert.Equal(CF | SF, Flags(m) & (OF | CF | SF));
    }

    [Fact]
    public void RotatesByOneSetCarryAndOverflow()
    {
        var m = Run(x => { x.mov(al, 0x40); x.rol(al, 1); });
        Assert.Equal(0x80u, m.Cpu.Eax & 0xFF);
        Assert.Equal(OF, Flags(m) & (OF | CF));               // OF = MSB ^ CF = 1 ^ 0

        m = Run(x => { x.mov(al, 0x01); x.ror(al, 1); });
        Assert.Equal(0x80u, m.Cpu.Eax & 0xFF);
        Assert.Equal(OF | CF, Flags(m) & (OF | CF));          // OF = bit 7 ^ bit 6 = 1

        m = Run(x => { x.mov(ax, 0x8001); x.mov(cl, 4); x.rol(ax, cl); });
        Assert.Equal(0x0018u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0u, Flags(m) & CF);
    }

    [Fact]
    public void RotatesKeepTheOtherFlagsOfALazyResult()
    {
        // ZF/SF/PF/AF come from the pending lazy SUB; the rotate must only touch CF and OF.
        var m = Run(x => { x.mov(al, 0x10); x.mov(bl, 0x01); x.sub(al, bl); x.mov(dl, 0x80); x.rol(dl, 1); });
        uint f = Flags(m);
        Assert.Equal(0x01u, m.Cpu.Edx & 0xFF);
        Assert.Equal(CF | OF, f & (CF | OF));                 // bit 7 out; MSB(0)^CF(1)
        Assert.Equal(AF, f & (AF | ZF | SF));                 // 10 - 01 borrows from bit 4
    }

    [Fact]
    public void ShiftsPastTheWidth()
    {
        var m = Run(x => { x.mov(al, 0xFF); x.mov(cl, 9); x.shl(al, cl); });
        Assert.Equal(0u, m.Cpu.Eax & 0xFF);
        Assert.Equal(ZF | PF, Flags(m) & (ZF | PF | CF | SF));

        m = Run(x => { x.mov(ax, 0x8000); x.mov(cl, 16); x.shr(ax, cl); });
        Assert.Equal(0u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(CF | ZF, Flags(m) & (CF | ZF));          // bit 15 was the last one out

        m = Run(x => { x.mov(al, 0x80); x.mov(cl, 20); x.sar(al, cl); });
        Assert.Equal(0xFFu, m.Cpu.Eax & 0xFF);
        Assert.Equal(CF | SF, Flags(m) & (CF | SF | ZF));
    }

    [Fact]
    public void MemoryOperandIsShiftedInPlace()
    {
        var m = Run(x =>
        {
            x.mov(bx, 0x200); x.mov(__word_ptr[bx], 0x1234); x.mov(cl, 4);
            x.shl(__word_ptr[bx], cl); x.ror(__byte_ptr[bx + 2], 0);  // count 0 on memory: no change
        });
        Assert.Equal(0x2340, m.Read16(0x200));
    }

    [Fact]
    public void Shld32ShiftsInTheTopBitsOfTheSource()
    {
        var m = Run(x => { x.mov(eax, 0x12345678); x.mov(ebx, 0x9ABCDEF0); x.shld(eax, ebx, 4); });
        Assert.Equal(0x23456789u, m.Cpu.Eax);
        Assert.Equal(CF, Flags(m) & CF);                      // bit 28 of the old EAX

        m = Run(x => { x.mov(eax, 0x12345678); x.mov(ebx, 0x9ABCDEF0); x.mov(cl, 36); x.shld(eax, ebx, cl); });
        Assert.Equal(0x23456789u, m.Cpu.Eax);                  // count mod 32
    }

    [Fact]
    public void Shrd32ShiftsInTheBottomBitsOfTheSource()
    {
        var m = Run(x => { x.mov(eax, 0x12345678); x.mov(ebx, 0x9ABCDEF0); x.shrd(eax, ebx, 8); });
        Assert.Equal(0xF0123456u, m.Cpu.Eax);
        Assert.Equal(SF, Flags(m) & (CF | SF));               // bit 7 of 78 was 0

        m = Run(x => { x.mov(eax, 0x00000001); x.mov(ebx, 0); x.shrd(eax, ebx, 1); });
        Assert.Equal(0u, m.Cpu.Eax);
        Assert.Equal(CF | ZF, Flags(m) & (CF | ZF | OF));
    }

    [Fact]
    public void Shld16AndMemoryForms()
    {
        var m = Run(x =>
        {
            x.mov(ax, 0x1234); x.mov(bx, 0xABCD); x.shld(ax, bx, 4);
            x.mov(si, 0x300); x.mov(__word_ptr[si], 0x1234); x.mov(cl, 8); x.shrd(__word_ptr[si], bx, cl);
        });
        Assert.Equal(0x234Au, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0xCD12, m.Read16(0x300));
    }

    [Fact]
    public void ShldIsUndefinedOn286()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x0F, 0xA4, 0xD8, 0x04);                 // shld ax, bx, 4
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void I286AuxiliaryCarryAfterShifts()
    {
        // Undefined on paper; the 80286 leaves bit 4 of the result after SHL and sets AF after SHR/SAR.
        var m = Run(x => { x.mov(al, 0x08); x.shl(al, 1); }, CpuModel.I286);
        Assert.Equal(AF, Flags(m) & AF);
        m = Run(x => { x.mov(al, 0x80); x.shl(al, 1); }, CpuModel.I286);
        Assert.Equal(0u, Flags(m) & AF);
        m = Run(x => { x.mov(al, 0x80); x.shr(al, 1); }, CpuModel.I286);
        Assert.Equal(AF, Flags(m) & AF);
    }

    // The translator records SHL/SHR/SAR by a constant count lazily (FlagOp.Shl/Shr/Sar) and the processor evaluates
    // them later: every flag and every condition must come out as the interpreter's eager shift computes them.
    [Theory]
    [InlineData("286")]
    [InlineData("p6")]
    public void LazilyRecordedShiftsEvaluateToTheEagerFlags(string modelName)
    {
        var model = CpuModel.Parse(modelName);
        var cpu = new TestMachine(model).Cpu;
        var rng = new Random(8);
        for (int k = 0; k < 20000; k++)
        {
            int bytes = 1 << rng.Next(3);
            uint sign = bytes == 1 ? 0x80u : bytes == 2 ? 0x8000u : 0x80000000u;
            uint d = (uint)rng.NextInt64(0, 1L << 32) & ((sign << 1) - 1);
            if (rng.Next(8) == 0) d &= sign | 1;                        // sparse operands: zero and sign results
            uint n = (uint)rng.Next(1, 32);
            var op = (FlagOp)((int)FlagOp.Shl + rng.Next(3));
            uint flags;
            uint r = (op, bytes) switch
            {
                (FlagOp.Shl, 1) => ShlOp.Apply<Size8>(cpu, d, n, out flags),
                (FlagOp.Shl, 2) => ShlOp.Apply<Size16>(cpu, d, n, out flags),
                (FlagOp.Shl, _) => ShlOp.Apply<Size32>(cpu, d, n, out flags),
                (FlagOp.Shr, 1) => ShrOp.Apply<Size8>(cpu, d, n, out flags),
                (FlagOp.Shr, 2) => ShrOp.Apply<Size16>(cpu, d, n, out flags),
                (FlagOp.Shr, _) => ShrOp.Apply<Size32>(cpu, d, n, out flags),
                (_, 1) => SarOp.Apply<Size8>(cpu, d, n, out flags),
                (_, 2) => SarOp.Apply<Size16>(cpu, d, n, out flags),
                _ => SarOp.Apply<Size32>(cpu, d, n, out flags),
            };
            cpu.SetArithFlags(flags);
            var eager = Enumerable.Range(0, 16).Select(cpu.Condition).ToArray();
            uint eagerCarry = cpu.CarryFlag();

            cpu.SetLazy(op, d, n, r, sign);
            string what = $"{op} {bytes * 8}-bit {d:X} by {n}";
            Assert.True((flags & Processor.ArithFlags) == cpu.ComputeArith(), what);
            Assert.True(eagerCarry == cpu.CarryFlag(), what);
            Assert.True(((flags & OF) != 0) == cpu.OverflowFlag, what);
            Assert.True(eager.SequenceEqual(Enumerable.Range(0, 16).Select(cpu.Condition)), what);
            // INC/DEC keep CF: after a lazy shift they must keep the shift's.
            cpu.SetLazyIncDec(FlagOp.Inc, 1, 2, sign);
            Assert.True(eagerCarry == cpu.CarryFlag(), what);
        }
    }
}
