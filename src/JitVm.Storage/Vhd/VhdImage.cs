using System.Buffers.Binary;
using JitVm.Core.Storage;

namespace JitVm.Storage.Vhd;

/// <summary>
/// A Microsoft Virtual Hard Disk (VHD, spec v1.0) image: fixed or dynamic (differencing disks are refused).
/// <para>
/// Disk size: the guest sees the footer's "Current Size". qemu's "vpc" driver instead derives the size from the CHS
/// geometry for most creator applications unless the geometry is the maximum 65535x16x255; <see cref="Create"/>
/// therefore writes the specification's geometry when it addresses exactly the requested size, and otherwise the
/// maximum geometry (as <c>qemu-img create -o force_size</c> does), so both readers agree on the size.
/// </para>
/// <para>
/// Dynamic disks: reads of unallocated blocks, or of sectors whose bitmap bit is clear, return zeros. A write to an
/// unallocated block appends the block where the trailing footer was, in a crash-consistent order: the footer at the
/// new end of file, the data, the bitmap, a flush, and only then the BAT entry, so the file always ends with a valid
/// footer and a crash leaves at most an unreferenced block (a leak); a read-write open cuts such a block off and
/// rewrites a missing or stale trailing footer. Writes of all-zero data to an unallocated block allocate nothing.
/// </para>
/// </summary>
public sealed class VhdImage : DiskImage
{
    /// <summary>Default dynamic block size: 2 MiB.</summary>
    public const int DefaultBlockSize = 2 * 1024 * 1024;
    /// <summary>Largest disk <see cref="Create"/> accepts (2040 GiB, as qemu-img).</summary>
    public const long MaxCreateSize = 0xFF00_0000L * 512;
    const uint Unallocated = 0xFFFF_FFFF;
    const int Sector = 512;
    const int MaxCheckMessages = 200;

    readonly ImageFile handle;
    readonly string path;
    readonly bool readOnly;
    VhdFooter footer;
    byte[] footerBytes;
    readonly object gate = new();

    // Dynamic disks only.
    readonly VhdDynamicHeader? header;
    readonly uint[] bat = [];
    readonly int bitmapSize;           // sector bitmap bytes, padded to a sector multiple
    readonly long metadataEnd;         // end of footer copy, header and BAT
    readonly Dictionary<uint, byte[]> bitmaps = new();
    long nextFree;                     // where the next block goes (the trailing footer's offset)
    DiskImage? parent;                 // differencing disks: where sectors not written here come from
    bool disposed;

    /// <summary>Longest chain of differencing disks opened (this disk plus its ancestors).</summary>
    public const int MaxParentDepth = 16;
    [ThreadStatic] static List<string>? openChain;

    VhdImage(ImageFile handle, string path, bool readOnly, VhdFooter footer, byte[] footerBytes, VhdDynamicHeader? header, uint[] bat, long nextFree, long locatorsEnd = 0)
    {
        this.handle = handle;
        this.path = path;
        this.readOnly = readOnly;
        this.footer = footer;
        this.footerBytes = footerBytes; // as found on disk (reserved bytes kept), or as created
        this.header = header;
        if (header is not null)
        {
            this.bat = bat;
            bitmapSize = (int)(((header.BlockSize / Sector / 8) + Sector - 1) / Sector * Sector);
            metadataEnd = Math.Max(Math.Max(Sector, (long)footer.DataOffset + VhdDynamicHeader.Size),
                Math.Max((long)header.TableOffset + BatBytes(header.MaxTableEntries), locatorsEnd));
            this.nextFree = nextFree;
        }
    }

    /// <inheritdoc/>
    public override string Format => "vpc";
    /// <inheritdoc/>
    public override long Length => (long)footer.CurrentSize;
    /// <inheritdoc/>
    public override bool ReadOnly => readOnly;
    /// <inheritdoc/>
    public override string Path => path;

    /// <summary>Fixed, dynamic or differencing.</summary>
    public VhdDiskType DiskType => footer.DiskType;

    /// <summary>A differencing disk's parent (opened read-only), else null.</summary>
    public override DiskImage? Backing => parent;
    /// <summary>The footer's CHS geometry.</summary>
    public VhdGeometry Geometry => footer.Geometry;
    /// <summary>The footer's creator application (four characters, e.g. "qemu", "win ").</summary>
    public string CreatorApplication => footer.CreatorApplicationText;
    /// <summary>The footer's unique id.</summary>
    public Guid UniqueId => footer.UniqueId;
    /// <summary>Dynamic disks: data bytes per block; fixed disks: 0.</summary>
    public int BlockSize => (int)(header?.BlockSize ?? 0);

