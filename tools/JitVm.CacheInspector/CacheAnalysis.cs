using Microsoft.Diagnostics.Runtime;

namespace JitVm.CacheInspector;

/// <summary>Something about the target that stops the inspection (printed as one line, exit code 2).</summary>
/// <param name="transient">
/// The process was stopped at a moment the runtime's state cannot be read whole (inside a garbage collection, or
/// with a thread halfway into a suspension); attaching again a moment later reads it.
/// </param>
public sealed class InspectionException(string message, bool transient = false) : Exception(message)
{
    public bool Transient { get; } = transient;
}

/// <summary>
/// Reads the JIT's translation cache out of a jitvm process through ClrMD. Everything is found by type and field
/// name (auto-properties as their <c>&lt;Name&gt;k__BackingField</c>), so the inspector does not depend on the
/// JitVm assemblies; a field that has been renamed there is reported as an <see cref="InspectionException"/>.
/// </summary>
public static class CacheAnalysis
{
    public const string TranslatedBlockType = "JitVm.Jit.Translation.TranslatedBlock";
    public const string EngineType = "JitVm.Jit.JitEngine";
    public const string ProcessorType = "JitVm.Cpu.Processor";
    public const string DecodedBlockType = "JitVm.Cpu.Decoding.DecodedBlock";
    public const string DynamicMethodType = "System.Reflection.Emit.DynamicMethod";

    /// <summary>
    /// Objects the translations point at but do not own: the machine they run on, the decoded blocks (the block
    /// cache owns those), and the runtime's reflection objects that every DynamicMethod refers to.
    /// </summary>
    static readonly HashSet<string> SharedTypes =
    [
        DecodedBlockType, ProcessorType, "JitVm.Cpu.Interpreter", "JitVm.Cpu.Decoding.BlockCache", EngineType,
        "JitVm.Core.PhysicalMemory", "System.RuntimeType",
    ];

    static bool IsShared(string? type) =>
        type is null || SharedTypes.Contains(type)
        || type.StartsWith("System.Reflection.", StringComparison.Ordinal)
           && (type.EndsWith("Module", StringComparison.Ordinal) || type.EndsWith("Assembly", StringComparison.Ordinal)
               || type.EndsWith("ModuleBuilder", StringComparison.Ordinal) || type.EndsWith("AssemblyBuilder", StringComparison.Ordinal));

    /// <summary>Analyses the heap of <paramref name="runtime"/> (whose process must be suspended, or a dump).</summary>
    /// <param name="top">How many of the largest translations to list.</param>
    /// <param name="byTypeTop">How many types to list in the managed footprint.</param>
    /// <param name="paths">For how many stale translations to show what keeps them.</param>
    public static CacheReport Analyze(ClrRuntime runtime, int top = 10, int byTypeTop = 8, int paths = 3)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        ArgumentOutOfRangeException.ThrowIfNegative(byTypeTop);
        ArgumentOutOfRangeException.ThrowIfNegative(paths);
        var heap = runtime.Heap;
        if (!heap.CanWalkHeap)
            throw new InspectionException("the managed heap cannot be walked (the process stopped inside a garbage collection); try again", transient: true);
        if (UnwalkableThread(runtime) is { } thread)
            throw new InspectionException(
                $"managed thread {thread.ManagedThreadId} (os {thread.OSThreadId}) was stopped where its stack cannot be unwound, so the objects " +
                "only its frames hold would look like garbage (it was inside a signal handler, e.g. while the runtime suspended it); try again",
                transient: true);
        if (!runtime.EnumerateModules().Any(m => m.GetTypeByName(ProcessorType) is not null))
            throw new InspectionException($"no JitVm types in the process ({ProcessorType} is not loaded): not a jitvm process?");

        // One walk of the heap for the objects of interest, then the mark phase from the roots.
        var translations = new List<ClrObject>();
        var engines = new List<ClrObject>();
        var dynamicMethods = new List<ulong>();
        long heapObjects = 0;
        foreach (var o in heap.EnumerateObjects())
        {
            if (!o.IsValid) continue;
            heapObjects++;
            switch (o.Type!.Name)
            {
                case TranslatedBlockType: translations.Add(o); break;
                case EngineType: engines.Add(o); break;
                case DynamicMethodType: dynamicMethods.Add(o.Address); break;
            }
        }
        var marked = Mark(heap);

