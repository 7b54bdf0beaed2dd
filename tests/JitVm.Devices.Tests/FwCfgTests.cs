using System.Buffers.Binary;
using System.Text;
using JitVm.Core;

namespace JitVm.Devices.Tests;

public class FwCfgTests
{
    const uint RamBytes = 64 * 1024;

    sealed class Rig
    {
        public readonly IoBus Io = new();
        public readonly PhysicalMemory Memory = new(RamBytes);
        public readonly FwCfg Cfg;

        public Rig()
        {
            Cfg = new FwCfg(Memory);
            Cfg.Attach(Io);
        }

        public void Select(ushort key) => Io.Out(0x510, 2, key);

        public byte[] ReadData(int count)
        {
            var b = new byte[count];
            for (int i = 0; i < count; i++) b[i] = (byte)Io.In(0x511, 1);
            return b;
        }

        /// <summary>Builds an FWCfgDmaAccess at <paramref name="at"/> and starts it as SeaBIOS does: only the low
        /// half of the address register, written big-endian.</summary>
        public void Dma(uint at, uint control, uint length, ulong address)
        {
            Descriptor(at, control, length, address);
            Io.Out(0x518, 4, BinaryPrimitives.ReverseEndianness(at));
        }

        public void Descriptor(uint at, uint control, uint length, ulong address)
        {
            Span<byte> d = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(d, control);
            BinaryPrimitives.WriteUInt32BigEndian(d[4..], length);
            BinaryPrimitives.WriteUInt64BigEndian(d[8..], address);
            Memory.WriteBytes(at, d);
        }

        public uint Control(uint at)
        {
            Span<byte> c = stackalloc byte[4];
            Memory.ReadBytes(at, c);
            return BinaryPrimitives.ReadUInt32BigEndian(c);
        }

        public byte[] Mem(uint at, int count)
        {
            var b = new byte[count];
            Memory.ReadBytes(at, b);
            return b;
        }
    }

