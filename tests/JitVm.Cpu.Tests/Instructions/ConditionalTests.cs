using System.Numerics;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class ConditionalTests
{
    const uint Results = 0x7000;

    /// <summary>The 16 conditions of CMP a, b (16-bit), computed from the definitions of the flags.</summary>
    static bool[] Expected(ushort a, ushort b)
    {
        ushort r = (ushort)(a - b);
        bool cf = a < b, zf = r == 0, sf = (r & 0x8000) != 0, of = ((a ^ b) & (a ^ r) & 0x8000) != 0;
        bool pf = (BitOperations.PopCount((uint)(r & 0xFF)) & 1) == 0;
        bool[] basic = [of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of];
        var all = new bool[16];
        for (int cc = 0; cc < 16; cc++) all[cc] = basic[cc >> 1] ^ ((cc & 1) != 0);
        return all;
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(3, 5)]
    [InlineData(5, 3)]
    [InlineData(0x8000, 1)]        // signed overflow: most negative minus one
    [InlineData(0x7FFF, 0xFFFF)]   // 32767 - (-1) overflows
    [InlineData(0, 0x8000)]
    [InlineData(0xFFFF, 0x0001)]   // -1 vs 1: below unsigned? no; less signed: yes
    [InlineData(0x0003, 0x0000)]   // result 3: even parity
    public void SetccStoresEveryConditionAfterCmp(int a, int b)
    {
        var m = new TestMachine(CpuModel.I386);
        // mov ax, a; mov bx, b; then for each cc: cmp ax, bx; setcc [7000h + cc]
        var code = new List<byte> { 0xB8, (byte)a, (byte)(a >> 8), 0xBB, (byte)b, (byte)(b >> 8) };
        for (int cc = 0; cc < 16; cc++)
        {
            code.AddRange([0x39, 0xD8]);
            code.AddRange([0x0F, (byte)(0x90 + cc), 0x06, (byte)(Results + cc), (byte)((Results + cc) >> 8)]);
        }
        m.LoadBytes([.. code]);
        m.Run();
        bool[] want = Expected((ushort)a, (ushort)b);
        for (int cc = 0; cc < 16; cc++)
            Assert.True(m.Memory.Read8(Results + (uint)cc) == (want[cc] ? 1 : 0), $"condition {cc:X} of cmp {a:X4}, {b:X4}");
    }

    [Fact]
    public void SetccWritesHighByteRegisters()
    {
        var m = new TestMachine(CpuModel.I386);
        m.Load(x => { x.mov(eax, 0xFFFFFFFF); x.mov(ecx, 0xFFFFFFFF); x.cmp(al, al); x.setz(ah); x.setnz(ch); });
        m.Run();
        Assert.Equal(0xFFFF01FFu, m.Cpu.Eax);
        Assert.Equal(0xFFFF00FFu, m.Cpu.Ecx);
    }

    [Fact]
    public void CmovMovesOnlyWhenTheConditionHolds()
    {
        var m = new TestMachine(TestModels.P6);
        m.Load(x =>
        {
            x.mov(eax, 1); x.mov(ebx, 0x11111111); x.mov(ecx, 0x22222222); x.mov(edx, 0x33333333);
            x.cmp(eax, 1);
            x.cmove(ebx, ecx);      // taken
            x.cmovne(edx, ecx);     // not taken
            x.cmovbe(si, cx);       // taken (ZF)
        });
        m.Run();
        Assert.Equal(0x22222222u, m.Cpu.Ebx);
        Assert.Equal(0x33333333u, m.Cpu.Edx);
        Assert.Equal(0x2222u, m.Cpu.Esi & 0xFFFF);
    }

    [Fact]
    public void CmovReadsItsMemorySourceEvenWhenTheConditionIsFalse()
    {
        var m = new TestMachine(TestModels.P6);
        // A word at offset FFFF crosses the segment limit: #GP although the condition (ZF=1 for NE) is false.
        m.Load(x => { x.mov(dx, 0x1234); x.xor(ax, ax); x.mov(bx, 0xFFFF); x.cmovne(dx, __word_ptr[bx]); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Equal(0x1234u, m.Cpu.Edx & 0xFFFF);
    }

    [Fact]
    public void CmovIsUndefinedWithoutTheCpuidFeature()
    {
        var m = new TestMachine(CpuModel.I486);      // the 486 model does not advertise CMOV
        m.Load(x => x.cmove(ax, bx));
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }
}
