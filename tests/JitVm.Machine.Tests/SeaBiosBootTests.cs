using System.Text;
using Iced.Intel;
using JitVm.Core.Storage;
using JitVm.Cpu;
using JitVm.Jit;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests;

/// <summary>
/// Debian's SeaBIOS (installed by tools/setup-deps.sh) boots project-built floppy and hard-disk images: the boot
/// sector loads a payload with INT 13h, which switches to protected mode and prints on the debug console and COM1,
/// then ends the run through port 0xF4. The whole boot log is checked, on the interpreter and on the JIT.
/// </summary>
public class SeaBiosBootTests
{
    const string BiosPath = "/usr/share/seabios/bios.bin";
    const string VgaBiosPath = "/usr/share/seabios/vgabios-isavga.bin";
    const ushort PayloadSegment = 0x0800;                      // loaded at 0x8000
    const string Message = "payload: protected mode OK\n";

    /// <summary>Boot sector: reset the drive, read sector 2 (CHS 0/0/2) of the boot drive to 0800:0000 with INT 13h, jump there.</summary>
    static byte[] BootSector()
    {
        var a = new Assembler(16);
        var fail = a.CreateLabel();
        a.cli();
        a.xor(ax, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7C00);
        a.sti();
        a.mov(ax, PayloadSegment);
        a.mov(es, ax);
        a.xor(bx, bx);
        a.mov(ax, 0x0201);                                     // AH=02 read, AL=1 sector
        a.mov(cx, 0x0002);                                     // cylinder 0, sector 2
        a.mov(dh, 0);                                          // head 0; DL = boot drive from the BIOS
        a.@int(0x13);
        a.jc(fail);
        a.jmp(PayloadSegment, 0);
        a.Label(ref fail);
        a.mov(al, (byte)'E');
        a.@out(0xE9, al);
        a.cli();
        a.hlt();
        var bytes = Assemble(a, 0x7C00);
        var sector = new byte[512];
        bytes.CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    /// <summary>The payload at 0x8000: a flat GDT, CR0.PE, a far jump into 32-bit code that prints the message on 0xE9 and COM1.</summary>
    static byte[] Payload(uint origin = (uint)PayloadSegment << 4)
    {
        byte[] Part16(uint gdtrAt, uint pmAt)
        {
            var a = new Assembler(16);
            a.cli();
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.lgdt(__fword_ptr[(int)gdtrAt]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(0x08, pmAt);
            return Assemble(a, origin);
        }
        byte[] Part32(uint textAt, uint at)
        {
            var a = new Assembler(32);
            var loop = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(ax, 0x10);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(esi, textAt);
            a.mov(dx, 0x3F8);
            a.Label(ref loop);
            a.lodsb();
            a.test(al, al);
            a.jz(done);
            a.@out(0xE9, al);
            a.@out(dx, al);
            a.jmp(loop);
            a.Label(ref done);
            a.mov(al, 0);
            a.@out(0xF4, al);
            a.cli();
            a.hlt();
            return Assemble(a, at);
        }
        // Layout: [16-bit part][32-bit part][GDT (8-aligned)][GDTR][text]. Instruction sizes do not depend on the
        // addresses, so a first pass with placeholders gives the layout.
        uint pmAt = origin + (uint)Part16(0x9000, 0x9000).Length;
        uint gdtAt = (pmAt + (uint)Part32(0x9000, pmAt).Length + 7) & ~7u;
        uint gdtrAt = gdtAt + 24, textAt = gdtrAt + 6;
        var image = new byte[512];
        Part16(gdtrAt, pmAt).CopyTo(image, 0);
        Part32(textAt, pmAt).CopyTo(image, (int)(pmAt - origin));
        ulong[] descriptors = [0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF];
        for (int i = 0; i < 3; i++) BitConverter.GetBytes(descriptors[i]).CopyTo(image, (int)(gdtAt - origin) + 8 * i);
        BitConverter.GetBytes((ushort)23).CopyTo(image, (int)(gdtrAt - origin));
        BitConverter.GetBytes(gdtAt).CopyTo(image, (int)(gdtrAt - origin) + 2);
        Encoding.ASCII.GetBytes(Message + "\0").CopyTo(image, (int)(textAt - origin));
        return image;
    }

    static byte[] Assemble(Assembler a, ulong ip)
    {
        var w = new Writer();
        a.Assemble(w, ip);
        return w.Bytes.ToArray();
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    static byte[] DiskImage(int bytes)
    {
        var image = new byte[bytes];
        BootSector().CopyTo(image, 0);
        Payload().CopyTo(image, 512);
        return image;
    }

    /// <summary>
    /// An El Torito CD (no emulation): boot record volume descriptor at sector 17 pointing to the boot catalog at
    /// sector 19, whose default entry loads one 512-byte virtual sector from sector 20 to 07C0:0000: the payload
    /// itself, assembled for 0x7C00 (it needs no INT 13h).
    /// </summary>
    static byte[] CdImage()
    {
        const int S = 2048;
        var iso = new byte[S * 32];
        void Text(int at, string t) => Encoding.ASCII.GetBytes(t).CopyTo(iso, at);
        Text(17 * S + 1, "CD001");
        iso[17 * S + 6] = 1;
        Text(17 * S + 7, "EL TORITO SPECIFICATION");
        BitConverter.GetBytes(19).CopyTo(iso, 17 * S + 0x47);
        iso[18 * S] = 0xFF;                                        // volume descriptor set terminator
        Text(18 * S + 1, "CD001");
        iso[18 * S + 6] = 1;
        int cat = 19 * S;
        iso[cat] = 1;                                               // validation entry, platform 80x86
        iso[cat + 30] = 0x55;
        iso[cat + 31] = 0xAA;
        int sum = 0;
        for (int i = 0; i < 32; i += 2) sum += BitConverter.ToUInt16(iso, cat + i);
        BitConverter.GetBytes((ushort)-sum).CopyTo(iso, cat + 28);  // the entry's words sum to 0
        iso[cat + 32] = 0x88;                                       // bootable, no emulation, load segment 0 (07C0)
        BitConverter.GetBytes((ushort)1).CopyTo(iso, cat + 38);     // one 512-byte virtual sector
        BitConverter.GetBytes(20).CopyTo(iso, cat + 40);
        Payload(0x7C00).CopyTo(iso, 20 * S);
        return iso;
    }

    [Fact]
    public void SeaBiosBootsAnElToritoCdThroughTheAtapiDrive()
    {
        var log = new StringBuilder();
        var m = new Machine(new MachineConfig
        {
            Rom = File.ReadAllBytes(BiosPath),
            VgaBios = File.ReadAllBytes(VgaBiosPath),
            MemoryBytes = 32 << 20,
            CdRom = new MemoryBlockDevice(CdImage()),
            BootOrder = "d",
            DebugConsole = b => log.Append((char)b),
            MaxInstructions = 200_000_000,
            ExitOnHalt = false,
        });
        var r = m.Run();
        string text = log.ToString();
        Assert.True(r.Reason == ExitReason.DebugExit, $"{r.Summary}\n{text}");
        Assert.Contains("DVD/CD [ata1-0: JitVm CD-ROM ATAPI-6 DVD/CD]", text);
        Assert.Contains("Booting from DVD/CD...", text);
        Assert.EndsWith(Message, text);
    }

    [Fact]
    public void SeaBiosBootsAQcow2DiskMadeByQemuImg()
    {
        string dir = Directory.CreateTempSubdirectory("jitvm-qcow2-boot").FullName;
        try
        {
            string raw = System.IO.Path.Combine(dir, "disk.raw"), qcow2 = System.IO.Path.Combine(dir, "disk.qcow2");
            File.WriteAllBytes(raw, DiskImage(16 * 63 * 20 * 512));
            var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2])
                { RedirectStandardError = true })!;
            Assert.True(p.WaitForExit(60_000) && p.ExitCode == 0, "qemu-img convert failed (is qemu-utils installed? tools/setup-deps.sh installs it)");
            Assert.Equal("qcow2", JitVm.Storage.DiskImages.DetectFormat(qcow2));
            var log = new StringBuilder();
            using var disk = JitVm.Storage.DiskImages.Open(qcow2);
            var m = new Machine(new MachineConfig
            {
                Rom = File.ReadAllBytes(BiosPath),
                VgaBios = File.ReadAllBytes(VgaBiosPath),
                MemoryBytes = 32 << 20,
                HardDisks = [disk],
                BootOrder = "c",
                DebugConsole = b => log.Append((char)b),
                MaxInstructions = 200_000_000,
                ExitOnHalt = false,
            });
            var r = m.Run();
            Assert.True(r.Reason == ExitReason.DebugExit, $"{r.Summary}\n{log}");
            Assert.Contains("Booting from Hard Disk...", log.ToString());
            Assert.EndsWith(Message, log.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static (RunResult Result, string Log, string Serial) Boot(bool floppy, Func<Processor, IExecutionEngine>? engine, string name)
    {
        var log = new StringBuilder();
        var serial = new StringBuilder();
        IBlockDevice disk = new MemoryBlockDevice(DiskImage(floppy ? 1474560 : 16 * 63 * 20 * 512));
        var m = new Machine(new MachineConfig
        {
            Rom = File.ReadAllBytes(BiosPath),
            VgaBios = File.ReadAllBytes(VgaBiosPath),
            MemoryBytes = 32 << 20,
            Floppies = floppy ? [disk] : [],
            HardDisks = floppy ? [] : [disk],
            BootOrder = floppy ? "a" : "c",
            DebugConsole = b => log.Append((char)b),
            Serial = b => serial.Append((char)b),
            EngineFactory = engine,
            EngineName = name,
            MaxInstructions = 200_000_000,
            ExitOnHalt = false,
            NoReboot = true,
        });
        var r = m.Run();
        return (r, log.ToString(), serial.ToString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SeaBiosBootsTheImageToItsProtectedModePayload(bool floppy)
    {
        var (r, log, serial) = Boot(floppy, null, "interp");
        Assert.True(r.Reason == ExitReason.DebugExit, $"{r.Summary}\n{log}");
        Assert.StartsWith("SeaBIOS (version 1.16", log);
        Assert.Contains("Found QEMU fw_cfg", log);
        Assert.Contains("Found 3 PCI devices", log);
        Assert.Contains("Start SeaVGABIOS", log);
        if (floppy) Assert.Contains("Booting from Floppy...", log);
        else
        {
            Assert.Contains("ata0-0: JitVm HARDDISK ATA-6 Hard-Disk", log);
            Assert.Contains("Booting from Hard Disk...", log);
        }
        Assert.Contains("Booting from 0000:7c00\n", log);
        Assert.EndsWith(Message, log);
        Assert.Equal(Message, serial);
        Assert.Equal(0, r.GuestExitCode >> 1);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheJitBootsItIdenticallyInstructionForInstruction(bool floppy)
    {
        var interp = Boot(floppy, null, "interp");
        var jit = Boot(floppy, c => new JitEngine(c, threshold: 0), "jit");
        Assert.Equal(ExitReason.DebugExit, jit.Result.Reason);
        Assert.Equal(interp.Log, jit.Log);
        Assert.Equal(interp.Serial, jit.Serial);
        Assert.Equal(interp.Result.Instructions, jit.Result.Instructions);
    }
}
