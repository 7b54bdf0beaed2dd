using JitVm.Core;
using JitVm.Devices;

namespace JitVm.Devices.Tests;

public class Dma8237Tests
{
    // Controller 1 registers.
    const ushort Status1 = 0x08, SingleMask1 = 0x0A, Mode1 = 0x0B, ClearFlipFlop1 = 0x0C, MasterClear1 = 0x0D,
        ClearMask1 = 0x0E, AllMask1 = 0x0F;

    // Controller 2 registers (even ports).
    const ushort Status2 = 0xD0, SingleMask2 = 0xD4, Mode2 = 0xD6, ClearFlipFlop2 = 0xD8;

    static readonly ushort[] PagePort = [0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A];

    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly PhysicalMemory Memory = new(1 << 20);
        public readonly Dma8237 Dma;

        public Rig()
        {
            Dma = new Dma8237(Memory);
            Dma.Attach(Io);
        }

        public void Out(ushort port, byte v) => Io.Out(port, 1, v);
        public byte In(ushort port) => (byte)Io.In(port, 1);

        /// <summary>Programs an 8-bit channel the way a BIOS does: mask, clear flip-flop, mode, address, page, count, unmask.</summary>
        public void Program8(int ch, uint phys, int bytes, byte modeBits)
        {
            Out(SingleMask1, (byte)(0x04 | ch));
            Out(ClearFlipFlop1, 0);
            Out(Mode1, (byte)(modeBits | ch));
            Out((ushort)(ch * 2), (byte)phys);
            Out((ushort)(ch * 2), (byte)(phys >> 8));
            Out(PagePort[ch], (byte)(phys >> 16));
            Out((ushort)(ch * 2 + 1), (byte)(bytes - 1));
            Out((ushort)(ch * 2 + 1), (byte)((bytes - 1) >> 8));
            Out(SingleMask1, (byte)ch);
        }

