using System.Text;
using Iced.Intel;
using JitVm.Cpu;
using JitVm.Machine.Boot;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests.Boot;

public class MultibootLoaderTests
{
    const uint Base = 0x100000;

    /// <summary>
    /// A kernel that checks the boot magic, prints its command line (from the information structure) to port
    /// 0xE9 and exits through port 0xF4 with 0 (exit status 1), or with 1 on a bad magic.
    /// </summary>
    static TestElf EchoKernel(uint flags = 3, uint address = Base, uint bss = 0, uint? vaddr = null)
    {
        var a = new Assembler(32);
        var start = a.CreateLabel();
        var loop = a.CreateLabel();
        var done = a.CreateLabel();
        var fail = a.CreateLabel();
        TestElf.Header(a, flags);
        a.Label(ref start);
        a.cmp(eax, MultibootLoader.BootMagic);
        a.jne(fail);
        a.mov(esi, __dword_ptr[ebx + 16]);
        a.Label(ref loop);
        a.mov(al, __byte_ptr[esi]);
        a.test(al, al);
        a.jz(done);
        a.@out(0xE9, al);
        a.inc(esi);
        a.jmp(loop);
        a.Label(ref done);
        a.mov(al, 0);
        a.@out(0xF4, al);
        a.hlt();
        a.Label(ref fail);
        a.mov(al, 1);
        a.@out(0xF4, al);
        a.hlt();
        var (bytes, entry) = TestElf.Assemble(a, start, vaddr ?? address);
        var elf = new TestElf { Entry = entry };
        elf.Segments.Add(new TestElf.Seg(address, bytes, (uint)bytes.Length + bss, vaddr));
        return elf;
    }

    static (Machine M, StringBuilder Out) Boot(byte[] image, string cmdline = "", IReadOnlyList<BootModule>? modules = null, CpuModel? cpu = null, uint memory = 16 << 20,
        bool noReboot = true)
    {
        var output = new StringBuilder();
        var m = new Machine(new MachineConfig
        {
            Cpu = cpu ?? CpuModel.Pentium,
            MemoryBytes = memory,
            Kernel = new KernelImage(image, cmdline, modules),
            DebugConsole = b => output.Append((char)b),
            MaxInstructions = 1_000_000,
            NoReboot = noReboot,
        });
        return (m, output);
    }

    [Fact]
    public void TheCpuStartsInFlatProtectedModeAsTheSpecificationSays()
    {
        var elf = EchoKernel();
        var (m, _) = Boot(elf.Build());
        var cpu = m.Cpu;
        Assert.Equal(MultibootLoader.BootMagic, cpu.Eax);
        Assert.Equal(MultibootLoader.InfoAddress, cpu.Ebx);
        Assert.Equal(elf.Entry, cpu.Eip);
        Assert.Equal(MultibootLoader.InitialStack, cpu.Esp);
        Assert.True(cpu.ProtectedMode);
        Assert.False(cpu.PagingEnabled);
        Assert.Equal(0u, cpu.GetEflags() & (Processor.FlagIF | Processor.FlagVM));
        Assert.True(cpu.A20Enabled);
        Assert.True(cpu.Code32);
        for (int s = 0; s < 6; s++)
        {
            ref Segment seg = ref cpu.Seg[s];
            Assert.Equal(0u, seg.Base);
            Assert.Equal(0xFFFFFFFFu, seg.Limit);
            Assert.True(seg.Big);
            Assert.Equal(s == SegReg.CS ? MultibootLoader.CodeSelector : MultibootLoader.DataSelector, seg.Selector);
        }
        // The GDT the selectors name really holds those descriptors.
        Assert.Equal(MultibootLoader.GdtAddress, cpu.Gdtr.Base);
        Assert.Equal(0x00CF9B00u, m.Memory.Read32(MultibootLoader.GdtAddress + 12));
        Assert.Equal(0x00CF9300u, m.Memory.Read32(MultibootLoader.GdtAddress + 20));
        Assert.Equal(0, cpu.Idtr.Limit);
    }