    /// <summary>Host bytes the file occupies: allocated extents of the (possibly sparse) file, or its length.</summary>
    public override long AllocatedBytes
    {
        get
        {
            try
            {
                return disposed ? 0 : handle.AllocatedBytes ?? handle.Length;
            }
            catch (ObjectDisposedException)
            {
                return 0; // closed by another thread meanwhile
            }
        }
    }

    static long BatBytes(uint entries) => ((long)entries * 4 + Sector - 1) / Sector * Sector;

    // ---------------------------------------------------------------- open / create

    /// <summary>Opens a fixed or dynamic VHD; every field is validated (<see cref="ImageFormatException"/> names it).</summary>
    /// <remarks>
    /// A differencing disk's parent is found through its parent locators (Windows relative and absolute paths, Mac OS X
    /// file URL), then the parent's name in the child's directory, and opened read-only through
    /// <paramref name="openParent"/> (default: <see cref="DiskImages.Open(string, bool)"/>); its unique id must be the
    /// one the child recorded. Chains deeper than <see cref="MaxParentDepth"/> or looping are refused.
    /// </remarks>
    public static VhdImage Open(string path, bool readOnly, Func<string, bool, DiskImage>? openParent = null)
    {
        ImageFile h;
        try
        {
            h = HandleImageFile.Open(path, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageFormatException($"cannot open VHD '{path}': {e.Message}", e);
        }
        return Open(h, System.IO.Path.GetFullPath(path), readOnly, openParent);
    }

    /// <summary>
    /// Opens the VHD held in <paramref name="h"/> (which the image then owns); <paramref name="path"/> names it in
    /// messages and locates a differencing disk's parent.
    /// </summary>
    internal static VhdImage Open(ImageFile h, string path, bool readOnly, Func<string, bool, DiskImage>? openParent = null)
    {
        var chain = openChain ??= [];
        string key = System.IO.Path.GetFullPath(path);
        if (chain.Contains(key))
        {
            h.Dispose();
            throw new ImageFormatException($"VHD parent: loop in the chain of differencing disks at '{path}'");
        }
        if (chain.Count >= MaxParentDepth)
        {
            h.Dispose();
            throw new ImageFormatException($"VHD parent: chain of differencing disks deeper than {MaxParentDepth} at '{path}'");
        }
        chain.Add(key);
        try
        {
            return OpenHandle(h, path, readOnly, openParent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            h.Dispose();
            throw new ImageFormatException($"VHD '{path}': I/O error while reading metadata: {e.Message}", e);
        }
        catch
        {
            h.Dispose();
            throw;
        }
        finally
        {
            chain.RemoveAt(chain.Count - 1);
        }
    }

    static VhdImage OpenHandle(ImageFile h, string path, bool readOnly, Func<string, bool, DiskImage>? openParent)
    {
        long fileLength = h.Length;
        if (fileLength < VhdFooter.Size)
            throw new ImageFormatException($"VHD footer: the {fileLength}-byte file '{path}' is too small to hold a 512-byte footer");

        // Dynamic disks keep a footer copy at offset 0 (that is what qemu reads first); the footer proper is the
        // last 512 bytes of the file. The copy is preferred because a crash while appending a block can leave the
        // end of the file without a footer.
        var head = new byte[VhdFooter.Size];
        ReadExactly(h, head, 0);
        var tail = new byte[VhdFooter.Size];
        ReadExactly(h, tail, fileLength - VhdFooter.Size);

        VhdFooter? footer = null;
        byte[] footerBytes = tail;
        if (VhdFooter.HasCookie(head))
        {
            try
            {
                var copy = VhdFooter.Parse(head, "copy at offset 0");
                if (copy.DiskType is VhdDiskType.Dynamic or VhdDiskType.Differencing)
                {
                    footer = copy;
                    footerBytes = head;
                }
            }
            catch (ImageFormatException) when (VhdFooter.HasCookie(tail))
            {
                // Damaged copy: fall back to the footer at the end.
            }
        }
        footer ??= VhdFooter.Parse(tail, "end of file");

        if (footer.DiskType == VhdDiskType.Fixed)
        {
            if (footer.DataOffset != VhdFooter.NoDataOffset)
                throw new ImageFormatException($"VHD footer data offset: 0x{footer.DataOffset:X} must be 0xFFFFFFFFFFFFFFFF for a fixed disk");
            if ((long)footer.CurrentSize != fileLength - VhdFooter.Size)
                throw new ImageFormatException($"VHD footer current size: {footer.CurrentSize} does not match the fixed disk's {fileLength - VhdFooter.Size} data bytes");
            return new VhdImage(h, path, readOnly, footer, footerBytes, null, [], 0);
        }

        // Dynamic or differencing disk.
        if (footer.DataOffset < VhdFooter.Size || fileLength < VhdDynamicHeader.Size || footer.DataOffset > (ulong)(fileLength - VhdDynamicHeader.Size))
            throw new ImageFormatException($"VHD footer data offset: 0x{footer.DataOffset:X} does not locate a dynamic header inside the {fileLength}-byte file");
        var hb = new byte[VhdDynamicHeader.Size];
        ReadExactly(h, hb, (long)footer.DataOffset);
        var header = VhdDynamicHeader.Parse(hb);
        long blocksNeeded = (long)((footer.CurrentSize + header.BlockSize - 1) / header.BlockSize);
        if (header.MaxTableEntries < blocksNeeded)
            throw new ImageFormatException($"VHD dynamic header max table entries: {header.MaxTableEntries} blocks of {header.BlockSize} bytes cannot hold the {footer.CurrentSize}-byte disk");
        if (header.TableOffset < VhdFooter.Size || header.TableOffset > (ulong)fileLength
            || (long)header.TableOffset + (long)header.MaxTableEntries * 4 > fileLength)
            throw new ImageFormatException($"VHD dynamic header table offset: the {header.MaxTableEntries}-entry BAT at 0x{header.TableOffset:X} lies outside the {fileLength}-byte file");

        var raw = new byte[(long)header.MaxTableEntries * 4];
        ReadExactly(h, raw, (long)header.TableOffset);
        var bat = new uint[header.MaxTableEntries];
        for (int i = 0; i < bat.Length; i++) bat[i] = BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(i * 4));

        long locatorsEnd = 0;
        var locatorData = new List<(uint Code, byte[] Data)>();
        if (footer.DiskType == VhdDiskType.Differencing)
        {
            for (int i = 0; i < VhdDynamicHeader.Locators; i++)
            {
                var l = header.ParentLocators[i];
                if (l.PlatformCode == 0) continue;
                if (l.DataLength == 0 || l.DataLength > MaxLocatorBytes || l.DataOffset < VhdFooter.Size
                    || l.DataOffset > (ulong)fileLength || (long)l.DataOffset + l.DataLength > fileLength)
                    throw new ImageFormatException($"VHD parent locator {i}: {l.DataLength} bytes at 0x{l.DataOffset:X} are empty, too long or outside the {fileLength}-byte file");
                var data = new byte[l.DataLength];
                ReadExactly(h, data, (long)l.DataOffset);
                locatorData.Add((l.PlatformCode, data));
                // The data space is in sectors per the specification; some writers store bytes. Either way the
                // data itself ends the locator's area at the least.
                long space = Math.Max(l.DataLength, l.DataSpace <= MaxLocatorBytes / Sector ? l.DataSpace * (long)Sector : l.DataSpace);
                locatorsEnd = Math.Max(locatorsEnd, Math.Min(fileLength, (long)l.DataOffset + (space + Sector - 1) / Sector * Sector));
            }
        }

        var image = new VhdImage(h, path, readOnly, footer, footerBytes, header, bat, 0, locatorsEnd);
        image.nextFree = image.ComputeNextFree(fileLength);
        if (footer.DiskType == VhdDiskType.Differencing) image.OpenParent(header, locatorData, openParent);
        if (!readOnly && !image.TailIsFooter()) image.RepairTail();
        return image;
    }

    const int MaxLocatorBytes = 64 * 1024;

    /// <summary>Where a differencing disk's parent may be: each locator's path, then the parent's name next to the child.</summary>
    static List<string> ParentCandidates(string childPath, VhdDynamicHeader header, List<(uint Code, byte[] Data)> locators)
    {
        string dir = System.IO.Path.GetDirectoryName(childPath) ?? ".";
        var found = new List<string>();
        void Add(string? p)
        {
            if (string.IsNullOrEmpty(p) || p.Contains('\0')) return;
            p = p.Replace('\\', System.IO.Path.DirectorySeparatorChar);
            if (!OperatingSystem.IsWindows() && p.Length >= 2 && p[1] == ':') return; // a drive letter: not a path here
            string full = System.IO.Path.IsPathRooted(p) ? p : System.IO.Path.Combine(dir, p);
            if (!found.Contains(full)) found.Add(full);
        }
        foreach (uint code in new[] { VhdParentLocator.W2ru, VhdParentLocator.W2ku, VhdParentLocator.MacX })
            foreach (var (c, data) in locators)
            {
                if (c != code) continue;
                if (code == VhdParentLocator.MacX)
                {
                    string url = System.Text.Encoding.UTF8.GetString(data).TrimEnd('\0');
                    if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.IsFile) Add(uri.LocalPath);
                }
                else Add(System.Text.Encoding.Unicode.GetString(data).TrimEnd('\0'));
            }
        if (header.ParentName.Length > 0) Add(System.IO.Path.GetFileName(header.ParentName.Replace('\\', '/')));
        return found;
    }

