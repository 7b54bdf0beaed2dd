using System.Buffers.Binary;

namespace JitVm.Machine.Boot;

/// <summary>How a kernel's bytes get into memory.</summary>
public enum KernelFormat
{
    /// <summary>The PT_LOAD segments of an ELF32 i386 executable.</summary>
    Elf,
    /// <summary>The Multiboot header's address fields (flags bit 16, the "a.out kludge"): one flat range of the file.</summary>
    AddressFields,
}

/// <summary>
/// One range of guest physical memory the kernel occupies: <see cref="FileSize"/> bytes copied from the file at
/// <see cref="FileOffset"/>, the rest of <see cref="MemorySize"/> zeroed.
/// </summary>
/// <param name="Origin">Where the range came from, for messages ("ELF program header 2", "Multiboot address fields").</param>
public sealed record KernelSegment(string Origin, uint FileOffset, uint FileSize, uint Address, uint MemorySize)
{
    /// <summary>One past the last byte (may be 2^32).</summary>
    public ulong End => (ulong)Address + MemorySize;
}

/// <summary>
/// A parsed and file-consistent Multiboot v1 kernel (Multiboot specification 0.6.96, section 3.1): the header
/// found in the first 8192 bytes, and the segments and entry point of either its ELF32 program headers or its
/// address fields. Every field is checked against the file before anything is trusted; a problem is a
/// <see cref="KernelLoadException"/> naming the field. Whether the segments fit the machine is the loader's check.
/// </summary>
public sealed class MultibootImage
{
    public const uint HeaderMagic = 0x1BADB002;
    /// <summary>The header must lie entirely within this many bytes from the start of the file.</summary>
    public const int SearchLimit = 8192;

    /// <summary>Header flags: page-align modules, memory information required, video mode table required, address fields valid.</summary>
    public const uint FlagPageAlignModules = 1, FlagMemoryInfo = 2, FlagVideoMode = 4, FlagAddressFields = 0x10000;
    /// <summary>The required-feature bits (0-15) this loader understands; any other required bit refuses the kernel.</summary>
    const uint KnownRequiredFlags = FlagPageAlignModules | FlagMemoryInfo | FlagVideoMode;

    const int ElfHeaderSize = 52, ElfPhdrSize = 32;
    const ushort EtExec = 2, EmI386 = 3;
    const uint PtLoad = 1;

    MultibootImage(uint headerOffset, uint flags, KernelFormat format, IReadOnlyList<KernelSegment> segments, uint entry)
    {
        HeaderOffset = headerOffset;
        Flags = flags;
        Format = format;
        Segments = segments;
        Entry = entry;
    }

    /// <summary>File offset of the Multiboot header.</summary>
    public uint HeaderOffset { get; }
    /// <summary>The header's flags word.</summary>
    public uint Flags { get; }
    public KernelFormat Format { get; }
    /// <summary>The ranges to load, in file order, pairwise disjoint, none empty.</summary>
    public IReadOnlyList<KernelSegment> Segments { get; }
    /// <summary>Physical address the CPU starts at.</summary>
    public uint Entry { get; }

    public bool PageAlignModules => (Flags & FlagPageAlignModules) != 0;
    /// <summary>The kernel asks for a video mode; like QEMU the loader boots it anyway and reports no framebuffer.</summary>
    public bool WantsVideoMode => (Flags & FlagVideoMode) != 0;

    /// <summary>Parses and checks a kernel file.</summary>
    public static MultibootImage Parse(ReadOnlySpan<byte> file)
    {
        uint at = FindHeader(file);
        uint flags = U32(file, at + 4);
        uint unknown = flags & 0xFFFF & ~KnownRequiredFlags;
        if (unknown != 0)
            throw new KernelLoadException(
                $"Multiboot header flags 0x{flags:X8}: required feature bit(s) {BitList(unknown)} are not supported by this loader");
        // The header grows with the features it describes: 12 bytes, 32 with the address fields, 48 with video.
        uint size = (flags & FlagVideoMode) != 0 ? 48u : (flags & FlagAddressFields) != 0 ? 32u : 12u;
        if (at + size > SearchLimit || at + size > file.Length)
            throw new KernelLoadException(
                $"Multiboot header at file offset 0x{at:X}: its {size} bytes (flags 0x{flags:X8}) do not fit in the first {Math.Min(SearchLimit, file.Length)} bytes of the file");

        if ((flags & FlagAddressFields) != 0) return ParseAddressFields(file, at, flags);
        return ParseElf(file, at, flags);
    }

