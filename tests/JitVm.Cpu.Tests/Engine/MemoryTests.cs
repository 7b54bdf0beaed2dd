using JitVm.Core;

namespace JitVm.Cpu.Tests.Engine;

public class MemoryTests
{
    static Processor NewCpu(out PhysicalMemory mem, CpuModel? model = null)
    {
        mem = new PhysicalMemory(2 << 20);
        return new Processor(model ?? CpuModel.I486, mem, new IoBus());
    }

    [Fact]
    public void RomIgnoresWritesAndIsAliasedWhereMapped()
    {
        var cpu = NewCpu(out var mem);
        mem.MapRom(0xF0000, Enumerable.Repeat((byte)0xAA, 0x10000).ToArray());
        cpu.WriteLin8(0xF1234, 0x55);
        cpu.WriteLin32(0xF2000, 0x12345678);
        Assert.Equal(0xAA, cpu.ReadLin8(0xF1234));
        Assert.Equal(0xAAAAAAAAu, cpu.ReadLin32(0xF2000));
    }

    [Fact]
    public void UnmappedSpaceReadsAllOnes()
    {
        var cpu = NewCpu(out _);
        Assert.Equal(0xFFFFFFFFu, cpu.ReadLin32(0x8000_0000));
        cpu.WriteLin32(0x8000_0000, 0);
        Assert.Equal(0xFFu, cpu.ReadLin8(0x8000_0002));
    }

    [Theory]
    [InlineData(0xFFE)]
    [InlineData(0xFFF)]
    [InlineData(0xFFD)]
    public void AccessesCrossingAPageBoundaryReadAndWriteBothPages(uint offset)
    {
        var cpu = NewCpu(out var mem);
        uint lin = 0x5000 + offset;
        cpu.WriteLin32(lin, 0x11223344);
        Assert.Equal(0x11223344u, cpu.ReadLin32(lin));
        Assert.Equal(0x44, mem.Read8(lin));
        Assert.Equal(0x11, mem.Read8(lin + 3));
        cpu.WriteLin16(lin + 1, 0xBEEF);
        Assert.Equal(0xBEEFu, cpu.ReadLin16(lin + 1));
    }

    [Fact]
    public void A20GateWrapsAtOneMegabyte()
    {
        var cpu = NewCpu(out var mem);
        mem.Poke(0x000010, [0x12]);
        mem.Poke(0x100010, [0x34]);
        cpu.A20Enabled = false;
        Assert.Equal(0x12, cpu.ReadLin8(0x100010));
        cpu.A20Enabled = true;
        Assert.Equal(0x34, cpu.ReadLin8(0x100010));
    }

    [Fact]
    public void The286HasA24BitAddressBus()
    {
        var cpu = NewCpu(out var mem, CpuModel.I286);
        mem.Poke(0x000020, [0x77]);
        Assert.Equal(0x77, cpu.ReadLin8(0x1000020));
    }

    [Fact]
    public void CodeTrackerKeepsWritesOutsideCodeChunksCheap()
    {
        var mem = new PhysicalMemory(1 << 20);
        var sink = new CountingSink();
        mem.Code.AddSink(sink);
        mem.Code.MarkCode(0x3040, 16);                   // chunk 1 of page 3
        mem.Write8(0x3000, 1);                           // chunk 0: no invalidation
        mem.Write8(0x30BF, 1);                           // chunk 2: none
        Assert.Equal(0, sink.Count);
        mem.Write16(0x307F, 0xFFFF);                     // last byte of chunk 1 and first of chunk 2
        Assert.Equal(1, sink.Count);
        Assert.False(mem.IsDirectlyWritable(0x3000));
        mem.Code.ClearChunks(3, ulong.MaxValue);
        Assert.True(mem.IsDirectlyWritable(0x3000));
    }

    sealed class CountingSink : ICodeInvalidationSink
    {
        public int Count;
        public void InvalidateCode(uint phys, int length) => Count++;
        public void InvalidateAllCode() => Count++;
    }
}