    void OpenParent(VhdDynamicHeader header, List<(uint Code, byte[] Data)> locators, Func<string, bool, DiskImage>? openParent)
    {
        var candidates = ParentCandidates(path, header, locators);
        openParent ??= (p, ro) => DiskImages.Open(p, ro);
        var errors = new List<string>();
        foreach (string candidate in candidates)
        {
            DiskImage p;
            try
            {
                p = openParent(candidate, true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or BlockDeviceException or ImageFormatException or ArgumentException or NotSupportedException)
            {
                errors.Add($"'{candidate}': {e.Message}");
                continue;
            }
            if (p is VhdImage v && v.UniqueId != header.ParentUniqueId)
            {
                p.Dispose();
                throw new ImageFormatException($"VHD dynamic header parent unique id: {header.ParentUniqueId} is not the id of the parent '{candidate}' ({v.UniqueId}); the parent has been replaced");
            }
            parent = p;
            return;
        }
        throw new ImageFormatException(candidates.Count == 0
            ? $"VHD parent locators: no usable location of the parent '{header.ParentName}'"
            : $"VHD parent locators: the parent '{header.ParentName}' cannot be opened: {string.Join("; ", errors)}");
    }

    /// <summary>True if the file ends with the footer right after the last block (or the metadata).</summary>
    bool TailIsFooter()
    {
        if (handle.Length != nextFree + VhdFooter.Size) return false;
        var tail = new byte[VhdFooter.Size];
        return handle.Read(nextFree, tail) == VhdFooter.Size && tail.AsSpan().SequenceEqual(footerBytes);
    }

    /// <summary>
    /// After a crash (an unreferenced block past the last one, a missing or stale trailing footer): writes the footer
    /// right after the last block, then cuts the file there. The file ends with a valid footer before and after the cut.
    /// </summary>
    void RepairTail()
    {
        handle.Write(nextFree, footerBytes);
        handle.SetLength(nextFree + VhdFooter.Size);
        handle.Flush();
    }

    /// <summary>End of the last block inside the file, or of the metadata: where the trailing footer belongs.</summary>
    long ComputeNextFree(long fileLength)
    {
        long end = metadataEnd;
        long blockBytes = bitmapSize + (long)header!.BlockSize;
        foreach (uint e in bat)
        {
            if (e == Unallocated) continue;
            long blockEnd = (long)e * Sector + blockBytes;
            if (blockEnd <= fileLength) end = Math.Max(end, blockEnd);
        }
        return (end + Sector - 1) / Sector * Sector;
    }

    /// <summary>
    /// Creates a VHD of <paramref name="size"/> bytes (a positive multiple of 512, at most 2040 GiB). A fixed disk's
    /// data area is a sparse region of the file; a dynamic disk starts with no blocks allocated. See the class
    /// remarks for how the CHS geometry is chosen. Fails if the file exists.
    /// </summary>
    public static VhdImage Create(string path, long size, bool fixedSize, int blockSize = DefaultBlockSize)
    {
        CheckCreate(size, fixedSize, blockSize);
        var h = HandleImageFile.Create(path);
        try
        {
            return Create(h, System.IO.Path.GetFullPath(path), size, fixedSize, blockSize);
        }
        catch
        {
            h.Dispose();
            try { File.Delete(path); } catch (IOException) { }
            throw;
        }
    }

    static void CheckCreate(long size, bool fixedSize, int blockSize)
    {
        if (size <= 0 || size % Sector != 0 || size > MaxCreateSize)
            throw new ArgumentOutOfRangeException(nameof(size), size, "size must be a positive multiple of 512 bytes, at most 2040 GiB");
        if (!fixedSize && (blockSize < Sector * 8 || (blockSize & (blockSize - 1)) != 0))
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be a power of two of at least 4096 bytes");
    }

    /// <summary>Writes a new VHD into the empty <paramref name="h"/> and opens it (the image owns <paramref name="h"/>).</summary>
    internal static VhdImage Create(ImageFile h, string path, long size, bool fixedSize, int blockSize = DefaultBlockSize)
    {
        CheckCreate(size, fixedSize, blockSize);
        var geometry = VhdGeometry.FromSectors(size / Sector);
        if (geometry.TotalSectors * Sector != size) geometry = VhdGeometry.Max; // size not expressible in CHS: "force size"
        var footer = new VhdFooter
        {
            DataOffset = fixedSize ? VhdFooter.NoDataOffset : VhdFooter.Size,
            TimeStamp = (uint)Math.Clamp((long)(DateTime.UtcNow - VhdFooter.Epoch).TotalSeconds, 0, uint.MaxValue),
            CreatorApplication = VhdFooter.FourCc("jitv"),
            CreatorVersion = 0x0001_0000,
            CreatorHostOs = VhdFooter.FourCc("Wi2k"),
            OriginalSize = (ulong)size,
            CurrentSize = (ulong)size,
            Geometry = geometry,
            DiskType = fixedSize ? VhdDiskType.Fixed : VhdDiskType.Dynamic,
            UniqueId = Guid.NewGuid(),
        };
        byte[] fb = footer.ToBytes();

        if (fixedSize)
        {
            h.SetLength(size + VhdFooter.Size);
            h.Write(size, fb);
            h.Flush();
            return new VhdImage(h, path, false, footer, fb, null, [], 0);
        }

        uint entries = (uint)((size + blockSize - 1) / blockSize);
        var header = new VhdDynamicHeader
        {
            TableOffset = VhdFooter.Size + VhdDynamicHeader.Size,
            MaxTableEntries = entries,
            BlockSize = (uint)blockSize,
        };
        long batBytes = BatBytes(entries);
        var batRaw = new byte[batBytes];
        batRaw.AsSpan().Fill(0xFF); // unallocated entries; the padding is 0xFF too
        h.Write(0, fb);
        h.Write(VhdFooter.Size, header.ToBytes());
        h.Write((long)header.TableOffset, batRaw);
        long end = (long)header.TableOffset + batBytes;
        h.Write(end, fb);
        h.Flush();
        var bat = new uint[entries];
        Array.Fill(bat, Unallocated);
        return new VhdImage(h, path, false, footer, fb, header, bat, end);
    }

    /// <summary>
    /// Creates a differencing VHD over the VHD <paramref name="parentPath"/> (resolved against the new disk's directory
    /// if relative) and opens it read-write: same size and geometry as the parent, no block allocated, the parent's
    /// unique id and name recorded, and two parent locators (the Windows-style relative path and the absolute path).
    /// Fails if the file exists.
    /// </summary>
    public static VhdImage CreateDifferencing(string path, string parentPath, int blockSize = DefaultBlockSize)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        string parentFull = System.IO.Path.GetFullPath(System.IO.Path.IsPathRooted(parentPath) ? parentPath : System.IO.Path.Combine(dir, parentPath));
        VhdFooter parentFooter;
        using (var parent = Open(parentFull, readOnly: true)) parentFooter = parent.footer;
        CheckCreate((long)parentFooter.CurrentSize, false, blockSize);
        uint parentTime = (uint)Math.Clamp((long)(File.GetLastWriteTimeUtc(parentFull) - VhdFooter.Epoch).TotalSeconds, 0, uint.MaxValue);
        var h = HandleImageFile.Create(path);
        try
        {
            WriteDifferencing(h, parentFooter, parentTime, System.IO.Path.GetRelativePath(dir, parentFull), parentFull, blockSize);
        }
        catch
        {
            h.Dispose();
            try { File.Delete(path); } catch (IOException) { }
            throw;
        }
        return Open(h, full, false);
    }