    static uint FindHeader(ReadOnlySpan<byte> file)
    {
        string? badChecksum = null;
        int limit = Math.Min(file.Length, SearchLimit);
        for (int off = 0; off + 12 <= limit; off += 4)
        {
            if (U32(file, (uint)off) != HeaderMagic) continue;
            uint flags = U32(file, (uint)off + 4), checksum = U32(file, (uint)off + 8);
            if (unchecked(HeaderMagic + flags + checksum) == 0) return (uint)off;
            badChecksum ??= $"Multiboot header at file offset 0x{off:X}: checksum 0x{checksum:X8} does not make magic + flags + checksum zero (expected 0x{unchecked(0u - HeaderMagic - flags):X8})";
        }
        throw new KernelLoadException(badChecksum ??
            (file.Length < 12
                ? $"file too short for a Multiboot header ({file.Length} bytes)"
                : $"no Multiboot header (magic 0x{HeaderMagic:X8} at a 4-byte aligned offset) in the first {limit} bytes"));
    }

    /// <summary>
    /// The address fields (spec 3.1.3): the header sits at <c>header_addr</c>, so the file byte loaded at
    /// <c>load_addr</c> is at offset <c>header_offset - (header_addr - load_addr)</c>; <c>load_end_addr</c> 0 means
    /// "to the end of the file", <c>bss_end_addr</c> 0 means no bss.
    /// </summary>
    static MultibootImage ParseAddressFields(ReadOnlySpan<byte> file, uint at, uint flags)
    {
        uint headerAddr = U32(file, at + 12), loadAddr = U32(file, at + 16), loadEndAddr = U32(file, at + 20);
        uint bssEndAddr = U32(file, at + 24), entryAddr = U32(file, at + 28);
        if (headerAddr < loadAddr)
            throw new KernelLoadException($"Multiboot header_addr 0x{headerAddr:X8} is below load_addr 0x{loadAddr:X8}");
        uint headerDelta = headerAddr - loadAddr;
        if (headerDelta > at)
            throw new KernelLoadException(
                $"Multiboot load_addr 0x{loadAddr:X8}: the header is at file offset 0x{at:X} but header_addr - load_addr is 0x{headerDelta:X}, so loading would start before the file");
        uint fileStart = at - headerDelta;
        ulong available = (ulong)file.Length - fileStart;
        ulong loadLength;
        if (loadEndAddr == 0) loadLength = available;
        else if (loadEndAddr < loadAddr)
            throw new KernelLoadException($"Multiboot load_end_addr 0x{loadEndAddr:X8} is below load_addr 0x{loadAddr:X8}");
        else
        {
            loadLength = loadEndAddr - loadAddr;
            if (loadLength > available)
                throw new KernelLoadException(
                    $"Multiboot load_end_addr 0x{loadEndAddr:X8}: 0x{loadLength:X} bytes to load from file offset 0x{fileStart:X}, but the file has only 0x{available:X} bytes there");
        }
        ulong loadEnd = loadAddr + loadLength;
        if (loadEnd > 1UL << 32)
            throw new KernelLoadException($"Multiboot load_addr 0x{loadAddr:X8}: the 0x{loadLength:X} bytes loaded there run past 4 GiB");
        ulong end = loadEnd;
        if (bssEndAddr != 0)
        {
            if (bssEndAddr < loadEnd)
                throw new KernelLoadException($"Multiboot bss_end_addr 0x{bssEndAddr:X8} is below the end of the loaded data (0x{loadEnd:X8})");
            end = bssEndAddr;
        }
        if (end == loadAddr)
            throw new KernelLoadException("Multiboot address fields describe an empty image (load_addr = end of load and bss)");
        if (entryAddr < loadAddr || entryAddr >= end)
            throw new KernelLoadException(
                $"Multiboot entry_addr 0x{entryAddr:X8} is outside the loaded image [0x{loadAddr:X8}, 0x{end:X8})");
        var seg = new KernelSegment("Multiboot address fields", fileStart, (uint)loadLength, loadAddr, (uint)(end - loadAddr));
        return new MultibootImage(at, flags, KernelFormat.AddressFields, [seg], entryAddr);
    }

