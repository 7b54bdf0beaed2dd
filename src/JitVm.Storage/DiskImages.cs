using JitVm.Storage.Vhd;

namespace JitVm.Storage;

/// <summary>Opens a disk image in whatever supported format it is, as qemu-img's probing does.</summary>
public static class DiskImages
{
    /// <summary>
    /// qcow2 by its magic "QFI\xfb" at offset 0; VHD by the cookie "conectix" at offset 0 (a dynamic disk's footer
    /// copy) or in the last 512 bytes (a fixed disk's footer); anything else is raw.
    /// </summary>
    /// <exception cref="ImageFormatException">The image is malformed, or cannot be opened (the message names the file).</exception>
    public static DiskImage Open(string path, bool readOnly = false) => DetectFormat(path) switch
    {
        "qcow2" => Qcow2Image.Open(path, readOnly),
        "vpc" => VhdImage.Open(path, readOnly),
        _ => RawImage.Open(path, readOnly),
    };

    /// <summary>
    /// Creates a new image (failing if the file exists) and returns it opened read-write, as <c>qemu-img create</c>.
    /// <paramref name="format"/>: "raw", "qcow2", or "vpc" (alias "vhd") with <paramref name="subformat"/> "dynamic"
    /// (the default) or "fixed". <paramref name="size"/> is a positive multiple of 512; with a
    /// <paramref name="backingFile"/> it may be 0 to take the backing image's size. <paramref name="backingFile"/>
    /// (qcow2: any image, stored as given and resolved against the new image's directory; vpc: a VHD parent, which
    /// makes a differencing disk of the parent's size) is not allowed for raw. <paramref name="clusterSize"/>
    /// is the qcow2 cluster size (512..2 MiB, a power of two; default 64 KiB) or the dynamic VHD block size (a power of
    /// two of at least 4096; default 2 MiB); <paramref name="version"/> is the qcow2 version (2 = compat 0.10, 3 = compat 1.1).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown format or subformat, an option the format does not take, a bad size.</exception>
    public static DiskImage Create(string format, string path, long size, string? backingFile = null, string? subformat = null,
        int clusterSize = 0, int version = 3)
    {
        switch (format)
        {
            case "raw":
                if (backingFile != null) throw new ArgumentException("the raw format has no backing file", nameof(backingFile));
                if (subformat != null) throw new ArgumentException("the raw format has no subformat", nameof(subformat));
                if (clusterSize != 0) throw new ArgumentException("the raw format has no cluster size", nameof(clusterSize));
                return RawImage.Create(path, size);
            case "qcow2":
            {
                if (subformat != null) throw new ArgumentException("the qcow2 format has no subformat", nameof(subformat));
                int bits = 16;
                if (clusterSize != 0)
                {
                    if (clusterSize is < 512 or > 2 * 1024 * 1024 || (clusterSize & (clusterSize - 1)) != 0)
                        throw new ArgumentOutOfRangeException(nameof(clusterSize), clusterSize, "the qcow2 cluster size must be a power of two from 512 bytes to 2 MiB");
                    bits = System.Numerics.BitOperations.Log2((uint)clusterSize);
                }
                if (size == 0 && backingFile != null)
                {
                    string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
                    string resolved = System.IO.Path.IsPathRooted(backingFile) ? backingFile : System.IO.Path.Combine(dir, backingFile);
                    using var b = Open(resolved, readOnly: true);
                    size = b.Length;
                }
                return Qcow2Image.Create(path, size, bits, backingFile, version);
            }
            case "vpc" or "vhd":
            {
                if (backingFile != null)
                {
                    if (subformat is not (null or "dynamic"))
                        throw new ArgumentException("a VHD with a parent (backing file) is a differencing disk: no subformat", nameof(subformat));
                    if (size != 0)
                    {
                        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
                        string resolved = System.IO.Path.IsPathRooted(backingFile) ? backingFile : System.IO.Path.Combine(dir, backingFile);
                        using var b = Open(resolved, readOnly: true);
                        if (b.Length != size) throw new ArgumentException($"a differencing VHD has its parent's size ({b.Length} bytes), not {size}", nameof(size));
                    }
                    return VhdImage.CreateDifferencing(path, backingFile, clusterSize == 0 ? VhdImage.DefaultBlockSize : clusterSize);
                }
                bool fixedSize = subformat switch
                {
                    null or "dynamic" => false,
                    "fixed" => true,
                    _ => throw new ArgumentException($"VHD subformat '{subformat}' is not 'dynamic' or 'fixed'", nameof(subformat)),
                };
                if (fixedSize && clusterSize != 0) throw new ArgumentException("a fixed VHD has no block size", nameof(clusterSize));
                return VhdImage.Create(path, size, fixedSize, clusterSize == 0 ? VhdImage.DefaultBlockSize : clusterSize);
            }
            default:
                throw new ArgumentException($"image format '{format}' is not supported (raw, qcow2, vpc)", nameof(format));
        }
    }

    /// <summary>The format name of the image at <paramref name="path"/>: "qcow2", "vpc" or "raw".</summary>
    public static string DetectFormat(string path)
    {
        try
        {
            using var f = new HandleImageFile(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            return DetectFormat(f);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageFormatException($"cannot open disk image '{path}': {e.Message}", e);
        }
    }

    /// <summary>The format of the image in <paramref name="f"/>, probed as <see cref="Open(string, bool)"/> describes.</summary>
    internal static string DetectFormat(ImageFile f)
    {
        Span<byte> head = stackalloc byte[8];
        int n = f.Read(0, head);
        if (n >= 4 && head[0] == 'Q' && head[1] == 'F' && head[2] == 'I' && head[3] == 0xFB) return "qcow2";
        if (n == 8 && head.SequenceEqual("conectix"u8)) return "vpc";
        long length = f.Length;
        if (length >= 512)
        {
            n = f.Read(length - 512, head);
            if (n == 8 && head.SequenceEqual("conectix"u8)) return "vpc";
        }
        return "raw";
    }

    /// <summary>
    /// Opens the image held in <paramref name="f"/> (which the image then owns) in whatever format it is;
    /// <paramref name="path"/> names it. A qcow2 backing file is opened through <paramref name="openBacking"/>.
    /// </summary>
    internal static DiskImage Open(ImageFile f, string path, bool readOnly, Func<string, bool, DiskImage>? openBacking = null)
    {
        string format;
        try
        {
            format = DetectFormat(f);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            f.Dispose();
            throw new ImageFormatException($"cannot read disk image '{path}': {e.Message}", e);
        }
        return format switch
        {
            "qcow2" => Qcow2Image.Open(f, path, readOnly, openBacking),
            "vpc" => VhdImage.Open(f, path, readOnly, openBacking),
            _ => RawImage.Open(f, path, readOnly),
        };
    }
}
