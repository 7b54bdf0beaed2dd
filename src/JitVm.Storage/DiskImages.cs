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

    /// <summary>The format name of the image at <paramref name="path"/>: "qcow2", "vpc" or "raw".</summary>
    public static string DetectFormat(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Span<byte> head = stackalloc byte[8];
            int n = f.Read(head);
            if (n >= 4 && head[0] == 'Q' && head[1] == 'F' && head[2] == 'I' && head[3] == 0xFB) return "qcow2";
            if (n == 8 && head.SequenceEqual("conectix"u8)) return "vpc";
            if (f.Length >= 512)
            {
                f.Position = f.Length - 512;
                n = f.Read(head);
                if (n == 8 && head.SequenceEqual("conectix"u8)) return "vpc";
            }
            return "raw";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageFormatException($"cannot open disk image '{path}': {e.Message}", e);
        }
    }
}