    [Fact]
    public void TheInformationStructureDescribesMemoryCommandLineAndLoader()
    {
        var (m, _) = Boot(EchoKernel().Build(), "console=ttyS0 quiet");
        var mem = m.Memory;
        uint info = MultibootLoader.InfoAddress;
        uint flags = mem.Read32(info);
        Assert.Equal(MultibootLoader.InfoMemory | MultibootLoader.InfoCommandLine | MultibootLoader.InfoMemoryMap | MultibootLoader.InfoLoaderName, flags);
        Assert.Equal(640u, mem.Read32(info + 4));
        Assert.Equal(15u * 1024, mem.Read32(info + 8));
        Assert.Equal("console=ttyS0 quiet", ReadString(mem, mem.Read32(info + 16)));
        Assert.Equal(MultibootLoader.LoaderName, ReadString(mem, mem.Read32(info + 64)));

        // mmap: size-prefixed 24-byte entries; [0, 640K) and [1M, 16M) available, the ROM reserved.
        uint len = mem.Read32(info + 44), at = mem.Read32(info + 48);
        var entries = new List<(ulong Base, ulong Length, uint Type)>();
        for (uint e = at; e < at + len; e += mem.Read32(e) + 4)
            entries.Add((mem.Read32(e + 4) | (ulong)mem.Read32(e + 8) << 32, mem.Read32(e + 12) | (ulong)mem.Read32(e + 16) << 32, mem.Read32(e + 20)));
        Assert.Contains((0ul, 0xA0000ul, 1u), entries);
        Assert.Contains((0x100000ul, 0xF00000ul, 1u), entries);
        Assert.Contains((0xF0000ul, 0x10000ul, 2u), entries);
        Assert.Contains((0xFFFF0000ul, 0x10000ul, 2u), entries);
    }

    [Fact]
    public void AnElfKernelRunsAndExitsThroughTheDebugExitPort()
    {
        var (m, output) = Boot(EchoKernel().Build(), "hello kernel");
        var result = m.Run();
        Assert.Equal("hello kernel", output.ToString());
        Assert.Equal(ExitReason.DebugExit, result.Reason);
        Assert.Equal(1, result.GuestExitCode);
    }

    [Fact]
    public void AVirtualEntryPointIsTranslatedThroughItsSegment()
    {
        // Linked at 0xC0100000, loaded at 1 MiB (a higher-half kernel whose entry code is position independent).
        var elf = EchoKernel(vaddr: 0xC0100000);
        var (m, output) = Boot(elf.Build(), "hh");
        Assert.Equal(0xC0100000u + 12, elf.Entry);
        Assert.Equal(Base + 12, m.Cpu.Eip);
        m.Run();
        Assert.Equal("hh", output.ToString());
    }

    [Fact]
    public void TheAddressFieldsLoadAFlatImageWithBss()
    {
        // A flat binary: the header with address fields, then code; 64 KiB of bss after it.
        const uint load = 0x200000;
        var a = new Assembler(32);
        var start = a.CreateLabel();
        var end = a.CreateLabel();
        a.dd(0x1BADB002);
        a.dd(0x00010003u);
        a.dd(unchecked(0u - 0x1BADB002 - 0x00010003u));
        a.dd(load);                // header_addr
        a.dd(load);                // load_addr
        a.dd(0);                   // load_end_addr: whole file
        a.dd(load + 0x20000);      // bss_end_addr
        a.dd(load + 32);           // entry_addr
        a.Label(ref start);
        a.mov(eax, __dword_ptr[load + 0x1FFFC]);   // last bss dword: zero
        a.add(al, (byte)'0');
        a.@out(0xE9, al);
        a.mov(al, 0);
        a.@out(0xF4, al);
        a.hlt();
        var (bytes, entry) = TestElf.Assemble(a, start, load);
        Assert.Equal(load + 32, entry);
        var k = MultibootImage.Parse(bytes);
        Assert.Equal(KernelFormat.AddressFields, k.Format);
        Assert.Equal((uint)bytes.Length, k.Segments[0].FileSize);
        Assert.Equal(0x20000u, k.Segments[0].MemorySize);
        var (m, output) = Boot(bytes);
        var result = m.Run();
        Assert.Equal("0", output.ToString());
        Assert.Equal(1, result.GuestExitCode);
    }