    /// <summary>Writes a new differencing disk over a parent with footer <paramref name="parentFooter"/> into the empty <paramref name="h"/>.</summary>
    internal static void WriteDifferencing(ImageFile h, VhdFooter parentFooter, uint parentTime, string relativePath, string absolutePath, int blockSize)
    {
        long size = (long)parentFooter.CurrentSize;
        var footer = new VhdFooter
        {
            DataOffset = VhdFooter.Size,
            TimeStamp = (uint)Math.Clamp((long)(DateTime.UtcNow - VhdFooter.Epoch).TotalSeconds, 0, uint.MaxValue),
            CreatorApplication = VhdFooter.FourCc("jitv"),
            CreatorVersion = 0x0001_0000,
            CreatorHostOs = VhdFooter.FourCc("Wi2k"),
            OriginalSize = (ulong)size,
            CurrentSize = (ulong)size,
            Geometry = parentFooter.Geometry,
            DiskType = VhdDiskType.Differencing,
            UniqueId = Guid.NewGuid(),
        };
        uint entries = (uint)((size + blockSize - 1) / blockSize);
        long tableOffset = VhdFooter.Size + VhdDynamicHeader.Size;
        long pos = tableOffset + BatBytes(entries);
        var relative = System.Text.Encoding.Unicode.GetBytes(".\\" + relativePath.Replace('/', '\\'));
        var absolute = System.Text.Encoding.Unicode.GetBytes(absolutePath);
        var header = new VhdDynamicHeader
        {
            TableOffset = (ulong)tableOffset,
            MaxTableEntries = entries,
            BlockSize = (uint)blockSize,
            ParentUniqueId = parentFooter.UniqueId,
            ParentTimeStamp = parentTime,
            ParentName = System.IO.Path.GetFileName(absolutePath),
        };
        var data = new List<(long At, byte[] Bytes)>();
        int slot = 0;
        foreach (var (code, bytes) in new[] { (VhdParentLocator.W2ru, relative), (VhdParentLocator.W2ku, absolute) })
        {
            if (bytes.Length > MaxLocatorBytes) throw new ArgumentException($"the parent path is too long for a VHD parent locator: '{absolutePath}'");
            uint sectors = (uint)((bytes.Length + Sector - 1) / Sector);
            header.ParentLocators[slot++] = new VhdParentLocator(code, sectors, (uint)bytes.Length, (ulong)pos);
            data.Add((pos, bytes));
            pos += sectors * (long)Sector;
        }
        byte[] fb = footer.ToBytes();
        var batRaw = new byte[BatBytes(entries)];
        batRaw.AsSpan().Fill(0xFF);
        h.Write(0, fb);
        h.Write(VhdFooter.Size, header.ToBytes());
        h.Write(tableOffset, batRaw);
        foreach (var (at, bytes) in data) h.Write(at, bytes);
        h.Write(pos, fb);
        h.Flush();
    }

