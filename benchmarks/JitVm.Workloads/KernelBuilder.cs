using System.Buffers.Binary;
using System.Text;
using Iced.Intel;

namespace JitVm.Workloads;

/// <summary>The file format a kernel is written in.</summary>
public enum KernelFileFormat
{
    /// <summary>ELF32 i386 executable with PT_LOAD segments (what <c>ld</c> makes for a Multiboot kernel).</summary>
    Elf,
    /// <summary>A flat image whose Multiboot header carries the address fields (flags bit 16, the "a.out kludge").</summary>
    Flat,
}

/// <summary>
/// Builds a bare-metal 32-bit Multiboot v1 kernel from C# with Iced's assembler. The layout is fixed so code can
/// use data and bss addresses before it is assembled: text (the 32-byte Multiboot header, then code starting at the
/// entry point) at <see cref="TextBase"/>, initialised data at <see cref="DataBase"/>, zeroed bss at
/// <see cref="BssBase"/>. As ELF: one R-X PT_LOAD for text and one RW PT_LOAD for data whose memory size covers
/// the bss (the loader copies the file bytes and zeroes the rest).
/// </summary>
public sealed class KernelBuilder
{
    public const uint TextBase = 0x100000, DataBase = 0x140000, BssBase = 0x180000;
    /// <summary>The first instruction: right after the header.</summary>
    public const uint EntryAddress = TextBase + HeaderSize;
    const uint HeaderSize = 32;
    const uint MultibootMagic = 0x1BADB002;
    /// <summary>Header flags: modules page-aligned, memory information wanted.</summary>
    const uint HeaderFlags = 0x3, AddressFieldsFlag = 0x10000;
    const int ElfHeaderSize = 52, PhdrSize = 32, TextFileOffset = 0x1000;

    readonly List<byte> data = new();
    readonly Dictionary<string, uint> strings = new();
    uint bssSize;

    /// <summary>The code section, assembled at <see cref="EntryAddress"/>; execution starts at its first instruction.</summary>
    public Assembler Code { get; } = new(32);

    /// <summary>Places initialised bytes in the data section; returns their address.</summary>
    public uint Data(ReadOnlySpan<byte> bytes, int align = 4)
    {
        while (data.Count % align != 0) data.Add(0);
        uint at = DataBase + (uint)data.Count;
        data.AddRange(bytes.ToArray());
        if (data.Count > BssBase - DataBase) throw new InvalidOperationException("data section overflows into bss");
        return at;
    }

