using JitVm.Core.Storage;

namespace JitVm.Storage;

/// <summary>
/// A disk image file in one of the supported formats, opened as a block device. Each format (raw, qcow2, VHD)
/// derives from this; <c>DiskImages.Open</c> detects the format. Every header field is validated before use:
/// a malformed image raises <see cref="ImageFormatException"/> naming the field, nothing else.
/// </summary>
public abstract class DiskImage : IBlockDevice, IDisposable
{
    /// <summary>Format name as qemu-img prints it: "raw", "qcow2", "vpc".</summary>
    public abstract string Format { get; }

    /// <summary>The disk size the guest sees, in bytes.</summary>
    public abstract long Length { get; }

    public abstract bool ReadOnly { get; }

    /// <summary>Host bytes the image file occupies (allocated clusters/blocks plus metadata).</summary>
    public abstract long AllocatedBytes { get; }

    /// <summary>The backing image (qcow2 backing file, VHD parent), or null.</summary>
    public virtual DiskImage? Backing => null;

    /// <summary>The image file's path.</summary>
    public abstract string Path { get; }

    public abstract void Read(long offset, Span<byte> buffer);
    public abstract void Write(long offset, ReadOnlySpan<byte> data);
    public abstract void Flush();

    /// <summary>
    /// Changes the disk size the guest sees to <paramref name="newLength"/> bytes (a positive multiple of 512). Growing
    /// keeps every byte before the old end and makes the new area read as zeros. Shrinking is format-specific (raw:
    /// the data past the new end is discarded; qcow2: only when nothing is allocated there; VHD: refused).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newLength"/> is not a positive multiple of 512.</exception>
    /// <exception cref="InvalidOperationException">The image is read-only, or the format cannot take this size (the message says why).</exception>
    /// <exception cref="BlockDeviceException">A host I/O error.</exception>
    public abstract void Resize(long newLength);

    /// <summary>Checks the image's metadata for consistency (as <c>qemu-img check</c>): leaks and corruptions found.</summary>
    public abstract ImageCheckResult Check();

    public abstract void Dispose();

    /// <summary>Validates the argument of <see cref="Resize"/>.</summary>
    protected static void CheckNewLength(long newLength)
    {
        if (newLength <= 0 || newLength % 512 != 0)
            throw new ArgumentOutOfRangeException(nameof(newLength), newLength, "the new size must be a positive multiple of 512 bytes");
    }
}

/// <summary>What a consistency check found.</summary>
public sealed record ImageCheckResult(int Corruptions, int Leaks, IReadOnlyList<string> Messages)
{
    public bool IsClean => Corruptions == 0 && Leaks == 0;
}

/// <summary>A malformed or unsupported image: the message names the field or feature.</summary>
public sealed class ImageFormatException(string message, Exception? inner = null) : Exception(message, inner);
