using JitVm.Core.Storage;

namespace JitVm.Machine.Management;

/// <summary>
/// A disk as the management layer attaches it: passes every request to the image and reports each failure (host I/O
/// error, corrupt image, write to a read-only disk) through <see cref="IoError"/> before the controller sees it and
/// turns it into a guest-visible error — what the API's BLOCK_IO_ERROR event is made from. Counts operations for
/// <c>info block</c>.
/// </summary>
public sealed class ObservedBlockDevice : IBlockDevice
{
    readonly IBlockDevice inner;
    long reads, writes, errors;

    /// <param name="device">The drive's name in the API ("ide0-hd0", "floppy0", "ide1-cd0").</param>
    /// <param name="file">The image's file name (or a description), for <c>info block</c>.</param>
    public ObservedBlockDevice(string device, string file, IBlockDevice inner)
    {
        Device = device;
        File = file;
        this.inner = inner;
    }

    public string Device { get; }
    public string File { get; }
    public IBlockDevice Inner => inner;

    /// <summary>Called on the machine's thread with (operation "read"/"write"/"flush", message) when a request fails.</summary>
    public Action<string, string>? IoError { get; set; }

    public long Reads => Interlocked.Read(ref reads);
    public long Writes => Interlocked.Read(ref writes);
    public long Errors => Interlocked.Read(ref errors);

    public long Length => inner.Length;
    public bool ReadOnly => inner.ReadOnly;

    public void Read(long offset, Span<byte> buffer)
    {
        Interlocked.Increment(ref reads);
        try { inner.Read(offset, buffer); }
        catch (Exception e) when (e is BlockDeviceException or IOException) { Failed("read", e); throw; }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Interlocked.Increment(ref writes);
        try { inner.Write(offset, data); }
        catch (Exception e) when (e is BlockDeviceException or IOException) { Failed("write", e); throw; }
    }

    public void Flush()
    {
        try { inner.Flush(); }
        catch (Exception e) when (e is BlockDeviceException or IOException) { Failed("flush", e); throw; }
    }

    void Failed(string operation, Exception e)
    {
        Interlocked.Increment(ref errors);
        IoError?.Invoke(operation, e.Message);
    }
}
