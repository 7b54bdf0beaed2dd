using System.Runtime.CompilerServices;
using JitVm.Core;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// Decoded blocks keyed by physical address and mode bits. A direct-mapped front table answers the common case
/// with one compare; a dictionary holds every live block; a per-page index lets writes to code find the blocks
/// they overlap. Registered with the memory's <see cref="CodePageTracker"/> so any write over decoded bytes
/// (CPU store, DMA, loader, debugger) invalidates them.
/// </summary>
public sealed class BlockCache : ICodeInvalidationSink
{
    public const uint ModeCode32 = 1, ModeProtected = 2, ModeV86 = 4;
    const int FrontBits = 14;
    /// <summary>When this many blocks are live the cache is flushed (bounded memory).</summary>
    public const int MaxBlocks = 1 << 18;

    readonly Processor cpu;
    readonly BlockDecoder decoder;
    readonly DecodedBlock?[] front = new DecodedBlock?[1 << FrontBits];
    readonly Dictionary<ulong, DecodedBlock> blocks = new();
    readonly Dictionary<uint, List<DecodedBlock>> byPage = new();

    public BlockCache(Processor cpu, HandlerTable table)
    {
        this.cpu = cpu;
        decoder = new BlockDecoder(cpu, table);
        cpu.Memory.Code.AddSink(this);
    }

    /// <summary>The block being executed (a write into it ends it after the current instruction).</summary>
    public DecodedBlock? Current { get; set; }

    public long Lookups, Misses, Decoded, InvalidatedBlocks, Flushes;

    public int Count => blocks.Count;

