using System.Net;
using System.Text.Json;
using JitVm.Core;
using JitVm.Core.Storage;
using JitVm.Cpu;
using JitVm.Machine;
using JitVm.Machine.Boot;
using JitVm.Machine.Management;
using JitVm.Storage;

namespace JitVm.Cli.Commands;

/// <summary>A bad <c>jitvm serve</c> configuration; the message names the field (<c>vms[1].memory: ...</c>).</summary>
internal sealed class ServeConfigException(string message) : Exception(message);

/// <summary>One VM of a serve configuration, as read (paths resolved against the configuration's directory).</summary>
internal sealed record VmSpec
{
    public required string Name { get; init; }
    public string? Bios { get; init; }
    public string? VgaBios { get; init; }
    public string? Kernel { get; init; }
    public string Append { get; init; } = "";
    public string? Initrd { get; init; }
    /// <summary>A built-in benchmark kernel (integer-loop, memory, call-heavy, self-modifying, mixed) instead of a file.</summary>
    public string? Workload { get; init; }
    public int? Iterations { get; init; }
    public uint MemoryBytes { get; init; } = 16 << 20;
    public string? Cpu { get; init; }
    public string Engine { get; init; } = "auto";
    public ClockMode Clock { get; init; } = ClockMode.Realtime;
    public string?[] HardDisks { get; init; } = new string?[4];
    public string?[] Floppies { get; init; } = new string?[2];
    public string? CdRom { get; init; }
    public bool Snapshot { get; init; }
    public string Boot { get; init; } = "ca";
    public string Serial { get; init; } = "none";
    public string DebugConsole { get; init; } = "none";
    public bool NoReboot { get; init; } = true;
    public bool? ExitOnHalt { get; init; }
    public bool Paused { get; init; }
}

/// <summary>
/// <c>jitvm serve --config vms.json</c>: where the API listens and which VMs run (see
/// docs/decisions/0015-management.md for the format). Unknown members are errors, so a typo is not silently ignored.
/// </summary>
internal sealed record ServeConfig
{
    public string? QmpUnix { get; init; }
    public IPEndPoint? QmpTcp { get; init; }
    public string? TokenFile { get; init; }
    public string? MonitorUnix { get; init; }
    public required IReadOnlyList<VmSpec> Vms { get; init; }