    [Theory]
    [InlineData(0x64, 0xFE)]                               // keyboard controller: pulse the reset line
    [InlineData(0xCF9, 0x06)]                              // reset control register: hard reset
    public void WithNoRebootAGuestResetEndsTheRun(int port, int value)
    {
        var a = new Assembler(32);
        var start = a.CreateLabel();
        TestElf.Header(a, 3);
        a.Label(ref start);
        a.mov(al, (byte)'R');
        a.@out(0xE9, al);
        a.mov(dx, (ushort)port);
        a.mov(al, (byte)value);
        a.@out(dx, al);
        a.mov(al, (byte)'X');                              // never reached: the reset comes first
        a.@out(0xE9, al);
        a.hlt();
        var (bytes, entry) = TestElf.Assemble(a, start, Base);
        var elf = new TestElf { Entry = entry };
        elf.Segments.Add(new TestElf.Seg(Base, bytes, 0x1000));
        var (m, output) = Boot(elf.Build(), noReboot: true);
        var result = m.Run();
        Assert.Equal(ExitReason.Reset, result.Reason);
        Assert.StartsWith("R", output.ToString());
        Assert.DoesNotContain("RR", output.ToString());    // not booted a second time
        Assert.Equal(0, m.Resets);
        Assert.Contains("reason=reset", result.Summary);
    }

    [Fact]
    public void AResetReloadsTheKernelAndZeroesItsBssAgain()
    {
        // First boot: mark bss and a boot counter outside the kernel, then fast-reset through port 92h.
        // Second boot: the counter survived (RAM is not cleared) but bss was zeroed by the reload.
        const uint counter = 0x20000;
        uint bss = Base + 0x1000;
        var a = new Assembler(32);
        var start = a.CreateLabel();
        var second = a.CreateLabel();
        var dirty = a.CreateLabel();
        TestElf.Header(a, 3);
        a.Label(ref start);
        a.cmp(__dword_ptr[counter], 0);
        a.jne(second);
        a.mov(__dword_ptr[counter], 1);
        a.mov(__dword_ptr[bss], 0x1234);
        a.@in(al, 0x92);
        a.or(al, 1);
        a.@out(0x92, al);
        a.hlt();
        a.Label(ref second);
        a.cmp(__dword_ptr[bss], 0);
        a.jne(dirty);
        a.mov(al, (byte)'Z');
        a.@out(0xE9, al);
        a.mov(al, 0);
        a.@out(0xF4, al);
        a.Label(ref dirty);
        a.mov(al, (byte)'D');
        a.@out(0xE9, al);
        a.hlt();
        var (bytes, entry) = TestElf.Assemble(a, start, Base);
        var elf = new TestElf { Entry = entry };
        elf.Segments.Add(new TestElf.Seg(Base, bytes, 0x2000));
        var (m, output) = Boot(elf.Build(), noReboot: false);
        var result = m.Run();
        Assert.True(m.Resets == 1, $"{result.Summary} out={output} eip={m.Cpu.Eip:X}");
        Assert.Equal("Z", output.ToString());
        Assert.Equal(1, result.GuestExitCode);
    }