    [Fact]
    public void SignatureAndIdThroughSelectorAndDataPorts()
    {
        var r = new Rig();
        r.Select(0x0000);
        Assert.Equal("QEMU"u8.ToArray(), r.ReadData(4));
        r.Select(0x0001);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(r.ReadData(4)));   // traditional + DMA
        // Selecting again restarts at offset 0.
        r.Select(0x0000);
        Assert.Equal((byte)'Q', r.ReadData(1)[0]);
        r.Select(0x0000);
        Assert.Equal((byte)'Q', r.ReadData(1)[0]);
    }

    [Fact]
    public void NumericItemsAndReadsPastTheEndReturnZeros()
    {
        var r = new Rig();
        r.Select(0x0003);
        Assert.Equal((ulong)RamBytes, BinaryPrimitives.ReadUInt64LittleEndian(r.ReadData(8)));
        r.Cfg.SetRamSize(0x1_2345_6000);
        r.Select(0x0003);
        Assert.Equal(0x1_2345_6000UL, BinaryPrimitives.ReadUInt64LittleEndian(r.ReadData(8)));
        r.Select(0x0005);
        Assert.Equal(new byte[] { 1, 0, 0, 0 }, r.ReadData(4));         // NB_CPUS = 1, then past the end
        r.Select(0x000F);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(r.ReadData(2)));
        r.Select(0x0000);
        Assert.Equal("QEMU\0\0\0\0"u8.ToArray(), r.ReadData(8));
        r.Select(0x1234);                                               // no such item
        Assert.Equal(new byte[4], r.ReadData(4));
        r.Io.Out(0x511, 1, 0x55);                                        // data writes are ignored
        r.Select(0x0000);
        Assert.Equal("QEMU"u8.ToArray(), r.ReadData(4));
    }

    [Fact]
    public void FileDirectoryListsFilesAndE820IsFoundByName()
    {
        var r = new Rig();
        ushort boot = r.Cfg.AddFile("bootorder", "/pci@i0cf8/ide@1,1/drive@0/disk@0\0"u8.ToArray());
        r.Cfg.SetE820([(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0x100000, 0x7F00000, 1)]);
        Assert.Equal(0x0020, boot);

        // As SeaBIOS: select FILE_DIR, read the BE count, then 64-byte entries until the name matches.
        r.Select(0x0019);
        uint count = BinaryPrimitives.ReadUInt32BigEndian(r.ReadData(4));
        Assert.Equal(2u, count);
        uint size = 0;
        ushort select = 0;
        var names = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var e = r.ReadData(64);
            string name = Encoding.ASCII.GetString(e, 8, 56).TrimEnd('\0');
            names.Add(name);
            Assert.Equal(0, e[6] | e[7]);                               // reserved
            if (name != "etc/e820") continue;
            size = BinaryPrimitives.ReadUInt32BigEndian(e);
            select = BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4));
        }
        Assert.Equal(["bootorder", "etc/e820"], names);
        Assert.Equal(60u, size);
        Assert.Equal(0x0021, select);

        r.Select(select);
        var map = r.ReadData((int)size);
        Assert.Equal(0x100000UL, BinaryPrimitives.ReadUInt64LittleEndian(map.AsSpan(40)));
        Assert.Equal(0x7F00000UL, BinaryPrimitives.ReadUInt64LittleEndian(map.AsSpan(48)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(map.AsSpan(56)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(map.AsSpan(36)));

        // Replacing a file keeps its selector and updates the directory's size field.
        r.Cfg.SetE820([(0, 0x9FC00, 1)]);
        r.Select(0x0019);
        var dir = r.ReadData(4 + 128);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(dir));
        Assert.Equal(20u, BinaryPrimitives.ReadUInt32BigEndian(dir.AsSpan(4 + 64)));
        Assert.Equal(0x0021, BinaryPrimitives.ReadUInt16BigEndian(dir.AsSpan(4 + 64 + 4)));
    }

    [Fact]
    public void DmaReadCopiesAnItemAndClearsTheControlWord()
    {
        var r = new Rig();
        r.Memory.WriteBytes(0x2000, Enumerable.Repeat((byte)0xEE, 16).ToArray());
        r.Dma(0x1000, FwCfg.DmaSelect | FwCfg.DmaRead | (uint)FwCfg.SignatureKey << 16, 4, 0x2000);
        Assert.Equal(0u, r.Control(0x1000));
        Assert.Equal("QEMU"u8.ToArray(), r.Mem(0x2000, 4));
        Assert.Equal(0xEE, r.Mem(0x2004, 1)[0]);                         // exactly length bytes

        // ID via DMA, high half written explicitly (zero) then low half.
        Span<byte> d = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(d, FwCfg.DmaSelect | FwCfg.DmaRead | (uint)FwCfg.IdKey << 16);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], 8);
        BinaryPrimitives.WriteUInt64BigEndian(d[8..], 0x3000);
        r.Memory.WriteBytes(0x1100, d);
        r.Memory.WriteBytes(0x3000, Enumerable.Repeat((byte)0xEE, 16).ToArray());
        r.Io.Out(0x514, 4, 0);
        r.Io.Out(0x518, 4, BinaryPrimitives.ReverseEndianness(0x1100u));
        Assert.Equal(0u, r.Control(0x1100));
        Assert.Equal(new byte[] { 3, 0, 0, 0, 0, 0, 0, 0 }, r.Mem(0x3000, 8));   // zeros past the end
    }

    [Fact]
    public void DmaSelectSkipThenReadContinuesAtTheOffset()
    {
        var r = new Rig();
        ushort key = r.Cfg.AddFile("etc/test", "0123456789"u8.ToArray());
        r.Dma(0x1000, FwCfg.DmaSelect | FwCfg.DmaSkip | (uint)key << 16, 6, 0);
        Assert.Equal(0u, r.Control(0x1000));
        r.Dma(0x1000, FwCfg.DmaRead, 3, 0x2000);
        Assert.Equal(0u, r.Control(0x1000));
        Assert.Equal("678"u8.ToArray(), r.Mem(0x2000, 3));
        // The data port shares the offset.
        Assert.Equal((byte)'9', r.ReadData(1)[0]);
        Assert.Equal(0, r.ReadData(1)[0]);
    }

    [Fact]
    public void DmaBeyondRamOrWriteSetsTheErrorBit()
    {
        var r = new Rig();
        r.Memory.WriteBytes(RamBytes - 4, [0xAA, 0xAA, 0xAA, 0xAA]);
        r.Dma(0x1000, FwCfg.DmaSelect | FwCfg.DmaRead | (uint)FwCfg.SignatureKey << 16, 8, RamBytes - 4);
        Assert.Equal(FwCfg.DmaError, r.Control(0x1000));
        Assert.Equal(new byte[] { 0xAA, 0xAA, 0xAA, 0xAA }, r.Mem(RamBytes - 4, 4));   // nothing written

        r.Dma(0x1000, FwCfg.DmaRead, 4, 0x1_0000_0000UL);                 // above 4 GiB
        Assert.Equal(FwCfg.DmaError, r.Control(0x1000));

        r.Dma(0x1000, FwCfg.DmaSelect | FwCfg.DmaWrite | (uint)FwCfg.SignatureKey << 16, 4, 0x2000);
        Assert.Equal(FwCfg.DmaError, r.Control(0x1000));
        r.Select(0x0000);
        Assert.Equal("QEMU"u8.ToArray(), r.ReadData(4));                  // item unchanged

        // A descriptor that runs off the end of RAM is dropped without touching anything (and without throwing).
        Span<byte> half = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(half, FwCfg.DmaSelect | FwCfg.DmaRead);
        BinaryPrimitives.WriteUInt32BigEndian(half[4..], 4);
        r.Memory.WriteBytes(RamBytes - 8, half);
        r.Io.Out(0x518, 4, BinaryPrimitives.ReverseEndianness(RamBytes - 8));
        Assert.Equal(FwCfg.DmaSelect | FwCfg.DmaRead, r.Control(RamBytes - 8));

        // Writing only the high half does not start a transfer (a descriptor at 0 would otherwise run).
        r.Descriptor(0x0000, FwCfg.DmaSelect | FwCfg.DmaRead | (uint)FwCfg.SignatureKey << 16, 4, 0x3000);
        r.Memory.WriteBytes(0x3000, [0xEE]);
        r.Io.Out(0x514, 4, 0);
        Assert.Equal(FwCfg.DmaSelect | FwCfg.DmaRead, r.Control(0));
        Assert.Equal(0xEE, r.Mem(0x3000, 1)[0]);
        r.Io.Out(0x518, 4, 0);                                            // now the low half: runs
        Assert.Equal(0u, r.Control(0));
        Assert.Equal((byte)'Q', r.Mem(0x3000, 1)[0]);
    }

    [Fact]
    public void DmaRegisterReadsSignatureAndResetReselectsTheSignature()
    {
        var r = new Rig();
        var sig = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(sig, r.Io.In(0x514, 4));
        BinaryPrimitives.WriteUInt32LittleEndian(sig.AsSpan(4), r.Io.In(0x518, 4));
        Assert.Equal("QEMU CFG"u8.ToArray(), sig);

        r.Select(0x0001);
        r.ReadData(2);
        r.Cfg.Reset();
        Assert.Equal("QEMU"u8.ToArray(), r.ReadData(4));
    }
}
