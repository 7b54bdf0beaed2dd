using JitVm.Core;

namespace JitVm.Devices.Tests;

public class IoBusTests
{
    sealed class Latch : IIoDevice
    {
        public byte Value;
        public uint In(ushort port, int size) => Value;
        public void Out(ushort port, int size, uint value) => Value = (byte)value;
    }

    [Fact]
    public void UnclaimedPortsReadAllOnesAndAreReportedOncePerPort()
    {
        var reports = new List<(ushort Port, bool Write)>();
        var io = new IoBus { UnhandledAccess = (p, w) => reports.Add((p, w)) };
        Assert.Equal(0xFFu, io.In(0x300, 1));
        Assert.Equal(0xFFFFu, io.In(0x300, 2));                // 0x300 again (not reported twice) and 0x301
        Assert.Equal(0xFFFFFFFFu, io.In(0x310, 4));
        io.Out(0x300, 1, 0x12);
        Assert.Equal([(0x300, false), (0x301, false), (0x310, false), (0x311, false), (0x312, false), (0x313, false)], reports);
    }

    [Fact]
    public void WideAccessesToByteDevicesAreSplitAndHolesReadAsOnes()
    {
        var io = new IoBus();
        var low = new Latch { Value = 0x34 };
        io.Register(0x80, 1, low);
        Assert.Equal(0xFFFF_FF34u, io.In(0x80, 4));
        io.Out(0x80, 2, 0xAB56);
        Assert.Equal(0x56, low.Value);
    }
}
