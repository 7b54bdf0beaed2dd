using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using JitVm.Core.Storage;
using JitVm.Storage;
using JitVm.Storage.Vhd;

namespace JitVm.Cli.Commands;

/// <summary>
/// <c>jitvm img create|info|check|convert|resize|compare</c>: disk image tools with qemu-img's options, output
/// and exit codes (see docs/decisions/0012-disk-images.md). The work is done in JitVm.Storage; this parses,
/// prints and turns every expected failure into one line on stderr.
/// </summary>
internal static class ImgCommand
{
    public static Command Build()
    {
        var cmd = new Command("img", "Create, inspect, check, convert, resize and compare disk images (raw, qcow2, vpc/vhd), as qemu-img");
        cmd.Subcommands.Add(BuildCreate());
        cmd.Subcommands.Add(BuildInfo());
        cmd.Subcommands.Add(BuildCheck());
        cmd.Subcommands.Add(BuildConvert());
        cmd.Subcommands.Add(BuildResize());
        cmd.Subcommands.Add(BuildCompare());
        return cmd;
    }

    /// <summary>qemu-img's JSON layout: four-space indentation, file names printed as they are (no \uXXXX for quotes or non-ASCII).</summary>
    static readonly JsonWriterOptions JsonOptions = new()
    {
        Indented = true,
        IndentSize = 4,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    static Option<string?> FormatOption(string name, string description) => new(name) { Description = description };

    static Option<string[]> CreateOptions() => new("-o")
    {
        Description = "Format options: qcow2 cluster_size=N, compat=0.10|1.1; vpc subformat=dynamic|fixed (comma-separated, repeatable)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    static Option<bool> Quiet() => new("-q") { Description = "Quiet: print nothing but errors" };

    // ------------------------------------------------------------------ create

    static Command BuildCreate()
    {
        var cmd = new Command("create", "Create an image: create -f raw|qcow2|vpc [-o OPTIONS] [-b BACKING [-F FMT]] FILE [SIZE]");
        var format = new Option<string>("-f") { Description = "Image format: raw, qcow2 or vpc (alias vhd)", DefaultValueFactory = _ => "raw" };
        var options = CreateOptions();
        var backing = new Option<string?>("-b") { Description = "Backing file (qcow2): the new image starts as a copy-on-write overlay of it" };
        var backingFormat = FormatOption("-F", "Backing file format: raw or qcow2 (default: probed)");
        var quiet = Quiet();
        var file = new Argument<string>("file") { Description = "Image file to create (replaced if it exists)" };
        var size = new Argument<string?>("size") { Description = "Virtual size in bytes, or with a K, M, G, T suffix (default with -b: the backing file's size)", Arity = ArgumentArity.ZeroOrOne };
        foreach (var o in new Option[] { format, options, backing, backingFormat, quiet }) cmd.Options.Add(o);
        cmd.Arguments.Add(file);
        cmd.Arguments.Add(size);
        cmd.SetAction(r => Guard(() => Create(r.GetValue(format)!, r.GetValue(options) ?? [], r.GetValue(backing),
            r.GetValue(backingFormat), r.GetValue(file)!, r.GetValue(size), r.GetValue(quiet))));
        return cmd;
    }

    static int Create(string format, string[] optionSpecs, string? backing, string? backingFormat, string file, string? sizeText, bool quiet)
    {
        format = ImageConverter.NormalizeFormat(format);
        var opts = ParseOptions(format, optionSpecs);
        if (backing is not null) opts = opts with { BackingFile = backing };
        if (backingFormat is not null) opts = opts with { BackingFormat = ImageConverter.NormalizeFormat(backingFormat) };
        if (opts.BackingFile is null && opts.BackingFormat is not null) return Fail("-F needs a backing file (-b)");

        long size;
        if (sizeText is not null)
        {
            if (!ImageConverter.TryParseSize(sizeText, out size) || size <= 0)
                return Fail($"invalid image size '{sizeText}' (bytes, or with a K, M, G, T, P or E suffix)");
        }
        else if (opts.BackingFile is { } b)
        {
            using var bimg = ImageConverter.Open(ImageConverter.ResolveBacking(file, b), opts.BackingFormat, readOnly: true);
            size = bimg.Length;
        }
        else return Fail("an image size is needed (or a backing file, -b, to take it from)");

        if (!quiet) Console.WriteLine(FormattingLine(file, format, size, opts));
        long rounded = (size + 511) & ~511L; // as qemu-img: whole sectors
        using (ImageConverter.Create(format, file, rounded, opts, replace: true)) { }
        return 0;
    }

    static string FormattingLine(string file, string format, long size, ImageCreateOptions o) => format switch
    {
        "qcow2" => $"Formatting '{file}', fmt=qcow2 cluster_size={o.ClusterSize ?? 65536} compression_type=zlib size={size}"
                   + (o.BackingFile is { } b ? $" backing_file={b}" + (o.BackingFormat is { } bf ? $" backing_fmt={bf}" : "") : "")
                   + (o.Qcow2Version == 2 ? " compat=0.10" : "") + (o.Qcow2Version == 3 ? " lazy_refcounts=off" : "") + " refcount_bits=16",
        "vpc" => $"Formatting '{file}', fmt=vpc size={size}" + (o.VhdFixed ? " subformat=fixed" : ""),
        _ => $"Formatting '{file}', fmt={format} size={size}",
    };

    static ImageCreateOptions ParseOptions(string format, string[] specs)
    {
        var o = new ImageCreateOptions();
        foreach (string s in specs) o = ImageCreateOptions.Parse(format, s, o);
        return o;
    }

    // ------------------------------------------------------------------ info

    static Command BuildInfo()
    {
        var cmd = new Command("info", "Show an image's format, sizes, cluster size and backing file");
        var format = FormatOption("-f", "Image format (default: probed)");
        var json = new Option<bool>("--json") { Description = "JSON output with qemu-img's field names (same as --output=json)" };
        var output = new Option<string>("--output") { Description = "human or json", DefaultValueFactory = _ => "human" };
        output.AcceptOnlyFromAmong("human", "json");
        var chain = new Option<bool>("--backing-chain") { Description = "Also show every image in the backing chain" };
        var file = new Argument<string>("file") { Description = "Image file" };
        foreach (var o in new Option[] { format, json, output, chain }) cmd.Options.Add(o);
        cmd.Arguments.Add(file);
        cmd.SetAction(r => Guard(() => Info(r.GetValue(file)!, r.GetValue(format), r.GetValue(json) || r.GetValue(output) == "json", r.GetValue(chain))));
        return cmd;
    }

    /// <summary>What <c>img info</c> reports about one image of a chain.</summary>
    sealed record ImageFacts(string FileName, DiskImage Image, string? BackingName, string? BackingPath, string? BackingFormat,
        int ClusterSize, Qcow2Header? Qcow2);

    /// <summary>The qcow2 header fields info shows that the image class does not expose (feature bits).</summary>
    sealed record Qcow2Header(int Version, bool Dirty, bool Corrupt, bool LazyRefcounts);

    static int Info(string file, string? format, bool json, bool backingChain)
    {
        using var image = ImageConverter.Open(file, format, readOnly: true);
        var facts = new List<ImageFacts>();
        string name = file;
        for (var img = image; img is not null && (facts.Count == 0 || backingChain); img = img.Backing)
        {
            var f = Describe(name, img);
            facts.Add(f);
            name = f.BackingPath ?? img.Backing?.Path ?? "";
        }

        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            using (var w = new Utf8JsonWriter(stdout, JsonOptions))
            {
                if (backingChain) w.WriteStartArray();
                foreach (var f in facts) WriteInfoJson(w, f);
                if (backingChain) w.WriteEndArray();
            }
            stdout.Write("\n"u8);
            return 0;
        }
        for (int i = 0; i < facts.Count; i++)
        {
            if (i > 0) Console.WriteLine();
            Console.Write(InfoText(facts[i]));
        }
        return 0;
    }

    static ImageFacts Describe(string fileName, DiskImage img)
    {
        string? backingName = null, backingPath = null;
        int cluster = 0;
        Qcow2Header? header = null;
        switch (img)
        {
            case Qcow2Image q:
                cluster = q.ClusterSize;
                backingName = q.BackingFileName;
                header = ReadQcow2Header(q.Path);
                break;
            case VhdImage v:
                cluster = v.BlockSize;
                break;
        }
        if (backingName is not null)
        {
            // As qemu-img: a relative backing name is shown relative to the directory the image was named in.
            backingPath = Path.IsPathRooted(backingName) ? backingName
                : Path.Combine(Path.GetDirectoryName(fileName) ?? "", backingName);
        }
        return new ImageFacts(fileName, img, backingName, backingPath, img.Backing?.Format, cluster, header);
    }

    static Qcow2Header ReadQcow2Header(string path)
    {
        Span<byte> h = stackalloc byte[104];
        using var f = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        int n = RandomAccess.Read(f, h, 0);
        int version = (int)BinaryPrimitives.ReadUInt32BigEndian(h[4..]);
        if (version < 3 || n < 104) return new Qcow2Header(version, false, false, false);
        ulong incompatible = BinaryPrimitives.ReadUInt64BigEndian(h[72..]);
        ulong compatible = BinaryPrimitives.ReadUInt64BigEndian(h[80..]);
        return new Qcow2Header(version, (incompatible & 1) != 0, (incompatible & 2) != 0, (compatible & 1) != 0);
    }

    static string InfoText(ImageFacts f)
    {
        var img = f.Image;
        var sb = new System.Text.StringBuilder();
        sb.Append($"image: {f.FileName}\n");
        sb.Append($"file format: {img.Format}\n");
        sb.Append($"virtual size: {HumanSize(img.Length)} ({img.Length} bytes)\n");
        sb.Append($"disk size: {HumanSize(img.AllocatedBytes)}\n");
        if (f.ClusterSize > 0) sb.Append($"cluster_size: {f.ClusterSize}\n");
        if (f.BackingName is not null)
        {
            sb.Append($"backing file: {f.BackingName}");
            if (f.BackingPath != f.BackingName) sb.Append($" (actual path: {f.BackingPath})");
            sb.Append('\n');
            if (f.BackingFormat is not null) sb.Append($"backing file format: {f.BackingFormat}\n");
        }
        if (f.Qcow2 is { } q)
        {
            sb.Append("Format specific information:\n");
            sb.Append($"    compat: {(q.Version == 2 ? "0.10" : "1.1")}\n");
            sb.Append("    compression type: zlib\n");
            if (q.Version >= 3) sb.Append($"    lazy refcounts: {Bool(q.LazyRefcounts)}\n");
            sb.Append("    refcount bits: 16\n");
            if (q.Version >= 3)
            {
                sb.Append($"    corrupt: {Bool(q.Corrupt)}\n");
                sb.Append("    extended l2: false\n");
            }
        }
        return sb.ToString();
    }

    static string Bool(bool b) => b ? "true" : "false";

    static void WriteInfoJson(Utf8JsonWriter w, ImageFacts f)
    {
        var img = f.Image;
        w.WriteStartObject();
        if (f.BackingName is not null && f.BackingFormat is not null) w.WriteString("backing-filename-format", f.BackingFormat);
        w.WriteNumber("virtual-size", img.Length);
        w.WriteString("filename", f.FileName);
        if (f.ClusterSize > 0) w.WriteNumber("cluster-size", f.ClusterSize);
        w.WriteString("format", img.Format);
        w.WriteNumber("actual-size", img.AllocatedBytes);
        if (f.Qcow2 is { } q)
        {
            w.WriteStartObject("format-specific");
            w.WriteString("type", "qcow2");
            w.WriteStartObject("data");
            w.WriteString("compat", q.Version == 2 ? "0.10" : "1.1");
            w.WriteString("compression-type", "zlib");
            if (q.Version >= 3) w.WriteBoolean("lazy-refcounts", q.LazyRefcounts);
            w.WriteNumber("refcount-bits", 16);
            if (q.Version >= 3)
            {
                w.WriteBoolean("corrupt", q.Corrupt);
                w.WriteBoolean("extended-l2", false);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        if (f.BackingName is not null)
        {
            w.WriteString("full-backing-filename", f.BackingPath);
            w.WriteString("backing-filename", f.BackingName);
        }
        w.WriteBoolean("dirty-flag", f.Qcow2?.Dirty ?? false);
        w.WriteEndObject();
    }

    /// <summary>
    /// A size as qemu-img prints it: three significant digits in the largest binary unit that keeps the number
    /// below 1000 ("10 MiB", "1.5 GiB", "196 KiB", "0.977 KiB").
    /// </summary>
    internal static string HumanSize(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        int i = 0;
        // Switch to the next unit from 1000 of the current one (so 1000 B is 0.977 KiB, never "1e+03 B").
        while (i < units.Length - 1 && bytes >= 1000.0 * Math.Pow(1024, i)) i++;
        double v = bytes / Math.Pow(1024, i);
        return $"{v.ToString("G3", CultureInfo.InvariantCulture)} {units[i]}";
    }

    // ------------------------------------------------------------------ check

    static Command BuildCheck()
    {
        var cmd = new Command("check", "Check an image's metadata; exit 0 clean, 2 corruptions, 3 leaked clusters only, 1 the check failed");
        var format = FormatOption("-f", "Image format (default: probed)");
        var output = new Option<string>("--output") { Description = "human or json", DefaultValueFactory = _ => "human" };
        output.AcceptOnlyFromAmong("human", "json");
        var quiet = Quiet();
        var file = new Argument<string>("file") { Description = "Image file" };
        foreach (var o in new Option[] { format, output, quiet }) cmd.Options.Add(o);
        cmd.Arguments.Add(file);
        cmd.SetAction(r => Guard(() => Check(r.GetValue(file)!, r.GetValue(format), r.GetValue(output) == "json", r.GetValue(quiet))));
        return cmd;
    }

    static int Check(string file, string? format, bool json, bool quiet)
    {
        ImageCheckResult result;
        string fmt;
        using (var image = ImageConverter.Open(file, format, readOnly: true))
        {
            fmt = image.Format;
            result = image.Check();
        }
        int exit = result.Corruptions > 0 ? 2 : result.Leaks > 0 ? 3 : 0;
        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            using (var w = new Utf8JsonWriter(stdout, JsonOptions))
            {
                w.WriteStartObject();
                if (result.Corruptions > 0) w.WriteNumber("corruptions", result.Corruptions);
                w.WriteNumber("check-errors", 0);
                if (result.Leaks > 0) w.WriteNumber("leaks", result.Leaks);
                w.WriteString("filename", file);
                w.WriteString("format", fmt);
                w.WriteEndObject();
            }
            stdout.Write("\n"u8);
            return exit;
        }
        if (quiet) return exit;
        foreach (string m in result.Messages) Console.Error.WriteLine(m);
        if (result.IsClean)
        {
            Console.WriteLine("No errors were found on the image.");
            return 0;
        }
        if (result.Corruptions > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"{result.Corruptions} errors were found on the image.");
            Console.WriteLine("Data may be corrupted, or further writes to the image may corrupt it.");
        }
        if (result.Leaks > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"{result.Leaks} leaked clusters were found on the image.");
            Console.WriteLine("This means waste of disk space, but no harm to data.");
        }
        return exit;
    }

