using JitVm.Core;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class UartTests
{
    // Register offsets from the base port, as the 8250 driver names them.
    const int Rbr = 0, Thr = 0, Ier = 1, Iir = 2, Fcr = 2, Lcr = 3, Mcr = 4, Lsr = 5, Msr = 6, Scr = 7;

    /// <summary>Records the level of each ISA line and counts rising edges (what an edge-triggered 8259 latches).</summary>
    sealed class LineProbe : IIrqLines
    {
        public readonly bool[] Level = new bool[16];
        public readonly int[] Rising = new int[16];
        public int Calls;

        public void SetIrq(int irq, bool high)
        {
            Calls++;
            if (high && !Level[irq]) Rising[irq]++;
            Level[irq] = high;
        }
    }

    /// <summary>A UART on an I/O bus at COM1/IRQ 4, programmed only through ports.</summary>
    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly LineProbe Irq = new();
        public readonly List<byte> Sent = new();
        public readonly Uart16550 Uart;
        readonly ushort basePort;

        public Rig(ushort basePort = Uart16550.Com1, int line = Uart16550.Com1Irq)
        {
            this.basePort = basePort;
            Uart = new Uart16550(Sent.Add, Irq, line);
            Uart.Attach(Io, basePort);
        }

        public void Out(int reg, byte v) => Io.Out((ushort)(basePort + reg), 1, v);
        public byte In(int reg) => (byte)Io.In((ushort)(basePort + reg), 1);
        public bool Line => Irq.Level[Uart16550.Com1Irq];
        public int Rises => Irq.Rising[Uart16550.Com1Irq];

        /// <summary>Reads RBR while LSR.DR is set, at most <paramref name="max"/> bytes.</summary>
        public List<byte> Drain(int max = 64)
        {
            var got = new List<byte>();
            while (got.Count < max && (In(Lsr) & 1) != 0) got.Add(In(Rbr));
            return got;
        }
    }

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
        // CTS=RTS, RI=OUT1, DCD=OUT2 asserted; DSR=DTR dropped from its idle asserted state, so DDSR is set.
        Assert.Equal(0xD2u, u.In(Uart16550.Com1 + 6, 1));
        Assert.Equal(0xD0u, u.In(Uart16550.Com1 + 6, 1));              // delta cleared by the read
    }

    [Fact]
    public void DivisorLatchDoesNotHideIerOrTransmitWhenDlabIsOff()
    {
        var r = new Rig();
        r.Out(Lcr, 0x83);
        r.Out(0, 0x0C);
        r.Out(1, 0x00);                                                // 9600 baud
        Assert.Equal(0x0C, r.In(0));
        r.Out(Lcr, 0x03);
        r.Out(Ier, 0x05);
        Assert.Equal(0x05, r.In(Ier));
        r.Out(Lcr, 0x83);
        Assert.Equal(0x00, r.In(1));                                   // DLM, not IER
        Assert.Equal(12, r.Uart.Divisor);
        Assert.Empty(r.Sent);
    }

    [Fact]
    public void ResetRestoresTheDatasheetStateAndKeepsDivisorAndScratch()
    {
        var r = new Rig();
        r.Out(Lcr, 0x80); r.Out(0, 0x01); r.Out(Lcr, 0x1B);
        r.Out(Scr, 0x77);
        r.Out(Fcr, 0xC7);
        r.Out(Mcr, 0x1B);                                              // loopback
        r.Out(Thr, 0x42);                                              // a byte in the receive FIFO
        r.Out(Mcr, 0x0B);
        r.Out(Ier, 0x0F);
        Assert.True(r.Line);

        r.Uart.Reset();

        Assert.False(r.Line);                                          // the line is driven low again
        Assert.Equal(0x00, r.In(Ier));
        Assert.Equal(0x01, r.In(Iir));                                 // no interrupt, FIFOs off
        Assert.Equal(0x00, r.In(Lcr));
        Assert.Equal(0x00, r.In(Mcr));
        Assert.Equal(0x60, r.In(Lsr));                                 // THRE|TEMT, the FIFO was cleared
        Assert.Equal(0xB0, r.In(Msr));                                 // inputs only, no deltas
        Assert.Equal(0x77, r.In(Scr));
        Assert.Equal(1, r.Uart.Divisor);
    }

    [Fact]
    public void RegistersReadBackOnlyTheirImplementedBits()
    {
        var r = new Rig();
        r.Out(Ier, 0xFF);
        Assert.Equal(0x0F, r.In(Ier));                                 // the 8250 autoconfig probe: bits 4-7 read 0
        r.Out(Mcr, 0xFF);
        Assert.Equal(0x1F, r.In(Mcr));                                 // bits 5-7 are 0 on a 16550
        r.Out(Mcr, 0x00);
        r.Out(Lsr, 0x00);                                              // LSR and MSR are not writable here
        r.Out(Msr, 0x00);
        Assert.Equal(0x60, r.In(Lsr));
        Assert.Equal(0xB4, r.In(Msr));                                 // leaving loopback dropped RI (OUT1): TERI
        Assert.Equal(0xB0, r.In(Msr));
    }

    [Fact]
    public void FifoEnableShowsInIirBits6And7()
    {
        var r = new Rig();
        Assert.Equal(0x01, r.In(Iir));
        r.Out(Fcr, 0x01);
        Assert.Equal(0xC1, r.In(Iir));                                 // 16550A: both bits set
        r.Out(Lcr, 0x80);
        Assert.Equal(0xC1, r.In(Iir));                                 // IIR is readable with DLAB set
        r.Out(Lcr, 0x03);
        r.Out(Fcr, 0x00);
        Assert.Equal(0x01, r.In(Iir));
    }

    [Fact]
    public void TriggerLevelEightRaisesReceivedDataOnlyAtTheEighthByte()
    {
        var r = new Rig();
        r.Out(Fcr, 0x87);                                              // enable, clear both, trigger 8
        r.Out(Mcr, 0x0B);                                              // DTR, RTS, OUT2
        r.Out(Ier, 0x01);
        for (int i = 0; i < 7; i++) r.Uart.Receive((byte)i);
        r.Uart.Poll();
        Assert.False(r.Line);
        Assert.Equal(0xC1, r.In(Iir));
        Assert.Equal(0x61, r.In(Lsr));                                 // data ready though

        r.Uart.Receive(7);
        r.Uart.Poll();
        Assert.True(r.Line);
        Assert.Equal(0xC4, r.In(Iir));
        Assert.Equal(0, r.In(Rbr));                                    // FIFO drops below the trigger level
        Assert.False(r.Line);
        Assert.Equal(0xC1, r.In(Iir));
    }

    [Theory]
    [InlineData(0x01, 1)]
    [InlineData(0x41, 4)]
    [InlineData(0x81, 8)]
    [InlineData(0xC1, 14)]
    public void FcrSelectsTheReceiveTriggerLevel(byte fcr, int level)
    {
        var r = new Rig();
        r.Out(Fcr, fcr);
        r.Out(Ier, 0x01);
        for (int i = 0; i < level - 1; i++) r.Uart.Receive((byte)i);
        r.Uart.Poll();
        Assert.NotEqual(0xC4, r.In(Iir));
        r.Uart.Receive(0xFF);
        r.Uart.Poll();
        Assert.Equal(0xC4, r.In(Iir));
    }

    [Fact]
    public void CharacterTimeoutReportsFewerBytesThanTheTriggerAfterAQuietPoll()
    {
        var r = new Rig();
        r.Out(Fcr, 0x81);                                              // trigger 8
        r.Out(Mcr, 0x08);
        r.Out(Ier, 0x01);
        r.Uart.Receive(0x10); r.Uart.Receive(0x11); r.Uart.Receive(0x12);
        r.Uart.Poll();                                                 // bytes arrive during this slice
        Assert.Equal(0xC1, r.In(Iir));
        Assert.False(r.Line);
        r.Uart.Poll();                                                 // a slice with no arrival and no read
        Assert.True(r.Line);
        Assert.Equal(0xCC, r.In(Iir));

        Assert.Equal(0x10, r.In(Rbr));                                 // reading a byte clears the timeout
        Assert.False(r.Line);
        Assert.Equal(0xC1, r.In(Iir));
        r.Uart.Poll();                                                 // that read restarted the timer
        Assert.Equal(0xC1, r.In(Iir));
        r.Uart.Poll();
        Assert.Equal(0xCC, r.In(Iir));

        Assert.Equal([0x11, 0x12], r.Drain());
        r.Uart.Poll(); r.Uart.Poll();
        Assert.Equal(0xC1, r.In(Iir));                                 // an empty FIFO never times out
        Assert.False(r.Line);
    }

    [Fact]
    public void WithoutFifosEachByteIsReceivedDataAndNoTimeoutIsReported()
    {
        var r = new Rig();
        r.Out(Mcr, 0x08);
        r.Out(Ier, 0x01);
        r.Uart.Receive(0xA1); r.Uart.Receive(0xA2);
        r.Uart.Poll();
        Assert.True(r.Line);
        Assert.Equal(0x04, r.In(Iir));
        Assert.Equal(0xA1, r.In(Rbr));
        Assert.Equal(0x04, r.In(Iir));                                 // the next byte moved into RBR
        Assert.Equal(0xA2, r.In(Rbr));
        Assert.Equal(0x01, r.In(Iir));
        Assert.False(r.Line);
    }

    [Fact]
    public void ReceiveFifoKeepsOrderAndOverrunsOnTheSeventeenthByte()
    {
        var r = new Rig();
        r.Out(Fcr, 0xC7);
        r.Out(Mcr, 0x10);                                              // loopback feeds the receiver
        for (int i = 0; i < 17; i++) r.Out(Thr, (byte)(0x30 + i));
        Assert.Equal(0x63, r.In(Lsr));                                 // DR | OE | THRE | TEMT
        Assert.Equal(0x61, r.In(Lsr));                                 // OE cleared by the previous read
        var got = r.Drain();
        Assert.Equal(Enumerable.Range(0x30, 16).Select(b => (byte)b), got);   // the 17th byte was lost
        Assert.Equal(0x60, r.In(Lsr));
        Assert.Empty(r.Sent);                                          // nothing left the chip in loopback
    }

    [Fact]
    public void WithoutFifosAnOverrunReplacesTheUnreadByte()
    {
        var r = new Rig();
        r.Out(Mcr, 0x10);
        r.Out(Thr, 0x01);
        r.Out(Thr, 0x02);
        Assert.Equal(0x63, r.In(Lsr));
        Assert.Equal(0x02, r.In(Rbr));
        Assert.Equal(0x60, r.In(Lsr));
    }

    [Fact]
    public void HostInputWaitsForRoomInsteadOfOverrunning()
    {
        var r = new Rig();
        for (int i = 0; i < 40; i++) r.Uart.Receive((byte)i);
        r.Uart.Poll();
        Assert.Equal(Enumerable.Range(0, 40).Select(b => (byte)b), r.Drain());   // 1-byte RBR, refilled per read
        r.Out(Fcr, 0x01);
        for (int i = 0; i < 40; i++) r.Uart.Receive((byte)(100 + i));
        r.Uart.Poll();
        Assert.Equal(0x61, r.In(Lsr));                                 // no overrun from host input
        Assert.Equal(Enumerable.Range(100, 40).Select(b => (byte)b), r.Drain());

        for (int i = 0; i < 20; i++) r.Uart.Receive((byte)(200 + i));
        r.Uart.Poll();                                                 // 16 bytes fill the FIFO, 4 wait on the wire
        r.Out(Fcr, 0x03);                                              // clear RCVR FIFO: only the 16 are lost
        Assert.Equal(Enumerable.Range(216, 4).Select(b => (byte)b), r.Drain());
    }

    [Fact]
    public void ReceivedByteIsVisibleOnTheNextReadWithoutPoll()
    {
        var u = new Uart16550(null);
        u.Receive(0x55);
        Assert.Equal(0x61u, u.In(Uart16550.Com1 + 5, 1));
        Assert.Equal(0x55u, u.In(Uart16550.Com1, 1));
        Assert.Equal(0x60u, u.In(Uart16550.Com1 + 5, 1));
    }

    [Fact]
    public void FcrClearsTheReceiver()
    {
        var r = new Rig();
        r.Out(Fcr, 0x81);
        r.Out(Mcr, 0x10);
        for (int i = 0; i < 5; i++) r.Out(Thr, (byte)i);
        r.Out(Fcr, 0x83);                                              // clear RCVR FIFO, FIFOs stay on
        Assert.Equal(0x60, r.In(Lsr));
        Assert.Equal(0xC1, r.In(Iir));

        r.Out(Thr, 0x99);
        r.Out(Fcr, 0x00);                                              // turning FIFOs off clears them too
        Assert.Equal(0x60, r.In(Lsr));
        r.Out(Thr, 0x98);
        r.Out(Fcr, 0x01);                                              // and so does turning them on
        Assert.Equal(0x60, r.In(Lsr));
    }

    [Fact]
    public void ThreInterruptFiresOnEnableClearsOnIirReadAndRearmsOnThrWrite()
    {
        var r = new Rig();
        r.Out(Mcr, 0x0B);
        Assert.False(r.Line);
        r.Out(Ier, 0x02);                                              // the 8250 driver's startup THRE test
        Assert.True(r.Line);
        Assert.Equal(1, r.Rises);
        Assert.Equal(0x60, r.In(Lsr) & 0x60);
        Assert.Equal(0x02, r.In(Iir));                                 // reading IIR with THRE the source clears it
        Assert.False(r.Line);
        Assert.Equal(0x01, r.In(Iir));

        r.Out(Thr, (byte)'x');                                         // byte shifted out: THRE interrupts again
        Assert.True(r.Line);
        Assert.Equal(2, r.Rises);
        r.Out(Thr, (byte)'y');                                         // even without an IIR read, a fresh edge
        Assert.Equal(3, r.Rises);
        Assert.Equal("xy"u8.ToArray(), r.Sent);
        Assert.Equal(0x02, r.In(Iir));

        r.Out(Thr, (byte)'z');
        r.Out(Ier, 0x00);                                              // disabling drops the line
        Assert.False(r.Line);
        Assert.Equal(0x01, r.In(Iir));
    }

    [Fact]
    public void InterruptsAreReportedInPriorityOrder()
    {
        var r = new Rig();
        r.Out(Mcr, 0x10);                                              // loopback, all outputs off
        r.In(Msr);                                                     // discard the deltas of entering loopback
        r.Out(Mcr, 0x12);                                              // RTS -> CTS: DCTS (modem status)
        r.Out(Thr, 0x01);
        r.Out(Thr, 0x02);                                              // overrun (FIFOs off): line status + data
        r.Out(Ier, 0x0F);                                              // THRE pending on enable
        Assert.Equal(0x06, r.In(Iir));
        Assert.Equal(0x63, r.In(Lsr));
        Assert.Equal(0x04, r.In(Iir));
        Assert.Equal(0x02, r.In(Rbr));
        Assert.Equal(0x02, r.In(Iir));
        Assert.Equal(0x00, r.In(Iir));                                 // that read cleared THRE
        Assert.Equal(0x11, r.In(Msr));                                 // CTS with DCTS
        Assert.Equal(0x01, r.In(Iir));
    }

    [Fact]
    public void IrqLineFollowsOut2AndIsGatedOffInLoopback()
    {
        var r = new Rig();
        r.Out(Ier, 0x01);
        r.Uart.Receive(0x61);
        r.Uart.Poll();
        r.Out(Mcr, 0x03);                                              // DTR|RTS without OUT2
        Assert.Equal(0x04, r.In(Iir));                                 // pending inside the chip...
        Assert.False(r.Line);                                          // ...but not driven onto IRQ 4
        r.Out(Mcr, 0x0B);
        Assert.True(r.Line);
        r.Out(Mcr, 0x1B);                                              // loopback forces the -OUT2 pin inactive
        Assert.False(r.Line);
        Assert.Equal(0x04, r.In(Iir));
        r.Out(Mcr, 0x0B);
        Assert.True(r.Line);
        Assert.Equal(2, r.Rises);
        Assert.Equal(0x61, r.In(Rbr));
        Assert.False(r.Line);
    }

    [Fact]
    public void LoopbackMirrorsModemControlIntoModemStatusWithDeltas()
    {
        var r = new Rig();
        r.Out(Mcr, 0x10);                                              // CTS, DSR, DCD all drop
        Assert.Equal(0x0B, r.In(Msr));                                 // DCTS | DDSR | DDCD
        Assert.Equal(0x00, r.In(Msr));
        r.Out(Mcr, 0x11);                                              // DTR -> DSR
        Assert.Equal(0x22, r.In(Msr));
        r.Out(Mcr, 0x12);                                              // RTS -> CTS, DSR off
        Assert.Equal(0x13, r.In(Msr));
        r.Out(Mcr, 0x14);                                              // OUT1 -> RI: a rising RI sets no TERI
        Assert.Equal(0x41, r.In(Msr));
        r.Out(Mcr, 0x10);                                              // RI trailing edge: TERI
        Assert.Equal(0x04, r.In(Msr));
        r.Out(Mcr, 0x18);                                              // OUT2 -> DCD
        Assert.Equal(0x88, r.In(Msr));
        r.Out(Mcr, 0x1A);                                              // the 8250 driver's probe expects 0x90
        Assert.Equal(0x90, r.In(Msr) & 0xF0);
    }

    [Fact]
    public void ModemStatusInterruptIsClearedByReadingMsr()
    {
        var r = new Rig();
        r.Out(Ier, 0x08);
        r.Out(Mcr, 0x08);
        Assert.False(r.Line);                                          // no change of the inputs yet
        r.Out(Mcr, 0x19);                                              // loopback: the inputs change
        Assert.Equal(0x00, r.In(Iir));
        r.In(Msr);
        Assert.Equal(0x01, r.In(Iir));
        r.Out(Mcr, 0x08);                                              // leaving loopback: inputs change back
        Assert.True(r.Line);
        Assert.Equal(0xB1, r.In(Msr));                                 // CTS came back: DCTS
        Assert.False(r.Line);
    }

    [Fact]
    public async Task HostBytesFromAnotherThreadReachTheGuestAfterPoll()
    {
        const int count = 5000;
        var r = new Rig();
        r.Out(Fcr, 0xC7);                                              // trigger 14
        r.Out(Mcr, 0x0B);
        r.Out(Ier, 0x01);
        var producer = Task.Run(() =>
        {
            for (int i = 0; i < count; i++) r.Uart.Receive((byte)(i * 7));
        });
        // The VM thread keeps polling and reading while the producer runs; bounded by the producer's completion.
        var got = new List<byte>();
        while (got.Count < count)
        {
            bool done = producer.IsCompleted;
            r.Uart.Poll();
            var chunk = r.Drain(count);
            got.AddRange(chunk);
            if (done && chunk.Count == 0) break;
        }
        await producer.WaitAsync(TimeSpan.FromSeconds(10));           // bounded: throws on timeout
        Assert.Equal(count, got.Count);
        for (int i = 0; i < count; i++) Assert.Equal((byte)(i * 7), got[i]);
        Assert.Equal(0x60, r.In(Lsr));                                 // no overrun, nothing left

        for (int i = 0; i < 20; i++) r.Uart.Receive(0xEE);
        r.Uart.Poll();
        Assert.True(r.Line);                                           // 16 bytes in the FIFO: above trigger 14
        Assert.Equal(0xC4, r.In(Iir));
    }

    [Fact]
    public void AttachesAtCom2AndDrivesItsOwnLine()
    {
        var r = new Rig(Uart16550.Com2, Uart16550.Com2Irq);
        r.Out(Scr, 0xA5);
        Assert.Equal(0xA5, r.In(Scr));
        Assert.Equal(0xFFu, r.Io.In(Uart16550.Com1 + Scr, 1));        // COM1 is not claimed
        r.Out(Mcr, 0x08);
        r.Out(Ier, 0x02);
        Assert.True(r.Irq.Level[Uart16550.Com2Irq]);
        Assert.False(r.Irq.Level[Uart16550.Com1Irq]);
        r.Out(Thr, (byte)'!');
        Assert.Equal("!"u8.ToArray(), r.Sent);
    }

    [Fact]
    public void LineIsOnlyDrivenWhenItsLevelChanges()
    {
        var r = new Rig();
        r.Out(Mcr, 0x08);
        r.Out(Ier, 0x01);
        r.Uart.Receive(1);
        r.Uart.Poll();
        int calls = r.Irq.Calls;
        r.Uart.Poll();
        r.In(Lsr);
        r.In(Iir);
        Assert.Equal(calls, r.Irq.Calls);
        Assert.True(r.Line);
    }
}