    /// <summary>The mode bits that change how bytes decode or execute.</summary>
    public static uint ModeKey(Processor cpu)
    {
        uint m = 0;
        if (cpu.Code32) m |= ModeCode32;
        if (cpu.ProtectedMode) m |= ModeProtected;
        if (cpu.V86Mode) m |= ModeV86;
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int FrontIndex(uint phys) => (int)((phys * 0x9E3779B1u) >> (32 - FrontBits));

    /// <summary>The block at CS:EIP, decoding it on a miss. May raise the fetch fault of the first instruction.</summary>
    public DecodedBlock Lookup()
    {
        Lookups++;
        ref Segment cs = ref cpu.Seg[SegReg.CS];
        uint phys = cpu.TranslateFetch(cs.Base + cpu.Eip);
        uint mode = ModeKey(cpu);
        var b = front[FrontIndex(phys)];
        if (b is null || b.Phys != phys || b.Mode != mode)
        {
            Misses++;
            if (!blocks.TryGetValue(Key(phys, mode), out b)) b = DecodeAndInsert(phys, mode);
            front[FrontIndex(phys)] = b;
        }
        // A block decoded under a larger CS limit must not run past this one.
        if ((ulong)cpu.Eip + (ulong)b.ByteLength - 1 > cs.Limit) return decoder.Decode(phys, mode);
        return b;
    }

    static ulong Key(uint phys, uint mode) => (ulong)mode << 32 | phys;

    DecodedBlock DecodeAndInsert(uint phys, uint mode)
    {
        if (blocks.Count >= MaxBlocks) InvalidateAllCode();
        var b = decoder.Decode(phys, mode);
        Decoded++;
        blocks[Key(phys, mode)] = b;
        AddToPage(phys >> PhysicalMemory.PageShift, b);
        if ((b.LastPhys >> PhysicalMemory.PageShift) != (phys >> PhysicalMemory.PageShift))
            AddToPage(b.LastPhys >> PhysicalMemory.PageShift, b);
        MarkCode(b);
        return b;
    }

    void AddToPage(uint page, DecodedBlock b)
    {
        if (!byPage.TryGetValue(page, out var list)) byPage[page] = list = new List<DecodedBlock>();
        list.Add(b);
    }

    void MarkCode(DecodedBlock b)
    {
        uint firstPageEnd = (b.Phys | PhysicalMemory.PageMask);
        if ((b.LastPhys >> PhysicalMemory.PageShift) == (b.Phys >> PhysicalMemory.PageShift))
        {
            cpu.Memory.Code.MarkCode(b.Phys, (int)(b.LastPhys - b.Phys + 1));
        }
        else
        {
            cpu.Memory.Code.MarkCode(b.Phys, (int)(firstPageEnd - b.Phys + 1));
            uint secondStart = b.LastPhys & ~PhysicalMemory.PageMask;
            cpu.Memory.Code.MarkCode(secondStart, (int)(b.LastPhys - secondStart + 1));
        }
    }

    /// <summary>Byte ranges of a block per page: [start, end] in page offsets.</summary>
    static (uint lo, uint hi) RangeInPage(DecodedBlock b, uint page)
    {
        uint pageBase = page << PhysicalMemory.PageShift;
        uint lo = (b.Phys >> PhysicalMemory.PageShift) == page ? b.Phys - pageBase : 0;
        uint hi = (b.LastPhys >> PhysicalMemory.PageShift) == page ? b.LastPhys - pageBase : PhysicalMemory.PageMask;
        return (lo, hi);
    }

    public void InvalidateCode(uint phys, int length)
    {
        uint end = phys + (uint)length - 1;
        for (uint page = phys >> PhysicalMemory.PageShift; page <= end >> PhysicalMemory.PageShift; page++)
        {
            if (!byPage.TryGetValue(page, out var list)) continue;
            uint pageBase = page << PhysicalMemory.PageShift;
            uint wlo = Math.Max(phys, pageBase) - pageBase;
            uint whi = Math.Min(end, pageBase + PhysicalMemory.PageMask) - pageBase;
            for (int i = list.Count - 1; i >= 0; i--)
            {
                var b = list[i];
                var (lo, hi) = RangeInPage(b, page);
                if (hi < wlo || lo > whi) continue;
                Remove(b);
            }
        }
    }

    void Remove(DecodedBlock b)
    {
        b.Valid = false;
        InvalidatedBlocks++;
        blocks.Remove(Key(b.Phys, b.Mode));
        int fi = FrontIndex(b.Phys);
        if (ReferenceEquals(front[fi], b)) front[fi] = null;
        if (ReferenceEquals(Current, b)) cpu.ExitBlock = true;
        RemoveFromPage(b.Phys >> PhysicalMemory.PageShift, b);
        if ((b.LastPhys >> PhysicalMemory.PageShift) != (b.Phys >> PhysicalMemory.PageShift))
            RemoveFromPage(b.LastPhys >> PhysicalMemory.PageShift, b);
    }

    void RemoveFromPage(uint page, DecodedBlock b)
    {
        if (!byPage.TryGetValue(page, out var list)) return;
        list.Remove(b);
        // Recompute which 64-byte chunks of the page still hold code and release the rest.
        ulong still = 0;
        foreach (var other in list)
        {
            var (lo, hi) = RangeInPage(other, page);
            for (uint c = lo >> CodePageTracker.ChunkShift; c <= hi >> CodePageTracker.ChunkShift; c++) still |= 1UL << (int)c;
        }
        if (list.Count == 0) byPage.Remove(page);
        cpu.Memory.Code.ClearChunks(page, ~still);
    }

    public void InvalidateAllCode()
    {
        foreach (var b in blocks.Values)
        {
            b.Valid = false;
            if (ReferenceEquals(Current, b)) cpu.ExitBlock = true;
        }
        InvalidatedBlocks += blocks.Count;
        Flushes++;
        blocks.Clear();
        byPage.Clear();
        Array.Clear(front);
        // Release every code mark this cache made (the tracker may be shared with other caches later).
        for (uint page = 0; page < 1u << (32 - PhysicalMemory.PageShift); page++)
            if (cpu.Memory.Code.PageHasCode(page)) cpu.Memory.Code.ClearChunks(page, ulong.MaxValue);
    }
}
