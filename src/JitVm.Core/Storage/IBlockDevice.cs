namespace JitVm.Core.Storage;

/// <summary>
/// A virtual disk as the controllers see it: a byte-addressed array of <see cref="Length"/> bytes, read and written
/// in whole sectors by the ATA and floppy controllers. Implementations (raw, qcow2, VHD, overlays) live in the
/// storage layer; they must be safe for one VM thread doing I/O while another thread reads <see cref="Length"/>
/// or statistics. Errors are reported as <see cref="BlockDeviceException"/> (the controller turns them into a
/// guest-visible I/O error), never as other exceptions.
/// </summary>
public interface IBlockDevice
{
    /// <summary>Size in bytes (a multiple of 512).</summary>
    long Length { get; }

    /// <summary>Writes are refused (the controller reports write protection).</summary>
    bool ReadOnly { get; }

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/> (sector-aligned, inside the device).</summary>
    void Read(long offset, Span<byte> buffer);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> (sector-aligned, inside the device).</summary>
    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Makes every acknowledged write durable.</summary>
    void Flush();
}

/// <summary>A disk I/O failure (host I/O error, corrupt image, write to a read-only device).</summary>
public sealed class BlockDeviceException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A block device held in host memory (tests, RAM disks).</summary>
public sealed class MemoryBlockDevice : IBlockDevice
{
    readonly byte[] data;

    public MemoryBlockDevice(byte[] contents, bool readOnly = false)
    {
        if (contents.Length % 512 != 0) throw new ArgumentException("size must be a multiple of 512 bytes", nameof(contents));
        data = contents;
        ReadOnly = readOnly;
    }

    public MemoryBlockDevice(long length) : this(new byte[length]) { }

    public long Length => data.Length;
    public bool ReadOnly { get; }

    /// <summary>The contents (for tests to inspect).</summary>
    public byte[] Contents => data;

    void Check(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset + count > data.Length)
            throw new BlockDeviceException($"access of {count} bytes at {offset} is outside the {data.Length}-byte device");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        Check(offset, buffer.Length);
        data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> src)
    {
        if (ReadOnly) throw new BlockDeviceException("the device is read-only");
        Check(offset, src.Length);
        src.CopyTo(data.AsSpan((int)offset));
    }

    public void Flush() { }
}
