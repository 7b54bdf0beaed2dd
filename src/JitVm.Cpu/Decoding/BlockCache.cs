using System.Runtime.CompilerServices;
using JitVm.Core;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// Decoded blocks keyed by physical address and mode bits (including the privilege class). A direct-mapped front table answers the common case
/// with one compare; a dictionary holds every live block; a per-page index lets writes to code find the blocks
/// they overlap. Registered with the memory's <see cref="CodePageTracker"/> so any write over decoded bytes
/// (CPU store, DMA, loader, debugger) invalidates them.
/// </summary>
public sealed class BlockCache : ICodeInvalidationSink
{
    public const uint ModeCode32 = 1, ModeProtected = 2, ModeV86 = 4, ModeUser = 8;
    /// <summary>Set in <see cref="DecodedBlock.ModeTag"/> (never in a mode key) of blocks that must be re-validated on entry.</summary>
    public const uint ModeStraddles = 0x80000000;
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

    /// <summary>
    /// <see cref="DecodedBlock.Id"/> of the block being executed, 0 for none (a write into it ends it after the
    /// current instruction).
    /// </summary>
    public long CurrentId;

    public long Lookups, Misses, Decoded, InvalidatedBlocks, Flushes;

    public int Count => blocks.Count;

    /// <summary>
    /// The mode bits that change how bytes decode or execute, and the privilege class (user or supervisor) that
    /// decides which TLB fetches and explicit accesses use.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ModeKey(Processor cpu)
    {
        if ((cpu.Cr0 & Processor.Cr0PE) == 0) return 0;
        if ((cpu.Flags & Processor.FlagVM) != 0) return ModeProtected | ModeV86 | ModeUser;
        ref Segment cs = ref cpu.Seg[SegReg.CS];
        uint m = ModeProtected;
        if (cs.Big) m |= ModeCode32;
        if ((cs.Selector & 3) == 3) m |= ModeUser;
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int FrontIndex(uint phys) => (int)((phys * 0x9E3779B1u) >> (32 - FrontBits));

    /// <summary>The block at CS:EIP, decoding it on a miss. May raise the fetch fault of the first instruction.</summary>
    public DecodedBlock Lookup()
    {
        Lookups++;
        ref Segment cs = ref cpu.Seg[SegReg.CS];
        uint lin = cs.Base + cpu.Eip;
        uint mode = ModeKey(cpu);
        uint phys = (cpu.Cr0 & Processor.Cr0PG) == 0 ? lin & cpu.PhysicalAddressMask : FetchPaged(lin, mode);
        var b = front[FrontIndex(phys)];
        // One compare covers the mode and, through ModeTag, sends straddling blocks to the slow path.
        if (b is null || b.Phys != phys || b.ModeTag != mode) b = LookupSlow(phys, mode, lin, b);
        // A block decoded under a larger CS limit must not run past this one.
        if ((ulong)cpu.Eip + (ulong)b.ByteLength - 1 > cs.Limit) return decoder.Decode(phys, mode);
        return b;
    }

    /// <summary>
    /// The block starting at physical <paramref name="phys"/> under <paramref name="mode"/> for code at
    /// <paramref name="eip"/> in the current CS (found, or decoded and inserted): what the translator uses to
    /// gather the other blocks of a region. Null when the block cannot be cached (its first fetch faults) or the
    /// cache is too full to take it without a flush.
    /// </summary>
    public DecodedBlock? Find(uint phys, uint mode, uint eip)
    {
        if (blocks.TryGetValue(Key(phys, mode), out var b)) return b;
        if (blocks.Count >= MaxBlocks - 1) return null;
        uint saved = cpu.Eip;
        cpu.Eip = eip;
        try
        {
            b = DecodeAndInsert(phys, mode);
        }
        finally
        {
            cpu.Eip = saved;
        }
        return b.Cacheable ? b : null;
    }

    /// <summary>
    /// Fetch translation with paging. Privilege only matters under paging, so this is where the memory privilege
    /// is checked against CPL (in case a CS load did not update it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    uint FetchPaged(uint lin, uint mode)
    {
        if (((mode & ModeUser) != 0) != cpu.UserAccesses) cpu.UpdateMemoryPrivilege();
        return cpu.TranslateFetch(lin);
    }

    DecodedBlock LookupSlow(uint phys, uint mode, uint lin, DecodedBlock? b)
    {
        if (b is null || b.Phys != phys || b.Mode != mode)
        {
            Misses++;
            if (!blocks.TryGetValue(Key(phys, mode), out b))
            {
                b = DecodeAndInsert(phys, mode);
                if (!b.Cacheable) return b;
            }
            front[FrontIndex(phys)] = b;
        }
        // Blocks are found by the physical address of their first byte; a last instruction that straddles into
        // the next linear page was decoded from whatever that page mapped to then.
        if (b.Straddles && !SecondPageMaps(b, lin)) b = Redecode(b);
        return b;
    }

    /// <summary>
    /// Whether the last byte of a straddling block still translates to the physical page it was decoded from. A
    /// probe: a fault here is not raised (the instructions before the straddling one must run first).
    /// </summary>
    bool SecondPageMaps(DecodedBlock b, uint lin) =>
        cpu.TryTranslateFetch(lin + (uint)b.ByteLength - 1, out uint p, out _) &&
        (p >> PhysicalMemory.PageShift) == (b.LastPhys >> PhysicalMemory.PageShift);

    DecodedBlock Redecode(DecodedBlock stale)
    {
        Remove(stale);
        var b = DecodeAndInsert(stale.Phys, stale.Mode);
        if (b.Cacheable) front[FrontIndex(b.Phys)] = b;
        return b;
    }

    static ulong Key(uint phys, uint mode) => (ulong)mode << 32 | phys;

    DecodedBlock DecodeAndInsert(uint phys, uint mode)
    {
        if (blocks.Count >= MaxBlocks) InvalidateAllCode();
        var b = decoder.Decode(phys, mode);
        Decoded++;
        if (!b.Cacheable) return b;
        blocks[Key(phys, mode)] = b;
        uint first = phys >> PhysicalMemory.PageShift, second = b.LastPhys >> PhysicalMemory.PageShift;
        AddToPage(first, b);
        if (b.Straddles && second != first) AddToPage(second, b);
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
        if (!b.Straddles)
        {
            cpu.Memory.Code.MarkCode(b.Phys, (int)(b.LastPhys - b.Phys + 1));
        }
        else
        {
            uint firstPageEnd = b.Phys | PhysicalMemory.PageMask;
            cpu.Memory.Code.MarkCode(b.Phys, (int)(firstPageEnd - b.Phys + 1));
            uint secondStart = b.LastPhys & ~PhysicalMemory.PageMask;
            cpu.Memory.Code.MarkCode(secondStart, (int)(b.LastPhys - secondStart + 1));
        }
    }

    /// <summary>Byte ranges of a block per page: [start, end] in page offsets.</summary>
    static (uint lo, uint hi) RangeInPage(DecodedBlock b, uint page)
    {
        uint first = b.Phys >> PhysicalMemory.PageShift, second = b.LastPhys >> PhysicalMemory.PageShift;
        uint lo = b.Phys & PhysicalMemory.PageMask, hi = b.LastPhys & PhysicalMemory.PageMask;
        if (!b.Straddles) return (lo, hi);
        // A straddling block whose two linear pages map to the same physical page covers both ends of it; the
        // whole page is a safe over-approximation.
        if (first == second) return (0, PhysicalMemory.PageMask);
        return page == first ? (lo, PhysicalMemory.PageMask) : (0, hi);
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

    /// <summary>Translations (installed or being compiled) dropped because code under them was overwritten.</summary>
    public long TranslationsDropped { get; private set; }

    void Remove(DecodedBlock b)
    {
        b.Valid = false;
        if (b.Translation is not null || b.TranslatorData is not null) TranslationsDropped++;
        // Let go of the translation: if this block is the entry of a region, the region's surviving members still
        // list it in their Dependents, which would otherwise keep the dead translation and its native code alive.
        b.DropTranslation();
        InvalidatedBlocks++;
        blocks.Remove(Key(b.Phys, b.Mode));
        int fi = FrontIndex(b.Phys);
        if (ReferenceEquals(front[fi], b)) front[fi] = null;
        if (CurrentId == b.Id) cpu.ExitBlock = true;
        if (b.Dependents is { } dependents)
        {
            // Translations of regions that include this block's bytes are stale too; a write into the region
            // being run ends it after the current instruction, as a write into a single block does.
            foreach (var d in dependents)
            {
                if (d.Translation is not null || d.TranslatorData is not null) TranslationsDropped++;
                d.DropTranslation();
                if (CurrentId == d.Id) cpu.ExitBlock = true;
            }
            b.Dependents = null;
        }
        uint first = b.Phys >> PhysicalMemory.PageShift, second = b.LastPhys >> PhysicalMemory.PageShift;
        RemoveFromPage(first, b);
        if (b.Straddles && second != first) RemoveFromPage(second, b);
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
            if (CurrentId == b.Id) cpu.ExitBlock = true;
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
