using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class BitTests
{
    static bool Cf(TestMachine m) => (m.Cpu.GetEflags() & Processor.FlagCF) != 0;
    static bool Zf(TestMachine m) => (m.Cpu.GetEflags() & Processor.FlagZF) != 0;

    [Fact]
    public void RegisterOffsetIsTakenModuloTheWidth()
    {
        var m = new TestMachine(CpuModel.I386);
        // bit 17 of a 16-bit register is bit 1; bit 33 of a 32-bit register is bit 1.
        m.Load(x => { x.mov(ax, 0x0002); x.mov(cx, 17); x.bts(ax, cx); x.setc(bl); x.mov(edx, 0); x.mov(ecx, 33); x.btc(edx, ecx); x.setc(bh); });
        m.Run();
        Assert.Equal(0x0002u, m.Cpu.Eax & 0xFFFF);        // already set: BTS leaves it, CF=1
        Assert.Equal(1u, m.Cpu.Ebx & 0xFF);
        Assert.Equal(0x00000002u, m.Cpu.Edx);             // BTC set it, CF=0 (old value)
        Assert.Equal(0u, (m.Cpu.Ebx >> 8) & 0xFF);
    }

    [Fact]
    public void NegativeRegisterOffsetAddressesTheWordBeforeTheOperand()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Memory.Poke(0x71FE, [0x00, 0x80]);              // word at BX-2 has bit 15 set
        // offset -1: word at EA + (-1 SAR 4) * 2 = EA - 2, bit 15.
        m.Load(x => { x.mov(bx, 0x7200); x.mov(cx, 0xFFFF); x.btr(__word_ptr[bx], cx); });
        m.Run();
        Assert.True(Cf(m));
        Assert.Equal(0x0000, m.Read16(0x71FE));
        Assert.Equal(0x0000, m.Read16(0x7200));
    }

    [Fact]
    public void LargeRegisterOffsetAddressesPastTheOperand()
    {
        var m = new TestMachine(CpuModel.I386);
        // offset 35 (16-bit): word at EA + 4, bit 3. offset -33 (32-bit): dword at EA - 8, bit 31.
        m.Load(x =>
        {
            x.mov(bx, 0x7300); x.mov(cx, 35); x.bts(__word_ptr[bx], cx); x.setc(dl);
            x.mov(ecx, unchecked((uint)-33)); x.bts(__dword_ptr[bx], ecx); x.setc(dh);
        });
        m.Run();
        Assert.Equal(0x0008, m.Read16(0x7304));
        Assert.Equal(0x8000, m.Read16(0x72FA));           // bit 31 of the dword at 0x72F8
        Assert.Equal(0x0000, m.Read16(0x7300));
        Assert.Equal(0u, m.Cpu.Edx & 0xFFFF);             // both bits were clear
    }

    [Fact]
    public void RegisterOffsetWrapsWithinTheSixteenBitAddressSpace()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Memory.Poke(0xFFFE, [0x01, 0x00]);
        // EA 0 with offset -16: word at (0 - 2) & FFFF = FFFE, bit 0.
        m.Load(x => { x.xor(bx, bx); x.mov(cx, unchecked((ushort)-16)); x.bt(__word_ptr[bx], cx); });
        m.Run();
        Assert.False(m.InHandler);
        Assert.True(Cf(m));
    }

    [Fact]
    public void ImmediateOffsetStaysInTheOperand()
    {
        var m = new TestMachine(CpuModel.I386);
        // imm 0x13 on a word is bit 3 of the word at EA itself (no displacement by the immediate).
        m.Load(x => { x.mov(bx, 0x7400); x.btc(__word_ptr[bx], 0x13); x.bt(__word_ptr[bx], 3); });
        m.Run();
        Assert.Equal(0x0008, m.Read16(0x7400));
        Assert.True(Cf(m));
    }

    [Fact]
    public void BitTestKeepsZeroFlagAndChangesOnlyCarry()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(ax, 5); x.cmp(ax, 5); x.mov(bx, 1); x.bt(bx, 0); });
        m.Run();
        uint f = m.Cpu.GetEflags();
        Assert.True((f & Processor.FlagZF) != 0);         // from the CMP
        Assert.True((f & Processor.FlagCF) != 0);         // from BT
    }

    [Fact]
    public void BitTestIsUndefinedOnThe286()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x0F, 0xA3, 0xC8);                    // bt ax, cx
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Theory]
    [InlineData(0x00010010u, 4u, 16u)]
    [InlineData(0x80000000u, 31u, 31u)]
    [InlineData(0x00000001u, 0u, 0u)]
    [InlineData(0xFFFFFFFFu, 0u, 31u)]
    public void BsfAndBsrFindLowestAndHighestSetBit(uint value, uint low, uint high)
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(eax, value); x.bsf(ecx, eax); x.bsr(edx, eax); });
        m.Run();
        Assert.Equal(low, m.Cpu.Ecx);
        Assert.Equal(high, m.Cpu.Edx);
        Assert.False(Zf(m));
    }

    [Fact]
    public void BsfAndBsrOfZeroSetZfAndLeaveTheDestination()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x =>
        {
            x.mov(ecx, 0x12345678); x.mov(edx, 0x9ABCDEF0); x.xor(eax, eax);
            x.bsf(ecx, eax); x.setz(bl);
            x.mov(si, 0x7600); x.bsr(dx, __word_ptr[si]); x.setz(bh);
        });
        m.Run();
        Assert.Equal(0x12345678u, m.Cpu.Ecx);
        Assert.Equal(0x9ABCDEF0u, m.Cpu.Edx);
        Assert.Equal(0x0101u, m.Cpu.Ebx & 0xFFFF);
    }

    [Fact]
    public void SixteenBitBsrReadsMemoryAndWritesTheLowWord()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Memory.Poke(0x7600, [0x00, 0x80]);
        m.Load(x => { x.mov(edx, 0xFFFFFFFF); x.mov(si, 0x7600); x.bsr(dx, __word_ptr[si]); x.bsf(cx, __word_ptr[si]); });
        m.Run();
        Assert.Equal(0xFFFF000Fu, m.Cpu.Edx);
        Assert.Equal(15u, m.Cpu.Ecx & 0xFFFF);
    }
}
