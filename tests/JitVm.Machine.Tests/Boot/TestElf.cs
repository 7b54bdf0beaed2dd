using System.Buffers.Binary;
using Iced.Intel;

namespace JitVm.Machine.Tests.Boot;

/// <summary>
/// A minimal ELF32 writer for loader tests: the ELF header, the program headers right after it (header i at
/// 52 + 32·i, so tests can patch fields), then each segment's bytes in order. Segment 0 normally starts with the
/// Multiboot header.
/// </summary>
internal sealed class TestElf
{
    public sealed record Seg(uint Paddr, byte[] Data, uint MemSize, uint? Vaddr = null, uint Type = 1);

    public uint Entry;
    public List<Seg> Segments { get; } = new();

    public const int PhdrTable = 52;

    /// <summary>File offset of segment <paramref name="i"/>'s data.</summary>
    public int DataOffset(int i) => PhdrTable + 32 * Segments.Count + Segments.Take(i).Sum(s => s.Data.Length);

    public byte[] Build()
    {
        int size = DataOffset(Segments.Count);
        var f = new byte[size];
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = 1; f[5] = 1; f[6] = 1;
        W16(f, 16, 2); W16(f, 18, 3); W32(f, 20, 1);
        W32(f, 24, Entry); W32(f, 28, PhdrTable); W32(f, 32, 0); W32(f, 36, 0);
        W16(f, 40, 52); W16(f, 42, 32); W16(f, 44, (ushort)Segments.Count); W16(f, 46, 40); W16(f, 48, 0); W16(f, 50, 0);
        for (int i = 0; i < Segments.Count; i++)
        {
            var s = Segments[i];
            int ph = PhdrTable + 32 * i;
            W32(f, ph, s.Type); W32(f, ph + 4, (uint)DataOffset(i)); W32(f, ph + 8, s.Vaddr ?? s.Paddr); W32(f, ph + 12, s.Paddr);
            W32(f, ph + 16, (uint)s.Data.Length); W32(f, ph + 20, s.MemSize); W32(f, ph + 24, 7); W32(f, ph + 28, 4096);
            s.Data.CopyTo(f, DataOffset(i));
        }
        return f;
    }

    public static void W16(byte[] f, int at, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(at), v);
    public static void W32(byte[] f, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(at), v);
    public static uint R32(byte[] f, int at) => BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(at));

    /// <summary>The 12-byte Multiboot header with <paramref name="flags"/> (and its checksum).</summary>
    public static void Header(Assembler a, uint flags)
    {
        a.dd(0x1BADB002);
        a.dd(flags);
        a.dd(unchecked(0u - 0x1BADB002 - flags));
    }

    /// <summary>Assembles 32-bit code for <paramref name="address"/>; returns the bytes and the address of <paramref name="entry"/>.</summary>
    public static (byte[] Bytes, uint Entry) Assemble(Assembler a, Label entry, uint address)
    {
        var w = new Writer();
        var r = a.Assemble(w, address, BlockEncoderOptions.ReturnNewInstructionOffsets);
        return (w.Bytes.ToArray(), (uint)r.GetLabelRIP(entry));
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
