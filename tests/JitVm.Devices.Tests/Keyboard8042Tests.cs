using JitVm.Core;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class Keyboard8042Tests
{
    /// <summary>Counts rising edges per ISA line, which is what an edge-triggered 8259 latches.</summary>
    sealed class EdgeCounter : IIrqLines
    {
        public readonly int[] Rising = new int[16];
        public readonly bool[] Level = new bool[16];

        public void SetIrq(int irq, bool high)
        {
            if (high && !Level[irq]) Rising[irq]++;
            Level[irq] = high;
        }
    }

    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly EdgeCounter Irq = new();
        public readonly List<bool> A20Writes = new();
        public bool A20;
        public int Resets;
        public readonly Keyboard8042 Kbc;

        public Rig()
        {
            Kbc = new Keyboard8042(Irq, on => { A20Writes.Add(on); A20 = on; }, () => A20, () => Resets++);
            Kbc.Attach(Io);
        }

        public void Cmd(byte c) => Io.Out(0x64, 1, c);
        public void Data(byte d) => Io.Out(0x60, 1, d);
        public byte Status => (byte)Io.In(0x64, 1);
        public byte Read() => (byte)Io.In(0x60, 1);

        /// <summary>Reads the output buffer until empty, as a polling driver does (OBF before each read).</summary>
        public byte[] Drain()
        {
            var got = new List<byte>();
            while ((Status & 1) != 0) got.Add(Read());
            return got.ToArray();
        }

        /// <summary>Controller command with a one-byte reply, polled.</summary>
        public byte Query(byte c)
        {
            Cmd(c);
            Assert.Equal(1, Status & 1);
            return Read();
        }

        public void WriteCommandByte(byte ccb)
        {
            Cmd(0x60);
            Data(ccb);
        }

        public int Irq1 => Irq.Rising[1];
        public int Irq12 => Irq.Rising[12];
    }

    // --- controller ---------------------------------------------------------------------------------------

    [Fact]
    public void SelfTestAnswers55AndSetsTheSystemFlag()
    {
        var r = new Rig();
        r.WriteCommandByte(0x00);                                      // a cold-boot command byte: flag clear
        Assert.Equal(0, r.Status & 0x04);
        Assert.Equal(0x55, r.Query(0xAA));
        Assert.Equal(0x04, r.Status & 0x04);
        Assert.Equal(0x04, r.Query(0x20) & 0x04);                       // and it shows in the command byte
    }

    [Fact]
    public void InterfaceTestsReportNoError()
    {
        var r = new Rig();
        Assert.Equal(0x00, r.Query(0xAB));
        Assert.Equal(0x00, r.Query(0xA9));
        Assert.Empty(r.Drain());                                       // exactly one byte each
    }

    [Fact]
    public void CommandByteAndControllerRamReadBackWhatWasWritten()
    {
        var r = new Rig();
        Assert.Equal(Keyboard8042.DefaultCommandByte, r.Query(0x20));
        r.WriteCommandByte(0x61);
        Assert.Equal(0x61, r.Query(0x20));
        r.Cmd(0x65);                                                   // RAM byte 5
        r.Data(0x3C);
        Assert.Equal(0x3C, r.Query(0x25));
        Assert.Equal(0x61, r.Query(0x20));                             // byte 0 untouched
    }

    [Fact]
    public void StatusBit3TellsWhetherTheLastWriteWasACommand()
    {
        var r = new Rig();
        r.Cmd(0x60);
        Assert.Equal(0x08, r.Status & 0x08);
        r.Data(0x45);
        Assert.Equal(0, r.Status & 0x08);
        Assert.Equal(0x10, r.Status & 0x10);                           // keyboard not inhibited
        Assert.Equal(0, r.Status & 0xC2);                              // input buffer empty, no errors
    }

    [Fact]
    public void DisableAndEnableCommandsDriveCommandByteBits4And5()
    {
        var r = new Rig();
        r.WriteCommandByte(0x00);
        r.Cmd(0xAD);
        r.Cmd(0xA7);
        Assert.Equal(0x30, r.Query(0x20));
        r.Cmd(0xAE);
        Assert.Equal(0x20, r.Query(0x20));
        r.Cmd(0xA8);
        Assert.Equal(0x00, r.Query(0x20));
    }

    [Fact]
    public void OutputPortWriteDrivesA20AndOutputPortReadReturnsIt()
    {
        var r = new Rig();
        r.Cmd(0xD1);
        r.Data(0xDF);                                                  // A20 on, reset line high
        Assert.Equal([true], r.A20Writes);
        byte p = r.Query(0xD0);
        Assert.Equal(0x03, p & 0x03);                                  // not in reset, A20 on
        Assert.Equal(0, p & 0x30);                                     // read before its reply filled the buffer
        r.Kbc.Keyboard.SendMake(0x1C);
        Assert.Equal(0x10, r.Query(0xD0) & 0x30);                      // OBF holding keyboard data
        Assert.Equal([0x1E], r.Drain());
        r.Cmd(0xD1);
        r.Data(0xDD);
        Assert.Equal([true, false], r.A20Writes);
        Assert.Equal(0x01, r.Query(0xD0) & 0x03);
        r.Cmd(0xDF);                                                   // HP enable/disable A20 commands
        r.Cmd(0xDD);
        Assert.Equal([true, false, true, false], r.A20Writes);
        Assert.Equal(0, r.Resets);
    }

    [Fact]
    public void PulseCommandsResetTheCpuOnlyWhenBit0IsPulsed()
    {
        var r = new Rig();
        r.Cmd(0xFE);
        Assert.Equal(1, r.Resets);
        r.Cmd(0xFF);                                                   // pulses nothing
        r.Cmd(0xFD);                                                   // pulses A20 only
        Assert.Equal(1, r.Resets);
        r.Cmd(0xF0);                                                   // pulses all four lines
        Assert.Equal(2, r.Resets);
    }

    [Fact]
    public void WritingOutputPortWithBit0ClearResetsTheCpu()
    {
        var r = new Rig();
        r.Cmd(0xD1);
        r.Data(0xDE);
        Assert.Equal(1, r.Resets);
        Assert.Equal([true], r.A20Writes);                             // the A20 bit of the same write still applies
    }

    [Fact]
    public void D2AndD3ReflectBytesAsKeyboardAndAuxData()
    {
        var r = new Rig();
        r.WriteCommandByte(0x03);                                      // both interrupts, no translation
        r.Cmd(0xD2);
        r.Data(0x5A);
        Assert.Equal(0x01, r.Status & 0x21);                           // OBF, not AUXB
        Assert.Equal((1, 0), (r.Irq1, r.Irq12));
        Assert.Equal(0x5A, r.Read());
        r.Cmd(0xD3);
        r.Data(0xA5);
        Assert.Equal(0x21, r.Status & 0x21);                           // OBF with AUXB
        Assert.Equal((1, 1), (r.Irq1, r.Irq12));
        Assert.Equal(0xA5, r.Read());
        Assert.Equal(0, r.Status & 0x21);
    }

    [Fact]
    public void ControllerReplyIsReadBeforeAKeyAlreadyInTheBuffer()
    {
        var r = new Rig();
        r.Kbc.Keyboard.SendMake(0x1C);                                 // 'A' waits in the output buffer
        Assert.Equal(Keyboard8042.DefaultCommandByte, r.Query(0x20));  // the reply is what a driver reads next
        Assert.Equal([0x1E], r.Drain());                               // and the key is not lost
    }

    [Fact]
    public void UnreadControllerRepliesAreDeliveredInOrder()
    {
        var r = new Rig();
        r.Cmd(0xAA);
        r.Cmd(0xAB);
        r.Cmd(0x20);
        Assert.Equal([0x55, 0x00, Keyboard8042.DefaultCommandByte], r.Drain());
    }

    // --- keyboard -----------------------------------------------------------------------------------------

    [Fact]
    public void KeyboardResetAcksAndPassesBatWithAnIrq1EdgePerByte()
    {
        var r = new Rig();
        r.WriteCommandByte(0x45);
        r.Data(0xFF);
        Assert.Equal(1, r.Irq1);
        Assert.Equal(0xFA, r.Read());
        Assert.Equal(2, r.Irq1);                                       // line dropped on the read, raised again
        Assert.Equal(0xAA, r.Read());
        Assert.Equal(2, r.Irq1);
        Assert.False(r.Irq.Level[1]);
        Assert.Equal(0, r.Irq12);
    }

    [Fact]
    public void NoKeyboardInterruptWhenCommandByteBit0IsClear()
    {
        var r = new Rig();
        r.WriteCommandByte(0x44);
        r.Data(0xFF);
        Assert.Equal([0xFA, 0xAA], r.Drain());                         // polling still works
        Assert.Equal(0, r.Irq1);
    }

    [Fact]
    public void EnablingTheKeyboardInterruptWithDataWaitingRaisesIrq1()
    {
        var r = new Rig();
        r.WriteCommandByte(0x44);
        r.Kbc.Keyboard.SendMake(0x1C);
        Assert.Equal(0, r.Irq1);
        r.WriteCommandByte(0x45);
        Assert.Equal(1, r.Irq1);
        Assert.Equal(0x1E, r.Read());
    }

    [Theory]
    [InlineData(0x45, 0x41)]                                           // translated: 83 becomes 41
    [InlineData(0x05, 0x83)]                                           // untranslated
    public void IdentifyReturnsTheMf2Id(byte ccb, byte second)
    {
        var r = new Rig();
        r.WriteCommandByte(ccb);
        r.Data(0xF2);
        Assert.Equal([0xFA, 0xAB, second], r.Drain());
    }

    [Fact]
    public void SetLedsTakesAParameterAndAcksBoth()
    {
        var r = new Rig();
        r.Data(0xED);
        Assert.Equal([0xFA], r.Drain());
        r.Data(0x07);
        Assert.Equal([0xFA], r.Drain());
        Assert.Equal(7, r.Kbc.Keyboard.Leds);
        r.Data(0xED);
        r.Data(0x02);                                                  // Num Lock only
        Assert.Equal([0xFA, 0xFA], r.Drain());
        Assert.Equal(2, r.Kbc.Keyboard.Leds);
    }

    [Fact]
    public void ScancodeSetCanBeQueriedAndSelected()
    {
        var r = new Rig();
        r.WriteCommandByte(0x05);                                      // untranslated: the raw set number
        r.Data(0xF0); r.Data(0x00);
        Assert.Equal([0xFA, 0xFA, 0x02], r.Drain());
        r.Data(0xF0); r.Data(0x01);
        Assert.Equal([0xFA, 0xFA], r.Drain());
        r.Data(0xF0); r.Data(0x00);
        Assert.Equal([0xFA, 0xFA, 0x01], r.Drain());
        r.WriteCommandByte(0x45);                                      // translated: set 1 reads as 0x43
        r.Data(0xF0); r.Data(0x00);
        Assert.Equal([0xFA, 0xFA, 0x43], r.Drain());
        r.Data(0xF0); r.Data(0x03);                                    // set 3 is refused
        Assert.Equal([0xFA, 0xFE], r.Drain());
        Assert.Equal(1, r.Kbc.Keyboard.ScancodeSet);
    }

    [Fact]
    public void EchoRepliesEeWithoutAck()
    {
        var r = new Rig();
        r.Data(0xEE);
        Assert.Equal([0xEE], r.Drain());
    }

    [Fact]
    public void UnknownKeyboardCommandGetsResendAndResendRepeatsTheLastByte()
    {
        var r = new Rig();
        r.WriteCommandByte(0x05);
        r.Data(0x42);
        Assert.Equal([0xFE], r.Drain());
        r.Data(0xF2);
        Assert.Equal([0xFA, 0xAB, 0x83], r.Drain());
        r.Data(0xFE);
        Assert.Equal([0x83], r.Drain());
        r.Data(0xF3); r.Data(0x20);                                    // typematic 500 ms / 30 cps
        Assert.Equal([0xFA, 0xFA], r.Drain());
        Assert.Equal(0x20, r.Kbc.Keyboard.Typematic);
    }

    [Fact]
    public void HostKeyArrivesTranslatedToSet1()
    {
        var r = new Rig();                                             // default command byte translates
        r.Kbc.Keyboard.SendMake(0x1C);                                 // 'A'
        r.Kbc.Keyboard.SendBreak(0x1C);
        Assert.Equal([0x1E, 0x9E], r.Drain());                         // F0 1C became one byte, bit 7 set
        Assert.Equal(2, r.Irq1);
    }

    [Fact]
    public void ExtendedKeysKeepTheirE0PrefixThroughTranslation()
    {
        var r = new Rig();
        r.Kbc.Keyboard.SendMake(0xE014);                               // right Ctrl
        r.Kbc.Keyboard.SendBreak(0xE014);
        r.Kbc.Keyboard.SendMake(0xE075);                               // Up
        r.Kbc.Keyboard.SendBreak(0xE075);
        Assert.Equal([0xE0, 0x1D, 0xE0, 0x9D, 0xE0, 0x48, 0xE0, 0xC8], r.Drain());
    }

    [Fact]
    public void PauseAndF7TranslateLikeTheChip()
    {
        var r = new Rig();
        r.Kbc.Keyboard.SendBytes(Ps2Keyboard.PauseSequence);
        r.Kbc.Keyboard.SendMake(0x83);                                 // F7, the one key above 0x7F
        Assert.Equal([0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5, 0x41], r.Drain());
    }

    [Fact]
    public void HostKeyArrivesAsSet2WhenTranslationIsOff()
    {
        var r = new Rig();
        r.WriteCommandByte(0x05);
        r.Kbc.Keyboard.SendMake(0x1C);
        r.Kbc.Keyboard.SendBreak(0x1C);
        r.Kbc.Keyboard.SendBreak(0xE075);
        Assert.Equal([0x1C, 0xF0, 0x1C, 0xE0, 0xF0, 0x75], r.Drain());
    }

    [Fact]
    public void KeyboardInSet1SendsSet1CodesItself()
    {
        var r = new Rig();
        r.WriteCommandByte(0x05);                                      // untranslated, as a set-1 driver must use it
        r.Data(0xF0); r.Data(0x01);
        Assert.Equal([0xFA, 0xFA], r.Drain());
        r.Kbc.Keyboard.SendMake(0x1C);
        r.Kbc.Keyboard.SendBreak(0xE014);
        Assert.Equal([0x1E, 0xE0, 0x9D], r.Drain());
    }

    [Fact]
    public void DisabledKeyboardInterfaceHoldsDataUntilReenabled()
    {
        var r = new Rig();
        r.Cmd(0xAD);
        r.Kbc.Keyboard.SendMake(0x1C);
        Assert.Equal(0, r.Status & 1);
        Assert.Equal(0, r.Irq1);
        r.Cmd(0xAE);
        Assert.Equal(1, r.Irq1);
        Assert.Equal([0x1E], r.Drain());
    }

    [Fact]
    public void WritingToTheKeyboardReenablesItsInterface()
    {
        var r = new Rig();
        r.Cmd(0xAD);
        r.Data(0xF4);                                                  // the controller must clock the byte out
        Assert.Equal([0xFA], r.Drain());
        Assert.Equal(0, r.Query(0x20) & 0x10);
    }

    [Fact]
    public void ScanningDisabledDropsKeysAndEnableResumes()
    {
        var r = new Rig();
        r.Data(0xF5);
        Assert.Equal([0xFA], r.Drain());
        r.Kbc.Keyboard.SendMake(0x1C);
        Assert.Empty(r.Drain());
        r.Data(0xF4);
        Assert.Equal([0xFA], r.Drain());
        r.Kbc.Keyboard.SendMake(0x32);                                 // 'B'
        Assert.Equal([0x30], r.Drain());
    }

    [Fact]
    public void OutputBufferShowsOneByteAtATimeAndQueuesTheRest()
    {
        var r = new Rig();
        r.Kbc.Keyboard.SendMake(0x1C);
        r.Kbc.Keyboard.SendMake(0x32);
        r.Kbc.Keyboard.SendBreak(0x32);
        Assert.Equal(1, r.Irq1);                                       // one byte visible, one interrupt so far
        for (int i = 0; i < 3; i++) Assert.Equal(1, r.Status & 1);
        Assert.Equal(0x1E, r.Read());
        Assert.Equal(0x30, r.Read());
        Assert.Equal(0xB0, r.Read());
        Assert.Equal(0, r.Status & 1);
        Assert.Equal(3, r.Irq1);
        Assert.Equal(0xB0, r.Read());                                  // an empty buffer reads back stale data
        Assert.Equal(3, r.Irq1);
    }

    // --- mouse --------------------------------------------------------------------------------------------

    [Fact]
    public void MouseResetAndIdentifyThroughD4ArriveAsAuxDataWithIrq12()
    {
        var r = new Rig();
        r.WriteCommandByte(0x47);                                      // keyboard and aux interrupts
        r.Cmd(0xD4);
        r.Data(0xFF);
        Assert.Equal(0x21, r.Status & 0x21);
        var got = new List<byte>();
        while ((r.Status & 0x21) == 0x21) got.Add(r.Read());
        Assert.Equal([0xFA, 0xAA, 0x00], got);
        r.Cmd(0xD4);
        r.Data(0xF2);
        Assert.Equal([0xFA, 0x00], r.Drain());
        Assert.Equal(5, r.Irq12);
        Assert.Equal(0, r.Irq1);
    }

    [Fact]
    public void MouseSettingsShowInItsStatusReport()
    {
        var r = new Rig();
        void Mouse(byte b) { r.Cmd(0xD4); r.Data(b); }
        Mouse(0xF3); Mouse(40);                                        // sample rate
        Mouse(0xE8); Mouse(3);                                         // 8 counts/mm
        Mouse(0xE7);                                                   // 2:1 scaling
        Mouse(0xF4);                                                   // enable reporting
        Assert.Equal([0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA], r.Drain());
        Mouse(0xE9);
        Assert.Equal([0xFA, 0x30, 0x03, 40], r.Drain());
        Mouse(0x12);                                                   // not a command
        Assert.Equal([0xFE], r.Drain());
    }

    [Fact]
    public void EnabledMouseReportsMovementPackets()
    {
        var r = new Rig();
        r.Kbc.Mouse.SendMovement(5, -3, 1);                            // reporting still off: nothing
        Assert.Empty(r.Drain());
        r.Cmd(0xD4);
        r.Data(0xF4);
        Assert.Equal([0xFA], r.Drain());
        r.Kbc.Mouse.SendMovement(5, -3, 1);
        Assert.Equal([0x29, 0x05, 0xFD], r.Drain());                   // left, always-1, Y negative
    }

    [Fact]
    public void DisabledAuxInterfaceHoldsMouseDataUntilReenabled()
    {
        var r = new Rig();
        r.Cmd(0xD4);
        r.Data(0xF4);
        Assert.Equal([0xFA], r.Drain());
        r.Cmd(0xA7);
        r.Kbc.Mouse.SendMovement(1, 1, 0);
        Assert.Equal(0, r.Status & 1);
        r.Cmd(0xA8);
        Assert.Equal([0x08, 0x01, 0x01], r.Drain());
    }
}
