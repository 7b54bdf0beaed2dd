using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class ExchangeTests
{
    static uint Flags(TestMachine m) => m.Cpu.GetEflags();

    [Fact]
    public void XaddExchangesAndAddsWithAddFlags()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(ax, 0x7FFF); x.mov(bx, 1); x.xadd(ax, bx); });
        m.Run();
        Assert.Equal(0x8000u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal(0x7FFFu, m.Cpu.Ebx & 0xFFFF);
        Assert.True((Flags(m) & Processor.FlagOF) != 0);
        Assert.True((Flags(m) & Processor.FlagCF) == 0);
    }

    [Fact]
    public void XaddWithOneRegisterLeavesTheSum()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(cl, 0xC0); x.xadd(cl, cl); });
        m.Run();
        Assert.Equal(0x80u, m.Cpu.Ecx & 0xFF);
        Assert.True((Flags(m) & Processor.FlagCF) != 0);
    }

    [Fact]
    public void XaddMemoryStoresTheSumAndReturnsTheOldValue()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Memory.Poke(0x7000, [0x10, 0x00, 0x00, 0x00]);
        m.Load(x => { x.mov(bx, 0x7000); x.mov(ecx, 5); x.xadd(__dword_ptr[bx], ecx); });
        m.Run();
        Assert.Equal(0x15, m.Read16(0x7000));
        Assert.Equal(0x10u, m.Cpu.Ecx);
    }

    [Fact]
    public void XaddIsUndefinedOnThe386()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => x.xadd(ax, bx));
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void CmpxchgEqualStoresTheSource()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Memory.Poke(0x7000, [0x34, 0x12]);
        m.Load(x => { x.mov(bx, 0x7000); x.mov(ax, 0x1234); x.mov(cx, 0xBEEF); x.cmpxchg(__word_ptr[bx], cx); });
        m.Run();
        Assert.Equal(0xBEEF, m.Read16(0x7000));
        Assert.Equal(0x1234u, m.Cpu.Eax & 0xFFFF);
        Assert.True((Flags(m) & Processor.FlagZF) != 0);
    }

    [Fact]
    public void CmpxchgUnequalLoadsTheAccumulatorWithCmpFlags()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Memory.Poke(0x7000, [0x90]);
        // AL=10h vs [mem]=90h: not equal; CMP 10h, 90h borrows (CF=1) and overflows (OF=1: +16 - (-112)).
        m.Load(x => { x.mov(bx, 0x7000); x.mov(al, 0x10); x.mov(cl, 0x55); x.cmpxchg(__byte_ptr[bx], cl); });
        m.Run();
        Assert.Equal(0x90, m.Memory.Read8(0x7000));
        Assert.Equal(0x90u, m.Cpu.Eax & 0xFF);
        uint f = Flags(m);
        Assert.True((f & Processor.FlagZF) == 0);
        Assert.True((f & Processor.FlagCF) != 0);
        Assert.True((f & Processor.FlagOF) != 0);
        Assert.True((f & Processor.FlagSF) != 0);
    }

    [Fact]
    public void CmpxchgRegisterDestination()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Load(x => { x.mov(eax, 7); x.mov(edx, 8); x.mov(ecx, 9); x.cmpxchg(edx, ecx); x.mov(esi, eax); x.cmpxchg(edx, ecx); });
        m.Run();
        Assert.Equal(8u, m.Cpu.Esi);                 // first: unequal, EAX = EDX
        Assert.Equal(9u, m.Cpu.Edx);                 // second: equal, EDX = ECX
    }

    [Fact]
    public void Cmpxchg8bComparesEdxEaxWithMemory()
    {
        var m = new TestMachine(CpuModel.Pentium);
        m.Memory.Poke(0x7000, [1, 0, 0, 0, 2, 0, 0, 0]);
        m.Load(x =>
        {
            x.mov(si, 0x7000); x.mov(eax, 1); x.mov(edx, 2); x.mov(ebx, 0xAAAAAAAA); x.mov(ecx, 0xBBBBBBBB);
            x.cmpxchg8b(__qword_ptr[si]);           // equal: memory = ECX:EBX
            x.setz(ah);
        });
        m.Run();
        Assert.Equal(0xAAAA, m.Read16(0x7000));
        Assert.Equal(0xBBBB, m.Read16(0x7006));
        Assert.Equal(1u, (m.Cpu.Eax >> 8) & 0xFF);
    }

    [Fact]
    public void Cmpxchg8bUnequalLoadsEdxEax()
    {
        var m = new TestMachine(CpuModel.Pentium);
        m.Memory.Poke(0x7000, [0x78, 0x56, 0x34, 0x12, 0xF0, 0xDE, 0xBC, 0x9A]);
        m.Load(x => { x.xor(eax, eax); x.xor(edx, edx); x.mov(bx, 0x7000); x.cmpxchg8b(__qword_ptr[bx]); x.setz(cl); });
        m.Run();
        Assert.Equal(0x12345678u, m.Cpu.Eax);
        Assert.Equal(0x9ABCDEF0u, m.Cpu.Edx);
        Assert.Equal(0u, m.Cpu.Ecx & 0xFF);
        Assert.Equal(0x5678, m.Read16(0x7000));
    }

    [Fact]
    public void Cmpxchg8bNeedsTheCx8Feature()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(bx, 0x7000); x.cmpxchg8b(__qword_ptr[bx]); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }
}
