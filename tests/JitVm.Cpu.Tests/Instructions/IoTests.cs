using JitVm.Core;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

public class IoTests
{
    /// <summary>Answers reads with a running counter per access and records every access.</summary>
    sealed class FakeDevice : IIoDevice
    {
        public readonly List<(ushort Port, int Size, uint Value)> Writes = new();
        public readonly List<(ushort Port, int Size)> Reads = new();
        public uint NextValue = 0x11;

        public uint In(ushort port, int size)
        {
            Reads.Add((port, size));
            uint v = NextValue;
            NextValue += 0x11;
            return size == 4 ? v * 0x01010101u : size == 2 ? v * 0x0101u : v;
        }

        public void Out(ushort port, int size, uint value) => Writes.Add((port, size, value));
    }

    static (TestMachine, FakeDevice) Machine(ushort port, int count, bool wide, CpuModel? model = null)
    {
        var m = new TestMachine(model);
        var d = new FakeDevice();
        m.Io.Register(port, count, d, wide);
        return (m, d);
    }

    [Fact]
    public void OutImmediateAndDxReachTheDevice()
    {
        var (m, d) = Machine(0x60, 1, false);
        m.Io.Register(0x3F8, 2, d, acceptsWide: true);
        m.Load(x =>
        {
            x.mov(al, 0x5A); x.@out((byte)0x60, al);
            x.mov(dx, 0x3F8); x.mov(ax, 0xBEEF); x.@out(dx, ax);
        });
        m.Run();
        Assert.Equal([((ushort)0x60, 1, 0x5Au), ((ushort)0x3F8, 2, 0xBEEFu)], d.Writes);
    }

    [Fact]
    public void InImmediateAndDxLoadTheAccumulatorOnly()
    {
        var (m, d) = Machine(0x71, 1, false);
        m.Io.Register(0x1F0, 2, d, acceptsWide: true);
        m.Load(x =>
        {
            x.mov(ax, 0xAAAA); x.@in(al, (byte)0x71); x.mov(bx, ax);
            x.mov(dx, 0x1F0); x.@in(ax, dx);
        });
        m.Run();
        Assert.Equal(0xAA11u, m.Cpu.Ebx & 0xFFFF);    // IN AL keeps AH
        Assert.Equal(0x2222u, m.Cpu.Eax & 0xFFFF);
        Assert.Equal([((ushort)0x71, 1), ((ushort)0x1F0, 2)], d.Reads);
    }

    [Fact]
    public void In32AndOut32UseTheFullPort()
    {
        var (m, d) = Machine(0xCF8, 8, true);
        m.Load(x =>
        {
            x.mov(dx, 0xCF8); x.mov(eax, 0x80001234); x.@out(dx, eax);
            x.mov(dx, 0xCFC); x.mov(eax, 0); x.@in(eax, dx);
        });
        m.Run();
        Assert.Equal([((ushort)0xCF8, 4, 0x80001234u)], d.Writes);
        Assert.Equal(0x11111111u, m.Cpu.Eax);
    }

    [Fact]
    public void UnconnectedPortsReadAllOnes()
    {
        var m = new TestMachine();
        m.Load(x => { x.mov(eax, 0); x.mov(dx, 0x2F0); x.@in(ax, dx); x.mov(ebx, eax); x.@in(eax, (byte)0x80); });
        m.Run();
        Assert.Equal(0xFFFFu, m.Cpu.Ebx);
        Assert.Equal(0xFFFFFFFFu, m.Cpu.Eax);
    }

    [Fact]
    public void RepOutsbSendsBytesInOrder()
    {
        var (m, d) = Machine(0x378, 1, false);
        m.Memory.Poke(0x1000, [1, 2, 3, 4]);
        m.Cpu.Esi = 0x1000;
        m.Cpu.Edx = 0x378;
        m.Cpu.Ecx = 4;
        m.Load(x => x.rep.outsb());
        m.Run();
        Assert.Equal([1u, 2u, 3u, 4u], d.Writes.Select(w => w.Value));
        Assert.All(d.Writes, w => Assert.Equal((ushort)0x378, w.Port));
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.Equal(0x1004u, m.Cpu.Esi);
    }

    [Fact]
    public void RepInswFillsMemoryDownwardsWithDf()
    {
        var (m, d) = Machine(0x1F0, 2, true);
        m.Cpu.Edi = 0x2004;
        m.Cpu.Edx = 0x1F0;
        m.Cpu.Ecx = 3;
        m.Load(x => { x.std(); x.rep.insw(); });
        m.Run();
        Assert.Equal(0x1111, m.Read16(0x2004));
        Assert.Equal(0x2222, m.Read16(0x2002));
        Assert.Equal(0x3333, m.Read16(0x2000));
        Assert.Equal(0x1FFEu, m.Cpu.Edi);
        Assert.Equal(3, d.Reads.Count);
    }

    [Fact]
    public void InsToFaultingDestinationDoesNotReadThePort()
    {
        var (m, d) = Machine(0x300, 2, true);
        m.Cpu.Edi = 0xFFFF;
        m.Cpu.Edx = 0x300;
        m.Load(x => x.insw());
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
        Assert.Empty(d.Reads);
        Assert.Equal(0xFFFFu, m.Cpu.Edi);
    }

    [Fact]
    public void I286InsReadsThePortBeforeTheDestinationFaults()
    {
        // The 80286 runs the I/O read cycle first (hardware bus traces) and steps DI before taking #GP.
        var (m, d) = Machine(0x300, 2, true, CpuModel.I286);
        m.Cpu.Edi = 0xFFFF;
        m.Cpu.Edx = 0x300;
        m.Load(x => x.insw());
        m.Run();
        Assert.True(m.InHandler);
        Assert.Single(d.Reads);
        Assert.Equal(0x0001u, m.Cpu.Edi);
    }

    [Fact]
    public void Io32FormsAreInvalidOnThe286()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x66, 0xED);                      // IN EAX, DX
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }
}
