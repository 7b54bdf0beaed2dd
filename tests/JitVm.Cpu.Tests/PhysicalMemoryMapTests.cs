using JitVm.Core;

namespace JitVm.Cpu.Tests;

/// <summary>MMIO windows and chipset shadow RAM in the physical memory map, seen from the CPU.</summary>
public class PhysicalMemoryMapTests
{
    sealed class Recorder : IMmioHandler
    {
        public readonly List<(uint Addr, byte Value)> Writes = new();
        public byte Read8(uint phys) => (byte)(phys ^ 0x5A);
        public void Write8(uint phys, byte value) => Writes.Add((phys, value));
    }

    [Fact]
    public void MmioPagesGoToTheDeviceByteByByteEvenFromTheCpu()
    {
        var mem = new PhysicalMemory(1 << 20);
        var dev = new Recorder();
        mem.MapMmio(0xA0000, 0x20000, dev);
        Assert.Equal(unchecked((byte)(0xB8000 ^ 0x5A)), mem.Read8(0xB8000));
        Assert.Equal(0x5B5A, mem.Read16(0xB8000));                   // bytes 5Ah, 5Bh from the device
        mem.Write16(0xB8010, 0x0741);
        Assert.Equal([(0xB8010u, (byte)0x41), (0xB8011u, (byte)0x07)], dev.Writes);

        // A CPU store through the TLB path must reach the device too (MMIO pages never get TLB entries).
        var cpu = new Processor(CpuModel.Pentium, mem, new IoBus());
        cpu.LoadRealModeSegmentFull(SegReg.ES, 0xB800, 0xB8000, 0xFFFF, Segment.RealModeData);
        cpu.Write16(SegReg.ES, 0x20, 0x1F42);
        cpu.Write16(SegReg.ES, 0x20, 0x1F43);
        Assert.Equal((0xB8021u, (byte)0x1F), dev.Writes[^1]);
        Assert.Equal(6, dev.Writes.Count);
        Assert.Equal(0x30u ^ 0x5A, cpu.Read8(SegReg.ES, 0x30));
    }

    [Fact]
    public void ShadowModesFollowThePamEncoding()
    {
        var mem = new PhysicalMemory(1 << 20);
        var rom = new byte[0x10000];
        Array.Fill(rom, (byte)0xC3);
        mem.MapRom(0xF0000, rom);
        Assert.Equal(0xC3, mem.Read8(0xF1234));                // PAM 0: reads from ROM
        mem.Write8(0xF1234, 0x11);                              // ... writes go nowhere
        Assert.Equal(0xC3, mem.Read8(0xF1234));

        mem.SetShadow(0xF0000, 0x10000, readRam: false, writeRam: true);  // 2: write-only RAM (copy the ROM in)
        mem.Write8(0xF1234, 0x22);
        Assert.Equal(0xC3, mem.Read8(0xF1234));
        mem.SetShadow(0xF0000, 0x10000, readRam: true, writeRam: true);   // 3: read/write RAM
        Assert.Equal(0x22, mem.Read8(0xF1234));
        mem.Write8(0xF1234, 0x33);
        Assert.Equal(0x33, mem.Read8(0xF1234));
        mem.SetShadow(0xF0000, 0x10000, readRam: true, writeRam: false);  // 1: read-only RAM
        mem.Write8(0xF1234, 0x44);
        Assert.Equal(0x33, mem.Read8(0xF1234));
        mem.SetShadow(0xF0000, 0x10000, readRam: false, writeRam: false); // back to ROM
        Assert.Equal(0xC3, mem.Read8(0xF1234));
        mem.SetShadow(0xE0000, 0x10000, readRam: false, writeRam: false); // no ROM there: open bus
        Assert.Equal(0xFF, mem.Read8(0xE0000));
    }

