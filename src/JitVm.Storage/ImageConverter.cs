using System.Globalization;
using JitVm.Storage.Vhd;

namespace JitVm.Storage;

/// <summary>
/// How to create an image (<c>qemu-img create -o ...</c>): the qcow2 cluster size and version, the VHD subformat,
/// and a backing file. <see cref="Parse"/> reads qemu-img's option syntax.
/// </summary>
public sealed record ImageCreateOptions
{
    /// <summary>qcow2 cluster size in bytes (a power of two, 512 B..2 MiB; default 64 KiB).</summary>
    public int? ClusterSize { get; init; }

    /// <summary>qcow2 version: 2 (<c>compat=0.10</c>) or 3 (<c>compat=1.1</c>, the default).</summary>
    public int Qcow2Version { get; init; } = 3;

    /// <summary>VHD: a fixed disk (<c>subformat=fixed</c>) instead of a dynamic one.</summary>
    public bool VhdFixed { get; init; }

    /// <summary>qcow2 only: the backing file, stored as given (a relative name is relative to the new image).</summary>
    public string? BackingFile { get; init; }

    /// <summary>The backing file's format ("raw" or "qcow2"); null to probe it.</summary>
    public string? BackingFormat { get; init; }

    /// <summary>
    /// Parses a comma-separated <c>key=value</c> list for <paramref name="format"/> (as <c>qemu-img create -o</c>):
    /// qcow2 takes <c>cluster_size</c> (with K/M suffixes), <c>compat</c> (0.10/v2 or 1.1/v3), <c>backing_file</c>
    /// and <c>backing_fmt</c>; vpc takes <c>subformat</c> (dynamic or fixed) and <c>force_size</c> (always on: the
    /// exact size is kept); every format takes <c>size</c>, which the caller handles and this ignores.
    /// </summary>
    /// <exception cref="ArgumentException">An option is unknown for the format or has a bad value (the message names it).</exception>
    public static ImageCreateOptions Parse(string format, string? spec, ImageCreateOptions? start = null)
    {
        var o = start ?? new ImageCreateOptions();
        if (string.IsNullOrEmpty(spec)) return o;
        format = ImageConverter.NormalizeFormat(format);
        foreach (string item in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = item.IndexOf('=');
            string key = eq < 0 ? item : item[..eq];
            string value = eq < 0 ? "on" : item[(eq + 1)..];
            switch (format, key)
            {
                case (_, "size"):
                    break;
                case ("qcow2", "cluster_size"):
                    if (!ImageConverter.TryParseSize(value, out long cs) || cs is < 512 or > 2 << 20 || (cs & (cs - 1)) != 0)
                        throw new ArgumentException($"cluster_size: '{value}' is not a power of two between 512 and 2048k");
                    o = o with { ClusterSize = (int)cs };
                    break;
                case ("qcow2", "compat"):
                    o = o with
                    {
                        Qcow2Version = value switch
                        {
                            "0.10" or "v2" => 2,
                            "1.1" or "v3" => 3,
                            _ => throw new ArgumentException($"compat: '{value}' is not a qcow2 version (0.10 or 1.1)"),
                        },
                    };
                    break;
                case ("qcow2", "backing_file"):
                    o = o with { BackingFile = value };
                    break;
                case ("qcow2", "backing_fmt"):
                    o = o with { BackingFormat = value };
                    break;
                case ("vpc", "subformat"):
                    o = o with
                    {
                        VhdFixed = value switch
                        {
                            "fixed" => true,
                            "dynamic" => false,
                            _ => throw new ArgumentException($"subformat: '{value}' is not a VHD subformat (dynamic or fixed)"),
                        },
                    };
                    break;
                case ("vpc", "force_size"):
                    if (value is not ("on" or "off" or "true" or "false"))
                        throw new ArgumentException($"force_size: '{value}' is not on or off");
                    break; // the exact size is always kept (see ImageConverter.Create)
                default:
                    throw new ArgumentException($"invalid option '{key}' for format '{format}'");
            }
        }
        return o;
    }
}

/// <summary>What <see cref="ImageConverter.Copy"/> did.</summary>
/// <param name="BytesWritten">Bytes written to the target.</param>
/// <param name="BytesSkipped">All-zero bytes not written (the target already reads them as zeros).</param>
public readonly record struct ConvertResult(long BytesWritten, long BytesSkipped);

