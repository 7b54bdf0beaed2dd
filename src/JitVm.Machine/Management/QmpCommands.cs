using System.Text.Json;
using System.Text.Json.Nodes;

namespace JitVm.Machine.Management;

/// <summary>An error reply: QMP's error class ("GenericError", "CommandNotFound") and a description.</summary>
public sealed class QmpError(string errorClass, string description) : Exception(description)
{
    public string Class { get; } = errorClass;

    public static QmpError Generic(string description) => new("GenericError", description);
}

/// <summary>
/// The API's commands: each has an argument schema (name → JSON kind, required or not) checked before it runs, so a
/// command body sees only well-typed arguments. Commands that address a VM take an optional <c>vm</c> string (the
/// only VM when there is one). See docs/decisions/0015-management.md for the list and how it differs from QEMU's.
/// </summary>
public sealed class QmpCommands
{
    enum Kind { String, Integer, Boolean, Array, Object }

    sealed record Arg(string Name, Kind Kind, bool Required = false);

    sealed record Command(string Name, Arg[] Args, Func<JsonObject, VmHost, JsonNode?> Run, bool AddressesVm = true);

    readonly Dictionary<string, Command> commands = new(StringComparer.Ordinal);
    readonly VmHost host;

    public QmpCommands(VmHost host)
    {
        this.host = host;
        Add("query-version", [], (_, _) => new JsonObject
        {
            ["jitvm"] = new JsonObject { ["major"] = 0, ["minor"] = 15, ["micro"] = 0 },
            ["package"] = "jitvm",
        }, addressesVm: false);
        Add("query-commands", [], (_, _) => new JsonArray(commands.Keys.Order(StringComparer.Ordinal).Select(n => (JsonNode)new JsonObject { ["name"] = n }).ToArray()), addressesVm: false);
        Add("query-vms", [], (_, h) => new JsonArray(h.Vms.Select(v => (JsonNode)StatusOf(v)).ToArray()), addressesVm: false);
        Add("query-status", [], (a, h) => StatusOf(Vm(a, h)));
        Add("stop", [], (a, h) => { Vm(a, h).Stop(); return new JsonObject(); });
        Add("cont", [], (a, h) => { Vm(a, h).Continue(); return new JsonObject(); });
        Add("step", [new("count", Kind.Integer)], (a, h) =>
        {
            var vm = Vm(a, h);
            vm.Step(a["count"] is { } n ? Int(n, "count") : 1);
            return vm.OnMachine(() => new JsonObject { ["eip"] = vm.Machine.Cpu.Eip, ["instructions"] = vm.Machine.Cpu.InstructionCount });
        });
        Add("query-registers", [], (a, h) => { var vm = Vm(a, h); return vm.OnMachine(() => VmInspector.Registers(vm.Machine)); });
        Add("query-jit", [], (a, h) => { var vm = Vm(a, h); return vm.OnMachine(() => VmInspector.Jit(vm.Machine)); });
        Add("query-tlb", [], (a, h) => { var vm = Vm(a, h); return vm.OnMachine(() => VmInspector.Tlb(vm.Machine)); });
        Add("query-devices", [], (a, h) => { var vm = Vm(a, h); return vm.OnMachine(() => VmInspector.Devices(vm.Machine)); });
        Add("query-block", [], (a, h) => VmInspector.Block(Vm(a, h)));
        Add("read-memory", [new("address", Kind.Integer, true), new("size", Kind.Integer, true), new("physical", Kind.Boolean)], (a, h) =>
        {
            var vm = Vm(a, h);
            long address = Long(a["address"]!, "address");
            if (address is < 0 or > uint.MaxValue) throw QmpError.Generic("Parameter 'address' must be between 0 and 4294967295");
            int size = Int(a["size"]!, "size");
            if (size is < 1 or > 65536) throw QmpError.Generic("Parameter 'size' must be between 1 and 65536");
            bool physical = a["physical"]?.GetValue<bool>() ?? false;
            var data = vm.OnMachine(() => VmInspector.ReadMemory(vm.Machine, (uint)address, size, physical));
            if (data is null) throw QmpError.Generic($"linear address {address:x8} is not mapped");
            return new JsonObject { ["address"] = address, ["size"] = data.Length, ["data"] = Convert.ToHexStringLower(data) };
        });
        Add("send-key", [new("keys", Kind.Array, true), new("hold-time", Kind.Integer)], (a, h) =>
        {
            var vm = Vm(a, h);
            var keys = a["keys"]!.AsArray();
            if (keys.Count is < 1 or > 16) throw QmpError.Generic("Parameter 'keys' must list 1 to 16 keys");
            var codes = new List<ushort>();
            foreach (var k in keys)
            {
                // QEMU's KeyValue: {"type": "qcode", "data": "ctrl"} or {"type": "number", "data": 29}; a bare name is accepted too.
                string? name = k?.GetValueKind() == JsonValueKind.String ? k.GetValue<string>()
                    : k is JsonObject o && o["data"]?.GetValueKind() == JsonValueKind.String ? o["data"]!.GetValue<string>() : null;
                if (k is JsonObject num && num["type"]?.GetValueKind() == JsonValueKind.String && num["type"]!.GetValue<string>() == "number"
                    && num["data"]?.GetValueKind() == JsonValueKind.Number && num["data"]!.AsValue().TryGetValue(out int n) && n is > 0 and <= 0xFFFF)
                {
                    codes.Add((ushort)n);
                    continue;
                }
                if (name is null || !KeyNames.TryGet(name, out ushort code))
                    throw QmpError.Generic($"Parameter 'keys' has an invalid key: {k?.ToJsonString() ?? "null"}");
                codes.Add(code);
            }
            MonitorInterpreter.SendKeys(vm, codes);
            return new JsonObject();
        });
        Add("screendump", [new("filename", Kind.String, true), new("format", Kind.String)], (a, h) =>
        {
            var vm = Vm(a, h);
            if (a["format"] is { } f && f.GetValue<string>() != "png") throw QmpError.Generic("Parameter 'format' must be \"png\"");
            string file = a["filename"]!.GetValue<string>();
            if (file.Length == 0) throw QmpError.Generic("Parameter 'filename' is empty");
            var (w, hgt) = vm.OnMachine(() => ScreenDump.WritePng(vm.Machine.Vga, file));
            return new JsonObject { ["width"] = w, ["height"] = hgt };
        });
        Add("savevm", [new("tag", Kind.String, true)], (a, h) =>
        {
            int bytes = Vm(a, h).SaveSnapshot(Tag(a));
            return new JsonObject { ["tag"] = Tag(a), ["size"] = bytes };
        });
        Add("loadvm", [new("tag", Kind.String, true)], (a, h) => { Vm(a, h).LoadSnapshot(Tag(a)); return new JsonObject(); });
        Add("delvm", [new("tag", Kind.String, true)], (a, h) =>
        {
            if (!Vm(a, h).DeleteSnapshot(Tag(a))) throw QmpError.Generic($"no snapshot '{Tag(a)}'");
            return new JsonObject();
        });
        Add("query-snapshots", [], (a, h) => new JsonArray(Vm(a, h).Snapshots.Select(s => (JsonNode)new JsonObject { ["tag"] = s.Tag, ["size"] = s.Bytes }).ToArray()));
        Add("system_reset", [], (a, h) => { Vm(a, h).Reset(); return new JsonObject(); });
        Add("quit", [], (a, h) => { Vm(a, h).Quit(); return new JsonObject(); });
        Add("server-quit", [], (_, h) => { h.RequestQuit(); return new JsonObject(); }, addressesVm: false);
        Add("human-monitor-command", [new("command-line", Kind.String, true)], (a, h) =>
        {
            var monitor = new MonitorInterpreter(h, a["vm"]?.GetValue<string>());
            return JsonValue.Create(monitor.Execute(a["command-line"]!.GetValue<string>()));
        });
    }