    [Fact]
    public void ModulesArePageAlignedAboveTheKernelAndListed()
    {
        var elf = EchoKernel(bss: 0x3000);
        var modules = new[] { new BootModule([1, 2, 3], "mod0 arg"), new BootModule(new byte[5000], "mod1") };
        var (m, _) = Boot(elf.Build(), "", modules);
        var mem = m.Memory;
        uint info = MultibootLoader.InfoAddress;
        Assert.NotEqual(0u, mem.Read32(info) & MultibootLoader.InfoModules);
        Assert.Equal(2u, mem.Read32(info + 20));
        uint list = mem.Read32(info + 24);
        uint s0 = mem.Read32(list), e0 = mem.Read32(list + 4), s1 = mem.Read32(list + 16), e1 = mem.Read32(list + 20);
        Assert.Equal(0u, s0 & 0xFFF);
        Assert.True(s0 >= elf.Segments[0].Paddr + elf.Segments[0].MemSize);
        Assert.Equal(s0 + 3, e0);
        Assert.Equal(0u, s1 & 0xFFF);
        Assert.True(s1 >= e0);
        Assert.Equal(s1 + 5000, e1);
        Assert.Equal(0x030201u, mem.Read32(s0) & 0xFFFFFF);
        Assert.Equal("mod0 arg", ReadString(mem, mem.Read32(list + 8)));
        Assert.Equal("mod1", ReadString(mem, mem.Read32(list + 24)));
    }

    [Fact]
    public void VideoModeRequestsAreAcceptedWithoutAFramebufferLikeQemu()
    {
        // Flags bit 2 makes the header 48 bytes (mode_type, width, height, depth after the address fields).
        var a = new Assembler(32);
        var start = a.CreateLabel();
        TestElf.Header(a, 7);
        for (int i = 0; i < 9; i++) a.dd(0);
        a.Label(ref start);
        a.mov(al, 0);
        a.@out(0xF4, al);
        var (bytes, entry) = TestElf.Assemble(a, start, Base);
        var elf = new TestElf { Entry = entry };
        elf.Segments.Add(new TestElf.Seg(Base, bytes, (uint)bytes.Length));
        var (m, _) = Boot(elf.Build());
        Assert.True(m.KernelImage!.WantsVideoMode);
        Assert.Equal(0u, m.Memory.Read32(MultibootLoader.InfoAddress) & (1u << 11 | 1u << 12));
        Assert.Equal(1, m.Run().GuestExitCode);
    }

    static string ReadString(Core.PhysicalMemory mem, uint at)
    {
        var sb = new StringBuilder();
        for (byte b; (b = mem.Read8(at)) != 0; at++) sb.Append((char)b);
        return sb.ToString();
    }

    // ---- hostile and malformed inputs: one clear KernelLoadException naming the field ----

    static byte[] Valid() => EchoKernel().Build();

    public static TheoryData<string, string> Malformed() => new()
    {
        { "truncated-ehdr", "no Multiboot header" },
        { "truncated-ehdr-with-header", "ELF header truncated" },
        { "phdrs-past-end", "program header table" },
        { "truncated-data", "runs past the end of the file" },
        { "bad-checksum", "checksum" },
        { "no-header", "no Multiboot header" },
        { "header-beyond-8k", "no Multiboot header" },
        { "unknown-required-flag", "required feature bit(s) 3" },
        { "elf64", "ELF64" },
        { "big-endian", "EI_DATA" },
        { "not-exec", "e_type" },
        { "wrong-machine", "e_machine" },
        { "no-phdrs", "e_phnum is 0" },
        { "pn-xnum", "PN_XNUM" },
        { "small-phentsize", "e_phentsize" },
        { "filesz-over-memsz", "exceeds p_memsz" },
        { "huge-memsz", "past 4 GiB" },
        { "beyond-ram", "beyond the end of RAM" },
        { "in-hole", "legacy video/ROM hole" },
        { "over-boot-area", "boot area" },
        { "entry-outside", "e_entry" },
        { "overlap", "overlaps ELF program header 0" },
        { "no-load", "no PT_LOAD" },
        { "not-elf", "not an ELF file" },
        { "empty", "too short" },
        { "aout-header-below-load", "header_addr" },
        { "aout-before-file", "before the file" },
        { "aout-load-end-beyond-file", "load_end_addr" },
        { "aout-bss-below-load-end", "bss_end_addr" },
        { "aout-entry-outside", "entry_addr" },
    };