    static void ReadExactly(ImageFile h, Span<byte> buffer, long offset) => h.ReadExactly(offset, buffer);

    // ---------------------------------------------------------------- I/O

    void CheckAccess(long offset, int count)
    {
        if (disposed) throw new BlockDeviceException($"'{path}' has been closed");
        if (offset < 0 || count < 0 || offset > Length - count)
            throw new BlockDeviceException($"access of {count} bytes at {offset} is outside the {Length}-byte disk '{path}'");
        if (offset % Sector != 0 || count % Sector != 0)
            throw new BlockDeviceException($"access of {count} bytes at {offset} is not sector-aligned");
    }

    /// <inheritdoc/>
    public override void Read(long offset, Span<byte> buffer)
    {
        lock (gate)
        {
            CheckAccess(offset, buffer.Length);
            try
            {
                if (header is null)
                {
                    ReadExactly(handle, buffer, offset);
                    return;
                }
                long bs = header.BlockSize;
                int done = 0;
                while (done < buffer.Length)
                {
                    long pos = offset + done;
                    uint block = (uint)(pos / bs);
                    int inBlock = (int)(pos % bs);
                    int n = (int)Math.Min(buffer.Length - done, bs - inBlock);
                    ReadBlock(block, inBlock, buffer.Slice(done, n));
                    done += n;
                }
            }
            catch (IOException e)
            {
                throw new BlockDeviceException($"read of {buffer.Length} bytes at {offset} from '{path}' failed: {e.Message}", e);
            }
        }
    }