        var reachable = translations.Where(t => marked.Contains(t.Address)).ToList();
        var blocks = new List<BlockInfo>(reachable.Count);
        var retention = new List<RetentionPath>();
        long nativeBytes = 0, resolved = 0, stale = 0;
        foreach (var tb in reachable)
        {
            var info = Describe(runtime, tb);
            blocks.Add(info);
            if (info.Stale && retention.Count < paths)
                retention.Add(new RetentionPath(tb.Address, info.Phys, PathTo(heap, marked, tb.Address)));
            if (info.NativeBytes is { } n)
            {
                nativeBytes += n;
                resolved++;
            }
            if (info.Stale) stale++;
        }

        return new CacheReport
        {
            RuntimeVersion = VersionOf(runtime.ClrInfo),
            HeapObjects = heapObjects,
            ReachableObjects = marked.Count,
            Engines = engines.Select(e => ReadEngine(e, marked.Contains(e.Address))).ToList(),
            Translations = new TranslationCounts
            {
                Reachable = reachable.Count,
                Unreachable = translations.Count - reachable.Count,
                ReachableStale = stale,
                StaleRetention = retention,
            },
            ReachableDynamicMethods = dynamicMethods.Count(marked.Contains),
            NativeCode = new NativeCode { Bytes = nativeBytes, Resolved = resolved, Unknown = reachable.Count - resolved },
            Heap = Footprint(heap, reachable, byTypeTop),
            Largest = blocks
                .OrderByDescending(b => b.NativeBytes ?? -1).ThenByDescending(b => b.IlBytes).ThenBy(b => b.Phys)
                .Take(top).ToList(),
        };
    }

    /// <summary>
    /// A thread in cooperative mode (running managed code) whose stack walk finds no managed method. Its frames are
    /// roots: without them the objects only its locals hold (the running machine, its interpreter and engine) would
    /// be counted as garbage. This happens when the process is stopped while such a thread sits in a signal handler,
    /// as when the runtime's suspension for a collection has interrupted it; the unwinder cannot step out of the
    /// handler's frame. Threads in preemptive mode are walked from their last transition frame and are readable.
    /// </summary>
    static ClrThread? UnwalkableThread(ClrRuntime runtime) =>
        runtime.Threads.FirstOrDefault(t => t.IsAlive && t.GCMode == GCMode.Cooperative
                                             && !t.EnumerateStackTrace().Any(f => f.Method is not null));

    /// <summary>The CLR's version; where ClrMD could not read it, the shared framework directory it was loaded from (e.g. 10.0.12).</summary>
    static string VersionOf(ClrInfo clr) =>
        clr.Version.Major != 0 ? clr.Version.ToString() : Path.GetFileName(Path.GetDirectoryName(clr.ModuleInfo.FileName)) ?? "unknown";

    /// <summary>
    /// The objects a GC would keep: everything reachable from the strong roots (and through dependent handles),
    /// breadth first, each with the object it was first reached from (0 for a root), so that the path to it is a
    /// shortest one.
    /// </summary>
    sealed class Marking
    {
        public readonly Dictionary<ulong, ulong> Parent = new();
        public readonly Dictionary<ulong, ClrRootKind> RootKind = new();
        public int Count => Parent.Count;
        public bool Contains(ulong address) => Parent.ContainsKey(address);
    }

    static Marking Mark(ClrHeap heap)
    {
        var m = new Marking();
        var pending = new Queue<ulong>();
        foreach (var root in heap.EnumerateRoots())
        {
            ulong a = root.Object.Address;
            if (a == 0 || !m.Parent.TryAdd(a, 0)) continue;
            m.RootKind[a] = root.RootKind;
            pending.Enqueue(a);
        }
        while (pending.TryDequeue(out ulong a))
        {
            var o = heap.GetObject(a);
            if (!o.IsValid) continue;
            foreach (ulong r in o.EnumerateReferenceAddresses(carefully: true, considerDependantHandles: true))
                if (m.Parent.TryAdd(r, a)) pending.Enqueue(r);
        }
        return m;
    }

    /// <summary>How <paramref name="address"/> is reached: the root's kind, then each object's type and the field that leads on.</summary>
    static List<string> PathTo(ClrHeap heap, Marking m, ulong address)
    {
        var chain = new List<ulong>();
        for (ulong a = address; a != 0 && chain.Count < 1000; a = m.Parent[a]) chain.Add(a);
        chain.Reverse();
        var path = new List<string> { m.RootKind.TryGetValue(chain[0], out var kind) ? kind.ToString() : "?" };
        for (int i = 0; i < chain.Count; i++)
        {
            var o = heap.GetObject(chain[i]);
            string step = o.Type?.Name ?? "?";
            if (i + 1 < chain.Count)
            {
                foreach (var r in o.EnumerateReferencesWithFields(carefully: true, considerDependantHandles: true))
                {
                    if (r.Object.Address != chain[i + 1]) continue;
                    step += r.IsArrayElement ? " []" : r.IsDependentHandle ? " (dependent handle)" : r.Field is { } f ? $" .{f.Name}" : "";
                    break;
                }
            }
            path.Add(step);
        }
        return path;
    }

    static BlockInfo Describe(ClrRuntime runtime, ClrObject tb)
    {
        var block = Object(tb, "<Block>k__BackingField");
        bool stale = !block.IsNull
            && (!Field<bool>(block, "<Valid>k__BackingField") || Object(block, "TranslatorData").Address != tb.Address);
        var method = CodeMethod(runtime, Object(tb, "<Code>k__BackingField"));
        return new BlockInfo
        {
            Address = tb.Address,
            Phys = block.IsNull ? 0 : Field<uint>(block, "<Phys>k__BackingField"),
            NativeBytes = method is null ? null : (long)method.HotColdInfo.HotSize + method.HotColdInfo.ColdSize,
            IlBytes = Field<int>(tb, "<IlBytes>k__BackingField"),
            InlineInstructions = Field<int>(tb, "<InlineInstructions>k__BackingField"),
            BlockCount = Field<int>(tb, "<BlockCount>k__BackingField"),
            Stale = stale,
            Method = method?.Name,
        };
    }

    /// <summary>
    /// The jitted method behind a delegate: a delegate closed over its target keeps the code address in
    /// <c>_methodPtr</c>; an open one calls a shuffle thunk there and keeps the method in <c>_methodPtrAux</c>.
    /// Null when neither maps to a method with native code (say, a precode stub that was never backpatched).
    /// </summary>
    static ClrMethod? CodeMethod(ClrRuntime runtime, ClrObject code)
    {
        if (code.IsNull) return null;
        foreach (string name in (ReadOnlySpan<string>)["_methodPtr", "_methodPtrAux"])
        {
            ulong ip = Field<nuint>(code, name);
            if (ip == 0) continue;
            if (runtime.GetMethodByInstructionPointer(ip) is { } m && m.HotColdInfo.HotSize > 0) return m;
        }
        return null;
    }

    static EngineCounters ReadEngine(ClrObject engine, bool reachable)
    {
        var live = Object(engine, "live");
        return new EngineCounters
        {
            Address = engine.Address,
            Reachable = reachable,
            BlocksCompiled = Field<long>(engine, "<BlocksCompiled>k__BackingField"),
            Evictions = Field<long>(engine, "<Evictions>k__BackingField"),
            Invalidations = Field<long>(engine, "<Invalidations>k__BackingField"),
            ThrashRefusals = Field<long>(engine, "<ThrashRefusals>k__BackingField"),
            LiveQueue = live.IsNull ? 0 : Field<int>(live, "_size"),
        };
    }

    /// <summary>Size of the object graph under the translations, stopping at shared objects; one visited set for all.</summary>
    static ManagedFootprint Footprint(ClrHeap heap, List<ClrObject> roots, int byTypeTop)
    {
        var seen = new HashSet<ulong>();
        var pending = new Stack<ulong>();
        foreach (var tb in roots)
            if (seen.Add(tb.Address)) pending.Push(tb.Address);
        var byType = new Dictionary<string, (long Objects, long Bytes)>();
        long bytes = 0, objects = 0;
        while (pending.TryPop(out ulong a))
        {
            var o = heap.GetObject(a);
            if (!o.IsValid || IsShared(o.Type!.Name)) continue;
            bytes += (long)o.Size;
            objects++;
            string name = o.Type.Name ?? "?";
            var t = byType.GetValueOrDefault(name);
            byType[name] = (t.Objects + 1, t.Bytes + (long)o.Size);
            foreach (ulong r in o.EnumerateReferenceAddresses(carefully: true, considerDependantHandles: false))
                if (seen.Add(r)) pending.Push(r);
        }
        return new ManagedFootprint
        {
            Bytes = bytes,
            Objects = objects,
            ByType = byType.OrderByDescending(kv => kv.Value.Bytes).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(byTypeTop)
                .Select(kv => new TypeBytes(kv.Key, kv.Value.Objects, kv.Value.Bytes)).ToList(),
        };
    }

    static T Field<T>(ClrObject o, string name) where T : unmanaged =>
        o.Type?.GetFieldByName(name) is { } f ? o.ReadField<T>(f) : throw MissingField(o, name);

    static ClrObject Object(ClrObject o, string name) =>
        o.Type?.GetFieldByName(name) is { } f ? o.ReadObjectField(f) : throw MissingField(o, name);

    static InspectionException MissingField(ClrObject o, string name) =>
        new($"{o.Type?.Name ?? "?"} has no field {name}: a jitvm built from other sources than this inspector knows?");
}