    void Add(string name, Arg[] args, Func<JsonObject, VmHost, JsonNode?> run, bool addressesVm = true) =>
        commands[name] = new Command(name, addressesVm ? [.. args, new Arg("vm", Kind.String)] : args, run, addressesVm);

    /// <summary>The names of every command (plus <c>qmp_capabilities</c>, which the session handles).</summary>
    public IEnumerable<string> Names => commands.Keys;

    /// <summary>Checks <paramref name="arguments"/> against the command's schema and runs it; throws <see cref="QmpError"/>.</summary>
    public JsonNode? Execute(string name, JsonObject? arguments)
    {
        if (!commands.TryGetValue(name, out var cmd)) throw new QmpError("CommandNotFound", $"The command {name} has not been found");
        var args = arguments ?? new JsonObject();
        foreach (var (key, value) in args)
        {
            var spec = cmd.Args.FirstOrDefault(a => a.Name == key);
            if (spec is null) throw QmpError.Generic($"Parameter '{key}' is unexpected");
            if (!Matches(value, spec.Kind)) throw QmpError.Generic($"Invalid parameter type for '{key}', expected: {KindName(spec.Kind)}");
        }
        foreach (var a in cmd.Args)
            if (a.Required && !args.ContainsKey(a.Name)) throw QmpError.Generic($"Parameter '{a.Name}' is missing");
        try
        {
            return cmd.Run(args, host);
        }
        catch (VmCommandException e)
        {
            throw QmpError.Generic(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException or InvalidDataException)
        {
            throw QmpError.Generic(e.Message);
        }
    }

    static bool Matches(JsonNode? value, Kind kind)
    {
        var k = value?.GetValueKind() ?? JsonValueKind.Null;
        return kind switch
        {
            Kind.String => k == JsonValueKind.String,
            Kind.Integer => k == JsonValueKind.Number && value!.AsValue().TryGetValue(out long _),
            Kind.Boolean => k is JsonValueKind.True or JsonValueKind.False,
            Kind.Array => k == JsonValueKind.Array,
            _ => k == JsonValueKind.Object,
        };
    }

    static string KindName(Kind k) => k switch
    {
        Kind.String => "string",
        Kind.Integer => "integer",
        Kind.Boolean => "boolean",
        Kind.Array => "array",
        _ => "object",
    };

    static VmInstance Vm(JsonObject a, VmHost h) => h.Resolve(a["vm"]?.GetValue<string>());

    static string Tag(JsonObject a) => a["tag"]!.GetValue<string>();

    static long Long(JsonNode n, string name) =>
        n.AsValue().TryGetValue(out long v) ? v : throw QmpError.Generic($"Invalid parameter type for '{name}', expected: integer");

    static int Int(JsonNode n, string name)
    {
        long v = Long(n, name);
        return v is >= int.MinValue and <= int.MaxValue ? (int)v : throw QmpError.Generic($"Parameter '{name}' is out of range");
    }

    /// <summary>A VM's entry in <c>query-status</c> and <c>query-vms</c>.</summary>
    public static JsonObject StatusOf(VmInstance vm)
    {
        var s = vm.Status;
        var o = new JsonObject
        {
            ["vm"] = vm.Name,
            ["status"] = VmInstance.StatusName(s),
            ["running"] = s == VmStatus.Running,
            ["singlestep"] = false,
            ["instructions"] = vm.Machine.Cpu.InstructionCount,
        };
        if (vm.Result is { } r)
        {
            o["reason"] = vm.ExitReasonName;
            if (r.Message is { } m) o["message"] = m;
            if (r.GuestExitCode is { } code) o["exit-code"] = code;
        }
        return o;
    }
}