    static byte[] Make(string kind)
    {
        byte[] f = Valid();
        int ph0 = TestElf.PhdrTable;
        switch (kind)
        {
            case "truncated-ehdr": return f[..40];
            case "truncated-ehdr-with-header":
            {
                // A 40-byte "ELF" whose bytes 16..27 happen to be a Multiboot header.
                var g = f[..40];
                Array.Copy(f, EchoDataOffset, g, 16, 12);
                return g;
            }
            case "phdrs-past-end": TestElf.W16(f, 44, 200); return f;
            case "truncated-data": return f[..(f.Length - 3)];
            case "bad-checksum": f[EchoDataOffset + 8] ^= 1; return f;
            case "no-header": Array.Clear(f, EchoDataOffset, 12); return f;
            case "header-beyond-8k":
            {
                var elf = new TestElf { Entry = Base };
                var data = new byte[9000];
                Array.Copy(f, EchoDataOffset, data, 8500, 12);
                elf.Segments.Add(new TestElf.Seg(Base, data, (uint)data.Length));
                return elf.Build();
            }
            case "unknown-required-flag": return WithFlags(f, 0x8 | 3);
            case "elf64": f[4] = 2; return f;
            case "big-endian": f[5] = 2; return f;
            case "not-exec": TestElf.W16(f, 16, 3); return f;
            case "wrong-machine": TestElf.W16(f, 18, 62); return f;
            case "no-phdrs": TestElf.W16(f, 44, 0); return f;
            case "pn-xnum": TestElf.W16(f, 44, 0xFFFF); return f;
            case "small-phentsize": TestElf.W16(f, 42, 16); return f;
            case "filesz-over-memsz": TestElf.W32(f, ph0 + 20, 4); return f;
            case "huge-memsz": TestElf.W32(f, ph0 + 20, 0xFFFFF000); return f;
            case "beyond-ram": TestElf.W32(f, ph0 + 12, 0x01000000 - 8); return f;
            case "in-hole": TestElf.W32(f, ph0 + 12, 0xB8000); return f;
            case "over-boot-area": TestElf.W32(f, ph0 + 12, 0x7C00); return f;
            case "entry-outside": TestElf.W32(f, 24, 0x500000); return f;
            case "overlap":
            {
                var elf = EchoKernel();
                elf.Segments.Add(new TestElf.Seg(Base + 16, [1, 2, 3, 4], 4));
                return elf.Build();
            }
            case "no-load": TestElf.W32(f, ph0, 4); return f;
            case "not-elf": f[0] = 0; return f;
            case "empty": return [];
            case "aout-header-below-load": return Aout(headerAddr: 0x1FF000);
            case "aout-before-file": return Aout(loadAddr: 0x1FF000, headerAddr: 0x200000);
            case "aout-load-end-beyond-file": return Aout(loadEnd: 0x300000);
            case "aout-bss-below-load-end": return Aout(loadEnd: 0x200030, bssEnd: 0x200010);
            case "aout-entry-outside": return Aout(entry: 0x100000);
            default: throw new ArgumentException(kind);
        }
    }

    /// <summary>File offset of the echo kernel's code segment (its Multiboot header).</summary>
    static readonly int EchoDataOffset = EchoKernel().DataOffset(0);

    static byte[] WithFlags(byte[] f, uint flags)
    {
        TestElf.W32(f, EchoDataOffset + 4, flags);
        TestElf.W32(f, EchoDataOffset + 8, unchecked(0u - 0x1BADB002 - flags));
        return f;
    }