    // ------------------------------------------------------------------ convert

    static Command BuildConvert()
    {
        var cmd = new Command("convert", "Copy a whole virtual disk into a new image of another (or the same) format, skipping zero runs");
        var format = FormatOption("-f", "Source format (default: probed)");
        var target = new Option<string>("-O") { Description = "Target format: raw, qcow2 or vpc (alias vhd)", DefaultValueFactory = _ => "raw" };
        var options = CreateOptions();
        var progress = new Option<bool>("-p") { Description = "Show progress on stderr" };
        var quiet = Quiet();
        var src = new Argument<string>("source") { Description = "Source image" };
        var dst = new Argument<string>("target") { Description = "Target image (replaced if it exists)" };
        foreach (var o in new Option[] { format, target, options, progress, quiet }) cmd.Options.Add(o);
        cmd.Arguments.Add(src);
        cmd.Arguments.Add(dst);
        cmd.SetAction(r => Guard(() => Convert(r.GetValue(src)!, r.GetValue(format), r.GetValue(dst)!, r.GetValue(target)!,
            r.GetValue(options) ?? [], r.GetValue(progress) && !r.GetValue(quiet))));
        return cmd;
    }

    static int Convert(string src, string? format, string dst, string targetFormat, string[] optionSpecs, bool progress)
    {
        targetFormat = ImageConverter.NormalizeFormat(targetFormat);
        var opts = ParseOptions(targetFormat, optionSpecs);
        var converter = new ImageConverter();
        var bar = progress ? new ProgressBar() : null;
        if (bar is not null) converter.Progress = bar.Report;
        converter.Convert(src, format, dst, targetFormat, opts);
        bar?.Finish();
        return 0;
    }

