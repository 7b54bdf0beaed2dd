using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace JitVm.Core;

/// <summary>
/// Guest physical memory: one page-aligned host array that holds RAM followed by ROM images, and a
/// page map that says, for each 4 KiB physical page of the 32-bit space, where its bytes live.
/// Unmapped pages read as open bus (all ones) and ignore writes.
/// </summary>
/// <remarks>
/// The CPU's TLB caches <see cref="HostOffset"/> results so its fast path indexes <see cref="Backing"/>
/// directly; writes to ROM pages and to pages that hold decoded code never get a writable TLB entry, so they
/// always come through <see cref="Write"/>, which is where ROM protection and self-modifying-code detection
/// happen.
/// </remarks>
public sealed class PhysicalMemory
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    public const uint PageMask = PageSize - 1;
    const int PageCount = 1 << (32 - PageShift);

    // Page kinds kept in pageKind[].
    const byte KindUnmapped = 0, KindRam = 1, KindRom = 2, KindMmio = 3;

    readonly int[] pageOffset = new int[PageCount];
    readonly byte[] pageKind = new byte[PageCount];
    /// <summary>Per page: the ROM image mapped there (kept while shadow RAM hides it), else -1.</summary>
    readonly int[] romOffset = new int[PageCount];
    /// <summary>Per page: where writes go when reads come from ROM but writes from shadow RAM (PAM "write only"), else -1.</summary>
    readonly int[] shadowWrite = new int[PageCount];
    /// <summary>Per page: the device behind an MMIO page.</summary>
    readonly IMmioHandler?[] mmio = new IMmioHandler?[PageCount];
    byte[] backing;
    /// <summary>Bytes of <see cref="backing"/> in use: RAM, then each ROM image mapped so far.</summary>
    int used;
    /// <summary>Spare room behind RAM (and behind the ROMs after a reallocation) for ROM images: a 256 KiB BIOS mapped twice, a VGA BIOS, option ROMs.</summary>
    const int RomReserve = 1 << 20;

    /// <summary>
    /// The most RAM a machine can have: RAM and the ROMs share one host array, and a .NET array holds less than
    /// 2 GiB (<see cref="Array.MaxLength"/>); 2 MiB below that leaves the ROMs their room.
    /// </summary>
    public const uint MaxRamBytes = (2u << 30) - (2u << 20);

    /// <summary>Tracks which bytes of RAM hold decoded code; consulted on every slow-path write.</summary>
    public CodePageTracker Code { get; }

    /// <summary>Raised after a change to the page map (ROM added, RAM resized), so TLBs can be flushed.</summary>
    public event Action? MapChanged;

    public PhysicalMemory(uint ramBytes)
    {
        if (ramBytes < PageSize || ramBytes > MaxRamBytes)
            throw new ArgumentOutOfRangeException(nameof(ramBytes), $"RAM size must be between 4 KiB and {MaxRamBytes >> 20} MiB");
        RamSize = (ramBytes + PageMask) & ~PageMask;
        // Pinned (allocated on the pinned object heap): translated code addresses it by a fixed host address. Room
        // for the usual ROMs is reserved behind RAM (pages never written are never touched, so it costs nothing):
        // mapping them then neither reallocates nor copies a RAM's worth of bytes, which at 256 MiB cost a boot
        // about half a second of page faults.
        backing = GC.AllocateArray<byte>((int)RamSize + RomReserve, pinned: true);
        used = (int)RamSize;
        Array.Fill(pageOffset, -1);
        Array.Fill(romOffset, -1);
        Array.Fill(shadowWrite, -1);
        for (uint p = 0; p < RamSize >> PageShift; p++)
        {
            pageOffset[p] = (int)(p << PageShift);
            pageKind[p] = KindRam;
        }
        Code = new CodePageTracker();
    }

    /// <summary>Bytes of RAM, starting at physical address 0.</summary>
    public uint RamSize { get; }

    /// <summary>
    /// The host array behind every mapped page. Indices come from <see cref="HostOffset"/>; bytes past the mapped
    /// ones are spare room for ROMs. It is pinned, so its address is stable for as long as it is the backing; mapping
    /// a ROM that does not fit in the spare room replaces it (and raises <see cref="MapChanged"/>).
    /// </summary>
    public byte[] Backing => backing;

    /// <summary>
    /// Maps a read-only image at <paramref name="physBase"/> (page aligned). The same image may be mapped at
    /// several addresses (the BIOS appears below 1 MiB and below 4 GiB); each call copies it once more.
    /// </summary>
    public void MapRom(uint physBase, ReadOnlySpan<byte> image)
    {
        if ((physBase & PageMask) != 0) throw new ArgumentException("ROM base must be page aligned", nameof(physBase));
        if (image.Length == 0) throw new ArgumentException("ROM image is empty", nameof(image));
        int pages = (image.Length + PageSize - 1) >> PageShift;
        if ((ulong)physBase + ((ulong)pages << PageShift) > 1UL << 32)
            throw new ArgumentException("ROM does not fit below 4 GiB", nameof(image));
        int start = used;
        long end = used + ((long)pages << PageShift);
        if (end > backing.Length)
        {
            if (end + RomReserve > Array.MaxLength) throw new ArgumentException("ROM images exceed the host array", nameof(image));
            var grown = GC.AllocateArray<byte>((int)end + RomReserve, pinned: true);
            backing.AsSpan(0, used).CopyTo(grown);
            backing = grown;
        }
        used = (int)end;
        image.CopyTo(backing.AsSpan(start));
        for (int i = 0; i < pages; i++)
        {
            uint page = (physBase >> PageShift) + (uint)i;
            pageOffset[page] = start + (i << PageShift);
            romOffset[page] = pageOffset[page];
            pageKind[page] = KindRom;
            mmio[page] = null;
            shadowWrite[page] = -1;
        }
        OnMapChanged();
    }

    /// <summary>
    /// Routes [<paramref name="physBase"/>, +<paramref name="length"/>) (page aligned) to a device: accesses there
    /// never get TLB entries and go to <paramref name="device"/> byte by byte (a VGA window, for instance).
    /// </summary>
    public void MapMmio(uint physBase, uint length, IMmioHandler device)
    {
        if ((physBase & PageMask) != 0 || (length & PageMask) != 0 || length == 0 || (ulong)physBase + length > 1UL << 32)
            throw new ArgumentException("MMIO range must be page aligned and inside 4 GiB");
        for (uint p = physBase >> PageShift; p < (physBase >> PageShift) + (length >> PageShift); p++)
        {
            pageOffset[p] = -1;
            pageKind[p] = KindMmio;
            mmio[p] = device;
            shadowWrite[p] = -1;
        }
        Code.InvalidateAll();
        OnMapChanged();
    }

    /// <summary>
    /// The chipset's shadow-RAM control (the i440FX PAM registers) for [<paramref name="physBase"/>,
    /// +<paramref name="length"/>) below 1 MiB: reads come from RAM or from the ROM mapped there (open bus if none),
    /// writes go to RAM or nowhere. Decoded code and TLB entries are dropped, since the bytes at these addresses change.
    /// </summary>
    public void SetShadow(uint physBase, uint length, bool readRam, bool writeRam)
    {
        if ((physBase & PageMask) != 0 || (length & PageMask) != 0 || (ulong)physBase + length > RamSize)
            throw new ArgumentException("shadow range must be page aligned and inside RAM");
        bool changed = false;
        for (uint p = physBase >> PageShift; p < (physBase + length) >> PageShift; p++)
        {
            int ram = (int)(p << PageShift);
            int read = readRam ? ram : romOffset[p];
            byte kind = readRam && writeRam ? KindRam : read < 0 ? KindUnmapped : KindRom;
            int write = !readRam && writeRam ? ram : -1;
            if (pageOffset[p] == read && pageKind[p] == kind && shadowWrite[p] == write) continue;
            pageOffset[p] = read;
            pageKind[p] = kind;
            shadowWrite[p] = write;
            mmio[p] = null;
            changed = true;
        }
        if (!changed) return;
        Code.InvalidateAll();
        OnMapChanged();
    }

    /// <summary>Offset into <see cref="Backing"/> of the page holding <paramref name="phys"/>, or -1 when unmapped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int HostOffset(uint phys) => pageOffset[phys >> PageShift];

    /// <summary>True when the page may be written through a cached host pointer: RAM that holds no decoded code.</summary>
    public bool IsDirectlyWritable(uint phys)
    {
        uint page = phys >> PageShift;
        return pageKind[page] == KindRam && !Code.PageHasCode(page);
    }

    public bool IsRam(uint phys) => pageKind[phys >> PageShift] == KindRam;

    /// <summary>
    /// The end of the run of plain RAM that starts at <paramref name="from"/> (page aligned): every page below it
    /// is RAM, with its bytes at the same offset in <see cref="Backing"/> as its physical address. Translated code
    /// compiled with paging off reads [from, end) straight from the backing; a change of the map (which raises
    /// <see cref="MapChanged"/>, dropping every translation) recomputes it.
    /// </summary>
    public uint RamRunEnd(uint from)
    {
        if (ramRunFrom == from && ramRunEnd != 0) return ramRunEnd;
        uint p = from >> PageShift;
        while (p < RamSize >> PageShift && pageKind[p] == KindRam && pageOffset[p] == (int)(p << PageShift)) p++;
        ramRunFrom = from;
        ramRunEnd = Math.Max(p << PageShift, from);
        return ramRunEnd;
    }

    uint ramRunFrom, ramRunEnd;

    void OnMapChanged()
    {
        ramRunEnd = 0;
        MapChanged?.Invoke();
    }

    /// <summary>
    /// Called the first time each unmapped page (no RAM, ROM or device) is read or written (with whether it was a
    /// write), e.g. to log it; reads there return all ones and writes are dropped either way.
    /// </summary>
    public Action<uint, bool>? UnmappedAccess { get; set; }

    readonly HashSet<uint> reportedPages = new();

    byte OpenBus(uint phys, bool write)
    {
        if (UnmappedAccess is { } report && reportedPages.Add(phys >> PageShift)) report(phys, write);
        return 0xFF;
    }

    public byte Read8(uint phys)
    {
        int off = pageOffset[phys >> PageShift];
        if (off >= 0) return backing[off + (int)(phys & PageMask)];
        return mmio[phys >> PageShift] is { } dev ? dev.Read8(phys) : OpenBus(phys, false);
    }

    public ushort Read16(uint phys)
    {
        if ((phys & PageMask) <= PageMask - 1)
        {
            int off = pageOffset[phys >> PageShift];
            if (off >= 0) return BinaryPrimitives.ReadUInt16LittleEndian(backing.AsSpan(off + (int)(phys & PageMask)));
            if (mmio[phys >> PageShift] is null) return (ushort)(OpenBus(phys, false) * 0x101);
        }
        return (ushort)(Read8(phys) | Read8(phys + 1) << 8);
    }

    public uint Read32(uint phys)
    {
        if ((phys & PageMask) <= PageMask - 3)
        {
            int off = pageOffset[phys >> PageShift];
            if (off >= 0) return BinaryPrimitives.ReadUInt32LittleEndian(backing.AsSpan(off + (int)(phys & PageMask)));
            if (mmio[phys >> PageShift] is null) return OpenBus(phys, false) * 0x01010101u;
        }
        return Read16(phys) | (uint)Read16(phys + 2) << 16;
    }

    /// <summary>
    /// The one write path for everything that does not own a writable TLB entry: ROM is left unchanged,
    /// unmapped space ignores the write, and a write over decoded code invalidates it first.
    /// </summary>
    public void Write(uint phys, uint value, int size)
    {
        for (int i = 0; i < size; i++)
        {
            uint a = phys + (uint)i;
            uint page = a >> PageShift;
            byte b = (byte)(value >> (8 * i));
            if (pageKind[page] != KindRam)
            {
                if (mmio[page] is { } dev) dev.Write8(a, b);
                else if (shadowWrite[page] >= 0) backing[shadowWrite[page] + (int)(a & PageMask)] = b;
                else if (pageKind[page] == KindUnmapped) OpenBus(a, true);
                continue;
            }
            if (Code.PageHasCode(page)) Code.OnWrite(a, 1);
            backing[pageOffset[page] + (int)(a & PageMask)] = b;
        }
    }

    public void Write8(uint phys, byte value) => Write(phys, value, 1);
    public void Write16(uint phys, ushort value) => Write(phys, value, 2);
    public void Write32(uint phys, uint value) => Write(phys, value, 4);

    /// <summary>Copies guest bytes out (unmapped bytes read as 0xFF).</summary>
    public void ReadBytes(uint phys, Span<byte> dest)
    {
        for (int i = 0; i < dest.Length; i++) dest[i] = Read8(phys + (uint)i);
    }

    /// <summary>Writes bytes in through the checked path (DMA, loaders, debuggers): ROM stays intact, code is invalidated.</summary>
    public void WriteBytes(uint phys, ReadOnlySpan<byte> src)
    {
        for (int i = 0; i < src.Length; i++) Write(phys + (uint)i, src[i], 1);
    }

    /// <summary>Writes into a ROM or RAM page regardless of protection (firmware loading); invalidates code.</summary>
    public void Poke(uint phys, ReadOnlySpan<byte> src)
    {
        for (int i = 0; i < src.Length; i++)
        {
            uint a = phys + (uint)i;
            int off = pageOffset[a >> PageShift];
            if (off < 0) throw new ArgumentOutOfRangeException(nameof(phys), $"physical address {a:X8} is not mapped");
            if (Code.PageHasCode(a >> PageShift)) Code.OnWrite(a, 1);
            backing[off + (int)(a & PageMask)] = src[i];
        }
    }

    /// <summary>Zeroes all of RAM (ROM stays) and forgets decoded code.</summary>
    public void ClearRam()
    {
        Code.InvalidateAll();
        Array.Clear(backing, 0, (int)RamSize);
    }

    // ---------------------------------------------------------------- snapshots

    const ushort StateVersion = 1;

    /// <summary>
    /// Writes section "MEM ": the page map (run-length coded: kind, host offset, ROM offset and shadow-write offset of
    /// each page; MMIO pages only as such, their devices being the machine's wiring) and the contents of the whole
    /// host array, RAM and ROM images alike. All-zero pages are left out (a bitmap says which pages follow), a page
    /// identical to an earlier one is a reference to it, and the rest are Deflate-compressed. Decoded-code marks are not saved: the caches are rebuilt after a load.
    /// </summary>
    public void SaveState(State.StateWriter w)
    {
        w.BeginSection("MEM ", StateVersion);
        w.WriteUInt32(RamSize);
        w.WriteInt32(used);
        // Page map runs: consecutive pages of one kind whose offsets each advance by a page (or stay -1).
        var runs = new List<(int Start, int Count)>();
        for (int p = 0; p < PageCount;)
        {
            int start = p++;
            if (pageKind[start] != KindMmio && pageOffset[start] < 0 && romOffset[start] < 0 && shadowWrite[start] < 0)
            {
                // Unmapped space (most of the 4 GiB): find the end of the run with vectorised searches.
                int end = PageCount;
                end = Math.Min(end, RunEnd(pageKind.AsSpan(start).IndexOfAnyExcept(pageKind[start]), start));
                end = Math.Min(end, RunEnd(pageOffset.AsSpan(start).IndexOfAnyExcept(-1), start));
                end = Math.Min(end, RunEnd(romOffset.AsSpan(start).IndexOfAnyExcept(-1), start));
                end = Math.Min(end, RunEnd(shadowWrite.AsSpan(start).IndexOfAnyExcept(-1), start));
                p = end;
            }
            else
                while (p < PageCount && pageKind[p] == pageKind[start] && ReferenceEquals(mmio[p], mmio[start]) &&
                       Continues(pageOffset, start, p) && Continues(romOffset, start, p) && Continues(shadowWrite, start, p)) p++;
            runs.Add((start, p - start));
        }
        w.WriteInt32(runs.Count);
        foreach (var (start, count) in runs)
        {
            w.WriteInt32(start);
            w.WriteInt32(count);
            w.WriteByte(pageKind[start]);
            w.WriteInt32(pageOffset[start]);
            w.WriteInt32(romOffset[start]);
            w.WriteInt32(shadowWrite[start]);
        }
        // Contents: a bitmap of the host array's non-zero pages, then those pages compressed.
        int pages = used >> PageShift;
        var bitmap = new byte[(pages + 7) / 8];
        for (int p = 0; p < pages; p++)
            if (backing.AsSpan(p << PageShift, PageSize).ContainsAnyExcept((byte)0)) bitmap[p >> 3] |= (byte)(1 << (p & 7));
        w.WriteBytes(bitmap);
        // A page identical to an earlier one (the BIOS's low alias of its ROM, its shadow copy in RAM) is written as a
        // reference to that page, not again.
        var duplicates = new List<(int Page, int Source)>();
        var firstWithHash = new Dictionary<ulong, int>();
        for (int p = 0; p < pages; p++)
        {
            if ((bitmap[p >> 3] & (1 << (p & 7))) == 0) continue;
            var page = backing.AsSpan(p << PageShift, PageSize);
            ulong hash = PageHash(page);
            if (firstWithHash.TryGetValue(hash, out int source) && page.SequenceEqual(backing.AsSpan(source << PageShift, PageSize)))
                duplicates.Add((p, source));
            else firstWithHash.TryAdd(hash, p);
        }
        w.WriteInt32(duplicates.Count);
        foreach (var (page, source) in duplicates)
        {
            w.WriteInt32(page);
            w.WriteInt32(source);
        }
        using var compressed = new MemoryStream();
        using (var deflate = new System.IO.Compression.DeflateStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            int d = 0;
            for (int p = 0; p < pages; p++)
            {
                if ((bitmap[p >> 3] & (1 << (p & 7))) == 0) continue;
                if (d < duplicates.Count && duplicates[d].Page == p) { d++; continue; }
                deflate.Write(backing, p << PageShift, PageSize);
            }
        }
        w.WriteInt64(compressed.Length);
        w.WriteBytes(compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        w.EndSection();
    }

    /// <summary>A 64-bit hash of a page's contents (to find identical pages; equality is checked byte for byte).</summary>
    static ulong PageHash(ReadOnlySpan<byte> page)
    {
        ulong h = 0x9E3779B97F4A7C15;
        foreach (ulong v in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(page)) h = (h ^ v) * 0x100000001B3 + (h >> 29);
        return h;
    }

    static int RunEnd(int found, int start) => found < 0 ? PageCount : start + found;

    static bool Continues(int[] offsets, int start, int p) =>
        offsets[start] < 0 ? offsets[p] == offsets[start] : offsets[p] == offsets[start] + ((p - start) << PageShift);

    /// <summary>
    /// Reads what <see cref="SaveState"/> wrote into memory built the same way (same RAM size, the same ROM images
    /// mapped, the same MMIO ranges): every page map entry is checked before anything changes. Then the decoded-code
    /// marks are dropped (every block cache and translation is invalidated) and <see cref="MapChanged"/> is raised.
    /// </summary>
    public void LoadState(State.StateReader r)
    {
        r.BeginSection("MEM ", StateVersion);
        uint ram = r.ReadUInt32("ram size");
        if (ram != RamSize) throw r.Invalid("ram size", $"the snapshot has {ram} bytes of RAM, this machine {RamSize}");
        int hostBytes = r.ReadInt32("host array length");
        if (hostBytes != used) throw r.Invalid("host array length", $"the snapshot's RAM and ROM images take {hostBytes} bytes, this machine's {used} (different firmware?)");
        int runCount = r.ReadInt32("page map runs", 1, PageCount);
        var runs = new List<(int Start, int Count, byte Kind, int Offset, int Rom, int Shadow)>();
        int next = 0;
        for (int i = 0; i < runCount; i++)
        {
            int start = r.ReadInt32("run start", next, next);
            int count = r.ReadInt32("run length", 1, PageCount - start);
            byte kind = r.ReadByte("page kind", KindUnmapped, KindMmio);
            int off = ReadOffset(r, "host offset", count), rom = ReadOffset(r, "rom offset", count), shadow = ReadOffset(r, "shadow write offset", count);
            if ((kind is KindRam or KindRom) != (off >= 0)) throw r.Invalid("host offset", $"a page of kind {kind} {(off >= 0 ? "cannot have" : "needs")} a host offset");
            var kinds = pageKind.AsSpan(start, count);
            int wrong = kind == KindMmio ? kinds.IndexOfAnyExcept(KindMmio) : kinds.IndexOf(KindMmio);
            if (wrong >= 0)
                throw r.Invalid("page kind", $"page {start + wrong:X5} is {(kind == KindMmio ? "" : "not ")}device memory in the snapshot but {(kind == KindMmio ? "is not" : "is")} on this machine");
            runs.Add((start, count, kind, off, rom, shadow));
            next = start + count;
        }
        if (next != PageCount) throw r.Invalid("page map runs", $"the runs cover {next} pages, not {PageCount}");
        int pages = used >> PageShift;
        var bitmap = new byte[(pages + 7) / 8];
        r.ReadBytes("non-zero page bitmap", bitmap);
        int stored = 0;
        for (int p = 0; p < pages; p++)
            if ((bitmap[p >> 3] & (1 << (p & 7))) != 0) stored++;
        if ((pages & 7) != 0 && bitmap[^1] >> (pages & 7) != 0) throw r.Invalid("non-zero page bitmap", "bits set past the last page");
        // Duplicates: in ascending page order, each a listed page copying an earlier listed page that is not a duplicate.
        int dupCount = r.ReadInt32("duplicate pages", 0, stored);
        var duplicates = new (int Page, int Source)[dupCount];
        var isDuplicate = new HashSet<int>();
        for (int i = 0; i < dupCount; i++)
        {
            int page = r.ReadInt32("duplicate page", i == 0 ? 0 : duplicates[i - 1].Page + 1, pages - 1);
            int source = r.ReadInt32("duplicate source", 0, page - 1);
            if ((bitmap[page >> 3] & (1 << (page & 7))) == 0 || (bitmap[source >> 3] & (1 << (source & 7))) == 0)
                throw r.Invalid("duplicate page", $"page {page} or its source {source} is not in the non-zero bitmap");
            if (isDuplicate.Contains(source)) throw r.Invalid("duplicate source", $"page {source} is itself a duplicate");
            duplicates[i] = (page, source);
            isDuplicate.Add(page);
        }
        long packed = r.ReadInt64("compressed length", 0, r.Remaining);
        var data = r.ReadSpan("compressed pages", (int)packed).ToArray();
        r.EndSection();

        // Decompress into a scratch copy first, so corrupt data leaves memory as it was.
        var contents = GC.AllocateUninitializedArray<byte>((stored - dupCount) * PageSize);
        try
        {
            using var inflate = new System.IO.Compression.DeflateStream(new MemoryStream(data), System.IO.Compression.CompressionMode.Decompress);
            inflate.ReadExactly(contents);
            if (inflate.ReadByte() >= 0) throw new State.SnapshotFormatException("snapshot section MEM: the compressed pages hold more data than the bitmap lists");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new State.SnapshotFormatException($"snapshot section MEM: the compressed pages are corrupt or truncated ({e.Message})", e);
        }
        int from = 0;
        for (int p = 0; p < pages; p++)
        {
            var page = backing.AsSpan(p << PageShift, PageSize);
            if ((bitmap[p >> 3] & (1 << (p & 7))) == 0) page.Clear();
            else if (!isDuplicate.Contains(p))
            {
                contents.AsSpan(from, PageSize).CopyTo(page);
                from += PageSize;
            }
        }
        foreach (var (page, source) in duplicates)
            backing.AsSpan(source << PageShift, PageSize).CopyTo(backing.AsSpan(page << PageShift, PageSize));
        foreach (var (start, count, kind, off, rom, shadow) in runs)
        {
            if (kind == KindMmio) continue;
            if (off < 0 && rom < 0 && shadow < 0)
            {
                pageKind.AsSpan(start, count).Fill(kind);
                pageOffset.AsSpan(start, count).Fill(-1);
                romOffset.AsSpan(start, count).Fill(-1);
                shadowWrite.AsSpan(start, count).Fill(-1);
                continue;
            }
            for (int p = start; p < start + count; p++)
            {
                int k = (p - start) << PageShift;
                pageKind[p] = kind;
                pageOffset[p] = off < 0 ? -1 : off + k;
                romOffset[p] = rom < 0 ? -1 : rom + k;
                shadowWrite[p] = shadow < 0 ? -1 : shadow + k;
            }
        }
        Code.InvalidateAll();
        OnMapChanged();
    }

    /// <summary>A host array offset for <paramref name="pages"/> consecutive pages: -1, or page aligned and inside the array.</summary>
    int ReadOffset(State.StateReader r, string field, int pages)
    {
        int off = r.ReadInt32(field);
        if (off == -1) return off;
        if (off < 0 || (off & PageMask) != 0 || (long)off + ((long)pages << PageShift) > used)
            throw r.Invalid(field, $"offset {off} is not page aligned inside the {used}-byte host array");
        return off;
    }
}

/// <summary>A device mapped into physical memory (<see cref="PhysicalMemory.MapMmio"/>), accessed a byte at a time.</summary>
public interface IMmioHandler
{
    byte Read8(uint phys);
    void Write8(uint phys, byte value);
}