    /// <summary>An ELF32 little-endian i386 executable (System V ABI, i386 supplement); PT_LOAD segments at their physical addresses.</summary>
    static MultibootImage ParseElf(ReadOnlySpan<byte> file, uint at, uint flags)
    {
        if (file.Length < 4 || file[0] != 0x7F || file[1] != (byte)'E' || file[2] != (byte)'L' || file[3] != (byte)'F')
            throw new KernelLoadException("not an ELF file, and the Multiboot header does not set flags bit 16 (address fields valid)");
        if (file.Length < ElfHeaderSize)
            throw new KernelLoadException($"ELF header truncated: the file has {file.Length} bytes, an ELF32 header needs {ElfHeaderSize}");
        if (file[4] != 1)
            throw new KernelLoadException(file[4] == 2
                ? "ELF EI_CLASS 2 (ELF64): a Multiboot v1 kernel must be ELF32 (or use the address fields)"
                : $"ELF EI_CLASS {file[4]} is not ELFCLASS32 (1)");
        if (file[5] != 1) throw new KernelLoadException($"ELF EI_DATA {file[5]} is not little-endian (1)");
        if (file[6] != 1) throw new KernelLoadException($"ELF EI_VERSION {file[6]} is not EV_CURRENT (1)");
        ushort type = U16(file, 16), machine = U16(file, 18);
        if (type != EtExec) throw new KernelLoadException($"ELF e_type {type} is not ET_EXEC ({EtExec})");
        if (machine != EmI386) throw new KernelLoadException($"ELF e_machine {machine} is not EM_386 ({EmI386})");
        uint version = U32(file, 20);
        if (version != 1) throw new KernelLoadException($"ELF e_version {version} is not EV_CURRENT (1)");
        uint entry = U32(file, 24), phoff = U32(file, 28);
        ushort ehsize = U16(file, 40), phentsize = U16(file, 42), phnum = U16(file, 44);
        if (ehsize < ElfHeaderSize) throw new KernelLoadException($"ELF e_ehsize {ehsize} is smaller than an ELF32 header ({ElfHeaderSize})");
        if (phnum == 0) throw new KernelLoadException("ELF e_phnum is 0: no program headers to load");
        if (phnum == 0xFFFF) throw new KernelLoadException("ELF e_phnum is PN_XNUM (0xFFFF): extended program header numbering is not supported");
        if (phentsize < ElfPhdrSize) throw new KernelLoadException($"ELF e_phentsize {phentsize} is smaller than an ELF32 program header ({ElfPhdrSize})");
        ulong tableEnd = phoff + (ulong)phnum * phentsize;
        if (phoff < ElfHeaderSize || tableEnd > (ulong)file.Length)
            throw new KernelLoadException(
                $"ELF program header table [0x{phoff:X}, 0x{tableEnd:X}) (e_phoff, e_phnum {phnum} x e_phentsize {phentsize}) is not inside the file (0x{file.Length:X} bytes, header 0x{ElfHeaderSize:X})");

        var segments = new List<KernelSegment>();
        var virtualStarts = new List<uint>();
        for (int i = 0; i < phnum; i++)
        {
            uint ph = phoff + (uint)(i * phentsize);
            if (U32(file, ph) != PtLoad) continue;
            uint offset = U32(file, ph + 4), vaddr = U32(file, ph + 8), paddr = U32(file, ph + 12);
            uint filesz = U32(file, ph + 16), memsz = U32(file, ph + 20);
            string name = $"ELF program header {i}";
            if (filesz > memsz)
                throw new KernelLoadException($"{name}: p_filesz 0x{filesz:X} exceeds p_memsz 0x{memsz:X}");
            if (memsz == 0) continue;
            if ((ulong)offset + filesz > (ulong)file.Length)
                throw new KernelLoadException(
                    $"{name}: p_offset 0x{offset:X} + p_filesz 0x{filesz:X} runs past the end of the file (0x{file.Length:X} bytes)");
            if ((ulong)paddr + memsz > 1UL << 32)
                throw new KernelLoadException($"{name}: p_paddr 0x{paddr:X8} + p_memsz 0x{memsz:X} runs past 4 GiB");
            var seg = new KernelSegment(name, offset, filesz, paddr, memsz);
            foreach (var other in segments)
                if (seg.Address < other.End && other.Address < seg.End)
                    throw new KernelLoadException(
                        $"{name}: [0x{seg.Address:X8}, 0x{seg.End:X8}) overlaps {other.Origin} [0x{other.Address:X8}, 0x{other.End:X8})");
            segments.Add(seg);
            virtualStarts.Add(vaddr);
        }
        if (segments.Count == 0) throw new KernelLoadException("ELF file has no PT_LOAD segment with a non-zero p_memsz");

        // e_entry is normally a physical address inside a segment. A kernel linked to run at a virtual address
        // other than where it loads (p_vaddr != p_paddr, e.g. a higher-half kernel) has a virtual e_entry: it is
        // translated through the segment whose virtual range holds it.
        uint start = entry;
        bool found = segments.Any(s => entry >= s.Address && entry < s.End);
        if (!found)
        {
            for (int i = 0; i < segments.Count && !found; i++)
            {
                uint v = virtualStarts[i];
                if (entry >= v && (ulong)entry < (ulong)v + segments[i].MemorySize)
                {
                    start = segments[i].Address + (entry - v);
                    found = true;
                }
            }
        }
        if (!found) throw new KernelLoadException($"ELF e_entry 0x{entry:X8} is not inside any PT_LOAD segment");
        return new MultibootImage(at, flags, KernelFormat.Elf, segments, start);
    }

    static string BitList(uint bits) => string.Join(", ", Enumerable.Range(0, 32).Where(b => (bits & (1u << b)) != 0));

    static uint U32(ReadOnlySpan<byte> b, uint at) => BinaryPrimitives.ReadUInt32LittleEndian(b.Slice((int)at, 4));
    static ushort U16(ReadOnlySpan<byte> b, uint at) => BinaryPrimitives.ReadUInt16LittleEndian(b.Slice((int)at, 2));
}
