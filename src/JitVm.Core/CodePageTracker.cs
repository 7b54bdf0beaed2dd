namespace JitVm.Core;

/// <summary>
/// Receives notice that decoded code covering physical bytes has been overwritten.
/// Implemented by the decoded-block cache (and later the translation cache).
/// </summary>
public interface ICodeInvalidationSink
{
    /// <summary>Bytes [<paramref name="phys"/>, <paramref name="phys"/>+<paramref name="length"/>) changed; drop every block covering them.</summary>
    void InvalidateCode(uint phys, int length);

    /// <summary>Everything was invalidated at once.</summary>
    void InvalidateAllCode();
}

/// <summary>
/// Which physical bytes hold decoded code, at 64-byte granularity within each 4 KiB page.
/// A page with any code bit set is not directly writable through the TLB; a write into a chunk
/// without code costs only the slow path, a write into a chunk with code invalidates its blocks.
/// </summary>
public sealed class CodePageTracker
{
    public const int ChunkShift = 6;
    // One 64-bit mask per physical page: bit n set = bytes [64n, 64n+63] of the page back decoded code.
    readonly ulong[] chunks = new ulong[1 << (32 - PhysicalMemory.PageShift)];
    int codePages;
    readonly List<ICodeInvalidationSink> sinks = new();

    /// <summary>Raised when a page turns from data-only into a code page: writable TLB entries for it must go.</summary>
    public event Action<uint>? PageBecameCode;

    /// <summary>Number of invalidation events delivered (for statistics).</summary>
    public long Invalidations { get; private set; }

    public void AddSink(ICodeInvalidationSink sink) => sinks.Add(sink);

    public bool PageHasCode(uint page) => chunks[page] != 0;

    /// <summary>Records that [phys, phys+length) now backs decoded code.</summary>
    public void MarkCode(uint phys, int length)
    {
        if (length <= 0) return;
        uint end = phys + (uint)length - 1;
        for (uint page = phys >> PhysicalMemory.PageShift; page <= end >> PhysicalMemory.PageShift; page++)
        {
            uint pageStart = page << PhysicalMemory.PageShift;
            uint lo = Math.Max(phys, pageStart) & PhysicalMemory.PageMask;
            uint hi = Math.Min(end, pageStart + PhysicalMemory.PageMask) & PhysicalMemory.PageMask;
            ulong bits = ChunkBits(lo, hi);
            ulong old = chunks[page];
            chunks[page] = old | bits;
            if (old == 0)
            {
                codePages++;
                PageBecameCode?.Invoke(page);
            }
            if (page == uint.MaxValue >> PhysicalMemory.PageShift) break;
        }
    }

    static ulong ChunkBits(uint lo, uint hi)
    {
        int a = (int)(lo >> ChunkShift), b = (int)(hi >> ChunkShift);
        ulong upper = b == 63 ? ulong.MaxValue : (1UL << (b + 1)) - 1;
        return upper & ~((1UL << a) - 1);
    }

    /// <summary>A write landed on a code page; invalidate when it touches a chunk that holds code.</summary>
    public void OnWrite(uint phys, int length)
    {
        uint page = phys >> PhysicalMemory.PageShift;
        ulong bits = chunks[page];
        if (bits == 0) return;
        uint lo = phys & PhysicalMemory.PageMask;
        uint hi = Math.Min(lo + (uint)length - 1, PhysicalMemory.PageMask);
        if ((bits & ChunkBits(lo, hi)) == 0) return;
        Invalidations++;
        foreach (var s in sinks) s.InvalidateCode(phys, length);
    }

    /// <summary>Called by the cache once a chunk holds no more blocks.</summary>
    public void ClearChunks(uint page, ulong chunkBits)
    {
        ulong bits = chunks[page];
        if (bits == 0) return;
        chunks[page] = bits & ~chunkBits;
        if (chunks[page] == 0) codePages--;
    }

    /// <summary>Number of physical pages currently holding decoded code (diagnostics).</summary>
    public int CodePageCount => codePages;

    /// <summary>The chunk mask of one page (bit n = bytes 64n..64n+63 hold code).</summary>
    public ulong ChunkMask(uint page) => chunks[page];

    public void InvalidateAll()
    {
        Array.Clear(chunks);
        codePages = 0;
        foreach (var s in sinks) s.InvalidateAllCode();
    }

}