    /// <summary>qemu-img's progress line, "    (42.00/100%)", redrawn in place on stderr whenever a whole percent has passed.</summary>
    sealed class ProgressBar
    {
        double shown = -1;

        public void Report(long done, long total)
        {
            double pct = total == 0 ? 100 : done * 100.0 / total;
            if (pct < 100 && shown >= 0 && pct - shown < 1) return;
            shown = pct;
            Console.Error.Write(string.Create(CultureInfo.InvariantCulture, $"    ({pct:F2}/100%)\r"));
        }

        public void Finish() => Console.Error.Write("\n");
    }

    // ------------------------------------------------------------------ resize

    static Command BuildResize()
    {
        var cmd = new Command("resize", "Change an image's virtual size: resize FILE [+|-]SIZE (shrinking needs --shrink)");
        var format = FormatOption("-f", "Image format (default: probed)");
        var shrink = new Option<bool>("--shrink") { Description = "Allow the image to get smaller (data past the new end is lost)" };
        var quiet = Quiet();
        var file = new Argument<string>("file") { Description = "Image file" };
        var size = new Argument<string>("size") { Description = "New size, or +SIZE / -SIZE relative to the current one (bytes, or with a K, M, G, T suffix)" };
        foreach (var o in new Option[] { format, shrink, quiet }) cmd.Options.Add(o);
        cmd.Arguments.Add(file);
        cmd.Arguments.Add(size);
        cmd.SetAction(r => Guard(() => Resize(r.GetValue(file)!, r.GetValue(format), r.GetValue(size)!, r.GetValue(shrink), r.GetValue(quiet))));
        return cmd;
    }

