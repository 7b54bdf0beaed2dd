using System.Buffers.Binary;
using System.Text;
using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// QEMU's firmware configuration device (docs/specs/fw_cfg.rst), x86 I/O port flavour: selector at 0x510 (16-bit
/// write), data at 0x511 (8-bit read) and the DMA address register at 0x514–0x51B (64-bit big-endian).
/// </summary>
/// <remarks>
/// <para>Items are blobs addressed by a 16-bit key. Writing the selector picks an item and resets the data offset to
/// 0; each data-port read returns the byte at the offset and advances it; reads past the end of the item, or of an
/// item that does not exist, return 0. Bit 14 of the selector (write mode) is ignored for lookup, and data-port writes
/// have no effect (as in QEMU since 2.4). Bit 15 selects the architecture-specific keys, stored like any other.</para>
/// <para>Standard items: <see cref="SignatureKey"/> = "QEMU", <see cref="IdKey"/> = 3 (bit 0 traditional interface,
/// bit 1 DMA), <see cref="FileDirKey"/> = the file directory: a big-endian 32-bit count, then per file a 64-byte entry
/// (BE32 size, BE16 selector, 2 reserved bytes, 56-byte NUL-padded name). <see cref="AddFile"/> assigns selectors
/// from 0x0020 up. SeaBIOS finds its inputs there by name — chiefly "etc/e820" (the memory map, see
/// <see cref="SetE820"/>) and "bootorder" — besides the numeric items <see cref="RamSizeKey"/>,
/// <see cref="NbCpusKey"/> and <see cref="MaxCpusKey"/>.</para>
/// <para>DMA: the guest writes the guest-physical address of a 16-byte FWCfgDmaAccess structure (BE32 control, BE32
/// length, BE64 address) to 0x514 (high half) and 0x518 (low half); the write of the last byte (0x51B) starts the
/// transfer, which completes synchronously, after which the address register reads as 0 again (so a guest may write
/// only the low half). Control bits: 0 error, 1 read, 2 skip, 3 select (selector in bits 31:16), 4 write. Select
/// is applied first, then one of read (copy <c>length</c> bytes from the item at the current offset into guest
/// memory, zeros past the end), write or skip (advance the offset), in that priority. On completion the control
/// field is rewritten as 0, or as the error bit alone when the transfer failed: writes (no item is writable here),
/// or a read whose destination is not entirely inside RAM (guest memory is then left untouched). A descriptor that
/// is itself not inside RAM is ignored, since there is nowhere to report to. Reading the DMA register returns the
/// signature "QEMU CFG", byte by byte.</para>
/// </remarks>
public sealed class FwCfg : IIoDevice
{
    /// <summary>Selector port (16-bit write).</summary>
    public const ushort SelectorPort = 0x510;

    /// <summary>Data port (8-bit read).</summary>
    public const ushort DataPort = 0x511;

    /// <summary>First port of the 8-byte DMA address register (0x514 high half, 0x518 low half).</summary>
    public const ushort DmaPort = 0x514;

    /// <summary>Well-known item keys.</summary>
    public const ushort SignatureKey = 0x0000, IdKey = 0x0001, RamSizeKey = 0x0003, NbCpusKey = 0x0005,
        MaxCpusKey = 0x000F, FileDirKey = 0x0019, FirstFileKey = 0x0020;

    /// <summary>DMA control bits.</summary>
    public const uint DmaError = 0x01, DmaRead = 0x02, DmaSkip = 0x04, DmaSelect = 0x08, DmaWrite = 0x10;

    /// <summary>Maximum file name length, NUL excluded (the directory entry has 56 bytes).</summary>
    public const int MaxFileName = 55;

    const ushort WriteModeBit = 0x4000;
    const ushort LastFileKey = 0x3FFF;
    static readonly byte[] DmaSignature = "QEMU CFG"u8.ToArray();

    readonly PhysicalMemory memory;
    readonly Dictionary<ushort, byte[]> items = new();
    readonly List<(string Name, ushort Key)> files = new();
    readonly byte[] dmaAddress = new byte[8];
    ushort selector;
    ulong offset;

