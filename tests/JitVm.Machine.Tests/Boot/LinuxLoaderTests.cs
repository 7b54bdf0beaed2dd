using System.Buffers.Binary;
using System.Text;
using JitVm.Cpu;
using JitVm.Machine.Boot;

namespace JitVm.Machine.Tests.Boot;

/// <summary>
/// The Linux 32-bit boot protocol on synthetic bzImages: a setup header with the fields a real one has, and a
/// protected-mode part whose first byte is HLT, so the test sees the entry state the loader built.
/// </summary>
public class LinuxLoaderTests
{
    /// <summary>A bzImage: boot sector + <paramref name="setupSects"/> setup sectors, then <paramref name="payload"/>.</summary>
    internal static byte[] BzImage(byte[] payload, int setupSects = 4, ushort version = 0x020F, byte loadFlags = 0x01,
        uint initrdMax = 0x7FFFFFFF, uint cmdlineSize = 2047, uint initSize = 0x100000)
    {
        var f = new byte[(setupSects + 1) * 512 + payload.Length];
        f[0x1F1] = (byte)setupSects;
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(0x1FE), 0xAA55);
        f[0x200] = 0xEB;                                   // the jump over the header...
        f[0x201] = 0x66;                                   // ...whose target ends the header: 0x202 + 0x66 = 0x268
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x202), LinuxImage.HeaderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(0x206), version);
        f[0x211] = loadFlags;
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x214), 0x100000);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x22C), initrdMax);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x238), cmdlineSize);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x260), initSize);
        f[0x264] = 0x5A;                                   // a header byte the loader must copy as is
        payload.CopyTo(f, (setupSects + 1) * 512);
        return f;
    }

    static Machine Boot(byte[] image, string cmdline, byte[]? initrd, uint memory = 32 << 20, string engine = "interp") =>
        new(new MachineConfig
        {
            MemoryBytes = memory,
            Kernel = new KernelImage(image, cmdline, initrd is null ? [] : [new BootModule(initrd, "initrd")]),
            MaxInstructions = 1000,
            EngineFactory = engine == "jit" ? c => new JitVm.Jit.JitEngine(c, threshold: 0) : null,
            EngineName = engine,
        });

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    public void TheKernelIsEnteredAtCode32StartWithBootParamsAsTheProtocolSays(string engine)
    {
        var initrd = Enumerable.Range(0, 10000).Select(i => (byte)(i * 7)).ToArray();
        var m = Boot(BzImage([0xF4, 0x90, 0x90, 0x90]), "console=ttyS0 root=/dev/ram0", initrd, engine: engine);
        var r = m.Run();
        Assert.Equal(ExitReason.Halt, r.Reason);
        var cpu = m.Cpu;
        Assert.Equal(0x100001u, cpu.Eip);                  // after the HLT at code32_start
        Assert.Equal(LinuxLoader.CodeSelector, cpu.Seg[SegReg.CS].Selector);
        foreach (int s in new[] { SegReg.DS, SegReg.ES, SegReg.SS }) Assert.Equal(LinuxLoader.DataSelector, cpu.Seg[s].Selector);
        Assert.Equal(0u, cpu.Seg[SegReg.CS].Base);
        Assert.Equal(0xFFFFFFFFu, cpu.Seg[SegReg.DS].Limit);
        Assert.True((cpu.Cr0 & Processor.Cr0PE) != 0 && (cpu.Cr0 & Processor.Cr0PG) == 0);
        Assert.Equal(0u, cpu.Flags & Processor.FlagIF);
        Assert.Equal(0u, cpu.Ebx | cpu.Ebp | cpu.Edi);
        uint bp = cpu.Esi;
        Assert.Equal(LinuxLoader.BootParamsAddress, bp);
        var mem = m.Memory;
        uint R32(uint a) => (uint)(mem.Read8(a) | mem.Read8(a + 1) << 8 | mem.Read8(a + 2) << 16 | mem.Read8(a + 3) << 24);
        // The header copied from the file, then the loader's fields.
        Assert.Equal(LinuxImage.HeaderMagic, R32(bp + 0x202));
        Assert.Equal(0x5A, mem.Read8(bp + 0x264));
        Assert.Equal(LinuxLoader.LoaderType, mem.Read8(bp + 0x210));
        Assert.Equal(0x100000u, R32(bp + 0x214));
        uint cmd = R32(bp + 0x228);
        var text = new StringBuilder();
        for (uint a = cmd; mem.Read8(a) != 0; a++) text.Append((char)mem.Read8(a));
        Assert.Equal("console=ttyS0 root=/dev/ram0", text.ToString());
        uint rd = R32(bp + 0x218);
        Assert.Equal((uint)initrd.Length, R32(bp + 0x21C));
        Assert.Equal(0u, rd & 0xFFF);
        Assert.True(rd + initrd.Length <= 32u << 20 && rd >= 0x200000, $"initrd at {rd:X8}");
        for (int i = 0; i < initrd.Length; i += 997) Assert.Equal(initrd[i], mem.Read8(rd + (uint)i));
        // e820: conventional memory, the ACPI tables at its top, the ROM, RAM above 1 MiB to the end.
        int entries = mem.Read8(bp + 0x1E8);
        var map = Enumerable.Range(0, entries).Select(i =>
        {
            uint e = bp + 0x2D0 + (uint)i * 20;
            return (Base: R32(e), Length: R32(e + 8), Type: R32(e + 16));
        }).ToList();
        Assert.Contains((0u, 0x9F000u, 1u), map);
        Assert.Contains((0x9F000u, 0x1000u, 3u), map);
        Assert.Contains((0x100000u, (32u << 20) - 0x100000u, 1u), map);
        Assert.Contains(map, e => e.Type == 2 && e.Base >= 0xE0000 && e.Base < 0x100000);
        Assert.Equal(80, mem.Read8(bp + 0x07));            // screen_info: 80x25 VGA text
        Assert.Equal(25, mem.Read8(bp + 0x0E));
    }

    [Fact]
    public void TheInitrdGoesBelowInitrdAddrMax()
    {
        var m = Boot(BzImage([0xF4], initrdMax: 0x00FFFFFF), "", new byte[5000], memory: 64 << 20);
        uint rd = m.Cpu.Esi + 0x218;
        uint at = (uint)(m.Memory.Read8(rd) | m.Memory.Read8(rd + 1) << 8 | m.Memory.Read8(rd + 2) << 16 | m.Memory.Read8(rd + 3) << 24);
        Assert.Equal(0x00FFF000u - 0x1000u, at);           // 5000 bytes end below 16 MiB, page-aligned
    }

    [Theory]
    [InlineData(0x0205, 0x01, "too old")]
    [InlineData(0x020F, 0x00, "LOADED_HIGH")]
    public void UnsupportedImagesAreRefusedNamingTheField(int version, int loadFlags, string expected)
    {
        var e = Assert.Throws<KernelLoadException>(() => Boot(BzImage([0xF4], version: (ushort)version, loadFlags: (byte)loadFlags), "", null));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AKernelThatDoesNotFitOrALongCommandLineIsRefused()
    {
        var big = Assert.Throws<KernelLoadException>(() => Boot(BzImage([0xF4], initSize: 64u << 20), "", null));
        Assert.Contains("init_size", big.Message);
        var longLine = Assert.Throws<KernelLoadException>(() => Boot(BzImage([0xF4], cmdlineSize: 16), new string('x', 17), null));
        Assert.Contains("cmdline_size", longLine.Message);
        var truncated = BzImage([0xF4], setupSects: 4)[..(5 * 512 - 100)];
        Assert.Throws<KernelLoadException>(() => Boot(truncated, "", null));
    }
}