    static byte[] Aout(uint headerAddr = 0x200000, uint loadAddr = 0x200000, uint loadEnd = 0, uint bssEnd = 0, uint entry = 0x200020)
    {
        var f = new byte[64];
        uint[] h = [0x1BADB002, 0x10000, unchecked(0u - 0x1BADB002 - 0x10000), headerAddr, loadAddr, loadEnd, bssEnd, entry];
        for (int i = 0; i < h.Length; i++) TestElf.W32(f, 4 * i, h[i]);
        return f;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedKernelsAreRejectedWithAMessageNamingTheField(string kind, string expected)
    {
        byte[] image = Make(kind);
        var e = Assert.Throws<KernelLoadException>(() => Boot(image));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RunKernelReturnsTheGuestExitStatusAndPrintsTheAppendedCommandLine()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"kernel-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string kernel = Path.Combine(dir, "echo.elf"), log = Path.Combine(dir, "out.txt");
            File.WriteAllBytes(kernel, Valid());
            Assert.Equal(1, Cli.Program.Main(["run", "--kernel", kernel, "--append", "a b,c", "--debugcon", "file:" + log, "--serial", "none"]));
            Assert.Equal("a b,c", File.ReadAllText(log));

            string bad = Path.Combine(dir, "bad.elf");
            File.WriteAllBytes(bad, Make("bad-checksum"));
            Assert.Equal(2, Cli.Program.Main(["run", "--kernel", bad, "--debugcon", "none"]));
            Assert.Equal(2, Cli.Program.Main(["run", "--kernel", Path.Combine(dir, "missing.elf")]));
            Assert.Equal(2, Cli.Program.Main(["run", "--append", "x", "--debugcon", "none"]));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("", new string[0])]
    [InlineData("a.bin", new[] { "a.bin" })]
    [InlineData("a.bin x=1, b.bin", new[] { "a.bin x=1", "b.bin" })]
    [InlineData("a.bin list=1,,2,b.bin", new[] { "a.bin list=1,2", "b.bin" })]
    public void InitrdListsSplitLikeQemu(string spec, string[] expected) =>
        Assert.Equal(expected, Cli.Commands.RunCommand.SplitModules(spec));

    [Fact]
    public void AKernelLinkedByGnuLdBootsAndSeesItsCommandLineDataAndZeroedBss()
    {
        string path = "";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && path == ""; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "testroms", "multiboot", "gas-kernel.elf");
            if (File.Exists(candidate)) path = candidate;
        }
        Assert.NotEqual("", path);
        var (m, output) = Boot(File.ReadAllBytes(path), "x=1");
        var result = m.Run();
        Assert.Equal("gas kernel: cmdline=[x=1] bss=0 sum=6\n", output.ToString());
        Assert.Equal(1, result.GuestExitCode);
    }

    [Fact]
    public void ThirtyTwoBitKernelsNeedA386()
    {
        var e = Assert.Throws<KernelLoadException>(() => Boot(Valid(), cpu: CpuModel.I286));
        Assert.Contains("386", e.Message);
    }

    [Fact]
    public void RandomCorruptionGivesALoadErrorOrABootableMachineNeverAnotherException()
    {
        var rng = new Random(12345);
        byte[] valid = Valid();
        // One machine's memory and CPU, re-booted for every image that parses (building a machine each time is slow).
        var memory = new Core.PhysicalMemory(16 << 20);
        var cpu = new Processor(CpuModel.Pentium, memory, new Core.IoBus());
        (uint, uint)[] rom = [(0xF0000, 0x10000)];
        int loaded = 0, rejected = 0;
        for (int n = 0; n < 5000; n++)
        {
            byte[] f = (byte[])valid.Clone();
            int edits = rng.Next(1, 4);
            for (int k = 0; k < edits; k++)
            {
                // Bias the edits towards the headers, where the interesting fields are.
                int at = rng.Next(2) == 0 ? rng.Next(Math.Min(f.Length, EchoDataOffset + 12)) : rng.Next(f.Length);
                f[at] = rng.Next(3) switch { 0 => 0, 1 => 0xFF, _ => (byte)rng.Next(256) };
            }
            if (rng.Next(8) == 0) f = f[..rng.Next(f.Length)];
            try
            {
                var image = MultibootImage.Parse(f);
                cpu.Reset();
                MultibootLoader.Boot(image, f, "", [], memory, cpu, rom);
                loaded++;
            }
            catch (KernelLoadException)
            {
                rejected++;
            }
        }
        Assert.True(loaded > 0 && rejected > 0, $"loaded {loaded}, rejected {rejected}");
    }
}
