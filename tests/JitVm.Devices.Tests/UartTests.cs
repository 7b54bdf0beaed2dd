using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class UartTests
{
    [Fact]
    public void TransmitsBytesAndReportsTheTransmitterEmpty()
    {
        var sent = new List<byte>();
        var u = new Uart16550(sent.Add);
        u.Out(Uart16550.Com1, 1, (byte)'A');
        Assert.Equal("A"u8.ToArray(), sent);
        Assert.Equal(0x60u, u.In(Uart16550.Com1 + 5, 1) & 0x61);     // THRE|TEMT, no data
    }

    [Fact]
    public void DivisorLatchIsBehindDlab()
    {
        var u = new Uart16550(null);
        u.Out(Uart16550.Com1 + 3, 1, 0x80);                            // DLAB
        u.Out(Uart16550.Com1, 1, 0x01);                                // 115200 baud
        u.Out(Uart16550.Com1 + 1, 1, 0x00);
        u.Out(Uart16550.Com1 + 3, 1, 0x03);                            // 8N1, DLAB off
        Assert.Equal(1, u.Divisor);
        Assert.Equal(0x03u, u.In(Uart16550.Com1 + 3, 1));
        Assert.Equal(0u, u.Transmitted);                               // the divisor write did not transmit
    }

    [Fact]
    public void LoopbackAndScratchBehaveLikeTheChip()
    {
        var u = new Uart16550(null);
        u.Out(Uart16550.Com1 + 7, 1, 0x5A);
        Assert.Equal(0x5Au, u.In(Uart16550.Com1 + 7, 1));
        u.Out(Uart16550.Com1 + 4, 1, 0x1E);                            // loopback + OUT1/OUT2/RTS
        u.Out(Uart16550.Com1, 1, 0xAE);
        Assert.Equal(1u, u.In(Uart16550.Com1 + 5, 1) & 1);             // data ready
        Assert.Equal(0xAEu, u.In(Uart16550.Com1, 1));
        Assert.Equal(0xE0u, u.In(Uart16550.Com1 + 6, 1));              // MCR bits 1-3 mirrored to 5-7
    }
}
