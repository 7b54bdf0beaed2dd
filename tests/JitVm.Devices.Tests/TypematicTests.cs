using JitVm.Core;

namespace JitVm.Devices.Tests;

/// <summary>A held key repeats at the typematic delay and rate the guest programmed with command F3h.</summary>
public class TypematicTests
{
    sealed class Lines : IIrqLines
    {
        public void SetIrq(int irq, bool high) { }
    }

    long instructions;
    readonly VirtualClock clock;
    readonly Keyboard8042 kbc;
    readonly IoBus io = new();

    public TypematicTests()
    {
        clock = new VirtualClock(() => instructions);
        kbc = new Keyboard8042(new Lines(), _ => { }, () => true, () => { }, clock);
        kbc.Attach(io);
        io.Out(0x64, 1, 0x60);                                  // command byte: no IRQs, no translation
        io.Out(0x60, 1, 0x04);
    }

    List<byte> Drain()
    {
        var bytes = new List<byte>();
        for (int i = 0; i < 1000 && (io.In(0x64, 1) & 1) != 0; i++) bytes.Add((byte)io.In(0x60, 1));
        return bytes;
    }

    void AdvanceMs(double ms)
    {
        instructions += (long)(ms * 1e6 / clock.InstructionPeriodNs);
        clock.RunDue();
    }

    [Fact]
    public void DefaultRateRepeatsAfterHalfASecondAtAbout11PerSecond()
    {
        kbc.Keyboard.KeyDown(0x1C);                             // 'A'
        Assert.Equal([0x1C], Drain());
        AdvanceMs(499);
        Assert.Empty(Drain());
        AdvanceMs(2);                                           // 500 ms: first repeat
        Assert.Equal([0x1C], Drain());
        AdvanceMs(1000);                                        // then every 91.74 ms: 10 more in the next second
        Assert.Equal(Enumerable.Repeat((byte)0x1C, 10), Drain());
        kbc.Keyboard.KeyUp(0x1C);
        Assert.Equal([0xF0, 0x1C], Drain());
        AdvanceMs(2000);
        Assert.Empty(Drain());
    }

    [Fact]
    public void TheGuestsRateAndDelayAreUsedAndOnlyTheLastKeyRepeats()
    {
        io.Out(0x60, 1, 0xF3);                                  // set typematic: 250 ms delay, 30/s (period 33.36 ms)
        io.Out(0x60, 1, 0x00);
        Assert.Equal([0xFA, 0xFA], Drain());
        kbc.Keyboard.KeyDown(0x12);                             // left shift, then 'A' while shift is held
        kbc.Keyboard.KeyDown(0x1C);
        Assert.Equal([0x12, 0x1C], Drain());
        AdvanceMs(250 + 33.36 * 3 + 1);
        Assert.Equal(Enumerable.Repeat((byte)0x1C, 4), Drain());
        kbc.Keyboard.KeyUp(0x12);                               // releasing shift does not stop A's repeat
        Assert.Equal([0xF0, 0x12], Drain());
        AdvanceMs(33.36);
        Assert.Equal([0x1C], Drain());
    }
}