/// <summary>
/// Copies a whole virtual disk from one image to another (the engine of <c>jitvm img convert</c>), and creates
/// images in any supported format. The copy reads the source in large chunks and writes only the runs of
/// <see cref="SparseGranularity"/>-byte pieces that hold a non-zero byte when the target is known to read as
/// zeros (a freshly created image), so a sparse-capable target allocates nothing for the zero parts of the disk.
/// </summary>
public sealed class ImageConverter
{
    /// <summary>Default bytes read from the source per step: 1 MiB.</summary>
    public const int DefaultChunkSize = 1 << 20;

    readonly byte[] buffer;

    /// <param name="chunkSize">Bytes read per step (a positive multiple of <paramref name="sparseGranularity"/>).</param>
    /// <param name="sparseGranularity">Size of the pieces tested for all-zero (a positive multiple of 512; 4 KiB, a file-system block).</param>
    public ImageConverter(int chunkSize = DefaultChunkSize, int sparseGranularity = 4096)
    {
        if (sparseGranularity <= 0 || sparseGranularity % 512 != 0)
            throw new ArgumentOutOfRangeException(nameof(sparseGranularity), sparseGranularity, "must be a positive multiple of 512");
        if (chunkSize <= 0 || chunkSize % sparseGranularity != 0)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "must be a positive multiple of the sparse granularity");
        buffer = new byte[chunkSize];
        SparseGranularity = sparseGranularity;
    }

    /// <summary>Bytes tested for all-zero as one piece.</summary>
    public int SparseGranularity { get; }

    /// <summary>Called after each chunk with the bytes done and the total (the source's length); also once at 0.</summary>
    public Action<long, long>? Progress { get; set; }

    /// <summary>
    /// Copies <paramref name="source"/>'s whole virtual disk to <paramref name="target"/> (the same length) and flushes
    /// the target. With <paramref name="targetReadsAsZero"/> (a new image without a backing file) all-zero pieces are
    /// skipped instead of written.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public ConvertResult Copy(DiskImage source, DiskImage target, bool targetReadsAsZero, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        long total = source.Length;
        if (target.Length != total)
            throw new ArgumentException($"target '{target.Path}' is {target.Length} bytes, the source '{source.Path}' {total} bytes");
        long written = 0, skipped = 0;
        int g = SparseGranularity;
        Progress?.Invoke(0, total);
        for (long pos = 0; pos < total;)
        {
            cancel.ThrowIfCancellationRequested();
            int n = (int)Math.Min(buffer.Length, total - pos);
            var chunk = buffer.AsSpan(0, n);
            source.Read(pos, chunk);
            if (!targetReadsAsZero)
            {
                target.Write(pos, chunk);
                written += n;
            }
            else
            {
                // Write each maximal run of pieces holding data; a zero piece ends a run.
                int runStart = -1;
                for (int p = 0; p < n; p += g)
                {
                    int m = Math.Min(g, n - p);
                    bool zero = chunk.Slice(p, m).IndexOfAnyExcept((byte)0) < 0;
                    if (!zero)
                    {
                        if (runStart < 0) runStart = p;
                        continue;
                    }
                    skipped += m;
                    if (runStart >= 0)
                    {
                        target.Write(pos + runStart, chunk[runStart..p]);
                        written += p - runStart;
                        runStart = -1;
                    }
                }
                if (runStart >= 0)
                {
                    target.Write(pos + runStart, chunk[runStart..]);
                    written += n - runStart;
                }
            }
            pos += n;
            Progress?.Invoke(pos, total);
        }
        target.Flush();
        return new ConvertResult(written, skipped);
    }

    /// <summary>
    /// Converts the image at <paramref name="sourcePath"/> (format <paramref name="sourceFormat"/>, or probed) into a
    /// new image at <paramref name="targetPath"/> in <paramref name="targetFormat"/>, replacing any file there (as
    /// qemu-img). The target has exactly the source's virtual size; a partly written target is deleted on failure.
    /// </summary>
    /// <exception cref="ImageFormatException">The source is malformed, or its size cannot be kept exactly.</exception>
    /// <exception cref="ArgumentException">A bad format name or option, or the source and target are the same file.</exception>
    public ConvertResult Convert(string sourcePath, string? sourceFormat, string targetPath, string targetFormat,
        ImageCreateOptions? options = null, CancellationToken cancel = default)
    {
        targetFormat = NormalizeFormat(targetFormat);
        if (options?.BackingFile is not null)
            throw new ArgumentException("convert does not create a target with a backing file");
        using var source = Open(sourcePath, sourceFormat, readOnly: true);
        for (var img = source; img is not null; img = img.Backing)
            if (SamePath(img.Path, targetPath))
                throw new ArgumentException(img == source
                    ? $"the source and the target are the same file '{sourcePath}'"
                    : $"the target '{targetPath}' is a backing file of the source");
        if (source.Format == "raw")
        {
            // RawImage hides a trailing partial sector; a converted copy would silently lose it.
            long fileLength = new FileInfo(sourcePath).Length;
            if (fileLength != source.Length)
                throw new ImageFormatException($"raw image size: '{sourcePath}' is {fileLength} bytes, not a whole number of 512-byte sectors; the last {fileLength - source.Length} bytes would be lost");
        }
        DiskImage? target = null;
        try
        {
            target = Create(targetFormat, targetPath, source.Length, options, replace: true);
            var result = Copy(source, target, targetReadsAsZero: true, cancel);
            target.Dispose();
            return result;
        }
        catch when (target is not null)
        {
            // A partly written target is of no use: remove it (a target that was never created is left alone).
            target.Dispose();
            TryDelete(targetPath);
            throw;
        }
    }

    /// <summary>
    /// The offset (rounded down to a 512-byte sector) of the first byte where the two disks differ, or null if they
    /// are identical. Past the end of the shorter disk the longer one must read as zeros (as <c>qemu-img compare</c>).
    /// </summary>
    public static long? FindFirstDifference(DiskImage a, DiskImage b, int chunkSize = DefaultChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 512);
        chunkSize &= ~511;
        var bufA = new byte[chunkSize];
        var bufB = new byte[chunkSize];
        long common = Math.Min(a.Length, b.Length);
        for (long pos = 0; pos < common;)
        {
            int n = (int)Math.Min(chunkSize, common - pos);
            a.Read(pos, bufA.AsSpan(0, n));
            b.Read(pos, bufB.AsSpan(0, n));
            int i = bufA.AsSpan(0, n).CommonPrefixLength(bufB.AsSpan(0, n));
            if (i < n) return (pos + i) & ~511L;
            pos += n;
        }
        var longer = a.Length > b.Length ? a : b;
        for (long pos = common; pos < longer.Length;)
        {
            int n = (int)Math.Min(chunkSize, longer.Length - pos);
            longer.Read(pos, bufA.AsSpan(0, n));
            int i = bufA.AsSpan(0, n).IndexOfAnyExcept((byte)0);
            if (i >= 0) return (pos + i) & ~511L;
            pos += n;
        }
        return null;
    }

    /// <summary>"raw", "qcow2" or "vpc" for a format name; "vhd" is an alias of "vpc".</summary>
    /// <exception cref="ArgumentException">Not a supported format.</exception>
    public static string NormalizeFormat(string format) => format.ToLowerInvariant() switch
    {
        "raw" => "raw",
        "qcow2" => "qcow2",
        "vpc" or "vhd" => "vpc",
        _ => throw new ArgumentException($"unknown image format '{format}' (raw, qcow2, vpc/vhd)"),
    };

    /// <summary>Opens an image in the given format (null: probe it, as <see cref="DiskImages.Open"/>).</summary>
    /// <exception cref="ImageFormatException">The image is malformed, or is not in the given format.</exception>
    public static DiskImage Open(string path, string? format, bool readOnly)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"could not open '{path}': no such file", path);
        if (format is null) return DiskImages.Open(path, readOnly);
        return NormalizeFormat(format) switch
        {
            "qcow2" => Qcow2Image.Open(path, readOnly),
            "vpc" => VhdImage.Open(path, readOnly),
            _ => RawImage.Open(path, readOnly),
        };
    }

    /// <summary>
    /// Creates an image of exactly <paramref name="size"/> bytes (a positive multiple of 512) and opens it
    /// read-write. An existing file fails the call, or with <paramref name="replace"/> is deleted once the arguments
    /// have been checked (as qemu-img does; never when it is the backing file itself). A VHD keeps the exact size (a CHS geometry that cannot express it is
    /// replaced by the maximum one, which tells readers to use the footer's size); sizes a VHD cannot hold are
    /// refused rather than rounded.
    /// </summary>
    /// <exception cref="ArgumentException">A bad size, option or backing file.</exception>
    public static DiskImage Create(string format, string path, long size, ImageCreateOptions? options = null, bool replace = false)
    {
        options ??= new ImageCreateOptions();
        format = NormalizeFormat(format);
        if (size <= 0 || size % 512 != 0)
            throw new ArgumentException($"size: {size} bytes is not a positive multiple of 512");
        if (options.BackingFile is not null && format != "qcow2")
            throw new ArgumentException($"format '{format}' does not support backing files");
        if (format != "qcow2" && options.ClusterSize is not null)
            throw new ArgumentException($"invalid option 'cluster_size' for format '{format}'");
        if (format == "vpc" && size > VhdImage.MaxCreateSize)
            throw new ArgumentException($"size: a VHD cannot hold {size} bytes exactly (at most {VhdImage.MaxCreateSize} bytes, 2040 GiB)");
        if (options.BackingFile is { } b)
        {
            if (SamePath(b, path, relativeTo: path)) throw new ArgumentException($"backing file '{b}' is the image itself");
            string resolved = ResolveBacking(path, b);
            if (!File.Exists(resolved)) throw new ArgumentException($"backing file '{resolved}' does not exist");
            string detected = DiskImages.DetectFormat(resolved);
            if (options.BackingFormat is { } bf && NormalizeFormat(bf) != detected)
                throw new ArgumentException($"backing file '{b}' is {detected}, not {NormalizeFormat(bf)}");
            if (detected == "vpc")
                throw new ArgumentException($"backing file '{b}': a qcow2 image can only have a raw or qcow2 backing file here");
        }
        if (replace) DeleteExisting(path);
        return DiskImages.Create(format, path, size, options.BackingFile, format == "vpc" ? (options.VhdFixed ? "fixed" : "dynamic") : null,
            options.ClusterSize ?? 0, format == "qcow2" ? options.Qcow2Version : 3);
    }

    /// <summary>The backing file name as a qcow2 image at <paramref name="imagePath"/> resolves it (relative to the image's directory).</summary>
    public static string ResolveBacking(string imagePath, string backing)
    {
        if (Path.IsPathRooted(backing)) return backing;
        string dir = Path.GetDirectoryName(Path.GetFullPath(imagePath)) ?? ".";
        return Path.GetFullPath(Path.Combine(dir, backing));
    }

    /// <summary>
    /// Parses a size as qemu-img does: a number of bytes, or a number (fractions allowed) with a binary suffix
    /// B, K, M, G, T, P or E (either case).
    /// </summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        text = text.Trim();
        if (text.Length == 0) return false;
        long mult = char.ToUpperInvariant(text[^1]) switch
        {
            'B' => 1,
            'K' => 1L << 10,
            'M' => 1L << 20,
            'G' => 1L << 30,
            'T' => 1L << 40,
            'P' => 1L << 50,
            'E' => 1L << 60,
            _ => 0,
        };
        string number = mult == 0 ? text : text[..^1];
        if (mult == 0) mult = 1;
        if (number.Length == 0 || !char.IsAsciiDigit(number[0])) return false;
        if (long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long whole))
        {
            if (whole > long.MaxValue / mult) return false;
            bytes = whole * mult;
            return true;
        }
        if (mult == 1 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal d))
            return false;
        decimal v = d * mult;
        if (v > long.MaxValue) return false;
        bytes = (long)v; // a fraction of a byte is dropped, as qemu-img does
        return true;
    }

    /// <summary>Deletes a file that exists (the target of create/convert is replaced, as qemu-img does).</summary>
    static void DeleteExisting(string path)
    {
        if (Directory.Exists(path)) throw new IOException($"'{path}' is a directory");
        if (File.Exists(path)) File.Delete(path);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    static bool SamePath(string a, string b, string? relativeTo = null)
    {
        string fa = relativeTo is null ? Path.GetFullPath(a) : ResolveBacking(relativeTo, a);
        return string.Equals(Canonical(fa), Canonical(Path.GetFullPath(b)), StringComparison.Ordinal);
    }

    static string Canonical(string full)
    {
        try
        {
            return new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }
}