    long BlockStart(uint block)
    {
        uint e = bat[block];
        long start = (long)e * Sector;
        if (start < metadataEnd || start + bitmapSize + header!.BlockSize > nextFree)
            throw new BlockDeviceException($"VHD '{path}' is corrupt: BAT entry {block} (sector 0x{e:X}) points outside the data area");
        return start;
    }

    byte[] Bitmap(uint block, long start)
    {
        if (!bitmaps.TryGetValue(block, out var bm))
        {
            bm = new byte[bitmapSize];
            ReadExactly(handle, bm, start);
            bitmaps[block] = bm;
        }
        return bm;
    }

    static bool Bit(byte[] bm, int sector) => (bm[sector >> 3] & (0x80 >> (sector & 7))) != 0; // MSB = first sector

    /// <summary>Reads from the parent (differencing disks) or zeros.</summary>
    void ReadParent(long offset, Span<byte> dst)
    {
        long avail = parent == null ? 0 : Math.Max(0, parent.Length - offset);
        int n = (int)Math.Min(avail, dst.Length);
        if (n > 0) parent!.Read(offset, dst[..n]);
        dst[n..].Clear();
    }

    void ReadBlock(uint block, int inBlock, Span<byte> dst)
    {
        long blockStart = (long)block * header!.BlockSize;
        if (bat[block] == Unallocated)
        {
            ReadParent(blockStart + inBlock, dst);
            return;
        }
        long start = BlockStart(block);
        var bm = Bitmap(block, start);
        int first = inBlock / Sector, count = dst.Length / Sector;
        int i = 0;
        while (i < count) // runs of sectors with the same bitmap state
        {
            bool set = Bit(bm, first + i);
            int j = i + 1;
            while (j < count && Bit(bm, first + j) == set) j++;
            var part = dst.Slice(i * Sector, (j - i) * Sector);
            if (set) ReadExactly(handle, part, start + bitmapSize + (long)(first + i) * Sector);
            else ReadParent(blockStart + (long)(first + i) * Sector, part);
            i = j;
        }
    }