    public static ServeConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServeConfigException($"cannot read {path}: {e.Message}");
        }
        return Parse(text, Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static ServeConfig Parse(string json, string baseDirectory)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new ServeConfigException($"not valid JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ServeConfigException("the configuration must be a JSON object");
            Only(root, "", "qmp", "monitor", "vms");
            string? Resolve(string? p) => p is null ? null : Path.GetFullPath(Path.Combine(baseDirectory, p));
            string? qmpUnix = null, tokenFile = null, monitorUnix = null;
            IPEndPoint? tcp = null;
            if (root.TryGetProperty("qmp", out var qmp))
            {
                Object(qmp, "qmp");
                Only(qmp, "qmp.", "unix", "tcp", "token-file");
                qmpUnix = Resolve(Str(qmp, "unix", "qmp."));
                if (Str(qmp, "tcp", "qmp.") is { } t)
                {
                    if (!Machine.Debugging.GdbStub.TryParseEndpoint(t.StartsWith("tcp:", StringComparison.Ordinal) ? t : "tcp:" + t, out tcp, out _))
                        throw new ServeConfigException($"qmp.tcp: '{t}' is not HOST:PORT");
                    tokenFile = Resolve(Str(qmp, "token-file", "qmp.") ?? "jitvm-qmp.token");
                }
                else if (Str(qmp, "token-file", "qmp.") is not null) throw new ServeConfigException("qmp.token-file: only with qmp.tcp");
            }
            if (root.TryGetProperty("monitor", out var mon))
            {
                Object(mon, "monitor");
                Only(mon, "monitor.", "unix");
                monitorUnix = Resolve(Str(mon, "unix", "monitor."));
            }
            if (!root.TryGetProperty("vms", out var vms) || vms.ValueKind != JsonValueKind.Array || vms.GetArrayLength() == 0)
                throw new ServeConfigException("vms: a non-empty array of VMs is needed");
            var list = new List<VmSpec>();
            int i = 0;
            foreach (var v in vms.EnumerateArray())
            {
                string at = $"vms[{i++}].";
                list.Add(ParseVm(v, at, Resolve));
            }
            var dup = list.GroupBy(v => v.Name).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null) throw new ServeConfigException($"vms: the name '{dup.Key}' is used twice");
            return new ServeConfig { QmpUnix = qmpUnix, QmpTcp = tcp, TokenFile = tokenFile, MonitorUnix = monitorUnix, Vms = list };
        }
    }

    static VmSpec ParseVm(JsonElement v, string at, Func<string?, string?> resolve)
    {
        Object(v, at.TrimEnd('.'));
        Only(v, at, "name", "bios", "vga-bios", "kernel", "append", "initrd", "workload", "iterations", "memory", "cpu", "engine", "clock",
            "hda", "hdb", "hdc", "hdd", "fda", "fdb", "cdrom", "snapshot", "boot", "serial", "debugcon", "no-reboot", "exit-on-halt", "paused");
        string name = Str(v, "name", at) ?? throw new ServeConfigException($"{at}name: every VM needs a name");
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ServeConfigException($"{at}name: '{name}' must be 1-64 letters, digits, '-', '_' or '.'");
        uint memory = 16 << 20;
        if (Str(v, "memory", at) is { } m && !RunCommand.TryParseSize(m, out memory))
            throw new ServeConfigException($"{at}memory: invalid size '{m}' (e.g. 16M, between 1M and {JitVm.Core.PhysicalMemory.MaxRamBytes >> 20}M)");
        string engine = Str(v, "engine", at) ?? "auto";
        if (!Engines.Names.Contains(engine)) throw new ServeConfigException($"{at}engine: '{engine}' is not one of {string.Join(", ", Engines.Names)}");
        string clock = Str(v, "clock", at) ?? "realtime";
        if (clock is not ("realtime" or "deterministic")) throw new ServeConfigException($"{at}clock: use realtime or deterministic");
        string? workload = Str(v, "workload", at);
        if (workload is not null && JitVm.Workloads.Workload.Find(workload) is null)
            throw new ServeConfigException($"{at}workload: no workload '{workload}' ({string.Join(", ", JitVm.Workloads.Workload.All.Select(w => w.Name))})");
        string? kernel = resolve(Str(v, "kernel", at)), bios = resolve(Str(v, "bios", at));
        if ((workload is not null ? 1 : 0) + (kernel is not null ? 1 : 0) + (bios is not null ? 1 : 0) > 1)
            throw new ServeConfigException($"{at}: give at most one of bios, kernel, workload");
        int? iterations = Int(v, "iterations", at);
        if (iterations is < 1) throw new ServeConfigException($"{at}iterations: at least 1");
        foreach (var sink in new[] { "serial", "debugcon" })
            if (Str(v, sink, at) is { } s && s != "none" && !(s.StartsWith("file:", StringComparison.Ordinal) && s.Length > 5))
                throw new ServeConfigException($"{at}{sink}: use none or file:PATH (a served VM has no terminal)");
        string Sink(string key) => Str(v, key, at) is { } s && s.StartsWith("file:", StringComparison.Ordinal) ? "file:" + resolve(s[5..]) : "none";
        return new VmSpec
        {
            Name = name,
            Bios = bios,
            VgaBios = resolve(Str(v, "vga-bios", at)),
            Kernel = kernel,
            Append = Str(v, "append", at) ?? "",
            Initrd = Str(v, "initrd", at),
            Workload = workload,
            Iterations = iterations,
            MemoryBytes = memory,
            Cpu = Str(v, "cpu", at),
            Engine = engine,
            Clock = clock == "deterministic" ? ClockMode.Deterministic : ClockMode.Realtime,
            HardDisks = [resolve(Str(v, "hda", at)), resolve(Str(v, "hdb", at)), resolve(Str(v, "hdc", at)), resolve(Str(v, "hdd", at))],
            Floppies = [resolve(Str(v, "fda", at)), resolve(Str(v, "fdb", at))],
            CdRom = resolve(Str(v, "cdrom", at)),
            Snapshot = Bool(v, "snapshot", at) ?? false,
            Boot = Str(v, "boot", at) ?? "ca",
            Serial = Sink("serial"),
            DebugConsole = Sink("debugcon"),
            NoReboot = Bool(v, "no-reboot", at) ?? true,
            ExitOnHalt = Bool(v, "exit-on-halt", at),
            Paused = Bool(v, "paused", at) ?? false,
        };
    }

    static void Object(JsonElement e, string at)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ServeConfigException($"{at}: must be an object");
    }

    static void Only(JsonElement e, string at, params string[] allowed)
    {
        foreach (var p in e.EnumerateObject())
            if (!allowed.Contains(p.Name)) throw new ServeConfigException($"{at}{p.Name}: unknown member (allowed: {string.Join(", ", allowed)})");
    }

    static string? Str(JsonElement e, string key, string at)
    {
        if (!e.TryGetProperty(key, out var p) || p.ValueKind == JsonValueKind.Null) return null;
        return p.ValueKind == JsonValueKind.String ? p.GetString() : throw new ServeConfigException($"{at}{key}: must be a string");
    }

    static bool? Bool(JsonElement e, string key, string at)
    {
        if (!e.TryGetProperty(key, out var p) || p.ValueKind == JsonValueKind.Null) return null;
        return p.ValueKind is JsonValueKind.True or JsonValueKind.False ? p.GetBoolean() : throw new ServeConfigException($"{at}{key}: must be true or false");
    }

    static int? Int(JsonElement e, string key, string at)
    {
        if (!e.TryGetProperty(key, out var p) || p.ValueKind == JsonValueKind.Null) return null;
        return p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out int n) ? n : throw new ServeConfigException($"{at}{key}: must be an integer");
    }
}

