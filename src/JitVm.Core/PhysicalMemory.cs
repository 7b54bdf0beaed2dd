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
    int used;

    /// <summary>Tracks which bytes of RAM hold decoded code; consulted on every slow-path write.</summary>
    public CodePageTracker Code { get; }

    /// <summary>Raised after a change to the page map (ROM added, RAM resized), so TLBs can be flushed.</summary>
    public event Action? MapChanged;

    public PhysicalMemory(uint ramBytes)
    {
        if (ramBytes < PageSize || ramBytes > 3u << 30)
            throw new ArgumentOutOfRangeException(nameof(ramBytes), "RAM size must be between 4 KiB and 3 GiB");
        RamSize = (ramBytes + PageMask) & ~PageMask;
        // Pinned (allocated on the pinned object heap): translated code addresses it by a fixed host address.
        backing = GC.AllocateArray<byte>((int)RamSize, pinned: true);
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
    /// The host array behind every mapped page. Indices come from <see cref="HostOffset"/>. It is pinned, so its
    /// address is stable for as long as it is the backing; mapping a ROM replaces it (and raises <see cref="MapChanged"/>).
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
        var grown = GC.AllocateArray<byte>(used + (pages << PageShift), pinned: true);
        backing.AsSpan(0, used).CopyTo(grown);
        backing = grown;
        used += pages << PageShift;
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
        MapChanged?.Invoke();
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
        MapChanged?.Invoke();
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
        MapChanged?.Invoke();
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
}

/// <summary>A device mapped into physical memory (<see cref="PhysicalMemory.MapMmio"/>), accessed a byte at a time.</summary>
public interface IMmioHandler
{
    byte Read8(uint phys);
    void Write8(uint phys, byte value);
}