    /// <summary>Creates the device with the signature, ID, CPU counts and an empty file directory.</summary>
    /// <param name="memory">Guest memory the DMA interface reads descriptors from and copies items into.</param>
    public FwCfg(PhysicalMemory memory)
    {
        this.memory = memory;
        AddItem(SignatureKey, "QEMU"u8.ToArray());
        AddItem(IdKey, [3, 0, 0, 0]);
        AddItem(NbCpusKey, [1, 0]);
        AddItem(MaxCpusKey, [1, 0]);
        SetRamSize(memory.RamSize);
        RebuildDirectory();
    }

    /// <summary>Registers the selector/data ports (0x510–0x511) and the DMA address register (0x514–0x51B).</summary>
    public void Attach(IoBus io)
    {
        io.Register(SelectorPort, 2, this, acceptsWide: true);
        io.Register(DmaPort, 8, this, acceptsWide: true);
    }

    /// <summary>Selects the signature item at offset 0 and clears the DMA address register. Items are kept.</summary>
    public void Reset()
    {
        selector = SignatureKey;
        offset = 0;
        Array.Clear(dmaAddress);
    }

    /// <summary>Sets (or replaces) the item at <paramref name="key"/> (bit 14, the write-mode bit, is ignored).</summary>
    public void AddItem(ushort key, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        items[(ushort)(key & ~WriteModeBit)] = data;
    }

