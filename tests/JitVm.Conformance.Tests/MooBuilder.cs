using System.Buffers.Binary;
using System.Text;

namespace JitVm.Conformance.Tests;

/// <summary>Writes MOO containers for reader tests (the layout of FORMAT.md, independent of the reader's code).</summary>
internal sealed class MooBuilder
{
    readonly List<byte[]> tests = new();

    public static byte[] Chunk(string id, params byte[][] parts)
    {
        int len = parts.Sum(p => p.Length);
        var b = new byte[8 + len];
        Encoding.ASCII.GetBytes(id.PadRight(4)).CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)len);
        int o = 8;
        foreach (var p in parts) { p.CopyTo(b, o); o += p.Length; }
        return b;
    }

    public static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    public static byte[] U16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return b; }

    /// <summary>REGS chunk from (bit, value) pairs.</summary>
    public static byte[] Regs(params (int Bit, ushort Value)[] regs)
    {
        ushort mask = 0;
        foreach (var (bit, _) in regs) mask |= (ushort)(1 << bit);
        var parts = new List<byte[]> { U16(mask) };
        foreach (var (_, v) in regs.OrderBy(r => r.Bit)) parts.Add(U16(v));
        return Chunk("REGS", parts.ToArray());
    }

    public static byte[] Ram(params (uint Addr, byte Value)[] entries)
    {
        var parts = new List<byte[]> { U32((uint)entries.Length) };
        foreach (var (a, v) in entries) parts.Add([.. U32(a), v]);
        return Chunk("RAM ", parts.ToArray());
    }

    public MooBuilder AddTest(int index, string name, byte[] bytes, byte[] init, byte[] fina, byte[]? extra = null)
    {
        tests.Add(Chunk("TEST", U32((uint)index),
            Chunk("NAME", U32((uint)name.Length), Encoding.ASCII.GetBytes(name)),
            Chunk("BYTS", U32((uint)bytes.Length), bytes),
            Chunk("INIT", init),
            Chunk("FINA", fina),
            extra ?? [],
            Chunk("HASH", new byte[20])));
        return this;
    }

    public byte[] Build(int? announcedCount = null)
    {
        var header = Chunk("MOO ", [1, 0, 0, 0], U32((uint)(announcedCount ?? tests.Count)), Encoding.ASCII.GetBytes("C286"));
        var meta = Chunk("META", [1, 0, 2], U32(0x00), Encoding.ASCII.GetBytes("add     "), U32((uint)tests.Count), new byte[8], [0], new byte[3]);
        return [.. header, .. meta, .. tests.SelectMany(t => t)];
    }
}
