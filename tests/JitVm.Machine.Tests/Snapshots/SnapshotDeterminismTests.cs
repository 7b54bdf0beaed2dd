using Iced.Intel;
using JitVm.Core.Storage;
using JitVm.Cpu;
using JitVm.Machine.Boot;
using JitVm.TestRoms;
using JitVm.Workloads;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests.Snapshots;

/// <summary>
/// A snapshot restored into a new machine (new objects, as in another process) runs on exactly as the machine it was
/// taken from: after the same instructions both have the same registers, RAM, console output, and the same complete
/// state (their snapshots are byte-identical). In deterministic clock mode, on every engine, and across engines.
/// </summary>
public class SnapshotDeterminismTests
{
    static void AssertSameRun(SnapshotGuest guest, string saveEngine, string restoreEngine)
    {
        var o = SnapshotHarness.RunThroughSnapshot(guest, saveEngine, restoreEngine);
        Assert.Equal(o.ReferenceHash, o.RestoredHash);
        Assert.True(o.ReferenceState.AsSpan().SequenceEqual(o.RestoredState), $"{guest}: the machines' complete states differ after the run ({saveEngine} -> {restoreEngine}): {SnapshotHarness.FirstDifference(o.ReferenceState, o.RestoredState)}");
        Assert.False(o.Snapshot.AsSpan().SequenceEqual(o.ReferenceState), $"{guest}: the guest did not change state after the snapshot");
    }

    // ---------------------------------------------------------------- test ROMs

    /// <summary>The engine pairs each test ROM is run through: each engine on itself and each on another.</summary>
    public static TheoryData<string, string, string> RomCases()
    {
        var data = new TheoryData<string, string, string>();
        (string, string)[] pairs = [("interp", "interp"), ("jit", "jit"), ("auto", "auto"), ("interp", "jit"), ("jit", "auto"), ("auto", "interp")];
        int i = 0;
        foreach (var rom in TestRom.All)
        {
            var (save, restore) = pairs[i++ % pairs.Length];
            data.Add(rom.Name, save, restore);
        }
        return data;
    }

    static readonly Dictionary<string, long> romLengths = new();

    /// <summary>Instructions the ROM takes to finish (measured once on the interpreter).</summary>
    static long RomLength(TestRom rom)
    {
        lock (romLengths)
        {
            if (romLengths.TryGetValue(rom.Name, out long n)) return n;
            var m = new Machine(new MachineConfig { Cpu = rom.Model, Rom = rom.Build(), MaxInstructions = 50_000_000 });
            var r = m.Run();
            Assert.Equal(ExitReason.Halt, r.Reason);
            return romLengths[rom.Name] = r.Instructions;
        }
    }

    [Theory]
    [MemberData(nameof(RomCases))]
    public void TestRomRunsOnIdenticallyFromASnapshot(string name, string saveEngine, string restoreEngine)
    {
        var rom = TestRom.All.Single(r => r.Name == name);
        byte[] image = rom.Build();
        long length = RomLength(rom);
        // Snapshot at a third of the way, compare at two thirds.
        var guest = new SnapshotGuest(name, (engine, limit, sink) => new MachineConfig
        {
            Cpu = rom.Model,
            Rom = image,
            EngineFactory = engine,
            MaxInstructions = limit,
            DebugConsole = b => sink('d', b),
            Serial = b => sink('1', b),
        }, Math.Max(1, length / 3), 1, 1);
        AssertSameRun(guest, saveEngine, restoreEngine);
    }

    // ---------------------------------------------------------------- Multiboot workloads

    static SnapshotGuest Workload(string name, int iterations, long slice, int before, int after)
    {
        byte[] kernel = JitVm.Workloads.Workload.Find(name)!.Build(iterations);
        return new SnapshotGuest($"multiboot {name}", (engine, limit, sink) => new MachineConfig
        {
            Cpu = CpuModel.P6,
            MemoryBytes = 16 << 20,
            Kernel = new KernelImage(kernel),
            EngineFactory = engine,
            MaxInstructions = limit,
            DebugConsole = b => sink('d', b),
            Serial = b => sink('1', b),
        }, slice, before, after);
    }

