namespace JitVm.Storage;

/// <summary>
/// A temporary copy-on-write overlay over a disk image (<c>jitvm run --snapshot</c>, as QEMU's <c>-snapshot</c>):
/// the base image is opened read-only as the backing file of a new qcow2 image in the temporary directory, so
/// guest writes land in the overlay and never reach the base. The overlay file is deleted when this is disposed;
/// on Unix it is unlinked as soon as it is open (the open handle keeps it alive), so it disappears even if the
/// process is killed.
/// </summary>
public sealed class SnapshotOverlay : DiskImage
{
    readonly Qcow2Image overlay;
    readonly string overlayPath;
    bool deleted, disposed;

    SnapshotOverlay(Qcow2Image overlay, string overlayPath)
    {
        this.overlay = overlay;
        this.overlayPath = overlayPath;
    }

    /// <summary>
    /// Opens <paramref name="basePath"/> (any supported format; <paramref name="baseFormat"/> or probed) read-only
    /// under a new overlay in <paramref name="tempDirectory"/> (default: the system temporary directory).
    /// </summary>
    /// <exception cref="ImageFormatException">The base image is malformed or cannot be opened.</exception>
    /// <exception cref="IOException">The overlay cannot be created.</exception>
    public static SnapshotOverlay Create(string basePath, string? baseFormat = null, string? tempDirectory = null)
    {
        string fullBase = System.IO.Path.GetFullPath(basePath);
        long length;
        using (var probe = ImageConverter.Open(fullBase, baseFormat, readOnly: true)) length = probe.Length;

        string dir = tempDirectory ?? System.IO.Path.GetTempPath();
        string path = System.IO.Path.Combine(dir, $"jitvm-snapshot-{Environment.ProcessId}-{Guid.NewGuid():N}.qcow2");
        Qcow2Image? image = null;
        try
        {
            // The header names the base by its absolute path; Create opens the new image (and the base) once, which
            // is closed again so that the base is attached below in the format it is really in.
            Qcow2Image.Create(path, length, clusterBits: 16, backingFile: fullBase).Dispose();
            image = OpenWithBacking(path, fullBase, baseFormat);
            var result = new SnapshotOverlay(image, path);
            result.TryUnlinkEarly();
            return result;
        }
        catch
        {
            image?.Dispose();
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Opens the overlay file with the base attached read-only as its backing image (whatever its format).</summary>
    static Qcow2Image OpenWithBacking(string overlayPath, string basePath, string? baseFormat)
    {
        var baseImage = ImageConverter.Open(basePath, baseFormat, readOnly: true);
        bool attached = false;
        try
        {
            var image = Qcow2Image.Open(overlayPath, readOnly: false, openBacking: (_, _) =>
            {
                attached = true;
                return baseImage;
            });
            if (!attached)
            {
                image.Dispose();
                throw new ImageFormatException($"snapshot overlay '{overlayPath}': the backing file was not recorded");
            }
            return image;
        }
        catch
        {
            if (!attached) baseImage.Dispose();
            throw;
        }
    }

    void TryUnlinkEarly()
    {
        if (OperatingSystem.IsWindows()) return; // an open file cannot be deleted there: Dispose does it
        try
        {
            File.Delete(overlayPath);
            deleted = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The overlay file's path (already unlinked on Unix).</summary>
    public string OverlayPath => overlayPath;

    /// <summary>The read-only base image.</summary>
    public override DiskImage? Backing => overlay.Backing;

    /// <inheritdoc/>
    public override string Format => "qcow2";
    /// <inheritdoc/>
    public override long Length => overlay.Length;
    /// <inheritdoc/>
    public override bool ReadOnly => false;
    /// <inheritdoc/>
    public override long AllocatedBytes => overlay.AllocatedBytes;
    /// <inheritdoc/>
    public override string Path => overlayPath;

    /// <inheritdoc/>
    public override void Read(long offset, Span<byte> buffer) => overlay.Read(offset, buffer);
    /// <inheritdoc/>
    public override void Write(long offset, ReadOnlySpan<byte> data) => overlay.Write(offset, data);
    /// <summary>Nothing to make durable: the overlay is thrown away.</summary>
    public override void Flush() { }
    /// <summary>Refused: the overlay has the base image's size.</summary>
    public override void Resize(long newLength) =>
        throw new InvalidOperationException($"snapshot overlay '{overlayPath}': a temporary overlay cannot be resized");
    /// <inheritdoc/>
    public override ImageCheckResult Check() => overlay.Check();

    /// <summary>Closes the overlay and the base image and deletes the overlay file.</summary>
    public override void Dispose()
    {
        if (disposed) return;
        disposed = true;
        overlay.Dispose();
        if (!deleted)
        {
            try { File.Delete(overlayPath); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
