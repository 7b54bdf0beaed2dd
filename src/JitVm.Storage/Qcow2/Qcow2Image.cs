using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using JitVm.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace JitVm.Storage;

/// <summary>
/// A qcow2 image (versions 2 and 3, QEMU docs/interop/qcow2.txt): a two-level table (L1 → L2 → data cluster) maps
/// guest clusters to host clusters; unallocated clusters read from the backing image (or as zeros); 16-bit refcounts
/// track host cluster use. Writes allocate clusters at the end of the file, copying the rest of a partially written
/// cluster from its previous contents, and update metadata in the order data → refcount → L2 → L1 so an interrupted
/// update can only leak clusters. A full refcount table is replaced by a larger one and a grown disk may move the L1
/// table, both by writing the new table, switching the header to it and then freeing the old one. Limits: internal
/// snapshots (read-only), encryption, external data files, non-zlib compression and extended L2 entries are refused;
/// only refcount_order 4 is supported. Accesses are serialised by a lock.
/// </summary>
public sealed class Qcow2Image : DiskImage
{
    const uint QcowMagic = 0x514649FB; // 'Q' 'F' 'I' 0xfb
    /// <summary>Longest backing chain opened (this image plus backing images).</summary>
    public const int MaxBackingDepth = 16;
    const long MaxL1Bytes = 32L << 20;        // as qemu's QCOW_MAX_L1_SIZE
    const long MaxSize = 1L << 55;            // largest size field accepted
    const long MaxRefTableBytes = 8L << 20;   // as qemu's QCOW_MAX_REFTABLE_SIZE
    const int MaxSnapshots = 65536;
    const int MaxBackingNameLength = 1023;
    const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00UL; // bits 9-55 of L1/L2/refcount-table entries
    const ulong CopiedFlag = 1UL << 63, CompressedFlag = 1UL << 62, ZeroFlag = 1UL;
    const uint ExtEnd = 0, ExtBackingFormat = 0xE2792ACA, ExtExternalData = 0x44415441, ExtEncryption = 0x0537BE77;

    [ThreadStatic] static List<string>? openChain;

    readonly ImageFile file;
    readonly string path;
    readonly bool readOnly;
    readonly Lock gate = new();

    int version, clusterBits, l2Entries;
    long clusterSize, size, l1Offset, refTableOffset, rbEntries, fileEnd;
    ulong[] l1 = [], refTable = [];
    readonly List<(long Offset, int Size)> snapshotL1s = [];
    long snapshotsOffset, snapshotsBytes;
    string? backingName, backingFormat;
    DiskImage? backing;
    readonly Dictionary<long, ulong[]> l2Cache = [];
    int l2CacheLimit;
    ulong inflatedEntry;
    bool dirty;
    byte[]? inflated, zeroCluster, cowBuffer;
    bool disposed;

    Qcow2Image(ImageFile file, string path, bool readOnly)
    {
        this.file = file;
        this.path = path;
        this.readOnly = readOnly;
    }

    /// <inheritdoc/>
    public override string Format => "qcow2";
    /// <inheritdoc/>
    public override long Length => size;
    /// <inheritdoc/>
    public override bool ReadOnly => readOnly;
    /// <inheritdoc/>
    public override string Path => path;
    /// <inheritdoc/>
    public override DiskImage? Backing => backing;
    /// <summary>Format version (2 or 3).</summary>
    public int Version => version;
    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => (int)clusterSize;
    /// <summary>The backing file name as stored in the header (unresolved), or null.</summary>
    public string? BackingFileName => backingName;

    /// <summary>Host file length (all clusters written, data and metadata).</summary>
    public override long AllocatedBytes
    {
        get
        {
            lock (gate) return disposed ? 0 : file.Length;
        }
    }

    static ImageFormatException Bad(string message) => new(message);

    void ThrowIfDisposed()
    {
        if (disposed) throw new BlockDeviceException($"'{path}' has been closed");
    }

    /// <summary>
    /// When set, the host file is synced (fsync) after a newly allocated cluster and its refcount are written and
    /// before the L2/L1 entry that references it, so even a host crash can only leak clusters. When clear (the
    /// default, faster), the update order is the same and survives a crash of this process; durability across a
    /// host crash is guaranteed for everything written before the last <see cref="Flush"/>.
    /// </summary>
    public bool SyncMetadataWrites { get; set; }

    void Barrier()
    {
        if (SyncMetadataWrites) file.Flush();
    }