        public ushort Read16(ushort port) => (ushort)(In(port) | In(port) << 8);
    }

    const byte SingleWrite = 0x44, SingleRead = 0x48, SingleVerify = 0x40, AutoInit = 0x10, Decrement = 0x20;

    [Fact]
    public void AddressAndCountUseTheFlipFlopLowByteFirst()
    {
        var r = new Rig();
        r.Out(ClearFlipFlop1, 0);
        r.Out(0x04, 0x34);
        r.Out(0x04, 0x12);
        r.Out(0x05, 0xFF);
        r.Out(0x05, 0x01);
        Assert.Equal(0x1234, r.Read16(0x04));
        Assert.Equal(0x01FF, r.Read16(0x05));

        // A stray single byte leaves the flip-flop on the high byte; clearing it restores low-then-high order.
        r.Out(0x04, 0xAA);
        r.Out(ClearFlipFlop1, 0);
        r.Out(0x04, 0x78);
        r.Out(0x04, 0x56);
        r.Out(ClearFlipFlop1, 0);
        Assert.Equal(0x5678, r.Read16(0x04));
    }

    [Fact]
    public void WriteTransferFillsMemoryAtPageAndAddressForCountPlusOneBytes()
    {
        var r = new Rig();
        r.Program8(2, 0x34000, 10, SingleWrite);
        Assert.Equal(0x03, r.In(0x81));
        Assert.False(r.Dma.IsMasked(2));

        var data = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        int moved = r.Dma.WriteToMemory(2, data, out bool tc);

        Assert.Equal(10, moved);                       // programmed count 9 → 10 transfers
        Assert.True(tc);
        var mem = new byte[12];
        r.Memory.ReadBytes(0x34000, mem);
        Assert.Equal(data[..10], mem[..10]);
        Assert.Equal(0, mem[10]);
        Assert.Equal(0x00, r.Memory.Read8(0x04000));   // the page register really supplied bits 16–23

        r.Out(ClearFlipFlop1, 0);
        Assert.Equal(0x400A, r.Read16(0x04));          // current address advanced
        Assert.Equal(0xFFFF, r.Read16(0x05));          // current count rolled past zero
        Assert.Equal(0x04, r.In(Status1) & 0x0F);      // TC for channel 2 ...
        Assert.Equal(0x00, r.In(Status1) & 0x0F);      // ... cleared by the read
        Assert.True(r.Dma.IsMasked(2));                // no auto-init: EOP sets the mask bit
        Assert.Equal(0, r.Dma.WriteToMemory(2, data));
    }

    [Fact]
    public void MaskedChannelMovesNothingUntilUnmasked()
    {
        var r = new Rig();
        r.Program8(1, 0x5000, 4, SingleWrite);
        r.Out(SingleMask1, 0x05);                      // set mask bit of channel 1
        Assert.True(r.Dma.IsMasked(1));
        Assert.Equal(0, r.Dma.WriteToMemory(1, new byte[] { 9, 9 }));
        Assert.Equal(0, r.Memory.Read8(0x5000));

        r.Out(AllMask1, 0x0F);
        r.Out(ClearMask1, 0);
        Assert.False(r.Dma.IsMasked(1));
        Assert.Equal(2, r.Dma.WriteToMemory(1, new byte[] { 9, 8 }, out bool tc));
        Assert.False(tc);
        Assert.Equal(9, r.Memory.Read8(0x5000));
        Assert.Equal(8, r.Memory.Read8(0x5001));

        r.Out(AllMask1, 0x02);
        Assert.True(r.Dma.IsMasked(1));
        Assert.False(r.Dma.IsMasked(0));
        Assert.Equal(0x02, r.In(AllMask1) & 0x0F);
    }

    [Fact]
    public void AutoInitReloadsAddressAndCountAtTerminalCount()
    {
        var r = new Rig();
        r.Program8(3, 0x6000, 4, SingleWrite | AutoInit);
        Assert.Equal(4, r.Dma.WriteToMemory(3, new byte[] { 1, 2, 3, 4, 5, 6 }, out bool tc));
        Assert.True(tc);
        Assert.False(r.Dma.IsMasked(3));
        Assert.Equal(0x08, r.In(Status1) & 0x0F);
        Assert.Equal(4, r.Dma.WriteToMemory(3, new byte[] { 7, 7, 7, 7 }));
        var mem = new byte[5];
        r.Memory.ReadBytes(0x6000, mem);
        Assert.Equal(new byte[] { 7, 7, 7, 7, 0 }, mem);
    }

    [Fact]
    public void AddressWrapsWithinThePageWithoutCarry()
    {
        var r = new Rig();
        r.Program8(0, 0x1FFFE, 4, SingleWrite);
        Assert.Equal(4, r.Dma.WriteToMemory(0, new byte[] { 0xA1, 0xA2, 0xA3, 0xA4 }));
        Assert.Equal(0xA1, r.Memory.Read8(0x1FFFE));
        Assert.Equal(0xA2, r.Memory.Read8(0x1FFFF));
        Assert.Equal(0xA3, r.Memory.Read8(0x10000));
        Assert.Equal(0xA4, r.Memory.Read8(0x10001));
        Assert.Equal(0x00, r.Memory.Read8(0x20000));
    }

    [Fact]
    public void ReadTransferWithDecrementFeedsTheDeviceFromMemory()
    {
        var r = new Rig();
        r.Memory.WriteBytes(0x7000, [10, 20, 30, 40]);
        r.Program8(2, 0x7003, 3, SingleRead | Decrement);
        var buf = new byte[5];
        Assert.Equal(3, r.Dma.ReadFromMemory(2, buf, out bool tc));
        Assert.True(tc);
        Assert.Equal(new byte[] { 40, 30, 20, 0, 0 }, buf);
    }

    [Fact]
    public void VerifyTransferAdvancesWithoutWritingMemory()
    {
        var r = new Rig();
        r.Program8(2, 0x8000, 2, SingleVerify);
        Assert.Equal(2, r.Dma.WriteToMemory(2, new byte[] { 5, 5 }, out bool tc));
        Assert.True(tc);
        Assert.Equal(0, r.Memory.Read8(0x8000));
    }

    [Fact]
    public void SixteenBitChannelTransfersWordsAtTheShiftedAddress()
    {
        var r = new Rig();
        // Channel 5 = controller 2 channel 1: address 0xC4, count 0xC6, page 0x8B; word address 0x0800 page 2.
        r.Out(SingleMask2, 0x05);
        r.Out(ClearFlipFlop2, 0);
        r.Out(Mode2, 0x44 | 1);
        r.Out(0xC4, 0x00);
        r.Out(0xC4, 0x08);
        r.Out(0x8B, 0x02);
        r.Out(0xC6, 0x01);                             // 2 words
        r.Out(0xC6, 0x00);
        r.Out(SingleMask2, 0x01);
        Assert.False(r.Dma.IsMasked(5));

        Assert.Equal(4, r.Dma.WriteToMemory(5, new byte[] { 1, 2, 3, 4, 5, 6 }));
        var mem = new byte[5];
        r.Memory.ReadBytes(0x21000, mem);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 0 }, mem);
        Assert.Equal(0x02, r.In(Status2) & 0x0F);
    }

    [Fact]
    public void MasterClearMasksEveryChannelOfItsControllerAndResetsTheFlipFlop()
    {
        var r = new Rig();
        r.Program8(2, 0x9000, 8, SingleWrite);
        r.Out(SingleMask2, 0x01);                      // unmask channel 5 on controller 2
        r.Out(0x04, 0x11);                             // leave the flip-flop on the high byte
        r.Out(MasterClear1, 0);
        Assert.True(r.Dma.IsMasked(0) && r.Dma.IsMasked(1) && r.Dma.IsMasked(2) && r.Dma.IsMasked(3));
        Assert.False(r.Dma.IsMasked(5));               // controller 2 is untouched
        r.Out(0x04, 0xCD);                             // low byte first again
        r.Out(0x04, 0xAB);
        Assert.Equal(0xABCD, r.Read16(0x04));
    }

    [Fact]
    public void MemoryAboveRamIsDroppedOnWriteAndReadsAsOnes()
    {
        var r = new Rig();
        r.Program8(1, 0xFF0000, 2, SingleWrite);       // page 0xFF: beyond the 1 MiB of RAM
        Assert.Equal(2, r.Dma.WriteToMemory(1, new byte[] { 1, 2 }));
        r.Program8(1, 0xFF0000, 2, SingleRead);
        var buf = new byte[2];
        Assert.Equal(2, r.Dma.ReadFromMemory(1, buf));
        Assert.Equal(new byte[] { 0xFF, 0xFF }, buf);
    }
}