    static int Resize(string file, string? format, string sizeText, bool shrink, bool quiet)
    {
        int sign = sizeText.StartsWith('+') ? 1 : sizeText.StartsWith('-') ? -1 : 0;
        if (!ImageConverter.TryParseSize(sign == 0 ? sizeText : sizeText[1..], out long amount))
            return Fail($"invalid image size '{sizeText}' (bytes, or with a K, M, G, T, P or E suffix; + or - for relative)");
        using var image = ImageConverter.Open(file, format, readOnly: false);
        long size = sign == 0 ? amount : image.Length + sign * amount;
        if (size <= 0) return Fail($"the new size {size} is not positive");
        size = (size + 511) & ~511L;
        if (size < image.Length && !shrink) return Fail("use the --shrink option to perform a shrink operation");
        image.Resize(size);
        image.Flush();
        if (!quiet) Console.WriteLine("Image resized.");
        return 0;
    }

    // ------------------------------------------------------------------ compare

    static Command BuildCompare()
    {
        var cmd = new Command("compare", "Compare two images' contents; exit 0 identical, 1 different, 2 error");
        var formatA = FormatOption("-f", "First image's format (default: probed)");
        var formatB = FormatOption("-F", "Second image's format (default: probed)");
        var strict = new Option<bool>("-s") { Description = "Strict: images of different sizes differ" };
        var quiet = Quiet();
        var a = new Argument<string>("image1") { Description = "First image" };
        var b = new Argument<string>("image2") { Description = "Second image" };
        foreach (var o in new Option[] { formatA, formatB, strict, quiet }) cmd.Options.Add(o);
        cmd.Arguments.Add(a);
        cmd.Arguments.Add(b);
        cmd.SetAction(r => Guard(() => Compare(r.GetValue(a)!, r.GetValue(formatA), r.GetValue(b)!, r.GetValue(formatB),
            r.GetValue(strict), r.GetValue(quiet)), errorExit: 2));
        return cmd;
    }