    /// <inheritdoc/>
    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (readOnly) throw new BlockDeviceException($"'{path}' is opened read-only");
        lock (gate)
        {
            CheckAccess(offset, data.Length);
            try
            {
                if (header is null)
                {
                    handle.Write(offset, data);
                    return;
                }
                long bs = header.BlockSize;
                int done = 0;
                while (done < data.Length)
                {
                    long pos = offset + done;
                    uint block = (uint)(pos / bs);
                    int inBlock = (int)(pos % bs);
                    int n = (int)Math.Min(data.Length - done, bs - inBlock);
                    WriteBlock(block, inBlock, data.Slice(done, n));
                    done += n;
                }
            }
            catch (IOException e)
            {
                throw new BlockDeviceException($"write of {data.Length} bytes at {offset} to '{path}' failed: {e.Message}", e);
            }
        }
    }

    void WriteBlock(uint block, int inBlock, ReadOnlySpan<byte> src)
    {
        int first = inBlock / Sector, count = src.Length / Sector;
        if (bat[block] == Unallocated)
        {
            if (parent == null && !src.ContainsAnyExcept((byte)0)) return; // zeros already read back as zeros
            AllocateBlock(block, first, src);
            return;
        }
        long start = BlockStart(block);
        var bm = Bitmap(block, start);
        handle.Write(start + bitmapSize + (long)inBlock, src);
        bool changed = false;
        for (int s = first; s < first + count; s++)
        {
            if (Bit(bm, s)) continue;
            bm[s >> 3] |= (byte)(0x80 >> (s & 7));
            changed = true;
        }
        if (changed) handle.Write(start, bm); // data first, then the bits that expose it
    }

    void AllocateBlock(uint block, int firstSector, ReadOnlySpan<byte> src)
    {
        // The file must end with the footer at nextFree, so that the new block's area is fresh (zeros: qemu reads
        // blocks without looking at their bitmaps).
        if (handle.Length != nextFree + VhdFooter.Size) RepairTail();
        long start = nextFree;
        long blockEnd = start + bitmapSize + header!.BlockSize;
        var bm = new byte[bitmapSize];
        for (int s = firstSector; s < firstSector + src.Length / Sector; s++) bm[s >> 3] |= (byte)(0x80 >> (s & 7));
        handle.Write(blockEnd, footerBytes);                                // 1. footer at the new end (the file grows)
        handle.Write(start + bitmapSize + (long)firstSector * Sector, src); // 2. data
        handle.Write(start, bm);                                            // 3. bitmap, over the old footer
        handle.Flush();                                                     //    barrier
        var entry = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)(start / Sector));
        handle.Write((long)header.TableOffset + (long)block * 4, entry);    // 4. BAT entry
        bat[block] = (uint)(start / Sector);
        bitmaps[block] = bm;
        nextFree = blockEnd;
    }

    /// <inheritdoc/>
    public override void Flush()
    {
        if (readOnly) return;
        lock (gate)
        {
            if (disposed) return;
            try
            {
                handle.Flush();
            }
            catch (IOException e)
            {
                throw new BlockDeviceException($"flush of '{path}' failed: {e.Message}", e);
            }
        }
    }

    // ---------------------------------------------------------------- resize

    /// <summary>
    /// Grows the disk. Dynamic: within the block allocation table's <c>Max Table Entries</c> (else
    /// <see cref="InvalidOperationException"/>); sectors of an allocated last block past the old end are zeroed, then
    /// the footer's current size and geometry (chosen as <see cref="Create"/> does) are rewritten at the end of the
    /// file and in the copy at offset 0. Fixed: the new footer is written at the new end, then the old one is zeroed.
    /// Shrinking is refused.
    /// </summary>
    public override void Resize(long newLength)
    {
        CheckNewLength(newLength);
        if (readOnly) throw new InvalidOperationException($"cannot resize '{path}': it is opened read-only");
        lock (gate)
        {
            if (disposed) throw new BlockDeviceException($"'{path}' has been closed");
            long oldLength = Length;
            if (newLength == oldLength) return;
            if (parent != null)
                throw new InvalidOperationException($"cannot resize the differencing VHD '{path}': its size is its parent's");
            if (newLength < oldLength)
                throw new InvalidOperationException($"cannot shrink the VHD '{path}' from {oldLength} to {newLength} bytes: shrinking is not supported");
            if (newLength > MaxCreateSize)
                throw new InvalidOperationException($"cannot grow the VHD '{path}' to {newLength} bytes: the format's limit is {MaxCreateSize} bytes");
            if (header is not null && (newLength + header.BlockSize - 1) / header.BlockSize > header.MaxTableEntries)
                throw new InvalidOperationException($"cannot grow the dynamic VHD '{path}' to {newLength} bytes: its block allocation table has " +
                    $"{header.MaxTableEntries} entries of {header.BlockSize} bytes ({(long)header.MaxTableEntries * header.BlockSize} bytes); convert it to a new image instead");

            var geometry = VhdGeometry.FromSectors(newLength / Sector);
            if (geometry.TotalSectors * Sector != newLength) geometry = VhdGeometry.Max;
            var fb = (byte[])footerBytes.Clone(); // keep reserved bytes as found
            BinaryPrimitives.WriteUInt64BigEndian(fb.AsSpan(48), (ulong)newLength);
            BinaryPrimitives.WriteUInt16BigEndian(fb.AsSpan(56), geometry.Cylinders);
            fb[58] = geometry.Heads;
            fb[59] = geometry.SectorsPerTrack;
            BinaryPrimitives.WriteUInt32BigEndian(fb.AsSpan(64), VhdFooter.Checksum(fb, 64));
            var newFooter = VhdFooter.Parse(fb, "resized");
            try
            {
                if (header is null)
                {
                    handle.Write(newLength, fb);                          // new footer at the new end
                    handle.Write(oldLength, new byte[VhdFooter.Size]);    // the old one becomes zeros
                }
                else
                {
                    long bs = header.BlockSize;
                    uint last = (uint)((oldLength - 1) / bs);
                    long tailEnd = Math.Min(newLength, (last + 1L) * bs);
                    if (bat[last] != Unallocated && tailEnd > oldLength)
                    {
                        // Sectors past the old end may hold stale data (qemu reads blocks without their bitmaps).
                        var zeros = new byte[tailEnd - oldLength];
                        WriteBlock(last, (int)(oldLength % bs), zeros);
                    }
                    handle.Write(nextFree, fb); // the trailing footer, then the copy qemu reads first
                    handle.Write(0, fb);
                }
                handle.Flush();
            }
            catch (IOException e)
            {
                throw new BlockDeviceException($"resize of '{path}' to {newLength} bytes failed: {e.Message}", e);
            }
            footer = newFooter;
            footerBytes = fb;
        }
    }

    // ---------------------------------------------------------------- check

    /// <summary>
    /// Dynamic disks: every BAT entry must lie after the metadata, inside the file before the trailing footer, and
    /// not overlap another block (each violation is a corruption); the file must end with the footer (corruption);
    /// file space between blocks that no entry references is a leak. Fixed disks were fully validated by Open.
    /// </summary>
    public override ImageCheckResult Check()
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            var messages = new List<string>();
            if (header is null) return new ImageCheckResult(0, 0, messages);
            int corruptions = 0, leaks = 0;
            bool Corrupt() { corruptions++; return messages.Count < MaxCheckMessages; } // messages are kept for the first ones only
            bool Leak() { leaks++; return messages.Count < MaxCheckMessages; }
            long fileLength = handle.Length;
            long blockBytes = bitmapSize + (long)header.BlockSize;
            long dataEnd = fileLength - VhdFooter.Size;

            var tail = new byte[VhdFooter.Size];
            if (fileLength >= VhdFooter.Size) ReadExactly(handle, tail, fileLength - VhdFooter.Size);
            if (!tail.AsSpan().SequenceEqual(footerBytes))
            {
                if (Corrupt()) messages.Add("the file does not end with the footer");
                dataEnd = fileLength;
            }

            var blocks = new List<(long Start, uint Index)>();
            for (uint i = 0; i < bat.Length; i++)
            {
                uint e = bat[i];
                if (e == Unallocated) continue;
                long start = (long)e * Sector;
                if (start < metadataEnd)
                {
                    if (Corrupt()) messages.Add($"BAT entry {i}: block at 0x{start:X} overlaps the footer copy, dynamic header or BAT");
                }
                else if (start + blockBytes > dataEnd)
                {
                    if (Corrupt()) messages.Add($"BAT entry {i}: block at 0x{start:X} extends past the data area (ends at 0x{dataEnd:X})");
                }
                else blocks.Add((start, i));
            }
            blocks.Sort();
            long cursor = metadataEnd;
            for (int k = 0; k < blocks.Count; k++)
            {
                var (start, index) = blocks[k];
                if (start < cursor && k > 0)
                {
                    if (Corrupt()) messages.Add($"BAT entry {index}: block at 0x{start:X} overlaps block {blocks[k - 1].Index}");
                }
                else if (start > cursor)
                {
                    if (Leak()) messages.Add($"leak: 0x{start - cursor:X} unreferenced bytes at 0x{cursor:X}");
                }
                cursor = Math.Max(cursor, start + blockBytes);
            }
            long alignedCursor = (cursor + Sector - 1) / Sector * Sector;
            if (dataEnd > alignedCursor)
            {
                if (Leak()) messages.Add($"leak: 0x{dataEnd - alignedCursor:X} unreferenced bytes at 0x{alignedCursor:X}");
            }
            return new ImageCheckResult(corruptions, leaks, messages);
        }
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            handle.Dispose();
            parent?.Dispose();
        }
    }
}
