namespace JitVm.Core.Storage;

/// <summary>
/// A raw disk image file (the whole file is the disk, as qemu-img's raw format). Accesses are serialised, so
/// another thread may read <see cref="Length"/> while the VM runs. Host I/O errors become <see cref="BlockDeviceException"/>.
/// </summary>
public sealed class RawFileBlockDevice : IBlockDevice, IDisposable
{
    readonly FileStream file;
    readonly Lock gate = new();

    RawFileBlockDevice(FileStream file, bool readOnly)
    {
        this.file = file;
        ReadOnly = readOnly;
        Length = file.Length;
    }

    /// <summary>Opens <paramref name="path"/>; its size must be a non-zero multiple of 512 bytes.</summary>
    /// <exception cref="BlockDeviceException">The file cannot be opened or has an unusable size.</exception>
    public static RawFileBlockDevice Open(string path, bool readOnly = false)
    {
        FileStream f;
        try
        {
            f = new FileStream(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.Read : FileShare.None, 4096, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new BlockDeviceException($"cannot open disk image '{path}': {e.Message}", e);
        }
        if (f.Length == 0 || f.Length % 512 != 0)
        {
            long n = f.Length;
            f.Dispose();
            throw new BlockDeviceException($"disk image '{path}' is {n} bytes, not a non-zero multiple of 512");
        }
        return new RawFileBlockDevice(f, readOnly);
    }

    public long Length { get; }
    public bool ReadOnly { get; }

    void Check(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > Length - count)
            throw new BlockDeviceException($"access of {count} bytes at {offset} is outside the {Length}-byte image");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        Check(offset, buffer.Length);
        lock (gate)
        {
            try
            {
                file.Position = offset;
                file.ReadExactly(buffer);
            }
            catch (Exception e) when (e is IOException or EndOfStreamException)
            {
                throw new BlockDeviceException($"read of {buffer.Length} bytes at {offset} failed: {e.Message}", e);
            }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (ReadOnly) throw new BlockDeviceException("the image is read-only");
        Check(offset, data.Length);
        lock (gate)
        {
            try
            {
                file.Position = offset;
                file.Write(data);
            }
            catch (IOException e)
            {
                throw new BlockDeviceException($"write of {data.Length} bytes at {offset} failed: {e.Message}", e);
            }
        }
    }

    public void Flush()
    {
        lock (gate)
        {
            try { file.Flush(flushToDisk: true); }
            catch (IOException e) { throw new BlockDeviceException($"flush failed: {e.Message}", e); }
        }
    }

    public void Dispose()
    {
        lock (gate) file.Dispose();
    }
}
