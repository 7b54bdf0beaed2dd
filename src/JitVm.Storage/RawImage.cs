using System.Runtime.InteropServices;
using JitVm.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace JitVm.Storage;

/// <summary>
/// A raw disk image: the file's bytes are the disk's bytes, nothing else. The guest-visible size is the file length
/// rounded down to a whole sector (a trailing partial sector is not visible).
/// </summary>
public sealed class RawImage : DiskImage
{
    readonly ImageFile handle;
    long length;
    readonly bool readOnly;
    readonly string path;
    bool disposed;

    RawImage(ImageFile handle, string path, long length, bool readOnly)
    {
        this.handle = handle;
        this.path = path;
        this.length = length;
        this.readOnly = readOnly;
    }

    /// <summary>Opens an existing raw image.</summary>
    /// <exception cref="ImageFormatException">The file is smaller than one sector.</exception>
    public static RawImage Open(string path, bool readOnly)
    {
        ImageFile h;
        try
        {
            h = HandleImageFile.Open(path, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageFormatException($"cannot open raw image '{path}': {e.Message}", e);
        }
        return Open(h, System.IO.Path.GetFullPath(path), readOnly);
    }

    /// <summary>Opens the raw image held in <paramref name="h"/> (which the image then owns).</summary>
    internal static RawImage Open(ImageFile h, string path, bool readOnly)
    {
        try
        {
            long size = h.Length & ~511L;
            if (size == 0) throw new ImageFormatException($"raw image size: '{path}' is smaller than one 512-byte sector");
            return new RawImage(h, path, size, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            h.Dispose();
            throw new ImageFormatException($"raw image '{path}': {e.Message}", e);
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a new raw image of <paramref name="size"/> bytes (a positive multiple of 512) as a sparse file: the
    /// length is set without writing data, so no data blocks are allocated on file systems that support holes.
    /// Fails if the file exists.
    /// </summary>
    public static RawImage Create(string path, long size)
    {
        if (size <= 0 || size % 512 != 0) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be a positive multiple of 512 bytes");
        var h = HandleImageFile.Create(path);
        try
        {
            h.SetLength(size);
            return new RawImage(h, System.IO.Path.GetFullPath(path), size, false);
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public override string Format => "raw";
    /// <inheritdoc/>
    public override long Length => length;
    /// <inheritdoc/>
    public override bool ReadOnly => readOnly;
    /// <inheritdoc/>
    public override string Path => path;

    /// <summary>
    /// Bytes of the file that hold data: on Linux the sum of the data extents found with lseek SEEK_DATA/SEEK_HOLE
    /// (file-system block granularity; holes of a sparse file do not count); elsewhere, or if that fails, the length.
    /// </summary>
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

    /// <inheritdoc/>
    public override void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        try
        {
            int done = 0;
            while (done < buffer.Length)
            {
                int n = handle.Read(offset + done, buffer[done..]);
                if (n <= 0)
                {
                    buffer[done..].Clear(); // file shrunk underneath us: what is not there reads as zeros
                    break;
                }
                done += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            throw new BlockDeviceException($"read of {buffer.Length} bytes at {offset} from '{path}' failed: {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (readOnly) throw new BlockDeviceException($"'{path}' is opened read-only");
        CheckRange(offset, data.Length);
        try
        {
            handle.Write(offset, data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            throw new BlockDeviceException($"write of {data.Length} bytes at {offset} to '{path}' failed: {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public override void Flush()
    {
        if (readOnly) return;
        try
        {
            handle.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            throw new BlockDeviceException($"flush of '{path}' failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Sets the file length to <paramref name="newLength"/>: growing adds a hole (zeros, nothing allocated), shrinking
    /// discards the data past the new end (as <c>qemu-img resize --shrink</c>).
    /// </summary>
    public override void Resize(long newLength)
    {
        CheckNewLength(newLength);
        if (readOnly) throw new InvalidOperationException($"cannot resize '{path}': it is opened read-only");
        try
        {
            // A trailing partial sector was never visible: cut it first so that it cannot reappear as data.
            if (handle.Length != length) handle.SetLength(length);
            handle.SetLength(newLength);
            length = newLength;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            throw new BlockDeviceException($"resize of '{path}' to {newLength} bytes failed: {e.Message}", e);
        }
    }

    /// <summary>A raw image has no metadata: always clean.</summary>
    public override ImageCheckResult Check() => new(0, 0, []);

    /// <inheritdoc/>
    public override void Dispose()
    {
        disposed = true;
        handle.Dispose();
    }

    void CheckRange(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > length - count)
            throw new BlockDeviceException($"access of {count} bytes at {offset} is outside the {length}-byte disk '{path}'");
    }
}

/// <summary>Host file-system helpers for sparse files.</summary>
static class SparseFile
{
    const int SeekData = 3, SeekHole = 4; // Linux <unistd.h>

    [DllImport("libc", EntryPoint = "lseek", SetLastError = true)]
    static extern long LSeek(int fd, long offset, int whence);

    /// <summary>Bytes covered by data extents (SEEK_DATA/SEEK_HOLE), or null where that is not available.</summary>
    public static long? AllocatedBytes(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux() || handle.IsInvalid || handle.IsClosed) return null;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            long end = RandomAccess.GetLength(handle);
            long total = 0, pos = 0;
            // Bounded: each iteration advances pos past one data extent.
            while (pos < end)
            {
                long data = LSeek(fd, pos, SeekData);
                if (data < 0)
                {
                    // ENXIO (6): no data after pos. Anything else: unsupported.
                    return Marshal.GetLastPInvokeError() == 6 ? total : null;
                }
                long hole = LSeek(fd, data, SeekHole);
                if (hole < 0) return null;
                total += hole - data;
                pos = hole;
            }
            return total;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException or ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }
}
