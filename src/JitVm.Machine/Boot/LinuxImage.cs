using System.Buffers.Binary;

namespace JitVm.Machine.Boot;

/// <summary>
/// A Linux x86 kernel image (bzImage) as the boot protocol describes it (Documentation/arch/x86/boot.rst): the
/// real-mode setup sectors with the setup header at 0x1F1, followed by the protected-mode kernel. Every field the
/// loader uses is checked against the file; a problem is a <see cref="KernelLoadException"/> naming the field.
/// </summary>
public sealed class LinuxImage
{
    /// <summary>Offset of the setup header in the file (and in boot_params).</summary>
    public const int HeaderOffset = 0x1F1;
    /// <summary>"HdrS" at 0x202 marks protocol 2.00 and later.</summary>
    public const uint HeaderMagic = 0x53726448;
    /// <summary>The oldest protocol with the 32-bit entry and the fields this loader fills (2.06: cmdline_size).</summary>
    public const ushort MinimumVersion = 0x0206;
    /// <summary>loadflags bit 0: the protected-mode kernel is loaded at 0x100000 (a bzImage).</summary>
    public const byte LoadedHigh = 0x01;

    LinuxImage(int setupSectors, ushort version, byte loadFlags, uint initrdAddressMax, uint commandLineSize, uint initSize, int headerEnd,
        int kernelOffset, int kernelLength)
    {
        SetupSectors = setupSectors;
        Version = version;
        LoadFlags = loadFlags;
        InitrdAddressMax = initrdAddressMax;
        CommandLineSize = commandLineSize;
        InitSize = initSize;
        HeaderEnd = headerEnd;
        KernelOffset = kernelOffset;
        KernelLength = kernelLength;
    }

    /// <summary>Setup sectors after the boot sector (setup_sects, 0 read as 4).</summary>
    public int SetupSectors { get; }
    /// <summary>Boot protocol version (e.g. 0x020F).</summary>
    public ushort Version { get; }
    public byte LoadFlags { get; }
    /// <summary>Highest address the initrd may occupy (initrd_addr_max).</summary>
    public uint InitrdAddressMax { get; }
    /// <summary>Longest command line, without its terminating NUL (cmdline_size).</summary>
    public uint CommandLineSize { get; }
    /// <summary>Linear memory the kernel needs from its load address before it can set up its own (init_size; 0 before 2.10).</summary>
    public uint InitSize { get; }
    /// <summary>One past the last byte of the setup header (0x202 + the byte at 0x201).</summary>
    public int HeaderEnd { get; }
    /// <summary>File offset and length of the protected-mode kernel.</summary>
    public int KernelOffset { get; }
    public int KernelLength { get; }

    /// <summary>The file starts like a bzImage: boot flag 0xAA55 and "HdrS" (anything else is for the Multiboot parser).</summary>
    public static bool Probe(ReadOnlySpan<byte> file) =>
        file.Length >= 0x206 && BinaryPrimitives.ReadUInt16LittleEndian(file[0x1FE..]) == 0xAA55 &&
        BinaryPrimitives.ReadUInt32LittleEndian(file[0x202..]) == HeaderMagic;

    public static LinuxImage Parse(ReadOnlySpan<byte> file)
    {
        if (!Probe(file)) throw new KernelLoadException("not a Linux bzImage: boot_flag 0xAA55 or header \"HdrS\" missing");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(file[0x206..]);
        if (version < MinimumVersion)
            throw new KernelLoadException($"Linux boot protocol {version >> 8}.{version & 0xFF:D2} is too old (version field; 2.06 or later is supported)");
        int headerEnd = 0x202 + file[0x201];
        int needed = version >= 0x020A ? 0x264 : 0x23C;              // through init_size (2.10) or cmdline_size (2.06)
        if (headerEnd > file.Length || headerEnd < needed)
            throw new KernelLoadException($"setup header end 0x{headerEnd:X} (from the jump at 0x200) is outside the file or shorter than its protocol's header (0x{needed:X})");
        int setup = file[HeaderOffset];
        if (setup == 0) setup = 4;
        byte loadFlags = file[0x211];
        if ((loadFlags & LoadedHigh) == 0)
            throw new KernelLoadException("loadflags bit LOADED_HIGH is clear: a zImage (loaded at 0x10000) is not supported, only bzImage");
        int kernelOffset = (setup + 1) * 512;
        if (kernelOffset >= file.Length)
            throw new KernelLoadException($"setup_sects {setup} puts the protected-mode kernel at 0x{kernelOffset:X}, beyond the end of the file (0x{file.Length:X} bytes)");
        uint initrdMax = BinaryPrimitives.ReadUInt32LittleEndian(file[0x22C..]);
        uint cmdlineSize = BinaryPrimitives.ReadUInt32LittleEndian(file[0x238..]);
        uint initSize = version >= 0x020A ? BinaryPrimitives.ReadUInt32LittleEndian(file[0x260..]) : 0;
        return new LinuxImage(setup, version, loadFlags, initrdMax, cmdlineSize, initSize, headerEnd, kernelOffset, file.Length - kernelOffset);
    }
}