    [Theory]
    [InlineData("interp", "interp")]
    [InlineData("jit", "jit")]
    [InlineData("auto", "auto")]
    [InlineData("interp", "auto")]
    [InlineData("auto", "jit")]
    [InlineData("jit", "interp")]
    public void MultibootWorkloadRunsOnIdenticallyFromASnapshot(string saveEngine, string restoreEngine)
    {
        AssertSameRun(Workload("mixed", 20_000, 300_000, 2, 2), saveEngine, restoreEngine);
    }

    [Theory]
    [InlineData("jit", "jit")]
    [InlineData("interp", "jit")]
    public void SelfModifyingWorkloadRunsOnIdenticallyFromASnapshot(string saveEngine, string restoreEngine)
    {
        AssertSameRun(Workload("self-modifying", 2_000, 250_000, 1, 2), saveEngine, restoreEngine);
    }

    // ---------------------------------------------------------------- SeaBIOS

    /// <summary>
    /// Debian's SeaBIOS (256 KiB build) on a 256 MiB P6 machine with a VGA BIOS, a hard disk and a CD-ROM drive. The
    /// disk's boot sector prints on COM1 and the debug console and then loops: read a sector with INT 13h, print,
    /// HLT until the next timer interrupt.
    /// </summary>
    internal static SnapshotGuest SeaBios(long slice, int before, int after)
    {
        byte[] bios = File.ReadAllBytes(SnapshotHarness.SeaBiosPath);
        byte[] vga = File.ReadAllBytes(SnapshotHarness.VgaBiosPath);
        byte[] disk = BootDisk();
        return new SnapshotGuest("seabios", (engine, limit, sink) => new MachineConfig
        {
            Cpu = CpuModel.P6,
            MemoryBytes = 256 << 20,
            Rom = bios,
            VgaBios = vga,
            HardDisks = [new MemoryBlockDevice((byte[])disk.Clone())],
            CdRom = new MemoryBlockDevice(new byte[2048 * 64]),
            BootOrder = "c",
            EngineFactory = engine,
            MaxInstructions = limit,
            DebugConsole = b => sink('d', b),
            Serial = b => sink('1', b),
        }, slice, before, after);
    }

    /// <summary>A 1 MiB disk: the boot sector described at <see cref="SeaBios"/>, the rest sectors of a repeating pattern.</summary>
    internal static byte[] BootDisk()
    {
        var a = new Assembler(16);
        var loop = a.CreateLabel();
        a.cli();
        a.xor(ax, ax);
        a.mov(ss, ax);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(sp, 0x7C00);
        a.mov(__byte_ptr[0x600], dl);                      // the boot drive
        a.sti();
        a.mov(al, (byte)'B');
        a.@out(0xE9, al);
        a.xor(si, si);
        a.Label(ref loop);
        a.mov(ax, 0x0201);                                 // read one sector
        a.mov(cx, si);
        a.and(cx, 15);
        a.add(cx, 2);                                      // cylinder 0, sectors 2..17
        a.mov(dh, 0);
        a.mov(dl, __byte_ptr[0x600]);
        a.mov(bx, 0x8000);
        a.@int(0x13);
        a.mov(al, __byte_ptr[0x8000]);
        a.@out(0xE9, al);
        a.mov(dx, 0x3F8);
        a.@out(dx, al);
        a.inc(si);
        a.hlt();
        a.jmp(loop);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), 0x7C00);
        var image = new byte[1 << 20];
        stream.ToArray().CopyTo(image, 0);
        image[510] = 0x55;
        image[511] = 0xAA;
        for (int s = 1; s < image.Length / 512; s++) image.AsSpan(s * 512, 512).Fill((byte)('a' + s % 26));
        return image;
    }

    [Theory]
    [InlineData("interp", "interp")]
    [InlineData("interp", "jit")]
    [InlineData("interp", "auto")]
    public void SeaBiosMidPostRunsOnIdenticallyFromASnapshot(string saveEngine, string restoreEngine)
    {
        // The snapshot falls in SeaBIOS's drive detection (the ATA and ATAPI probes, with the PIT and RTC armed); the run
        // after it goes on to the boot sector's INT 13h loop.
        AssertSameRun(SeaBios(1_550_000, 6, 1), saveEngine, restoreEngine);
    }

    [Theory]
    [InlineData("jit", "interp")]
    [InlineData("auto", "jit")]
    public void SeaBiosEarlyPostRunsOnIdenticallyFromASnapshotTakenOnTheTranslator(string saveEngine, string restoreEngine)
    {
        AssertSameRun(SeaBios(1_000_000, 3, 1), saveEngine, restoreEngine);
    }
}
