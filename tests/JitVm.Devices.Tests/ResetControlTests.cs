using JitVm.Core;

namespace JitVm.Devices.Tests;

public class ResetControlTests
{
    [Fact]
    public void WritingBit2RequestsAResetAndOnlyBits1And3AreKept()
    {
        int resets = 0;
        var io = new IoBus();
        var rc = new ResetControl(() => resets++);
        rc.Attach(io);
        io.Out(ResetControl.Port, 1, 0x02);                    // select hard reset: nothing happens yet
        Assert.Equal(0, resets);
        Assert.Equal(0x02u, io.In(ResetControl.Port, 1));
        io.Out(ResetControl.Port, 1, 0x06);                    // what SeaBIOS and Linux write to reboot
        Assert.Equal(1, resets);
        Assert.Equal(0x02u, io.In(ResetControl.Port, 1));
        rc.Reset();
        Assert.Equal(0u, io.In(ResetControl.Port, 1));
    }
}