    [Fact]
    public void ShadowChangesDropCachedTranslations()
    {
        var mem = new PhysicalMemory(1 << 20);
        var cpu = new Processor(CpuModel.Pentium, mem, new IoBus());
        cpu.LoadRealModeSegmentFull(SegReg.DS, 0xF000, 0xF0000, 0xFFFF, Segment.RealModeData);
        cpu.Write8(SegReg.DS, 0x10, 0x99);                      // plain RAM: cached with a write entry
        Assert.Equal(0x99u, cpu.Read8(SegReg.DS, 0x10));
        mem.SetShadow(0xF0000, 0x10000, readRam: false, writeRam: false);
        Assert.Equal(0xFFu, cpu.Read8(SegReg.DS, 0x10));        // the TLB was flushed: open bus now
        cpu.Write8(SegReg.DS, 0x10, 0x55);                      // and the store goes nowhere
        mem.SetShadow(0xF0000, 0x10000, readRam: true, writeRam: true);
        Assert.Equal(0x99u, cpu.Read8(SegReg.DS, 0x10));
    }
}

public class UnmappedAccessTests
{
    [Fact]
    public void UnmappedPagesReadAllOnesAndAreReportedOncePerPage()
    {
        var mem = new PhysicalMemory(1 << 20);
        var reports = new List<(uint, bool)>();
        mem.UnmappedAccess = (a, w) => reports.Add((a, w));
        Assert.Equal(0xFF, mem.Read8(0x200000));
        Assert.Equal(0xFFFFFFFFu, mem.Read32(0x200010));       // same page: not reported again
        Assert.Equal(0xFFFF, mem.Read16(0x300000));
        mem.Write8(0x400000, 1);
        mem.Write8(0x400001, 1);
        Assert.Equal([(0x200000u, false), (0x300000u, false), (0x400000u, true)], reports);
    }

    [Fact]
    public void RomsFitBehindRamWithoutACopyUntilTheSpareRoomRunsOut()
    {
        var mem = new PhysicalMemory(1 << 20);
        mem.Write32(0x1234, 0xCAFEF00D);
        byte[] first = mem.Backing;
        int raised = 0;
        mem.MapChanged += () => raised++;
        // A 256 KiB BIOS as the machine maps it (its last 128 KiB below 1 MiB, all of it below 4 GiB) and a VGA BIOS:
        // all in the room reserved behind RAM, so the pinned array translated code addresses stays where it is.
        var bios = Rom(256 << 10, 0x10);
        mem.MapRom(0xE0000, bios.AsSpan(128 << 10));
        mem.MapRom(0xFFFC0000, bios);
        mem.MapRom(0xC0000, Rom(64 << 10, 0x20));
        Assert.Same(first, mem.Backing);
        Assert.Equal(3, raised);
        // Past the spare room the array is replaced, and RAM and every ROM mapped before keep their bytes.
        for (int i = 0; i < 4; i++) mem.MapRom(0x8000_0000u + ((uint)i << 20), Rom(256 << 10, (byte)(0x30 + i)));
        Assert.NotSame(first, mem.Backing);
        Assert.Equal(0xCAFEF00Du, mem.Read32(0x1234));
        Assert.Equal(Expected(bios, 128 << 10), mem.Read32(0xE0000));
        Assert.Equal(Expected(bios, 0x3FFF0), mem.Read32(0xFFFFFFF0));
        Assert.Equal(0x20u, mem.Read32(0xC0000) & 0xFF);
        Assert.Equal(0x33u, mem.Read32(0x8030_0000) & 0xFF);
        mem.Write8(0xFFFFFFF0, 0);                               // ROM stays read-only
        Assert.Equal(Expected(bios, 0x3FFF0), mem.Read32(0xFFFFFFF0));

        static byte[] Rom(int size, byte seed)
        {
            var rom = new byte[size];
            for (int i = 0; i < size; i++) rom[i] = (byte)(seed + i * 7);
            rom[0] = seed;
            return rom;
        }

        static uint Expected(byte[] rom, int offset) => BitConverter.ToUInt32(rom, offset);
    }
}