    static int Compare(string pathA, string? formatA, string pathB, string? formatB, bool strict, bool quiet)
    {
        using var a = ImageConverter.Open(pathA, formatA, readOnly: true);
        using var b = ImageConverter.Open(pathB, formatB, readOnly: true);
        if (a.Length != b.Length)
        {
            if (strict)
            {
                if (!quiet) Console.WriteLine("Strict mode: Image size mismatch!");
                return 1;
            }
            if (!quiet) Console.WriteLine("Warning: Image size mismatch!");
        }
        long? at = ImageConverter.FindFirstDifference(a, b);
        if (at is { } offset)
        {
            if (!quiet) Console.WriteLine($"Content mismatch at offset {offset}!");
            return 1;
        }
        if (!quiet) Console.WriteLine("Images are identical.");
        return 0;
    }

    // ------------------------------------------------------------------ errors

    static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }

    /// <summary>Runs a subcommand; bad input and I/O failures become one line on stderr and exit code <paramref name="errorExit"/>.</summary>
    static int Guard(Func<int> body, int errorExit = 1)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ImageFormatException or BlockDeviceException or IOException or UnauthorizedAccessException
                                      or ArgumentException or NotSupportedException or InvalidDataException or InvalidOperationException)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {Message(e)}");
            return errorExit;
        }
    }

    /// <summary>The exception's message on one line (without .NET's "(Parameter 'x')" decoration).</summary>
    static string Message(Exception e)
    {
        string m = e.Message;
        if (e is ArgumentException { ParamName: { } p })
        {
            int i = m.IndexOf($" (Parameter '{p}')", StringComparison.Ordinal);
            if (i >= 0) m = m[..i];
            if (e is ArgumentOutOfRangeException { ActualValue: { } v }) m += $" (got {v})";
        }
        return m.ReplaceLineEndings(" ");
    }
}