    /// <summary>
    /// Adds a named file (or replaces the contents of an existing one, keeping its selector) and lists it in the
    /// file directory. Returns its selector.
    /// </summary>
    public ushort AddFile(string name, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) > MaxFileName)
            throw new ArgumentException($"fw_cfg file names are 1 to {MaxFileName} bytes", nameof(name));
        int existing = files.FindIndex(f => f.Name == name);
        ushort key;
        if (existing >= 0) key = files[existing].Key;
        else
        {
            if (FirstFileKey + files.Count > LastFileKey) throw new InvalidOperationException("fw_cfg file selectors exhausted");
            key = (ushort)(FirstFileKey + files.Count);
            files.Add((name, key));
        }
        items[key] = data;
        RebuildDirectory();
        return key;
    }

    /// <summary>FW_CFG_RAM_SIZE (0x0003): RAM size in bytes, little-endian 64-bit.</summary>
    public void SetRamSize(ulong bytes)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, bytes);
        AddItem(RamSizeKey, b);
    }

    /// <summary>
    /// Produces the file "etc/e820" that SeaBIOS reads for the memory map: one 20-byte entry per region
    /// (LE64 address, LE64 length, LE32 type: 1 RAM, 2 reserved, 3 ACPI, 4 NVS).
    /// </summary>
    public void SetE820(IEnumerable<(ulong Address, ulong Length, uint Type)> entries)
    {
        var list = entries.ToList();
        var b = new byte[20 * list.Count];
        for (int i = 0; i < list.Count; i++)
        {
            var s = b.AsSpan(20 * i);
            BinaryPrimitives.WriteUInt64LittleEndian(s, list[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], list[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(s[16..], list[i].Type);
        }
        AddFile("etc/e820", b);
    }

    void RebuildDirectory()
    {
        var dir = new byte[4 + 64 * files.Count];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)files.Count);
        for (int i = 0; i < files.Count; i++)
        {
            var e = dir.AsSpan(4 + 64 * i, 64);
            BinaryPrimitives.WriteUInt32BigEndian(e, (uint)items[files[i].Key].Length);
            BinaryPrimitives.WriteUInt16BigEndian(e[4..], files[i].Key);
            Encoding.UTF8.GetBytes(files[i].Name, e[8..]);
        }
        items[FileDirKey] = dir;
    }

    void Select(ushort key)
    {
        selector = (ushort)(key & ~WriteModeBit);
        offset = 0;
    }

    /// <summary>The next data byte of the selected item (0 past its end) and advance.</summary>
    byte ReadData()
    {
        byte v = items.TryGetValue(selector, out var d) && offset < (ulong)d.Length ? d[(int)offset] : (byte)0;
        Advance(1);
        return v;
    }

    public uint In(ushort port, int size)
    {
        uint v = 0;
        for (int i = 0; i < size; i++)
        {
            int p = port + i;
            uint b = p == DataPort ? ReadData()
                : p is >= DmaPort and < DmaPort + 8 ? DmaSignature[p - DmaPort]
                : 0xFFu;                                   // selector (write-only) and unclaimed neighbours
            v |= b << (8 * i);
        }
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port == SelectorPort)
        {
            if (size == 2) Select((ushort)value);          // the selector is a 16-bit register; other widths are ignored
            return;
        }
        if (port is < DmaPort or >= DmaPort + 8) return;   // data-port writes have no effect
        bool trigger = false;
        for (int i = 0; i < size; i++)
        {
            int k = port - DmaPort + i;
            if (k > 7) break;
            dmaAddress[k] = (byte)(value >> (8 * i));      // byte k of the big-endian register
            if (k == 7) trigger = true;
        }
        if (!trigger) return;
        ulong descriptor = BinaryPrimitives.ReadUInt64BigEndian(dmaAddress);
        Array.Clear(dmaAddress);
        RunDma(descriptor);
    }

    bool InRam(ulong address, ulong length) => address <= memory.RamSize && length <= memory.RamSize - address;

    void RunDma(ulong descriptor)
    {
        if (!InRam(descriptor, 16)) return;
        uint at = (uint)descriptor;
        Span<byte> desc = stackalloc byte[16];
        memory.ReadBytes(at, desc);
        uint control = BinaryPrimitives.ReadUInt32BigEndian(desc);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(desc[4..]);
        ulong address = BinaryPrimitives.ReadUInt64BigEndian(desc[8..]);

        bool error = false;
        if ((control & DmaSelect) != 0) Select((ushort)(control >> 16));
        if ((control & DmaRead) != 0)
        {
            if (!InRam(address, length)) error = true;
            else CopyOut((uint)address, length);
        }
        else if ((control & DmaWrite) != 0) error = true;  // no item accepts writes
        else if ((control & DmaSkip) != 0) Advance(length);

        Span<byte> done = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(done, error ? DmaError : 0);
        memory.WriteBytes(at, done);
    }

    /// <summary>Copies <paramref name="length"/> bytes of the selected item from the current offset to guest
    /// memory (zeros past the end of the item) and advances the offset.</summary>
    void CopyOut(uint address, uint length)
    {
        items.TryGetValue(selector, out var d);
        d ??= [];
        uint done = 0;
        if (offset < (ulong)d.Length)
        {
            uint n = (uint)Math.Min(length, (ulong)d.Length - offset);
            memory.WriteBytes(address, d.AsSpan((int)offset, (int)n));
            done = n;
        }
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (done < length)
        {
            uint n = Math.Min(length - done, (uint)zeros.Length);
            memory.WriteBytes(address + done, zeros[..(int)n]);
            done += n;
        }
        Advance(length);
    }

    /// <summary>Moves the data offset forward, saturating (it only has to stay past the end of every item).</summary>
    void Advance(ulong n) => offset = offset + n < offset ? ulong.MaxValue : offset + n;

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "FWCF": the selected item, the data offset and the DMA address register, and a SHA-256 of every
    /// item (keys and contents). The items themselves are the machine's configuration (memory map, VGA BIOS, ...), built
    /// again with it, so they are compared rather than stored.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("FWCF", 1);
        w.WriteUInt16(selector);
        w.WriteUInt64(offset);
        w.WriteBytes(dmaAddress);
        w.WriteBytes(ItemsDigest());
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote; refuses a machine whose items differ.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("FWCF", 1);
        ushort sel = r.ReadUInt16("selector");
        if ((sel & WriteModeBit) != 0) throw r.Invalid("selector", "the write-mode bit is never kept");
        ulong off = r.ReadUInt64("offset");
        Span<byte> dma = stackalloc byte[8];
        r.ReadBytes("dma address", dma);
        Span<byte> digest = stackalloc byte[32];
        r.ReadBytes("items digest", digest);
        if (!digest.SequenceEqual(ItemsDigest()))
            throw r.Invalid("items digest", "this machine's firmware configuration items differ from the snapshot's (another memory size, VGA BIOS or file set)");
        r.EndSection();
        selector = sel;
        offset = off;
        dma.CopyTo(dmaAddress);
    }

    byte[] ItemsDigest()
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Span<byte> head = stackalloc byte[6];
        foreach (var (key, data) in items.OrderBy(i => i.Key))
        {
            BinaryPrimitives.WriteUInt16LittleEndian(head, key);
            BinaryPrimitives.WriteInt32LittleEndian(head[2..], data.Length);
            sha.AppendData(head);
            sha.AppendData(data);
        }
        return sha.GetHashAndReset();
    }
}
