using System.Text;
using Iced.Intel;

namespace JitVm.Machine.Firmware;

/// <summary>
/// Builds firmware-style ROM images from C# with Iced's assembler: a 16-bit entry section at F000:0000 that the
/// reset vector (F000:FFF0) jumps to, optional further 16- or 32-bit sections at fixed ROM offsets (32-bit code is
/// assembled for the linear address 0xF0000 + offset, where a flat protected-mode CS finds it below 1 MiB), a
/// table of NUL-terminated strings, and raw data blocks. Used by the demo ROM and the test ROMs.
/// </summary>
public sealed class RomBuilder
{
    public const ushort RomSegment = 0xF000;
    /// <summary>Linear address of ROM offset 0 (the image ends at 1 MiB).</summary>
    public const uint RomLinearBase = 0xF0000;

    readonly int size;
    readonly int stringBase;
    readonly List<(Assembler Asm, int Offset, ulong Rip, string Name)> sections = new();
    readonly List<(int Offset, byte[] Bytes)> data = new();
    readonly Dictionary<string, ushort> strings = new();
    readonly List<byte> stringBytes = new();
    readonly Dictionary<Assembler, AssemblerResult> results = new();

    /// <param name="size">Image size (64 KiB: the F000 segment).</param>
    /// <param name="stringBase">ROM offset of the string table.</param>
    public RomBuilder(int size = 0x10000, int stringBase = 0xE000)
    {
        if (size != 0x10000) throw new ArgumentOutOfRangeException(nameof(size), "the F000-segment layout needs a 64 KiB image");
        this.size = size;
        this.stringBase = stringBase;
        Code = AddSection(16, 0, "entry");
    }

    /// <summary>The 16-bit entry section at F000:0000.</summary>
    public Assembler Code { get; }

    /// <summary>Adds a section assembled for <paramref name="bitness"/>-bit code at ROM offset <paramref name="offset"/>.</summary>
    public Assembler AddSection(int bitness, int offset, string name)
    {
        if (bitness is not (16 or 32)) throw new ArgumentOutOfRangeException(nameof(bitness));
        if (offset < 0 || offset >= size) throw new ArgumentOutOfRangeException(nameof(offset));
        var a = new Assembler(bitness);
        // 16-bit code runs with CS = F000 (IP = ROM offset); 32-bit code with a flat CS (EIP = linear address).
        ulong rip = bitness == 16 ? (ulong)offset : RomLinearBase + (ulong)offset;
        sections.Add((a, offset, rip, name));
        return a;
    }

    /// <summary>ROM offset of a NUL-terminated copy of <paramref name="text"/> (linear address: RomLinearBase + offset).</summary>
    public ushort Str(string text)
    {
        if (!strings.TryGetValue(text, out var off))
        {
            off = (ushort)(stringBase + stringBytes.Count);
            strings[text] = off;
            stringBytes.AddRange(Encoding.ASCII.GetBytes(text));
            stringBytes.Add(0);
        }
        return off;
    }

    /// <summary>Places raw bytes at a ROM offset (descriptor tables, page-table templates...).</summary>
    public void Data(int offset, byte[] bytes) => data.Add((offset, bytes));

    /// <summary>Address of <paramref name="label"/> of section <paramref name="asm"/> after <see cref="Build"/>.</summary>
    public ulong LabelAddress(Assembler asm, Label label) => results[asm].GetLabelRIP(label);

    public byte[] Build()
    {
        var rom = new byte[size];
        Array.Fill(rom, (byte)0xFF);
        var used = new List<(int Start, int End, string Name)>();
        void Place(int offset, byte[] bytes, string name)
        {
            if (offset + bytes.Length > 0xFFF0) throw new InvalidOperationException($"ROM part '{name}' runs into the reset vector");
            foreach (var (s, e, n) in used)
                if (offset < e && s < offset + bytes.Length) throw new InvalidOperationException($"ROM parts '{name}' and '{n}' overlap");
            used.Add((offset, offset + bytes.Length, name));
            bytes.CopyTo(rom, offset);
        }
        foreach (var (asm, offset, rip, name) in sections)
        {
            var w = new ImageWriter();
            results[asm] = asm.Assemble(w, rip, BlockEncoderOptions.ReturnNewInstructionOffsets);
            Place(offset, w.Bytes.ToArray(), name);
        }
        foreach (var (offset, bytes) in data) Place(offset, bytes, $"data@{offset:X4}");
        if (stringBytes.Count > 0) Place(stringBase, stringBytes.ToArray(), "strings");
        // Reset vector at F000:FFF0: JMP F000:0000.
        rom[0xFFF0] = 0xEA;
        rom[0xFFF1] = 0x00;
        rom[0xFFF2] = 0x00;
        rom[0xFFF3] = RomSegment & 0xFF;
        rom[0xFFF4] = RomSegment >> 8;
        return rom;
    }

    sealed class ImageWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