    /// <summary>
    /// Opens a qcow2 image. The backing file (if any) is resolved relative to this image's directory and opened
    /// read-only through <paramref name="openBacking"/> (default: the backing format header extension, else qcow2 if
    /// its magic matches, else raw); chains deeper than <see cref="MaxBackingDepth"/> or looping are refused.
    /// </summary>
    /// <exception cref="ImageFormatException">A header field is malformed or names an unsupported feature.</exception>
    /// <exception cref="BlockDeviceException">The file cannot be opened or read.</exception>
    public static Qcow2Image Open(string path, bool readOnly, Func<string, bool, DiskImage>? openBacking = null)
    {
        ImageFile f;
        try
        {
            f = HandleImageFile.Open(path, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new BlockDeviceException($"cannot open qcow2 image '{path}': {e.Message}", e);
        }
        return Open(f, System.IO.Path.GetFullPath(path), readOnly, openBacking);
    }

    /// <summary>
    /// Opens the qcow2 image held in <paramref name="f"/> (which the image then owns); <paramref name="path"/> names it
    /// in messages, for backing-file resolution and loop detection.
    /// </summary>
    internal static Qcow2Image Open(ImageFile f, string path, bool readOnly, Func<string, bool, DiskImage>? openBacking = null)
    {
        string canonical;
        try
        {
            canonical = Canonical(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            f.Dispose();
            throw new ImageFormatException($"qcow2 image '{path}': bad path: {e.Message}", e);
        }
        var chain = openChain ??= [];
        if (chain.Contains(canonical))
        {
            f.Dispose();
            throw Bad($"backing file: loop in the backing chain at '{canonical}'");
        }
        if (chain.Count >= MaxBackingDepth)
        {
            f.Dispose();
            throw Bad($"backing file: backing chain deeper than {MaxBackingDepth} images at '{canonical}'");
        }
        chain.Add(canonical);
        var img = new Qcow2Image(f, path, readOnly);
        try
        {
            img.Load(openBacking);
            return img;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            img.Dispose();
            throw new ImageFormatException($"qcow2 image '{path}': metadata cannot be read: {e.Message}", e);
        }
        catch
        {
            img.Dispose();
            throw;
        }
        finally
        {
            chain.RemoveAt(chain.Count - 1);
        }
    }

    static string Canonical(string p)
    {
        string full = System.IO.Path.GetFullPath(p);
        try
        {
            var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true);
            return target?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }

    /// <summary>True if the file starts with the qcow2 magic.</summary>
    public static bool Probe(string path)
    {
        try
        {
            using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Span<byte> m = stackalloc byte[4];
            return RandomAccess.Read(h, m, 0) == 4 && BinaryPrimitives.ReadUInt32BigEndian(m) == QcowMagic;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    void ReadExact(long pos, Span<byte> dst) => file.ReadExactly(pos, dst);

    void Load(Func<string, bool, DiskImage>? openBacking)
    {
        long len = file.Length;
        if (len < 72) throw Bad($"header: file is {len} bytes, shorter than a qcow2 header");
        var hdr = new byte[Math.Min(len, 4096)];
        ReadExact(0, hdr);
        uint U32(int o) => BinaryPrimitives.ReadUInt32BigEndian(hdr.AsSpan(o));
        ulong U64(int o) => BinaryPrimitives.ReadUInt64BigEndian(hdr.AsSpan(o));

        if (U32(0) != QcowMagic) throw Bad("magic: not a qcow2 image (expected 'QFI\\xfb')");
        uint ver = U32(4);
        if (ver is not (2 or 3)) throw Bad($"version: {ver} is not supported (2 or 3)");
        version = (int)ver;
        uint cb = U32(20);
        if (cb is < 9 or > 21) throw Bad($"cluster_bits: {cb} is outside 9..21");
        clusterBits = (int)cb;
        clusterSize = 1L << clusterBits;
        l2Entries = (int)(clusterSize / 8);
        rbEntries = clusterSize * 8 / 16;

        int headerLength = 72;
        ulong incompatible = 0, autoclear = 0;
        if (version == 3)
        {
            if (len < 104) throw Bad($"header_length: file is {len} bytes, shorter than a version 3 header");
            headerLength = (int)Math.Min(U32(100), int.MaxValue);
            if (headerLength < 104 || headerLength % 8 != 0 || headerLength > clusterSize || headerLength > hdr.Length)
                throw Bad($"header_length: {U32(100)} is invalid (at least 104, a multiple of 8, within the first cluster)");
            incompatible = U64(72);
            autoclear = U64(88);
            uint order = U32(96);
            if (order != 4) throw Bad($"refcount_order: {order} is not supported (only 4, 16-bit refcounts)");
            ulong unknown = incompatible & ~0x1FUL;
            if (unknown != 0) throw Bad($"incompatible_features: unknown feature bits 0x{unknown:x}");
            if ((incompatible & 4) != 0) throw Bad("incompatible_features: external data file is not supported");
            if ((incompatible & 8) != 0 || (headerLength > 104 && hdr[104] != 0))
                throw Bad("incompatible_features: compression type other than zlib is not supported");
            if ((incompatible & 16) != 0) throw Bad("incompatible_features: extended L2 entries are not supported");
            if ((incompatible & 2) != 0 && !readOnly)
                throw Bad("incompatible_features: the image is marked corrupt; open it read-only or repair it with 'qemu-img check -r all'");
            dirty = (incompatible & 1) != 0;
        }

        ulong sz = U64(24);
        if (sz > (ulong)MaxSize) throw Bad($"size: {sz} is too large");
        if (sz % 512 != 0) throw Bad($"size: {sz} is not a multiple of 512 bytes");
        size = (long)sz;
        if (U32(32) != 0) throw Bad($"crypt_method: {U32(32)} (encrypted images are not supported)");

        // L1 table.
        uint l1Size = U32(36);
        long perL2 = clusterSize * l2Entries;
        long needL1 = (size + perL2 - 1) / perL2;
        if (needL1 * 8 > MaxL1Bytes) throw Bad($"size: {size} bytes needs an L1 table larger than {MaxL1Bytes} bytes");
        if ((long)l1Size * 8 > MaxL1Bytes) throw Bad($"l1_size: {l1Size} entries is too large");
        if (l1Size < needL1) throw Bad($"l1_size: {l1Size} entries is too small for size {size} (needs {needL1})");
        ulong l1Off = U64(40);
        if (l1Size > 0 && (l1Off == 0 || (l1Off & (ulong)(clusterSize - 1)) != 0 || l1Off > (ulong)len || (long)l1Off + l1Size * 8L > len))
            throw Bad($"l1_table_offset: 0x{l1Off:x} with {l1Size} entries is unaligned or outside the {len}-byte file");
        l1Offset = (long)l1Off;
        var l1Bytes = new byte[l1Size * 8L];
        if (l1Size > 0) ReadExact(l1Offset, l1Bytes);
        l1 = new ulong[l1Size];
        for (int i = 0; i < l1.Length; i++) l1[i] = BinaryPrimitives.ReadUInt64BigEndian(l1Bytes.AsSpan(i * 8));

        // Refcount table.
        ulong rtOff = U64(48);
        uint rtClusters = U32(56);
        if (rtClusters == 0 || rtClusters * clusterSize > MaxRefTableBytes)
            throw Bad($"refcount_table_clusters: {rtClusters} is invalid (1..{MaxRefTableBytes / clusterSize})");
        if (rtOff == 0 || (rtOff & (ulong)(clusterSize - 1)) != 0 || rtOff > (ulong)len || (long)rtOff + rtClusters * clusterSize > len)
            throw Bad($"refcount_table_offset: 0x{rtOff:x} is unaligned or its {rtClusters} clusters lie outside the {len}-byte file");
        refTableOffset = (long)rtOff;
        var rtBytes = new byte[rtClusters * clusterSize];
        ReadExact(refTableOffset, rtBytes);
        refTable = new ulong[rtBytes.Length / 8];
        for (int i = 0; i < refTable.Length; i++) refTable[i] = BinaryPrimitives.ReadUInt64BigEndian(rtBytes.AsSpan(i * 8));

        // Snapshots (read for Check; writing is refused).
        uint nbSnapshots = U32(60);
        if (nbSnapshots > MaxSnapshots) throw Bad($"nb_snapshots: {nbSnapshots} is too many");
        if (nbSnapshots > 0)
        {
            if (!readOnly) throw Bad($"nb_snapshots: {nbSnapshots}: internal snapshots are not supported (open read-only)");
            ulong sOff = U64(64);
            if ((sOff & (ulong)(clusterSize - 1)) != 0 || sOff == 0 || sOff >= (ulong)len)
                throw Bad($"snapshots_offset: 0x{sOff:x} is unaligned or outside the file");
            snapshotsOffset = (long)sOff;
            long pos = snapshotsOffset;
            var fixedPart = new byte[40];
            for (uint i = 0; i < nbSnapshots; i++)
            {
                if (pos + 40 > len) throw Bad("snapshots_offset: snapshot table runs past the end of the file");
                ReadExact(pos, fixedPart);
                ulong sl1 = BinaryPrimitives.ReadUInt64BigEndian(fixedPart);
                uint sl1Size = BinaryPrimitives.ReadUInt32BigEndian(fixedPart.AsSpan(8));
                int idLen = BinaryPrimitives.ReadUInt16BigEndian(fixedPart.AsSpan(12));
                int nameLen = BinaryPrimitives.ReadUInt16BigEndian(fixedPart.AsSpan(14));
                uint extra = BinaryPrimitives.ReadUInt32BigEndian(fixedPart.AsSpan(36));
                if (extra > 1024) throw Bad($"snapshot {i}: extra_data_size {extra} is too large");
                if ((sl1 & (ulong)(clusterSize - 1)) != 0 || (long)sl1Size * 8 > MaxL1Bytes || sl1 > (ulong)len || (long)sl1 + sl1Size * 8L > len)
                    throw Bad($"snapshot {i}: L1 table offset 0x{sl1:x} / size {sl1Size} is invalid");
                snapshotL1s.Add(((long)sl1, (int)sl1Size));
                pos += (40 + extra + idLen + nameLen + 7) & ~7L;
            }
            if (pos > len) throw Bad("snapshots_offset: snapshot table runs past the end of the file");
            snapshotsBytes = pos - snapshotsOffset;
        }

        // Header extensions, between the header and the end of the first cluster (or the backing file name).
        ulong bOff = U64(8);
        uint bSize = U32(16);
        long extLimit = Math.Min(hdr.Length, clusterSize);
        if (bOff != 0 && bOff < (ulong)extLimit) extLimit = (long)bOff;
        long p = headerLength;
        for (int guard = 0; guard < 1024; guard++)
        {
            if (p + 8 > extLimit) break;
            uint type = U32((int)p);
            uint elen = U32((int)p + 4);
            if (type == ExtEnd) break;
            if (p + 8 + elen > extLimit) throw Bad($"header extension 0x{type:x8}: length {elen} runs past the header area");
            var data = hdr.AsSpan((int)p + 8, (int)elen);
            if (type == ExtBackingFormat) backingFormat = Encoding.UTF8.GetString(data);
            else if (type == ExtExternalData) throw Bad("header extension: external data file is not supported");
            else if (type == ExtEncryption) throw Bad("header extension: full disk encryption is not supported");
            p += 8 + ((elen + 7) & ~7L);
        }

        long fileLen = len;
        fileEnd = (fileLen + clusterSize - 1) & ~(clusterSize - 1);
        l2CacheLimit = (int)Math.Max(4, (16L << 20) / clusterSize);

        if (bOff != 0)
        {
            if (bSize == 0 || bSize > MaxBackingNameLength) throw Bad($"backing_file_size: {bSize} is invalid (1..{MaxBackingNameLength})");
            long nameLimit = Math.Min(clusterSize, hdr.Length);
            if (bSize > nameLimit || bOff > (ulong)(nameLimit - bSize))
                throw Bad($"backing_file_offset: 0x{bOff:x} + {bSize} lies outside the first cluster");
            backingName = Encoding.UTF8.GetString(hdr, (int)bOff, (int)bSize);
            if (backingName.StartsWith("json:", StringComparison.Ordinal) || backingName.Contains('\0'))
                throw Bad($"backing file: '{backingName}' is not a plain file name");
            string dir = System.IO.Path.GetDirectoryName(path) ?? ".";
            string resolved = System.IO.Path.IsPathRooted(backingName) ? backingName : System.IO.Path.Combine(dir, backingName);
            string? fmt = backingFormat;
            var opener = openBacking ?? ((bp, ro) => DefaultOpen(bp, ro, fmt));
            try
            {
                backing = opener(resolved, true);
            }
            catch (ImageFormatException e)
            {
                throw new ImageFormatException($"backing file '{resolved}': {e.Message}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or BlockDeviceException)
            {
                throw new ImageFormatException($"backing file '{resolved}': cannot open: {e.Message}", e);
            }
        }

        if (readOnly) return;
        if (version == 3 && autoclear != 0)
        {
            // Unknown/unsupported autoclear features (e.g. bitmaps) become stale once we write: clear them (spec).
            Span<byte> zero = stackalloc byte[8];
            file.Write(88, zero);
        }
        if (dirty)
        {
            try
            {
                RebuildRefcounts();
            }
            catch (InvalidDataException e)
            {
                throw Bad($"incompatible_features: dirty bit set and the refcounts cannot be rebuilt: {e.Message}; repair with 'qemu-img check -r all'");
            }
            BinaryPrimitives.WriteUInt64BigEndian(hdr.AsSpan(72), incompatible & ~1UL);
            file.Write(72, hdr.AsSpan(72, 8)); // refcounts are consistent again: clear the dirty bit
            file.Flush();
            dirty = false;
        }
    }

    /// <summary>
    /// After an unclean shutdown with lazy refcounts (the dirty bit): counts every reference from the header, L1 and L2
    /// tables and data and compressed clusters, and writes a fresh refcount structure (blocks, then table) at the end of
    /// the file; after a sync the header is switched to it and the COPIED flags are made to agree. The old table and
    /// blocks become unreferenced clusters with refcount 0. The caller clears the dirty bit last, so a crash in the
    /// middle only means rebuilding again.
    /// </summary>
    void RebuildRefcounts()
    {
        long fileLen = file.Length;
        long nClusters = (fileLen + clusterSize - 1) >> clusterBits;
        var refs = new int[nClusters];
        var exclusive = new bool[nClusters]; // referenced as metadata or a data cluster (not shareable, no snapshots)
        void Ref(long off, long len, string what, bool compressed = false)
        {
            if (off < 0 || off >= fileLen || (!compressed && (off & (clusterSize - 1)) != 0))
                throw new InvalidDataException($"{what} at 0x{off:x} is unaligned or outside the file");
            for (long c = off >> clusterBits; c <= (off + len - 1) >> clusterBits && c < nClusters; c++)
            {
                refs[c]++;
                exclusive[c] |= !compressed;
                if (exclusive[c] && refs[c] > 1) throw new InvalidDataException($"{what} at 0x{off:x}: cluster {c} is referenced more than once");
            }
        }
        Ref(0, clusterSize, "header");
        if (l1.Length > 0) Ref(l1Offset, l1.Length * 8L, "L1 table");
        for (long i = 0; i < l1.Length; i++)
        {
            long l2 = (long)(l1[i] & OffsetMask);
            if (l2 == 0) continue;
            Ref(l2, clusterSize, $"L2 table (L1 entry {i})");
            var t = LoadL2(l2);
            foreach (ulong e in t)
            {
                if ((e & CompressedFlag) != 0)
                {
                    var (co, cl) = CompressedExtent(e);
                    Ref(co, cl, $"compressed cluster (L1 entry {i})", compressed: true);
                }
                else if ((e & OffsetMask) != 0) Ref((long)(e & OffsetMask), clusterSize, $"data cluster (L1 entry {i})");
            }
        }

        // The new structure: blocks for table entries 0..blocks-1, then the table, from the end of the file on.
        long start = fileEnd >> clusterBits;
        long entriesPerCluster = clusterSize / 8, blocks = 1, tableClusters = 1;
        for (int guard = 0; ; guard++)
        {
            if (guard > 64) throw new InvalidDataException("refcount structure size does not converge");
            long needBlocks = (start + blocks + tableClusters + rbEntries - 1) / rbEntries;
            long needTable = (needBlocks + entriesPerCluster - 1) / entriesPerCluster;
            if (needBlocks <= blocks && needTable <= tableClusters) break;
            blocks = Math.Max(blocks, needBlocks);
            tableClusters = Math.Max(tableClusters, needTable);
        }
        if (tableClusters * clusterSize > MaxRefTableBytes)
            throw new InvalidDataException($"the refcount table would exceed {MaxRefTableBytes} bytes");
        long end = start + blocks + tableClusters;
        var newTable = new ulong[tableClusters * entriesPerCluster];
        var block = new byte[clusterSize];
        for (long k = 0; k < blocks; k++)
        {
            block.AsSpan().Clear();
            for (long c = k * rbEntries; c < Math.Min((k + 1) * rbEntries, end); c++)
            {
                int v = c < nClusters ? refs[c] : c >= start ? 1 : 0;
                if (v > ushort.MaxValue) throw new InvalidDataException($"cluster {c} has more than {ushort.MaxValue} references");
                BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan((int)((c - k * rbEntries) * 2)), (ushort)v);
            }
            long at = (start + k) << clusterBits;
            file.Write(at, block);
            newTable[k] = (ulong)at;
        }
        var tableBytes = new byte[tableClusters * clusterSize];
        for (int i = 0; i < newTable.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(tableBytes.AsSpan(i * 8), newTable[i]);
        long tableOffset = (start + blocks) << clusterBits;
        file.Write(tableOffset, tableBytes);
        file.Flush();

        Span<byte> hdr = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(hdr, (ulong)tableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(hdr[8..], (uint)tableClusters);
        file.Write(48, hdr);
        file.Flush();
        refTable = newTable;
        refTableOffset = tableOffset;
        fileEnd = end << clusterBits;

        // COPIED flags: set exactly where the refcount is 1 (no snapshots here, so that is every unshared cluster).
        for (long i = 0; i < l1.Length; i++)
        {
            long l2 = (long)(l1[i] & OffsetMask);
            if (l2 == 0) continue;
            ulong want = (ulong)l2 | (refs[l2 >> clusterBits] == 1 ? CopiedFlag : 0) | (l1[i] & ~(OffsetMask | CopiedFlag));
            if (want != l1[i])
            {
                WriteU64(l1Offset + i * 8, want);
                l1[i] = want;
            }
            var t = LoadL2(l2);
            for (int j = 0; j < t.Length; j++)
            {
                ulong e = t[j];
                long host = (long)(e & OffsetMask);
                if ((e & CompressedFlag) != 0 || host == 0) continue;
                ulong we = refs[host >> clusterBits] == 1 ? e | CopiedFlag : e & ~CopiedFlag;
                if (we != e) SetL2(l2, t, j, we);
            }
        }
        file.Flush();
    }

    static DiskImage DefaultOpen(string p, bool ro, string? fmt) => fmt switch
    {
        "qcow2" => Open(p, ro),
        "raw" => RawImage.Open(p, ro),
        null or "" => Probe(p) ? Open(p, ro) : RawImage.Open(p, ro),
        _ => throw Bad($"backing format '{fmt}' is not supported"),
    };

    // ---- mapping ----

    ulong[]? L2Table(long l1Index, bool validate = true)
    {
        ulong e = l1[l1Index];
        long off = (long)(e & OffsetMask);
        if (off == 0) return null;
        return LoadL2(off, validate);
    }

    ulong[] LoadL2(long off, bool validate = true)
    {
        if (l2Cache.TryGetValue(off, out var t)) return t;
        if (validate && ((off & (clusterSize - 1)) != 0 || off + clusterSize > file.Length))
            throw new InvalidDataException($"L2 table offset 0x{off:x} is unaligned or outside the file");
        var bytes = new byte[clusterSize];
        ReadExact(off, bytes);
        t = new ulong[l2Entries];
        for (int i = 0; i < t.Length; i++) t[i] = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(i * 8));
        if (l2Cache.Count >= l2CacheLimit) l2Cache.Clear();
        l2Cache[off] = t;
        return t;
    }

    ulong L2Entry(long guestCluster)
    {
        long l1i = guestCluster / l2Entries;
        if (l1i >= l1.Length) return 0;
        var t = L2Table(l1i);
        return t == null ? 0 : t[guestCluster % l2Entries];
    }

    (long Offset, long Size) CompressedExtent(ulong e)
    {
        int shift = 62 - (clusterBits - 8);
        long off = (long)(e & ((1UL << shift) - 1));
        long sectors = (long)((e >> shift) & ((1UL << (clusterBits - 8)) - 1)) + 1;
        return (off, sectors * 512 - (off & 511));
    }

    byte[] Inflate(ulong e)
    {
        if (inflated != null && inflatedEntry == e) return inflated;
        var (off, csize) = CompressedExtent(e);
        long len = file.Length;
        if (off >= len) throw new InvalidDataException($"compressed cluster at 0x{off:x} is outside the file");
        var src = new byte[Math.Min(csize, len - off)];
        ReadExact(off, src);
        var dst = new byte[clusterSize];
        using (var ds = new DeflateStream(new MemoryStream(src), CompressionMode.Decompress))
        {
            int got = 0;
            while (got < dst.Length)
            {
                int n = ds.Read(dst, got, dst.Length - got);
                if (n <= 0) break;
                got += n;
            }
            if (got != dst.Length) throw new InvalidDataException($"compressed cluster at 0x{off:x} inflates to {got} bytes, not {clusterSize}");
        }
        inflated = dst;
        inflatedEntry = e;
        return dst;
    }

    void ReadHost(long pos, Span<byte> dst) => file.ReadOrZero(pos, dst); // past EOF reads as zeros

    void ReadBacking(long offset, Span<byte> dst)
    {
        long avail = backing == null ? 0 : Math.Max(0, backing.Length - offset);
        int n = (int)Math.Min(avail, dst.Length);
        if (n > 0) backing!.Read(offset, dst[..n]);
        dst[n..].Clear();
    }

    /// <summary>Reads bytes of one guest cluster as mapped by L2 entry <paramref name="e"/>.</summary>
    void ReadMapped(long offset, ulong e, Span<byte> dst)
    {
        int inCluster = (int)(offset & (clusterSize - 1));
        if ((e & CompressedFlag) != 0)
        {
            Inflate(e).AsSpan(inCluster, dst.Length).CopyTo(dst);
            return;
        }
        long host = (long)(e & OffsetMask);
        if (version == 3 && (e & ZeroFlag) != 0) dst.Clear();
        else if (host != 0)
        {
            if ((host & (clusterSize - 1)) != 0 || host >= file.Length)
                throw new InvalidDataException($"data cluster offset 0x{host:x} is unaligned or outside the file");
            ReadHost(host + inCluster, dst);
        }
        else ReadBacking(offset, dst);
    }

    void CheckRange(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > size - count)
            throw new BlockDeviceException($"access of {count} bytes at {offset} is outside the {size}-byte disk '{path}'");
    }

    /// <inheritdoc/>
    public override void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        lock (gate)
        {
            ThrowIfDisposed();
            try
            {
                while (buffer.Length > 0)
                {
                    int n = (int)Math.Min(buffer.Length, clusterSize - (offset & (clusterSize - 1)));
                    ReadMapped(offset, L2Entry(offset >> clusterBits), buffer[..n]);
                    offset += n;
                    buffer = buffer[n..];
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new BlockDeviceException($"read at {offset} from '{path}' failed: {e.Message}", e);
            }
        }
    }

    // ---- allocation and refcounts ----

    /// <summary>The refcount block of refcount-table entry <paramref name="ti"/> (0: none), validated.</summary>
    long RefcountBlock(long ti)
    {
        long rb = (long)(refTable[ti] & OffsetMask);
        if (rb != 0 && ((rb & (clusterSize - 1)) != 0 || rb > fileEnd - clusterSize))
            throw new InvalidDataException($"refcount table entry {ti}: refcount block offset 0x{rb:x} is unaligned or outside the file");
        return rb;
    }

    int GetRefcount(long host)
    {
        long ci = host >> clusterBits;
        long ti = ci / rbEntries;
        if (ti >= refTable.Length) return 0;
        long rb = RefcountBlock(ti);
        if (rb == 0) return 0;
        Span<byte> b = stackalloc byte[2];
        ReadHost(rb + ci % rbEntries * 2, b);
        return BinaryPrimitives.ReadUInt16BigEndian(b);
    }

    /// <summary>
    /// Adds <paramref name="delta"/> to the refcount of the cluster at <paramref name="host"/>. A missing refcount
    /// block is allocated first (its own refcount is recorded before the table entry that makes it reachable), and a
    /// full refcount table is grown (<see cref="GrowRefcountTable"/>).
    /// </summary>
    void AdjustRefcount(long host, int delta, int depth = 0)
    {
        if (depth > 8) throw new InvalidDataException($"refcount block allocation for cluster 0x{host:x} does not terminate");
        long ci = host >> clusterBits;
        long ti = ci / rbEntries;
        if (ti >= refTable.Length)
        {
            if (delta < 0) throw new InvalidDataException($"cluster 0x{host:x} is not covered by the refcount table");
            GrowRefcountTable();
            if (ti >= refTable.Length) throw new InvalidDataException($"cluster 0x{host:x} is still not covered after growing the refcount table");
        }
        long rb = RefcountBlock(ti);
        if (rb == 0)
        {
            if (delta < 0) throw new InvalidDataException($"refcount of cluster 0x{host:x} would drop below zero");
            rb = AllocateRefcountBlock(ti, depth);
        }
        Span<byte> b = stackalloc byte[2];
        long pos = rb + ci % rbEntries * 2;
        ReadHost(pos, b);
        int v = BinaryPrimitives.ReadUInt16BigEndian(b) + delta;
        if (v is < 0 or > ushort.MaxValue) throw new InvalidDataException($"refcount of cluster 0x{host:x} out of range ({v})");
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v);
        file.Write(pos, b);
    }

    /// <summary>
    /// Allocates the refcount block for table entry <paramref name="ti"/>: the block's own refcount goes into the block
    /// itself when it covers itself, else into its covering block first; the block is written; only then does the
    /// table entry point at it. A crash at any point leaves at most a leaked cluster.
    /// </summary>
    long AllocateRefcountBlock(long ti, int depth)
    {
        long rb = ReserveClusters(1);
        var block = new byte[clusterSize];
        long rbCi = rb >> clusterBits;
        if (rbCi / rbEntries == ti) BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan((int)(rbCi % rbEntries * 2)), 1);
        else AdjustRefcount(rb, 1, depth + 1);
        file.Write(rb, block);
        Barrier();
        WriteU64(refTableOffset + ti * 8, (ulong)rb);
        refTable[ti] = (ulong)rb;
        return rb;
    }

    /// <summary>
    /// Replaces a full refcount table by one about twice as large, placed at the end of the file together with the
    /// refcount blocks that cover it (and everything up to it not yet covered), in a crash-safe order: new blocks and
    /// table are written and synced, then the header is switched to the new table (one write of 12 bytes within a
    /// sector), synced, and only then are the old table's clusters freed. A crash before the switch leaves unreferenced
    /// clusters past the old table's reach; after it, at most the old table leaks.
    /// </summary>
    void GrowRefcountTable()
    {
        long oldLen = refTable.Length;
        long coveredBytes = oldLen * rbEntries * clusterSize;
        long start = Math.Max(fileEnd, coveredBytes);
        long startCluster = start >> clusterBits;
        long entriesPerCluster = clusterSize / 8;
        long newLen = Math.Max(oldLen * 2, entriesPerCluster);
        long tableClusters, blocks = 0;
        for (int guard = 0; ; guard++)
        {
            if (guard > 64) throw new InvalidDataException("refcount table growth does not converge");
            tableClusters = (newLen + entriesPerCluster - 1) / entriesPerCluster;
            long lastIndex = (startCluster + blocks + tableClusters - 1) / rbEntries;
            long needBlocks = lastIndex - oldLen + 1;
            if (needBlocks > blocks)
            {
                blocks = needBlocks;
                continue;
            }
            if (oldLen + blocks <= newLen) break;
            newLen = Math.Max(newLen * 2, oldLen + blocks);
        }
        newLen = tableClusters * entriesPerCluster; // use the whole last cluster
        if (tableClusters * clusterSize > MaxRefTableBytes)
            throw new InvalidDataException($"the refcount table would exceed {MaxRefTableBytes} bytes (the image file is too large for its cluster size)");

        long tableOffset = start + blocks * clusterSize;
        long areaEnd = startCluster + blocks + tableClusters; // first cluster after the new area
        var block = new byte[clusterSize];
        var newTable = new ulong[newLen];
        Array.Copy(refTable, newTable, oldLen);
        for (long k = 0; k < blocks; k++)
        {
            block.AsSpan().Clear();
            long first = (oldLen + k) * rbEntries;
            for (long c = Math.Max(first, startCluster); c < Math.Min(first + rbEntries, areaEnd); c++)
                BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan((int)((c - first) * 2)), 1);
            long at = start + k * clusterSize;
            file.Write(at, block);
            newTable[oldLen + k] = (ulong)at;
        }
        var tableBytes = new byte[tableClusters * clusterSize];
        for (long i = 0; i < newLen; i++) BinaryPrimitives.WriteUInt64BigEndian(tableBytes.AsSpan((int)(i * 8)), newTable[i]);
        file.Write(tableOffset, tableBytes);
        file.Flush();

        Span<byte> hdr = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(hdr, (ulong)tableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(hdr[8..], (uint)tableClusters);
        file.Write(48, hdr);
        file.Flush();

        long oldOffset = refTableOffset, oldClusters = oldLen * 8 / clusterSize;
        refTable = newTable;
        refTableOffset = tableOffset;
        fileEnd = areaEnd << clusterBits;
        for (long i = 0; i < oldClusters; i++) AdjustRefcount(oldOffset + i * clusterSize, -1);
    }

    void WriteU64(long pos, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        file.Write(pos, b);
    }

    /// <summary>
    /// Reserves <paramref name="count"/> contiguous clusters at the end of the file, past any cluster there that still
    /// has a refcount (e.g. preallocated metadata). Nothing is written; the caller writes them and counts them.
    /// </summary>
    long ReserveClusters(long count)
    {
        for (int guard = 0; guard < 1 << 16; guard++)
        {
            long busy = -1;
            for (long i = 0; i < count && busy < 0; i++)
                if (GetRefcount(fileEnd + i * clusterSize) != 0) busy = i;
            if (busy < 0) break;
            fileEnd += (busy + 1) * clusterSize;
        }
        long off = fileEnd;
        fileEnd += count * clusterSize;
        return off;
    }

    /// <summary>Writes <paramref name="content"/> (one cluster) at the end of the file, then counts a reference to it.</summary>
    long AllocateCluster(ReadOnlySpan<byte> content)
    {
        long off = ReserveClusters(1);
        file.Write(off, content);
        AdjustRefcount(off, 1);
        return off;
    }

    void ReleaseMapping(ulong e)
    {
        if ((e & CompressedFlag) != 0)
        {
            var (off, csize) = CompressedExtent(e);
            for (long c = off & ~(clusterSize - 1); c <= (off + csize - 1 & ~(clusterSize - 1)); c += clusterSize)
                AdjustRefcount(c, -1);
        }
        else
        {
            long host = (long)(e & OffsetMask);
            if (host != 0) AdjustRefcount(host, -1);
        }
    }

    /// <inheritdoc/>
    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (readOnly) throw new BlockDeviceException($"'{path}' is opened read-only");
        CheckRange(offset, data.Length);
        lock (gate)
        {
            ThrowIfDisposed();
            try
            {
                while (data.Length > 0)
                {
                    int n = (int)Math.Min(data.Length, clusterSize - (offset & (clusterSize - 1)));
                    WriteCluster(offset, data[..n]);
                    offset += n;
                    data = data[n..];
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new BlockDeviceException($"write at {offset} to '{path}' failed: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// The L2 table of L1 entry <paramref name="l1i"/> for an update: the existing one, or a new empty table that is
    /// allocated and counted but not yet linked (the caller links it with <see cref="LinkL2"/> after writing its entry).
    /// </summary>
    ulong[] L2ForWrite(long l1i, out long l2Off, out bool isNew)
    {
        l2Off = (long)(l1[l1i] & OffsetMask);
        isNew = l2Off == 0;
        if (!isNew) return LoadL2(l2Off);
        l2Off = AllocateCluster(ZeroCluster());
        var table = new ulong[l2Entries];
        if (l2Cache.Count >= l2CacheLimit) l2Cache.Clear();
        l2Cache[l2Off] = table;
        return table;
    }

    void LinkL2(long l1i, long l2Off)
    {
        Barrier(); // the L2 table and its entry reach the disk before the L1 entry points at them
        WriteU64(l1Offset + l1i * 8, (ulong)l2Off | CopiedFlag);
        l1[l1i] = (ulong)l2Off | CopiedFlag;
    }

    byte[] ZeroCluster() => zeroCluster ??= new byte[clusterSize];

    void WriteCluster(long offset, ReadOnlySpan<byte> src)
    {
        long gc = offset >> clusterBits;
        int inCluster = (int)(offset & (clusterSize - 1));
        long l1i = gc / l2Entries;
        int l2i = (int)(gc % l2Entries);
        var table = L2ForWrite(l1i, out long l2Off, out bool newL2);

        ulong e = table[l2i];
        bool compressed = (e & CompressedFlag) != 0;
        long host = compressed ? 0 : (long)(e & OffsetMask);
        bool zero = !compressed && version == 3 && (e & ZeroFlag) != 0;
        var buf = cowBuffer ??= new byte[clusterSize];
        if (host != 0 && ((e & CopiedFlag) != 0 || GetRefcount(host) == 1))
        {
            if ((host & (clusterSize - 1)) != 0 || host > fileEnd - clusterSize)
                throw new InvalidDataException($"L2 entry for guest cluster {gc}: data cluster offset 0x{host:x} is unaligned or outside the file");
            if (zero)
            {
                // Preallocated zero cluster: write the whole cluster, then clear the zero flag.
                buf.AsSpan().Clear();
                src.CopyTo(buf.AsSpan(inCluster));
                file.Write(host, buf);
                SetL2(l2Off, table, l2i, (ulong)host | CopiedFlag);
            }
            else file.Write(host + inCluster, src);
            return;
        }

        // Copy-on-write into a new cluster: old contents (backing, zeros, compressed or shared data) plus the new bytes.
        if (src.Length != clusterSize) ReadMapped(gc << clusterBits, e, buf);
        src.CopyTo(buf.AsSpan(inCluster));
        if (inflated != null && inflatedEntry == e) inflated = null;
        long newHost = AllocateCluster(buf);
        Barrier(); // data, new L2 table and refcounts reach the disk before anything points at them
        SetL2(l2Off, table, l2i, (ulong)newHost | CopiedFlag);
        if (newL2) LinkL2(l1i, l2Off);
        if (compressed || host != 0) ReleaseMapping(e);
    }

    /// <summary>Version 3: makes guest cluster <paramref name="gc"/> read as zeros (zero flag) and frees what it mapped.</summary>
    void SetZeroCluster(long gc)
    {
        long l1i = gc / l2Entries;
        int l2i = (int)(gc % l2Entries);
        var table = L2ForWrite(l1i, out long l2Off, out bool newL2);
        ulong e = table[l2i];
        SetL2(l2Off, table, l2i, ZeroFlag);
        if (newL2) LinkL2(l1i, l2Off);
        if (inflated != null && inflatedEntry == e) inflated = null;
        if ((e & CompressedFlag) != 0 || (e & OffsetMask) != 0) ReleaseMapping(e);
    }

    void SetL2(long l2Off, ulong[] table, int index, ulong value)
    {
        WriteU64(l2Off + index * 8L, value);
        table[index] = value;
    }

    /// <inheritdoc/>
    public override void Flush()
    {
        if (readOnly) return;
        lock (gate)
        {
            ThrowIfDisposed();
            try { file.Flush(); }
            catch (IOException e) { throw new BlockDeviceException($"flush of '{path}' failed: {e.Message}", e); }
        }
    }

    /// <summary>
    /// Grows the disk: a larger L1 table, if needed, is written at the end of the file and counted, the header switched
    /// to it (after a sync), and the old table freed; the area between the old and the new end is made to read as zeros
    /// where it would not (a backing file reaching past the old end, data left in the old last cluster); then the size
    /// field is updated. Shrinks only when no guest cluster wholly past the new end is allocated (else
    /// <see cref="InvalidOperationException"/>): the size field alone changes.
    /// </summary>
    public override void Resize(long newLength)
    {
        CheckNewLength(newLength);
        if (readOnly) throw new InvalidOperationException($"cannot resize '{path}': it is opened read-only");
        lock (gate)
        {
            ThrowIfDisposed();
            if (newLength == size) return;
            try
            {
                if (newLength < size) Shrink(newLength);
                else Grow(newLength);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new BlockDeviceException($"resize of '{path}' to {newLength} bytes failed: {e.Message}", e);
            }
        }
    }

    void Grow(long newSize)
    {
        long perL2 = clusterSize * l2Entries;
        long needL1 = (newSize + perL2 - 1) / perL2;
        if (newSize > MaxSize || needL1 * 8 > MaxL1Bytes)
            throw new InvalidOperationException($"cannot grow '{path}' to {newSize} bytes: too large for {clusterSize}-byte clusters (the L1 table is limited to {MaxL1Bytes} bytes)");
        if (needL1 > l1.Length) RelocateL1(needL1);
        ZeroArea(size, newSize);
        WriteU64(24, (ulong)newSize);
        size = newSize;
    }

    /// <summary>Writes a copy of the L1 table with <paramref name="entries"/> entries at the end of the file and switches to it.</summary>
    void RelocateL1(long entries)
    {
        long clusters = (entries * 8 + clusterSize - 1) / clusterSize;
        long off = ReserveClusters(clusters);
        var bytes = new byte[clusters * clusterSize];
        for (int i = 0; i < l1.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(i * 8), l1[i]);
        file.Write(off, bytes);
        for (long i = 0; i < clusters; i++) AdjustRefcount(off + i * clusterSize, 1);
        file.Flush();

        Span<byte> hdr = stackalloc byte[12]; // l1_size and l1_table_offset, adjacent in the header
        BinaryPrimitives.WriteUInt32BigEndian(hdr, (uint)entries);
        BinaryPrimitives.WriteUInt64BigEndian(hdr[4..], (ulong)off);
        file.Write(36, hdr);
        file.Flush();

        long oldOffset = l1Offset, oldClusters = (l1.Length * 8L + clusterSize - 1) / clusterSize;
        var newL1 = new ulong[entries];
        l1.CopyTo(newL1, 0);
        l1 = newL1;
        l1Offset = off;
        for (long i = 0; i < oldClusters && oldOffset != 0; i++) AdjustRefcount(oldOffset + i * clusterSize, -1);
    }

    /// <summary>Makes guest bytes [<paramref name="from"/>, <paramref name="to"/>) read as zeros where they would not already.</summary>
    void ZeroArea(long from, long to)
    {
        long backingEnd = backing?.Length ?? 0;
        long pos = from;
        while (pos < to)
        {
            long gc = pos >> clusterBits;
            long l1i = gc / l2Entries;
            if (pos >= backingEnd && (l1i >= l1.Length || (l1[l1i] & OffsetMask) == 0))
            {
                pos = (l1i + 1) * l2Entries * clusterSize; // nothing mapped through this L1 entry, no backing data
                continue;
            }
            long end = Math.Min(to, (gc + 1) << clusterBits);
            ulong e = L2Entry(gc);
            bool readsZero = e == 0
                ? pos >= backingEnd
                : version == 3 && (e & CompressedFlag) == 0 && (e & ZeroFlag) != 0;
            if (!readsZero)
            {
                if (version == 3 && end - pos == clusterSize) SetZeroCluster(gc);
                else WriteCluster(pos, ZeroCluster().AsSpan(0, (int)(end - pos)));
            }
            pos = end;
        }
    }

    void Shrink(long newSize)
    {
        long firstGone = (newSize + clusterSize - 1) >> clusterBits; // first guest cluster wholly past the new end
        for (long l1i = firstGone / l2Entries; l1i < l1.Length; l1i++)
        {
            var t = L2Table(l1i);
            if (t == null) continue;
            for (long j = Math.Max(0, firstGone - l1i * l2Entries); j < l2Entries; j++)
            {
                ulong e = t[j];
                if ((e & CompressedFlag) != 0 || (e & OffsetMask) != 0)
                    throw new InvalidOperationException($"cannot shrink '{path}' to {newSize} bytes: guest cluster {l1i * l2Entries + j} past the new end holds data (shrinking would discard it)");
            }
        }
        WriteU64(24, (ulong)newSize);
        size = newSize;
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            file.Dispose();
            backing?.Dispose();
        }
    }

    // ---- creation ----

    /// <summary>
    /// Creates a qcow2 image of <paramref name="size"/> bytes (a positive multiple of 512) and opens it read-write.
    /// The layout is header, refcount table (sized for the whole disk plus metadata, so it need not grow),
    /// refcount block(s), L1 table. <paramref name="backingFile"/> is stored as given (a relative name is resolved
    /// against the new image's directory); its format (qcow2 or raw) is probed and recorded in a header extension.
    /// Fails if the file exists.
    /// </summary>
    public static Qcow2Image Create(string path, long size, int clusterBits = 16, string? backingFile = null, int version = 3)
    {
        string? backingFormat = null;
        if (backingFile != null)
        {
            string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
            string resolved = System.IO.Path.IsPathRooted(backingFile) ? backingFile : System.IO.Path.Combine(dir, backingFile);
            if (!File.Exists(resolved)) throw new FileNotFoundException($"backing file '{resolved}' does not exist", resolved);
            backingFormat = Probe(resolved) ? "qcow2" : "raw";
        }
        var layout = Layout(size, clusterBits, backingFile, backingFormat, version);
        using (var f = HandleImageFile.Create(path))
        {
            layout(f);
            f.Flush();
        }
        return Open(path, false);
    }

    /// <summary>
    /// Validates the creation parameters and returns the writer of a new image's metadata (header with the backing file
    /// name and its format extension, refcount table and blocks, zeroed L1 table) into an empty file.
    /// </summary>
    internal static Action<ImageFile> Layout(long size, int clusterBits, string? backingFile, string? backingFormat, int version)
    {
        if (size <= 0 || size % 512 != 0) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be a positive multiple of 512 bytes");
        if (clusterBits is < 9 or > 21) throw new ArgumentOutOfRangeException(nameof(clusterBits), clusterBits, "cluster bits must be 9..21");
        if (version is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(version), version, "version must be 2 or 3");
        long cs = 1L << clusterBits;
        long l2e = cs / 8, rbe = cs / 2;
        long l1Size = (size + cs * l2e - 1) / (cs * l2e);
        if (l1Size * 8 > MaxL1Bytes) throw new ArgumentOutOfRangeException(nameof(size), size, "size too large for this cluster size");
        long l1Clusters = Math.Max(1, (l1Size * 8 + cs - 1) / cs);
        long dataClusters = (size + cs - 1) / cs;

        // Refcount table big enough for every cluster the disk can ever use (data + L2 tables + metadata), doubled.
        long rtClusters = 1;
        for (int i = 0; i < 16; i++)
        {
            long total = 1 + rtClusters + l1Clusters + dataClusters + l1Size;
            long blocks = (total + rbe - 2) / (rbe - 1);
            long need = Math.Max(1, (2 * blocks * 8 + cs - 1) / cs);
            if (need <= rtClusters) break;
            rtClusters = need;
        }
        if (rtClusters * cs > MaxRefTableBytes) throw new ArgumentOutOfRangeException(nameof(size), size, "size too large for this cluster size (refcount table limit)");
        long rbCount = 1;
        for (int i = 0; i < 16; i++)
        {
            long meta = 1 + rtClusters + rbCount + l1Clusters;
            long need = (meta + rbe - 1) / rbe;
            if (need <= rbCount) break;
            rbCount = need;
        }
        long metaClusters = 1 + rtClusters + rbCount + l1Clusters;
        long rtOff = cs, rbOff = cs * (1 + rtClusters), l1Off = rbOff + rbCount * cs;

        var header = new byte[cs];
        var h = header.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(h, QcowMagic);
        BinaryPrimitives.WriteUInt32BigEndian(h[4..], (uint)version);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], (uint)clusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(h[24..], (ulong)size);
        BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)l1Size);
        BinaryPrimitives.WriteUInt64BigEndian(h[40..], (ulong)l1Off);
        BinaryPrimitives.WriteUInt64BigEndian(h[48..], (ulong)rtOff);
        BinaryPrimitives.WriteUInt32BigEndian(h[56..], (uint)rtClusters);
        int pos = 72;
        if (version == 3)
        {
            BinaryPrimitives.WriteUInt32BigEndian(h[96..], 4);   // refcount_order
            BinaryPrimitives.WriteUInt32BigEndian(h[100..], 104); // header_length
            pos = 104;
        }
        if (backingFile != null)
        {
            var name = Encoding.UTF8.GetBytes(backingFile);
            if (name.Length == 0 || name.Length > MaxBackingNameLength) throw new ArgumentException("backing file name length must be 1..1023 bytes", nameof(backingFile));
            var fmt = Encoding.ASCII.GetBytes(backingFormat ?? "raw");
            BinaryPrimitives.WriteUInt32BigEndian(h[pos..], ExtBackingFormat);
            BinaryPrimitives.WriteUInt32BigEndian(h[(pos + 4)..], (uint)fmt.Length);
            fmt.CopyTo(h[(pos + 8)..]);
            pos += 8 + ((fmt.Length + 7) & ~7);
            pos += 8; // end-of-extensions marker (zeros)
            if (pos + name.Length > cs) throw new ArgumentException("backing file name does not fit in the header cluster", nameof(backingFile));
            name.CopyTo(h[pos..]);
            BinaryPrimitives.WriteUInt64BigEndian(h[8..], (ulong)pos);
            BinaryPrimitives.WriteUInt32BigEndian(h[16..], (uint)name.Length);
        }

        var rt = new byte[rtClusters * cs];
        for (long i = 0; i < rbCount; i++) BinaryPrimitives.WriteUInt64BigEndian(rt.AsSpan((int)(i * 8)), (ulong)(rbOff + i * cs));
        var rb = new byte[rbCount * cs];
        for (long c = 0; c < metaClusters; c++) BinaryPrimitives.WriteUInt16BigEndian(rb.AsSpan((int)(c * 2)), 1);

        return f =>
        {
            f.Write(0, header);
            f.Write(rtOff, rt);
            f.Write(rbOff, rb);
            f.SetLength(metaClusters * cs); // the L1 table is all zeros
        };
    }

    // ---- consistency check ----

    /// <summary>
    /// Recomputes every cluster's reference count from the header, refcount table and blocks, snapshot table, L1 and
    /// L2 tables and compares it with the stored refcount: stored &gt; references is a leak, stored &lt; references (including
    /// two users of one cluster) is a corruption, as are references outside the file, unaligned offsets and wrong
    /// COPIED flags in the active tables.
    /// </summary>
    public override ImageCheckResult Check()
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var msgs = new List<string>();
            int corruptions = 0, leaks = 0;
            // Messages are kept for the first 200 findings only (and only then formatted).
            bool Corrupt() { corruptions++; return msgs.Count < 200; }

            long fileLen = file.Length;
            long nClusters = (fileLen + clusterSize - 1) >> clusterBits;
            var refs = new int[nClusters];
            bool Ref(long off, long len, string what)
            {
                if (len <= 0) return true;
                if (off < 0 || off >= fileLen || off + len < off)
                {
                    if (Corrupt()) msgs.Add($"ERROR {what} at 0x{off:x} is outside the image file");
                    return false;
                }
                long last = (off + len - 1) >> clusterBits;
                for (long c = off >> clusterBits; c <= last; c++)
                {
                    if (c >= nClusters) { if (Corrupt()) msgs.Add($"ERROR {what} at 0x{off:x} runs past the end of the image file"); return false; }
                    refs[c]++;
                }
                return true;
            }
            bool Aligned(long off, string what)
            {
                if ((off & (clusterSize - 1)) == 0) return true;
                if (Corrupt()) msgs.Add($"ERROR {what} offset 0x{off:x} is not cluster-aligned");
                return false;
            }

            try
            {
                Ref(0, clusterSize, "header");
                Ref(refTableOffset, refTable.Length * 8L, "refcount table");
                for (int i = 0; i < refTable.Length; i++)
                {
                    long rb = (long)(refTable[i] & OffsetMask);
                    if (rb != 0 && Aligned(rb, $"refcount block {i}")) Ref(rb, clusterSize, $"refcount block {i}");
                }
                if (snapshotsBytes > 0) Ref(snapshotsOffset, snapshotsBytes, "snapshot table");
                var tables = new List<(ulong[] L1, bool Active)> { (l1, true) };
                Ref(l1Offset, l1.Length * 8L, "L1 table");
                foreach (var (so, ss) in snapshotL1s)
                {
                    if (!Ref(so, ss * 8L, "snapshot L1 table")) continue;
                    var b = new byte[ss * 8L];
                    ReadExact(so, b);
                    var t = new ulong[ss];
                    for (int i = 0; i < ss; i++) t[i] = BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(i * 8));
                    tables.Add((t, false));
                }
                var copiedChecks = new List<(long Host, bool Copied, string What)>();
                foreach (var (table, active) in tables)
                {
                    for (int i = 0; i < table.Length; i++)
                    {
                        long l2 = (long)(table[i] & OffsetMask);
                        if (l2 == 0) continue;
                        if (!Aligned(l2, $"L2 table (L1 entry {i})") || !Ref(l2, clusterSize, $"L2 table (L1 entry {i})")) continue;
                        if (active) copiedChecks.Add((l2, (table[i] & CopiedFlag) != 0, $"L1 entry {i}"));
                        var l2t = LoadL2(l2, validate: false);
                        for (int j = 0; j < l2t.Length; j++)
                        {
                            ulong e = l2t[j];
                            long gc = (long)i * l2Entries + j;
                            if ((e & CompressedFlag) != 0)
                            {
                                var (co, cl) = CompressedExtent(e);
                                Ref(co, cl, $"compressed cluster (guest cluster {gc})");
                                if (active && (e & CopiedFlag) != 0 && Corrupt()) msgs.Add($"ERROR OFLAG_COPIED set on compressed cluster (guest cluster {gc})");
                                continue;
                            }
                            long host = (long)(e & OffsetMask);
                            if (host == 0) continue;
                            if (!Aligned(host, $"data cluster (guest cluster {gc})") || !Ref(host, clusterSize, $"data cluster (guest cluster {gc})")) continue;
                            if (active) copiedChecks.Add((host, (e & CopiedFlag) != 0, $"L2 entry for guest cluster {gc}"));
                        }
                    }
                }

                // Compare with the stored refcounts, block by block.
                long covered = refTable.Length * rbEntries;
                var block = new byte[clusterSize];
                var stored = new Dictionary<long, int>();
                for (long ti = 0; ti < refTable.Length; ti++)
                {
                    long first = ti * rbEntries;
                    long rb = (long)(refTable[ti] & OffsetMask);
                    bool haveBlock = rb != 0 && (rb & (clusterSize - 1)) == 0 && rb + clusterSize <= fileLen;
                    if (first >= nClusters) break; // as qemu-img: refcounts past the end of the file are not compared
                    if (haveBlock) ReadExact(rb, block);
                    long end = Math.Min(first + rbEntries, nClusters);
                    for (long c = first; c < end; c++)
                    {
                        int have = haveBlock ? BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan((int)((c - first) * 2))) : 0;
                        int want = refs[c];
                        if (have != 0) stored[c] = have;
                        if (have > want)
                        {
                            leaks++;
                            if (msgs.Count < 200) msgs.Add($"Leaked cluster {c} refcount={have} reference={want}");
                        }
                        else if (have < want && Corrupt()) msgs.Add($"ERROR refcount for cluster {c} is {have}, but it is referenced {want} times");
                    }
                }
                for (long c = covered; c < nClusters; c++)
                    if (refs[c] != 0 && Corrupt()) msgs.Add($"ERROR cluster {c} is referenced but not covered by the refcount table");
                foreach (var (hostOff, copied, what) in copiedChecks)
                {
                    bool one = stored.TryGetValue(hostOff >> clusterBits, out int rc) && rc == 1;
                    if (copied != one && Corrupt()) msgs.Add($"ERROR OFLAG_COPIED is {(copied ? "set" : "clear")} on {what} but the refcount is {rc}");
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                if (Corrupt()) msgs.Add($"ERROR metadata could not be read: {e.Message}");
            }
            return new ImageCheckResult(corruptions, leaks, msgs);
        }
    }
}