    /// <summary>Places dwords in the data section; returns the address of the first.</summary>
    public uint Dwords(params uint[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4 * i), values[i]);
        return Data(b);
    }

    /// <summary>
    /// A table of code addresses in the data section (jump and call tables): one dword per label, filled in with the
    /// label's address once the code is assembled. Returns the table's address. Iced labels are structs that
    /// <c>Assembler.Label(ref ...)</c> updates in place, so the array itself is kept and read at build time: emit
    /// the labels through its elements (<c>a.Label(ref labels[i])</c>).
    /// </summary>
    public uint AddressTable(Label[] labels)
    {
        uint at = Dwords(new uint[labels.Length]);
        labelTables.Add(((int)(at - DataBase), labels));
        return at;
    }

    readonly List<(int Offset, Label[] Labels)> labelTables = new();

    /// <summary>The address of a NUL-terminated ASCII copy of <paramref name="text"/> (shared between uses).</summary>
    public uint String(string text)
    {
        if (!strings.TryGetValue(text, out uint at))
        {
            at = Data(Encoding.ASCII.GetBytes(text + "\0"), 1);
            strings[text] = at;
        }
        return at;
    }

    /// <summary>Reserves zeroed memory; returns its address.</summary>
    public uint Bss(uint size, uint align = 16)
    {
        bssSize = (bssSize + align - 1) & ~(align - 1);
        uint at = BssBase + bssSize;
        bssSize += size;
        return at;
    }

    /// <summary>One past the last byte the kernel occupies (what it needs of RAM).</summary>
    public uint End => BssBase + bssSize;

    /// <summary>Assembles the code and writes the kernel file.</summary>
    public byte[] Build(KernelFileFormat format = KernelFileFormat.Elf)
    {
        var w = new ByteWriter();
        var assembled = Code.Assemble(w, EntryAddress, BlockEncoderOptions.ReturnNewInstructionOffsets);
        byte[] code = w.Bytes.ToArray();
        var dataBytes = data.ToArray();
        foreach (var (offset, labels) in labelTables)
            for (int i = 0; i < labels.Length; i++)
                BinaryPrimitives.WriteUInt32LittleEndian(dataBytes.AsSpan(offset + 4 * i), (uint)assembled.GetLabelRIP(labels[i]));
        uint textSize = HeaderSize + (uint)code.Length;
        if (TextBase + textSize > DataBase) throw new InvalidOperationException($"text section ({textSize} bytes) overflows into data");
        uint dataSize = (uint)data.Count;
        bssSize = (bssSize + 15) & ~15u;

        uint flags = HeaderFlags | (format == KernelFileFormat.Flat ? AddressFieldsFlag : 0);
        var text = new byte[textSize];
        uint[] header =
        [
            MultibootMagic, flags, unchecked(0u - MultibootMagic - flags),
            // Address fields (used only with flags bit 16): header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr.
            format == KernelFileFormat.Flat ? TextBase : 0,
            format == KernelFileFormat.Flat ? TextBase : 0,
            format == KernelFileFormat.Flat ? DataBase + dataSize : 0,
            format == KernelFileFormat.Flat ? End : 0,
            format == KernelFileFormat.Flat ? EntryAddress : 0,
        ];
        for (int i = 0; i < header.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(text.AsSpan(4 * i), header[i]);
        code.CopyTo(text, HeaderSize);

        if (format == KernelFileFormat.Flat)
        {
            var flat = new byte[DataBase - TextBase + dataSize];
            text.CopyTo(flat, 0);
            dataBytes.CopyTo(flat, (int)(DataBase - TextBase));
            return flat;
        }

        // ELF: header, two program headers, text at file offset 0x1000, data right after it (page aligned).
        uint dataFileOffset = (TextFileOffset + textSize + 0xFFF) & ~0xFFFu;
        var f = new byte[dataFileOffset + dataSize];
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = 1;                                   // ELFCLASS32
        f[5] = 1;                                   // little-endian
        f[6] = 1;                                   // EV_CURRENT
        W16(f, 16, 2);                              // ET_EXEC
        W16(f, 18, 3);                              // EM_386
        W32(f, 20, 1);                              // e_version
        W32(f, 24, EntryAddress);                   // e_entry
        W32(f, 28, ElfHeaderSize);                  // e_phoff
        W16(f, 40, ElfHeaderSize);                  // e_ehsize
        W16(f, 42, PhdrSize);                       // e_phentsize
        W16(f, 44, 2);                              // e_phnum
        W16(f, 46, 40);                             // e_shentsize (no sections)
        Phdr(f, 0, TextFileOffset, TextBase, textSize, textSize, 5);                  // R X
        Phdr(f, 1, dataFileOffset, DataBase, dataSize, End - DataBase, 6);           // R W, bss zeroed by the loader
        text.CopyTo(f, TextFileOffset);
        dataBytes.CopyTo(f, (int)dataFileOffset);
        return f;
    }

    static void Phdr(byte[] f, int index, uint offset, uint address, uint fileSize, uint memSize, uint flags)
    {
        int p = ElfHeaderSize + index * PhdrSize;
        W32(f, p, 1);                               // PT_LOAD
        W32(f, p + 4, offset);
        W32(f, p + 8, address);                     // p_vaddr
        W32(f, p + 12, address);                    // p_paddr
        W32(f, p + 16, fileSize);
        W32(f, p + 20, memSize);
        W32(f, p + 24, flags);
        W32(f, p + 28, 0x1000);
    }

    static void W16(byte[] f, int at, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(at), v);
    static void W32(byte[] f, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(at), v);

    /// <summary>Assembles a separate piece of 32-bit code for <paramref name="address"/> (templates, code copied at run time).</summary>
    public static (byte[] Bytes, AssemblerResult Result) AssembleAt(Assembler a, uint address)
    {
        var w = new ByteWriter();
        var r = a.Assemble(w, address, BlockEncoderOptions.ReturnNewInstructionOffsets);
        return (w.Bytes.ToArray(), r);
    }

    sealed class ByteWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
