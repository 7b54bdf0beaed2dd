using JitVm.Core;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class Pic8259Tests
{
    const ushort M0 = 0x20, M1 = 0x21, S0 = 0xA0, S1 = 0xA1, Elcr1 = 0x4D0, Elcr2 = 0x4D1;
    const byte NonSpecificEoi = 0x20;

    /// <summary>The pair on an I/O bus, with every INT transition recorded.</summary>
    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly List<bool> Int = [];
        public readonly Pic8259Pair Pic;

        public Rig(bool init = true, byte masterIcw4 = 0x01, byte slaveIcw4 = 0x01)
        {
            Pic = new Pic8259Pair(Int.Add);
            Pic.Attach(Io);
            if (init) Init(masterIcw4, slaveIcw4);
        }

        /// <summary>The PC sequence as Linux's init_8259A does it: master ICW1-4, then the slave's.</summary>
        public void Init(byte masterIcw4 = 0x01, byte slaveIcw4 = 0x01)
        {
            Out(M0, 0x11); Out(M1, 0x08); Out(M1, 0x04); Out(M1, masterIcw4);
            Out(S0, 0x11); Out(S1, 0x70); Out(S1, 0x02); Out(S1, slaveIcw4);
        }

        public void Out(ushort port, byte v) => Io.Out(port, 1, v);
        public byte In(ushort port) => (byte)Io.In(port, 1);
        public void Pulse(int irq) => Pic.PulseIrq(irq);

        /// <summary>ISR of a chip through OCW3 (then back to IRR), as a driver reads it.</summary>
        public byte ReadIsr(ushort cmd)
        {
            Out(cmd, 0x0B);
            byte v = In(cmd);
            Out(cmd, 0x0A);
            return v;
        }
    }

    [Fact]
    public void StandardInitDeliversPcVectorsForMasterAndSlaveLines()
    {
        var r = new Rig();
        Assert.Equal(0x08, r.Pic.MasterVectorBase);
        Assert.Equal(0x70, r.Pic.SlaveVectorBase);
        Assert.Equal(0x00, r.In(M1));                         // ICW1 cleared the masks
        Assert.False(r.Pic.InterruptPending);

        r.Pulse(0);
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x08, r.Pic.Acknowledge());
        Assert.Equal(0x01, r.ReadIsr(M0));
        r.Out(M0, NonSpecificEoi);
        Assert.Equal(0x00, r.ReadIsr(M0));

        r.Pulse(14);
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x76, r.Pic.Acknowledge());
        Assert.Equal(0x04, r.ReadIsr(M0));                    // cascade input in service on the master
        Assert.Equal(0x40, r.ReadIsr(S0));                    // IR6 of the slave
        r.Out(S0, NonSpecificEoi);
        r.Out(M0, NonSpecificEoi);
        Assert.Equal(0x00, r.ReadIsr(M0));
        Assert.Equal(0x00, r.ReadIsr(S0));

        r.Pulse(8);
        Assert.Equal(0x70, r.Pic.Acknowledge());
    }

    [Fact]
    public void DeviceIrq2IsRoutedToIrq9()
    {
        var r = new Rig();
        r.Pic.SetIrq(2, true);
        Assert.Equal(0x02, r.Pic.SlaveIrr);                   // slave IR1
        Assert.Equal(0x71, r.Pic.Acknowledge());
    }

    [Fact]
    public void MaskedRequestWaitsInIrrUntilUnmasked()
    {
        var r = new Rig();
        r.Out(M1, 0x02);                                      // OCW1: mask IRQ 1
        Assert.Equal(0x02, r.In(M1));
        r.Pulse(1);
        Assert.Equal(0x02, r.In(M0) & 0x02);                  // requested (IRR read) ...
        Assert.False(r.Pic.InterruptPending);                 // ... but not presented
        Assert.Empty(r.Int);
        r.Out(M1, 0x00);
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x09, r.Pic.Acknowledge());
    }

    [Fact]
    public void MaskingTheCascadeInputOrTheSlaveLineBlocksSlaveInterrupts()
    {
        var r = new Rig();
        r.Out(M1, 0x04);                                      // master IR2 masked
        r.Pulse(11);
        Assert.False(r.Pic.InterruptPending);
        Assert.Equal(0x04, r.Pic.MasterIrr & 0x04);           // the slave's INT is latched at IR2
        r.Out(M1, 0x00);
        Assert.Equal(0x73, r.Pic.Acknowledge());
        r.Out(S0, NonSpecificEoi);
        r.Out(M0, NonSpecificEoi);

        r.Out(S1, 0x08);                                      // slave IR3 masked
        r.Pulse(11);
        Assert.False(r.Pic.InterruptPending);
        Assert.Equal(0x08, r.Pic.SlaveIrr);
        Assert.Equal(0x00, r.Pic.MasterIrr);                  // slave INT never rose
    }

    [Fact]
    public void SimultaneousRequestsAreServedInPriorityOrderOneAtATime()
    {
        var r = new Rig();
        r.Pulse(5);
        r.Pulse(3);
        r.Pulse(1);
        Assert.Equal(0x2A, r.In(M0));
        Assert.Equal(0x09, r.Pic.Acknowledge());
        Assert.False(r.Pic.InterruptPending);                 // IRQ 1 in service blocks 3 and 5
        r.Out(M0, NonSpecificEoi);
        Assert.Equal(0x0B, r.Pic.Acknowledge());
        r.Out(M0, NonSpecificEoi);
        Assert.Equal(0x0D, r.Pic.Acknowledge());
        r.Out(M0, NonSpecificEoi);
        Assert.False(r.Pic.InterruptPending);
    }

    [Fact]
    public void HigherPriorityNestsAndLowerWaitsForTheEoi()
    {
        var r = new Rig();
        r.Pulse(4);
        Assert.Equal(0x0C, r.Pic.Acknowledge());
        r.Pulse(1);                                           // higher: interrupts the IRQ 4 handler
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x09, r.Pic.Acknowledge());
        Assert.Equal(0x12, r.ReadIsr(M0));
        r.Pulse(6);                                           // lower: waits
        Assert.False(r.Pic.InterruptPending);
        r.Out(M0, NonSpecificEoi);                            // ends IRQ 1, the highest in service
        Assert.Equal(0x10, r.ReadIsr(M0));
        Assert.False(r.Pic.InterruptPending);                 // IRQ 4 still blocks IRQ 6
        r.Pulse(4);                                           // equal priority also waits
        Assert.False(r.Pic.InterruptPending);
        r.Out(M0, NonSpecificEoi);
        Assert.Equal(0x0C, r.Pic.Acknowledge());              // the re-raised IRQ 4 outranks IRQ 6
        r.Out(M0, NonSpecificEoi);
        Assert.Equal(0x0E, r.Pic.Acknowledge());
    }

    [Fact]
    public void SlaveNestingNeedsEoisOnBothChips()
    {
        var r = new Rig();
        r.Pulse(12);
        Assert.Equal(0x74, r.Pic.Acknowledge());
        r.Pulse(14);                                          // lower than 12 on the slave
        Assert.False(r.Pic.InterruptPending);
        r.Out(S0, NonSpecificEoi);                            // slave lets IRQ 14 through...
        Assert.False(r.Pic.InterruptPending);                 // ...but master IR2 is still in service
        Assert.Equal(0x04, r.Pic.MasterIrr);
        r.Out(M0, NonSpecificEoi);
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x76, r.Pic.Acknowledge());
        r.Pulse(3);                                           // IRQ 3 is below IR2 on the master
        Assert.False(r.Pic.InterruptPending);
        r.Pulse(1);                                           // IRQ 1 is above it
        Assert.Equal(0x09, r.Pic.Acknowledge());
    }

    [Fact]
    public void SpecificEoiClearsOnlyTheNamedLevel()
    {
        var r = new Rig();
        r.Pulse(5);
        Assert.Equal(0x0D, r.Pic.Acknowledge());
        r.Pulse(3);
        Assert.Equal(0x0B, r.Pic.Acknowledge());
        r.Out(M0, 0x65);                                      // specific EOI, level 5 (not the highest)
        Assert.Equal(0x08, r.ReadIsr(M0));
        r.Out(M0, 0x63);
        Assert.Equal(0x00, r.ReadIsr(M0));
    }

    [Fact]
    public void RotateOnNonSpecificEoiMakesTheServicedLevelLowest()
    {
        var r = new Rig();
        r.Pulse(0);
        Assert.Equal(0x08, r.Pic.Acknowledge());
        r.Out(M0, 0xA0);                                      // rotate on non-specific EOI
        Assert.Equal(0x00, r.ReadIsr(M0));
        r.Pulse(0);
        r.Pulse(7);
        r.Pulse(1);
        Assert.Equal(0x09, r.Pic.Acknowledge());              // order is now 1..7, 0
        r.Out(M0, 0x20);
        Assert.Equal(0x0F, r.Pic.Acknowledge());
        r.Out(M0, 0x20);
        Assert.Equal(0x08, r.Pic.Acknowledge());
    }

    [Fact]
    public void SetPriorityAndRotateOnSpecificEoiChooseTheLowestLevel()
    {
        var r = new Rig();
        r.Out(M0, 0xC4);                                      // set priority: IR4 lowest, IR5 highest
        r.Pulse(3);
        r.Pulse(5);
        Assert.Equal(0x0D, r.Pic.Acknowledge());
        r.Out(M0, 0xE5);                                      // rotate on specific EOI 5: IR6 highest now
        Assert.Equal(0x00, r.ReadIsr(M0));
        r.Pulse(6);
        r.Pulse(5);
        Assert.Equal(0x0E, r.Pic.Acknowledge());
        r.Out(M0, 0x66);
        Assert.Equal(0x0B, r.Pic.Acknowledge());              // 3 outranks 5, the lowest
        r.Out(M0, 0x63);
        Assert.Equal(0x0D, r.Pic.Acknowledge());
    }

    [Fact]
    public void AutoEoiKeepsNothingInService()
    {
        var r = new Rig(masterIcw4: 0x03);                    // 8086 mode + AEOI
        r.Pulse(1);
        Assert.Equal(0x09, r.Pic.Acknowledge());
        Assert.Equal(0x00, r.ReadIsr(M0));
        r.Pulse(6);                                           // a lower level is not blocked: no EOI needed
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x0E, r.Pic.Acknowledge());
    }

    [Fact]
    public void RotateInAutoEoiRotatesUntilCleared()
    {
        var r = new Rig(masterIcw4: 0x03);
        r.Out(M0, 0x80);                                      // rotate in AEOI: set
        r.Pulse(3);
        Assert.Equal(0x0B, r.Pic.Acknowledge());              // IR3 now lowest, IR4 highest
        r.Pulse(0);
        r.Pulse(4);
        Assert.Equal(0x0C, r.Pic.Acknowledge());              // IR4 now lowest, IR5 highest
        Assert.Equal(0x08, r.Pic.Acknowledge());
        r.Out(M0, 0x00);                                      // rotate in AEOI: clear
        r.Out(M0, 0xC7);                                      // back to IR0 highest
        r.Pulse(0);
        Assert.Equal(0x08, r.Pic.Acknowledge());
        r.Pulse(1);
        r.Pulse(0);
        Assert.Equal(0x08, r.Pic.Acknowledge());              // no rotation: IR0 still first
    }

    [Fact]
    public void AutoEoiSlaveDeliversBackToBackSlaveRequests()
    {
        var r = new Rig(masterIcw4: 0x03, slaveIcw4: 0x03);
        r.Pulse(9);
        r.Pulse(8);
        Assert.Equal(0x70, r.Pic.Acknowledge());
        Assert.True(r.Pic.InterruptPending);                  // the slave's INT rose again after AEOI
        Assert.Equal(0x71, r.Pic.Acknowledge());
        Assert.False(r.Pic.InterruptPending);
        Assert.Equal(0x00, r.Pic.MasterIsr);
        Assert.Equal(0x00, r.Pic.SlaveIsr);
    }

    [Fact]
    public void PollCommandReadsTheLevelAndAcknowledgesIt()
    {
        var r = new Rig();
        r.Out(M0, 0x0C);                                      // OCW3: poll
        Assert.Equal(0x00, r.In(M0) & 0x80);                  // nothing requesting
        r.Pulse(6);
        r.Pulse(3);
        r.Out(M0, 0x0C);
        Assert.Equal(0x83, r.In(M0));
        Assert.Equal(0x08, r.Pic.MasterIsr);
        Assert.Equal(0x40, r.In(M0));                         // the poll is one read: this reads IRR again
        r.Out(M0, 0x0C);
        Assert.Equal(0x00, r.In(M0) & 0x80);                  // IRQ 6 is blocked by IRQ 3 in service
        r.Out(M0, NonSpecificEoi);
        r.Out(M0, 0x0E);                                      // poll overrides a read-register request
        Assert.Equal(0x86, r.In(M0));
    }

    [Fact]
    public void PollingTheMasterReportsTheCascadeAndTheSlaveReportsItsLine()
    {
        var r = new Rig();
        r.Pulse(13);
        r.Out(M0, 0x0C);
        Assert.Equal(0x82, r.In(M0));
        r.Out(S0, 0x0C);
        Assert.Equal(0x85, r.In(S0));
        Assert.Equal(0x04, r.Pic.MasterIsr);
        Assert.Equal(0x20, r.Pic.SlaveIsr);
    }

    [Fact]
    public void Ocw3SelectsIrrOrIsrForCommandPortReads()
    {
        var r = new Rig();
        r.Pulse(4);
        r.Pulse(6);
        Assert.Equal(0x50, r.In(M0));                         // IRR after initialization
        r.Pic.Acknowledge();
        r.Out(M0, 0x0B);                                      // read ISR
        Assert.Equal(0x10, r.In(M0));
        Assert.Equal(0x10, r.In(M0));                         // selection persists
        r.Out(M0, 0x08);                                      // OCW3 with RR=0: no change
        Assert.Equal(0x10, r.In(M0));
        r.Out(M0, 0x0A);                                      // read IRR
        Assert.Equal(0x40, r.In(M0));
        Assert.Equal(0x00, r.In(M1));                         // the data port always reads IMR
        r.Out(M0, 0x0B);                                      // ISR selected...
        r.Init();                                             // ...until re-initialization selects IRR
        r.Pulse(5);
        Assert.Equal(0x20, r.In(M0));
    }

    [Fact]
    public void SpecialMaskModeLetsLowerLevelsInterruptAMaskedInServiceLevel()
    {
        var r = new Rig();
        r.Pulse(3);
        Assert.Equal(0x0B, r.Pic.Acknowledge());
        r.Pulse(5);
        Assert.False(r.Pic.InterruptPending);                 // fully nested: 3 blocks 5
        r.Out(M0, 0x68);                                      // OCW3: set special mask mode
        r.Out(M1, 0x08);                                      // mask IR3
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x0D, r.Pic.Acknowledge());
        Assert.Equal(0x28, r.Pic.MasterIsr);
        r.Out(M0, 0x65);                                      // specific EOIs, as the datasheet asks in SMM
        r.Out(M0, 0x48);                                      // reset special mask mode
        r.Out(M1, 0x00);
        r.Pulse(6);
        Assert.False(r.Pic.InterruptPending);                 // IR3 in service blocks lower levels again
        r.Out(M0, 0x63);
        Assert.Equal(0x0E, r.Pic.Acknowledge());
    }

    [Fact]
    public void SpecialMaskModeOnlyChangesWithEsmm()
    {
        var r = new Rig();
        r.Pulse(3);
        r.Pic.Acknowledge();
        r.Out(M1, 0x08);                                      // IR3 in service and masked
        r.Pulse(5);
        Assert.False(r.Pic.InterruptPending);                 // normal mask mode: 3 still blocks 5
        r.Out(M0, 0x28);                                      // SMM=1 without ESMM: ignored
        Assert.False(r.Pic.InterruptPending);
        r.Out(M0, 0x68);                                      // ESMM+SMM: set
        Assert.True(r.Pic.InterruptPending);
        r.Out(M0, 0x08);                                      // SMM=0 without ESMM: ignored
        Assert.True(r.Pic.InterruptPending);
        r.Out(M0, 0x48);                                      // ESMM, SMM=0: reset
        Assert.False(r.Pic.InterruptPending);
    }

    [Fact]
    public void LevelTriggeredElcrLineFollowsTheLine()
    {
        var r = new Rig();
        r.Out(Elcr1, 0x20);                                   // IRQ 5 level-triggered
        r.Pic.SetIrq(5, true);
        Assert.True(r.Pic.InterruptPending);
        Assert.Equal(0x20, r.In(M0));
        r.Pic.SetIrq(5, false);                               // the request goes away with the line
        Assert.Equal(0x00, r.In(M0));
        Assert.False(r.Pic.InterruptPending);
        Assert.Equal([true, false], r.Int);

        r.Pic.SetIrq(5, true);
        Assert.Equal(0x0D, r.Pic.Acknowledge());
        Assert.Equal(0x20, r.In(M0));                         // still high: IRR keeps showing it
        r.Out(M0, NonSpecificEoi);
        Assert.True(r.Pic.InterruptPending);                  // still high after EOI: interrupts again
        Assert.Equal(0x0D, r.Pic.Acknowledge());
        r.Pic.SetIrq(5, false);
        r.Out(M0, NonSpecificEoi);
        Assert.False(r.Pic.InterruptPending);
    }

    [Fact]
    public void EdgeTriggeredLineLatchesAPulseAndNeedsANewEdge()
    {
        var r = new Rig();
        r.Pulse(4);
        Assert.Equal(0x10, r.In(M0));                         // latched though the line is low again
        Assert.Equal(0x0C, r.Pic.Acknowledge());
        Assert.Equal(0x00, r.In(M0));
        r.Out(M0, NonSpecificEoi);

        r.Pic.SetIrq(4, true);
        Assert.Equal(0x0C, r.Pic.Acknowledge());
        r.Out(M0, NonSpecificEoi);
        Assert.False(r.Pic.InterruptPending);                 // held high: no second request
        r.Pic.SetIrq(4, true);
        Assert.False(r.Pic.InterruptPending);
        r.Pic.SetIrq(4, false);
        r.Pic.SetIrq(4, true);
        Assert.True(r.Pic.InterruptPending);
    }

    [Fact]
    public void LtimMakesTheWholeChipLevelTriggered()
    {
        var r = new Rig();
        r.Out(M0, 0x19);                                      // ICW1 with LTIM
        r.Out(M1, 0x08); r.Out(M1, 0x04); r.Out(M1, 0x01);
        r.Pic.SetIrq(4, true);
        Assert.Equal(0x10, r.In(M0));
        r.Pic.SetIrq(4, false);
        Assert.Equal(0x00, r.In(M0));
        Assert.False(r.Pic.InterruptPending);
        Assert.Equal(0x00, r.In(Elcr1));                      // ELCR itself untouched
    }

    [Fact]
    public void SpuriousMasterRequestReturnsIrq7WithoutSettingIsr()
    {
        var r = new Rig();
        r.Out(Elcr1, 0x20);
        r.Pic.SetIrq(5, true);
        Assert.True(r.Pic.InterruptPending);
        r.Pic.SetIrq(5, false);                               // gone before the CPU acknowledges
        Assert.Equal(0x0F, r.Pic.Acknowledge());
        Assert.Equal(0x00, r.ReadIsr(M0));
        r.Pulse(6);                                           // nothing was put in service: 6 is not blocked
        Assert.Equal(0x0E, r.Pic.Acknowledge());
    }

    [Fact]
    public void SpuriousSlaveRequestReturnsIrq15AndLeavesMasterIr2InService()
    {
        var r = new Rig();
        r.Out(Elcr2, 0x04);                                   // IRQ 10 level-triggered
        r.Pic.SetIrq(10, true);
        Assert.True(r.Pic.InterruptPending);
        r.Pic.SetIrq(10, false);
        Assert.Equal(0x00, r.Pic.SlaveIrr);
        Assert.True(r.Pic.InterruptPending);                  // master IR2 latched the slave's INT edge
        Assert.Equal(0x77, r.Pic.Acknowledge());
        Assert.Equal(0x04, r.ReadIsr(M0));
        Assert.Equal(0x00, r.ReadIsr(S0));
        r.Out(M0, NonSpecificEoi);                            // the OS EOIs the master only
        Assert.Equal(0x00, r.ReadIsr(M0));
        Assert.False(r.Pic.InterruptPending);
    }

    [Fact]
    public void OutputCallbackFollowsTheIntPin()
    {
        var r = new Rig();
        Assert.Empty(r.Int);
        r.Pulse(0);
        Assert.Equal([true], r.Int);
        r.Pulse(3);                                           // already high: no new callback
        Assert.Equal([true], r.Int);
        r.Pic.Acknowledge();                                  // IRQ 0 in service blocks 3
        Assert.Equal([true, false], r.Int);
        r.Out(M0, NonSpecificEoi);
        Assert.Equal([true, false, true], r.Int);             // IRQ 3 presented
        r.Out(M1, 0x08);                                      // masking it drops INT
        Assert.Equal([true, false, true, false], r.Int);
        r.Out(M1, 0x00);
        Assert.Equal([true, false, true, false, true], r.Int);
        r.Pic.Acknowledge();
        Assert.Equal([true, false, true, false, true, false], r.Int);
        Assert.False(r.Pic.InterruptPending);
    }

    [Fact]
    public void ElcrHardwiredEdgeBitsReadZero()
    {
        var r = new Rig();
        r.Out(Elcr1, 0xFF);
        r.Out(Elcr2, 0xFF);
        Assert.Equal(0xF8, r.In(Elcr1));                      // IRQ 0, 1, 2 always edge
        Assert.Equal(0xDE, r.In(Elcr2));                      // IRQ 8, 13 always edge
        Assert.Equal(0xDEF8, r.Pic.Elcr);
        r.Pic.PulseIrq(0);                                    // still edge: the pulse is latched
        r.Pic.PulseIrq(8);
        Assert.Equal(0x01 | 0x04, r.Pic.MasterIrr);
        Assert.Equal(0x01, r.Pic.SlaveIrr);
        Assert.Equal(0xDEF8u, r.Io.In(Elcr1, 2));             // a word read through the bus
    }

    [Fact]
    public void SwitchingALineToLevelMakesIrrFollowIt()
    {
        var r = new Rig();
        r.Pulse(5);                                           // edge latched, line now low
        Assert.Equal(0x20, r.In(M0));
        r.Out(Elcr1, 0x20);                                   // IRQ 5 level: IRR is the (low) line
        Assert.Equal(0x00, r.In(M0));
        Assert.False(r.Pic.InterruptPending);
        r.Pic.SetIrq(5, true);
        r.Out(Elcr1, 0x00);                                   // back to edge: the pending request stays latched
        r.Pic.SetIrq(5, false);
        Assert.Equal(0x20, r.In(M0));
    }

    [Fact]
    public void Icw1ClearsMaskAndInServiceAndResetsEdgeSense()
    {
        var r = new Rig();
        r.Out(M1, 0xF0);
        r.Pulse(1);
        r.Pic.Acknowledge();
        r.Pic.SetIrq(3, true);                                // high across the re-initialization
        r.Init();
        Assert.Equal(0x00, r.In(M1));
        Assert.Equal(0x00, r.ReadIsr(M0));
        Assert.Equal(0x00, r.In(M0));                         // latched edge forgotten
        Assert.False(r.Pic.InterruptPending);
        r.Pic.SetIrq(3, false);
        r.Pic.SetIrq(3, true);                                // a fresh rising edge is needed
        Assert.Equal(0x0B, r.Pic.Acknowledge());
    }

    [Fact]
    public void SingleModeSkipsIcw3AndDoesNotCascade()
    {
        var r = new Rig();
        r.Out(M0, 0x13);                                      // ICW1: single, ICW4 follows
        r.Out(M1, 0x20);                                      // ICW2
        r.Out(M1, 0x01);                                      // ICW4 (no ICW3)
        r.Out(M1, 0xFB);                                      // OCW1: only IR2 unmasked
        Assert.Equal(0xFB, r.In(M1));
        Assert.Equal(0x20, r.Pic.MasterVectorBase);
        r.Pulse(8);
        Assert.Equal(0x22, r.Pic.Acknowledge());              // IR2 is an ordinary input: master vector
        Assert.Equal(0x01, r.Pic.SlaveIrr);                   // the slave was not acknowledged
    }

    [Fact]
    public void WithoutIc4TheSequenceEndsAfterIcw3()
    {
        var r = new Rig();
        r.Out(M0, 0x10);                                      // ICW1: cascade, no ICW4
        r.Out(M1, 0x50);
        r.Out(M1, 0x04);
        r.Out(M1, 0x7F);                                      // OCW1
        Assert.Equal(0x7F, r.In(M1));
        Assert.Equal(0x50, r.Pic.MasterVectorBase);
    }

    [Fact]
    public void SpecialFullyNestedModeLetsAHigherSlaveRequestThrough()
    {
        var plain = new Rig();
        plain.Pulse(12);
        Assert.Equal(0x74, plain.Pic.Acknowledge());
        plain.Pulse(9);
        Assert.False(plain.Pic.InterruptPending);             // master IR2 in service blocks it

        var sfnm = new Rig(masterIcw4: 0x11);
        sfnm.Pulse(12);
        Assert.Equal(0x74, sfnm.Pic.Acknowledge());
        sfnm.Pulse(9);
        Assert.True(sfnm.Pic.InterruptPending);
        Assert.Equal(0x71, sfnm.Pic.Acknowledge());
        sfnm.Pulse(14);                                       // lower on the slave: the slave blocks it
        Assert.False(sfnm.Pic.InterruptPending);
    }

    [Fact]
    public void CascadeAddressNobodyAnswersReadsFloatingBus()
    {
        var r = new Rig();
        r.Out(S0, 0x11); r.Out(S1, 0x70); r.Out(S1, 0x03); r.Out(S1, 0x01);   // slave ID 3, wired to IR2
        r.Pulse(8);
        Assert.Equal(0xFF, r.Pic.Acknowledge());
        Assert.Equal(0x01, r.Pic.SlaveIrr);                   // the slave did not take part
    }

    [Fact]
    public void NoOperationAndEoiWithNothingInServiceChangeNothing()
    {
        var r = new Rig();
        r.Out(M0, NonSpecificEoi);                            // nothing in service
        r.Out(M0, 0xA0);                                      // rotate with nothing in service: no rotation
        r.Pulse(1);
        r.Pulse(0);
        Assert.Equal(0x08, r.Pic.Acknowledge());
        r.Out(M0, 0x40);                                      // OCW2 no-op
        Assert.Equal(0x01, r.ReadIsr(M0));
    }

    [Fact]
    public void ResetLeavesBothChipsProgrammedAndFullyMasked()
    {
        var r = new Rig(init: false);
        Assert.Equal(0xFF, r.In(M1));
        Assert.Equal(0xFF, r.In(S1));
        Assert.Equal(0x08, r.Pic.MasterVectorBase);
        Assert.Equal(0x70, r.Pic.SlaveVectorBase);

        r.Out(M1, 0x00);                                      // data port is OCW1 (no pending ICW)
        r.Out(S1, 0x00);
        r.Out(Elcr2, 0x02);
        r.Pulse(0);
        r.Pic.SetIrq(9, true);
        Assert.Equal(0x08, r.Pic.Acknowledge());
        Assert.False(r.Pic.InterruptPending);                 // IRQ 0 in service blocks IR2
        Assert.Equal([true, false], r.Int);

        r.Pic.Reset();
        Assert.Equal(0xFF, r.In(M1));
        Assert.Equal(0xFF, r.In(S1));
        Assert.Equal(0, r.Pic.MasterIrr | r.Pic.MasterIsr | r.Pic.SlaveIrr | r.Pic.SlaveIsr);
        Assert.Equal(0, r.Pic.Elcr);
        Assert.False(r.Pic.InterruptPending);
        Assert.Equal(0x00, r.In(M0));                         // IRR selected

        r.Out(M1, 0x00);
        r.Pulse(0);
        Assert.Equal(0x08, r.Pic.Acknowledge());
    }

    [Fact]
    public void ResetLowersARaisedOutput()
    {
        var r = new Rig();
        r.Pulse(1);
        Assert.Equal([true], r.Int);
        r.Pic.Reset();
        Assert.Equal([true, false], r.Int);
    }
}