/// <summary>A VM built from its <see cref="VmSpec"/>, with what must be closed when it is gone.</summary>
internal sealed class BuiltVm : IDisposable
{
    public required VmInstance Vm { get; init; }
    public required List<IDisposable> Resources { get; init; }

    /// <summary>Builds the machine: reads firmware and kernels, opens the disks (under an overlay with snapshot), the output files.</summary>
    public static BuiltVm Build(VmSpec spec)
    {
        var resources = new List<IDisposable>();
        try
        {
            string at = $"vm {spec.Name}: ";
            byte[]? rom = spec.Bios is { } b ? ReadFile(b, at + "bios") : null;
            if (rom is not null && rom.Length is not (64 << 10 or 128 << 10 or 256 << 10))
                throw new ServeConfigException($"{at}bios: the image must be 64, 128 or 256 KiB (got {rom.Length} bytes)");
            KernelImage? kernel = null;
            if (spec.Workload is { } w)
            {
                var workload = JitVm.Workloads.Workload.Find(w)!;
                kernel = new KernelImage(workload.Build(spec.Iterations ?? workload.DefaultIterations), spec.Append, []);
            }
            else if (spec.Kernel is { } k)
            {
                if (!RunCommand.TryReadKernel(k, spec.Append, spec.Initrd, out kernel)) throw new ServeConfigException($"{at}kernel: cannot read {k}");
            }
            var choice = Engines.Resolve(spec.Engine, out _)!;
            var cpu = spec.Cpu is { } c ? ParseCpu(c, at) : rom is null && kernel is null ? CpuModel.Pentium : CpuModel.P6;
            var disks = new List<ObservedBlockDevice>();
            IBlockDevice? Open(string? path, string device, bool media)
            {
                if (path is null) return null;
                DiskImage d;
                try
                {
                    d = !spec.Snapshot ? DiskImages.Open(path) : media ? DiskImages.Open(path, readOnly: true) : SnapshotOverlay.Create(path);
                }
                catch (Exception e) when (e is ImageFormatException or BlockDeviceException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    throw new ServeConfigException($"{at}{device}: {e.Message}");
                }
                resources.Add(d);
                var observed = new ObservedBlockDevice(device, path, d);
                disks.Add(observed);
                return observed;
            }
            var hard = new IBlockDevice?[4];
            string[] ideNames = ["ide0-hd0", "ide0-hd1", "ide1-hd0", "ide1-hd1"];
            for (int i = 0; i < 4; i++) hard[i] = Open(spec.HardDisks[i], ideNames[i], false);
            var floppies = new IBlockDevice?[2];
            for (int i = 0; i < 2; i++) floppies[i] = Open(spec.Floppies[i], "floppy" + i, false);
            var cd = Open(spec.CdRom, "ide1-cd0", true);
            Action<byte>? Sink(string s, string what)
            {
                if (!s.StartsWith("file:", StringComparison.Ordinal)) return null;
                try
                {
                    var f = File.Create(s[5..]);
                    resources.Add(f);
                    return f.WriteByte;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ServeConfigException($"{at}{what}: cannot open {s[5..]}: {e.Message}");
                }
            }
            Machine.Machine machine;
            try
            {
                machine = new Machine.Machine(new MachineConfig
                {
                    Cpu = cpu,
                    MemoryBytes = spec.MemoryBytes,
                    Rom = rom,
                    Kernel = kernel,
                    DebugConsole = Sink(spec.DebugConsole, "debugcon"),
                    Serial = Sink(spec.Serial, "serial"),
                    ExitOnHalt = spec.ExitOnHalt ?? (rom is null || kernel is not null),
                    NoReboot = spec.NoReboot,
                    EngineFactory = choice.Factory,
                    EngineName = choice.Name,
                    Clock = spec.Clock,
                    HardDisks = hard,
                    Floppies = floppies,
                    CdRom = cd,
                    VgaBios = spec.VgaBios is { } vb ? ReadFile(vb, at + "vga-bios") : null,
                    BootOrder = spec.Boot,
                });
            }
            catch (Exception e) when (e is KernelLoadException or ArgumentException)
            {
                throw new ServeConfigException(at + e.Message);
            }
            return new BuiltVm { Vm = new VmInstance(spec.Name, machine, disks), Resources = resources };
        }
        catch
        {
            foreach (var r in resources) r.Dispose();
            throw;
        }
    }

    static CpuModel ParseCpu(string text, string at)
    {
        try { return CpuModel.Parse(text); }
        catch (FormatException e) { throw new ServeConfigException($"{at}cpu: {e.Message}"); }
    }

    static byte[] ReadFile(string path, string what)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServeConfigException($"{what}: cannot read {path}: {e.Message}");
        }
    }

    public void Dispose()
    {
        foreach (var r in Resources) r.Dispose();
    }
}
