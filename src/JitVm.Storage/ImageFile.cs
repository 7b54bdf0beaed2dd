using Microsoft.Win32.SafeHandles;

namespace JitVm.Storage;

/// <summary>
/// The host file an image lives in: positional reads and writes, length, sync. <see cref="HandleImageFile"/> is the
/// normal case (a file handle, <see cref="RandomAccess"/>); <see cref="MemoryImageFile"/> keeps the bytes in memory so
/// that tests can fuzz and crash images without touching the disk. Host failures are <see cref="IOException"/>s (or
/// <see cref="UnauthorizedAccessException"/>, <see cref="ObjectDisposedException"/>), which the formats turn into
/// <see cref="ImageFormatException"/> or <see cref="Core.Storage.BlockDeviceException"/>.
/// </summary>
internal abstract class ImageFile : IDisposable
{
    public abstract long Length { get; }

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>; 0 at or past the end.</summary>
    public abstract int Read(long offset, Span<byte> buffer);

    /// <summary>Writes at <paramref name="offset"/>, extending the file (with zeros in any gap) if needed.</summary>
    public abstract void Write(long offset, ReadOnlySpan<byte> data);

    public abstract void SetLength(long length);

    /// <summary>Makes everything written so far durable (fsync).</summary>
    public abstract void Flush();

    /// <summary>Bytes that hold data (holes of a sparse file excluded), or null if unknown.</summary>
    public abstract long? AllocatedBytes { get; }

    public abstract void Dispose();

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or throws <see cref="EndOfStreamException"/>.</summary>
    public void ReadExactly(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = Read(offset + done, buffer[done..]);
            if (n <= 0) throw new EndOfStreamException($"unexpected end of file at {offset + done}");
            done += n;
        }
    }

    /// <summary>Reads <paramref name="buffer"/>.Length bytes; what lies past the end of the file reads as zeros.</summary>
    public void ReadOrZero(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = Read(offset + done, buffer[done..]);
            if (n <= 0)
            {
                buffer[done..].Clear();
                return;
            }
            done += n;
        }
    }
}

/// <summary>An image file on disk, through a <see cref="SafeFileHandle"/>.</summary>
internal sealed class HandleImageFile(SafeFileHandle handle) : ImageFile
{
    /// <summary>Opens <paramref name="path"/> for reading, or reading and writing (exclusively).</summary>
    public static HandleImageFile Open(string path, bool readOnly) =>
        new(File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
            readOnly ? FileShare.Read : FileShare.None));

    /// <summary>Creates <paramref name="path"/>, which must not exist.</summary>
    public static HandleImageFile Create(string path) =>
        new(File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None));

    public override long Length => RandomAccess.GetLength(handle);
    public override int Read(long offset, Span<byte> buffer) => RandomAccess.Read(handle, buffer, offset);
    public override void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(handle, data, offset);
    public override void SetLength(long length) => RandomAccess.SetLength(handle, length);
    public override void Flush() => RandomAccess.FlushToDisk(handle);

    public override long? AllocatedBytes
    {
        get
        {
            try
            {
                return SparseFile.AllocatedBytes(handle) ?? RandomAccess.GetLength(handle);
            }
            catch (ObjectDisposedException)
            {
                return 0; // closed by another thread meanwhile
            }
        }
    }

    public override void Dispose() => handle.Dispose();
}

/// <summary>
/// An image file in memory, sparse (4 KiB pages, allocated when written) up to <see cref="MaxLength"/>; writes past
/// that fail with <see cref="IOException"/> as a real file system's size limit would. Not thread-safe (the image
/// classes serialise their accesses).
/// </summary>
internal sealed class MemoryImageFile : ImageFile
{
    const int PageBits = 12, PageSize = 1 << PageBits;
    readonly Dictionary<long, byte[]> pages = [];
    long length;
    bool disposed;

    /// <summary>Largest length the file may reach (default 1 TiB).</summary>
    public long MaxLength { get; init; } = 1L << 40;

    /// <summary>
    /// Called before each write (and length change, with length -1) with the write's ordinal (from 0), offset and
    /// length; a test throws from it to simulate a crash at that point.
    /// </summary>
    public Action<long, long, int>? BeforeWrite { get; set; }

    /// <summary>Writes that reached the file so far.</summary>
    public long WriteCount { get; private set; }

    public MemoryImageFile() { }

    public MemoryImageFile(ReadOnlySpan<byte> contents)
    {
        Write(0, contents);
        WriteCount = 0;
    }

    /// <summary>The length (readable also after the image that owned the file closed it).</summary>
    public override long Length => length;

    public override int Read(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= length) return 0;
        int n = (int)Math.Min(buffer.Length, length - offset);
        int done = 0;
        while (done < n)
        {
            long pos = offset + done;
            int inPage = (int)(pos & (PageSize - 1));
            int k = Math.Min(n - done, PageSize - inPage);
            if (pages.TryGetValue(pos >> PageBits, out var page)) page.AsSpan(inPage, k).CopyTo(buffer.Slice(done, k));
            else buffer.Slice(done, k).Clear();
            done += k;
        }
        return n;
    }

    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset > MaxLength - data.Length) throw new IOException($"File too large: a write of {data.Length} bytes at {offset} passes the {MaxLength}-byte limit");
        BeforeWrite?.Invoke(WriteCount, offset, data.Length);
        WriteCount++;
        int done = 0;
        while (done < data.Length)
        {
            long pos = offset + done;
            int inPage = (int)(pos & (PageSize - 1));
            int k = Math.Min(data.Length - done, PageSize - inPage);
            var chunk = data.Slice(done, k);
            if (!pages.TryGetValue(pos >> PageBits, out var page))
            {
                if (!chunk.ContainsAnyExcept((byte)0)) { done += k; continue; } // zeros into a hole stay a hole
                pages[pos >> PageBits] = page = new byte[PageSize];
            }
            chunk.CopyTo(page.AsSpan(inPage));
            done += k;
        }
        length = Math.Max(length, offset + data.Length);
    }

    public override void SetLength(long newLength)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(newLength);
        if (newLength > MaxLength) throw new IOException($"File too large: {newLength} bytes passes the {MaxLength}-byte limit");
        BeforeWrite?.Invoke(WriteCount, newLength, -1);
        WriteCount++;
        if (newLength < length)
        {
            long firstPage = newLength >> PageBits;
            foreach (long p in pages.Keys.Where(p => p > firstPage || (p == firstPage && (newLength & (PageSize - 1)) == 0)).ToList())
                pages.Remove(p);
            if (pages.TryGetValue(firstPage, out var partial)) partial.AsSpan((int)(newLength & (PageSize - 1))).Clear();
        }
        length = newLength;
    }

    public override void Flush() => ObjectDisposedException.ThrowIf(disposed, this);

    public override long? AllocatedBytes => disposed ? 0 : (long)pages.Count * PageSize;

    /// <summary>An open copy of this file (also after the image that owned it closed it).</summary>
    public MemoryImageFile Clone()
    {
        var c = new MemoryImageFile { MaxLength = MaxLength };
        foreach (var (index, page) in pages) c.pages[index] = (byte[])page.Clone();
        c.length = length;
        return c;
    }

    /// <summary>A copy of the contents (also after the image that owned the file closed it).</summary>
    public byte[] ToArray()
    {
        var b = new byte[length];
        foreach (var (index, page) in pages)
        {
            long at = index << PageBits;
            page.AsSpan(0, (int)Math.Min(PageSize, length - at)).CopyTo(b.AsSpan((int)at));
        }
        return b;
    }

    public override void Dispose() => disposed = true;
}
