using System.Collections;
using System.Reflection;
using System.Text;
using JitVm.Core;
using JitVm.Core.State;
using JitVm.Core.Storage;
using JitVm.Cpu;
using JitVm.Cpu.Fpu;

namespace JitVm.Machine.Tests.Snapshots;

/// <summary>
/// Every component's state survives a save and a load: saving what was loaded gives the same bytes, and the restored
/// machine's components hold, field by field, what the original's held (so a field that a snapshot forgets shows up
/// here by name, whoever added it).
/// </summary>
public class SnapshotStateTests
{
    /// <summary>SeaBIOS in the middle of its drive detection, with host input waiting in the keyboard, mouse and UARTs.</summary>
    static Machine Busy(out SnapshotGuest guest)
    {
        guest = SnapshotDeterminismTests.SeaBios(2_300_000, 4, 1);
        var m = SnapshotHarness.Build(guest, "interp", guest.Slice, new StringBuilder());
        SnapshotHarness.RunCalls(m, guest.Before);
        m.Keyboard.Keyboard.KeyDown(0x1C);                  // armed typematic repeat
        m.Keyboard.Mouse.SendMovement(3, -2, 1);
        m.Serial.Receive((byte)'a');
        m.Serial2.Receive((byte)'b');
        return m;
    }

    /// <summary>Each component's own save and load, by its section tag.</summary>
    static readonly Dictionary<string, (Action<Machine, StateWriter> Save, Action<Machine, StateReader> Load)> Components = new()
    {
        ["MACH"] = ((m, w) => m.SaveBoardState(w), (m, r) => m.LoadBoardState(r)),
        ["CLK"] = ((m, w) => m.Clock.SaveState(w), (m, r) => m.Clock.LoadState(r)),
        ["CPU+FPU"] = ((m, w) => m.Cpu.SaveState(w), (m, r) => m.Cpu.LoadState(r)),
        ["MEM"] = ((m, w) => m.Memory.SaveState(w), (m, r) => m.Memory.LoadState(r)),
        ["PIC"] = ((m, w) => m.Pic.SaveState(w), (m, r) => m.Pic.LoadState(r)),
        ["PIT"] = ((m, w) => m.Pit.SaveState(w), (m, r) => m.Pit.LoadState(r)),
        ["PRTB"] = ((m, w) => m.PortB.SaveState(w), (m, r) => m.PortB.LoadState(r)),
        ["RTC"] = ((m, w) => m.Cmos.SaveState(w), (m, r) => m.Cmos.LoadState(r)),
        ["KBC"] = ((m, w) => m.Keyboard.SaveState(w), (m, r) => m.Keyboard.LoadState(r)),
        ["DMA"] = ((m, w) => m.Dma.SaveState(w), (m, r) => m.Dma.LoadState(r)),
        ["FDC"] = ((m, w) => m.Floppy.SaveState(w), (m, r) => m.Floppy.LoadState(r)),
        ["PCI"] = ((m, w) => m.Pci.SaveState(w), (m, r) => m.Pci.LoadState(r)),
        ["FWCF"] = ((m, w) => m.FwCfg.SaveState(w), (m, r) => m.FwCfg.LoadState(r)),
        ["VGA"] = ((m, w) => m.Vga.SaveState(w), (m, r) => m.Vga.LoadState(r)),
        ["IDE0"] = ((m, w) => m.Ide[0].SaveState(w), (m, r) => m.Ide[0].LoadState(r)),
        ["IDE1"] = ((m, w) => m.Ide[1].SaveState(w), (m, r) => m.Ide[1].LoadState(r)),
        ["UART1"] = ((m, w) => m.Serial.SaveState(w), (m, r) => m.Serial.LoadState(r)),
        ["UART2"] = ((m, w) => m.Serial2.SaveState(w), (m, r) => m.Serial2.LoadState(r)),
        ["RCR"] = ((m, w) => m.ResetControl.SaveState(w), (m, r) => m.ResetControl.LoadState(r)),
        ["FERR"] = ((m, w) => m.CoprocessorError.SaveState(w), (m, r) => m.CoprocessorError.LoadState(r)),
        ["DEXT"] = ((m, w) => m.Exit.SaveState(w), (m, r) => m.Exit.LoadState(r)),
        ["POST"] = ((m, w) => m.Post.SaveState(w), (m, r) => m.Post.LoadState(r)),
        ["PRTA"] = ((m, w) => m.ControlPortA.SaveState(w), (m, r) => m.ControlPortA.LoadState(r)),
        ["ACPM"] = ((m, w) => m.Acpi.SaveState(w), (m, r) => m.Acpi.LoadState(r)),
    };

    public static TheoryData<string> ComponentNames() => new(Components.Keys);

    static Machine? busy;
    static SnapshotGuest? busyGuest;
    static readonly object gate = new();

    static (Machine Machine, SnapshotGuest Guest) Shared()
    {
        lock (gate)
        {
            busy ??= Busy(out busyGuest);
            return (busy, busyGuest!);
        }
    }

    [Theory]
    [MemberData(nameof(ComponentNames))]
    public void ComponentStateRoundTripsToTheSameBytes(string component)
    {
        var (original, guest) = Shared();
        var (save, load) = Components[component];
        byte[] first;
        lock (gate)
        {
            var w = new StateWriter();
            save(original, w);
            first = w.ToArray();
        }
        var fresh = SnapshotHarness.Build(guest, "interp", guest.Slice, new StringBuilder());
        var before = new StateWriter();
        save(fresh, before);
        Assert.False(before.WrittenSpan.SequenceEqual(first) && component is "CPU+FPU" or "MEM" or "CLK" or "PIC" or "PIT" or "VGA" or "PCI" or "KBC" or "UART1" or "IDE0",
            $"{component}: the busy machine's state is the power-on state, so the round trip proves little");
        if (component == "CLK")
        {
            // Guest time is read through the CPU's instruction count: give the fresh machine the original's first.
            var cpu = new StateWriter();
            lock (gate) original.Cpu.SaveState(cpu);
            fresh.Cpu.LoadState(new StateReader(cpu.ToArray()));
        }
        var r = new StateReader(first);
        load(fresh, r);
        Assert.Equal(0, r.Remaining);
        var again = new StateWriter();
        save(fresh, again);
        Assert.Equal(Convert.ToHexString(first), Convert.ToHexString(again.WrittenSpan));
    }

    [Fact]
    public void ARestoredMachineMatchesTheOriginalFieldByField()
    {
        var (original, guest) = Shared();
        byte[] snapshot;
        lock (gate) snapshot = SnapshotHarness.Save(original);
        var restored = SnapshotHarness.Build(guest, "jit", guest.Slice, new StringBuilder());
        SnapshotHarness.Restore(restored, snapshot);
        var differences = new List<string>();
        lock (gate)
        {
            foreach (var (name, get) in Roots)
                new StateComparer(differences).Compare(name, get(original), get(restored));
        }
        Assert.True(differences.Count == 0, "fields the snapshot did not carry over:\n" + string.Join("\n", differences.Take(40)));
    }

    /// <summary>
    /// The same after the guest's view of the devices has been stirred: seeded random writes and reads over every I/O
    /// port and MSR (programming, command sequences and latches a normal boot leaves alone), so that a field a snapshot
    /// misses shows up here even if no guest in the other tests changes it.
    /// </summary>
    [Fact]
    public void ARestoredMachineMatchesTheOriginalFieldByFieldAfterRandomPortAndMsrAccesses()
    {
        var guest = SnapshotDeterminismTests.SeaBios(1_000_000, 1, 1);
        var original = SnapshotHarness.Build(guest, "interp", guest.Slice, new StringBuilder());
        SnapshotHarness.RunCalls(original, 1);
        var rng = new Random(77);
        foreach (uint msr in (ReadOnlySpan<uint>)[0x10, 0x17, 0x1B, 0x8B, 0xC1, 0xC2, 0x174, 0x175, 0x176, 0x186, 0x187])
            original.Cpu.TryWriteMsr(msr, (ulong)rng.NextInt64() & 0xFFFF_FFFF);
        // Ports the devices claim, written and read in random order with random sizes and values.
        ushort[] ports = Enumerable.Range(0, 0x10000).Select(p => (ushort)p).Where(p => p is < 0x100 or (>= 0x170 and < 0x178) or (>= 0x1F0 and < 0x1F8)
            or (>= 0x2F8 and < 0x300) or (>= 0x370 and < 0x378) or (>= 0x3B0 and < 0x3E0) or (>= 0x3F0 and < 0x400) or 0x402 or 0x4D0 or 0x4D1
            or (>= 0x510 and < 0x51C) or (>= 0x600 and < 0x640) or (>= 0xCF8 and < 0xD00)).ToArray();
        for (int i = 0; i < 40_000; i++)
        {
            ushort port = ports[rng.Next(ports.Length)];
            int size = rng.Next(3) switch { 0 => 1, 1 => 2, _ => 4 };
            if (port == 0xF4 || port == 0x92 || port == 0x64 || port == 0xCF9) continue;      // exit, fast reset, 8042 pulse, reset control
            if (rng.Next(2) == 0) original.Io.Out(port, size, (uint)rng.Next());
            else original.Io.In(port, size);
        }
        original.Keyboard.Keyboard.KeyDown(0x1C);
        original.Clock.RunDue();
        byte[] snapshot = SnapshotHarness.Save(original);
        var restored = SnapshotHarness.Build(guest, "auto", guest.Slice, new StringBuilder());
        SnapshotHarness.Restore(restored, snapshot);
        var differences = new List<string>();
        foreach (var (name, get) in Roots)
            new StateComparer(differences).Compare(name, get(original), get(restored));
        Assert.True(differences.Count == 0, "fields the snapshot did not carry over:\n" + string.Join("\n", differences.Take(40)));
        Assert.Equal(snapshot, SnapshotHarness.Save(restored));
        // And from that stirred state both run on alike (whatever the firmware makes of it).
        SnapshotHarness.RunCalls(original, 1);
        SnapshotHarness.RunCalls(restored, 1);
        byte[] a = SnapshotHarness.Save(original), b = SnapshotHarness.Save(restored);
        Assert.True(a.AsSpan().SequenceEqual(b), SnapshotHarness.FirstDifference(a, b));
        Assert.NotEqual(snapshot, a);
    }

    /// <summary>
    /// Every component the machine exposes is in the snapshot (compared above from its own root), or listed here with
    /// the reason it need not be: a device added to the machine and forgotten in <c>MachineSnapshot</c> fails this.
    /// </summary>
    [Fact]
    public void EveryComponentOfTheMachineIsCovered()
    {
        var (m, _) = Shared();
        var exempt = new Dictionary<string, string>
        {
            ["HostBridge"] = "its configuration space is in the PCI bus's section",
            ["IsaBridge"] = "its configuration space is in the PCI bus's section",
            ["IdeFunction"] = "its configuration space is in the PCI bus's section",
            ["AcpiTables"] = "built from the configuration; the guest's copy is in RAM",
            ["KernelImage"] = "configuration (its digest is in the header)",
            ["LinuxKernel"] = "configuration (its digest is in the header)",
            ["Engine"] = "rebuilt: translations are not saved",
            ["Io"] = "wiring only",
        };
        var covered = Roots.Select(r => r.Get(m)).ToList();
        foreach (var prop in typeof(Machine).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (exempt.ContainsKey(prop.Name) || prop.PropertyType.IsValueType || prop.PropertyType == typeof(string)) continue;
            if (prop.GetValue(m) is not { } value) continue;
            var parts = value is Array array ? array.Cast<object>() : [value];
            foreach (var part in parts)
                Assert.True(covered.Any(c => ReferenceEquals(c, part)), $"Machine.{prop.Name} ({part.GetType().Name}) is neither saved in snapshots nor exempted");
        }
    }

    static readonly (string Name, Func<Machine, object> Get)[] Roots =
    [
        ("cpu", m => m.Cpu), ("memory", m => m.Memory), ("clock", m => m.Clock), ("pic", m => m.Pic), ("pit", m => m.Pit),
        ("portB", m => m.PortB), ("cmos", m => m.Cmos), ("keyboard", m => m.Keyboard), ("dma", m => m.Dma), ("floppy", m => m.Floppy),
        ("pci", m => m.Pci), ("fwcfg", m => m.FwCfg), ("vga", m => m.Vga), ("ide0", m => m.Ide[0]), ("ide1", m => m.Ide[1]),
        ("com1", m => m.Serial), ("com2", m => m.Serial2), ("resetControl", m => m.ResetControl), ("ferr", m => m.CoprocessorError),
        ("exit", m => m.Exit), ("post", m => m.Post), ("portA", m => m.ControlPortA), ("acpi", m => m.Acpi), ("resets", m => m.Resets),
    ];

    /// <summary>
    /// Compares two object graphs field by field (private ones included). Not compared: delegates, references to other
    /// components (compared from their own roots), disk images, and the fields listed in <see cref="NotSaved"/> with why.
    /// </summary>
    sealed class StateComparer(List<string> differences)
    {
        /// <summary>Fields a snapshot leaves out on purpose: caches rebuilt after a load, host-side state, scratch buffers.</summary>
        static readonly HashSet<string> NotSaved =
        [
            "Processor.supervisorTlb", "Processor.userTlb", "Processor.tlb", "Processor.largeEntries", // TLBs: flushed on load
            "Processor.TlbGeneration",                                                               // moves on at every flush
            "Processor.ExitBlock", "Processor.RunLimit", "Processor.PendingFault", "Processor.FaultPending", // inside one dispatch
            "Processor.hostBreakpoints", "Processor.hostBreakpointResume",                           // the host debugger's
            "Processor.Flags", "Processor.LazyOp", "Processor.LazyDst", "Processor.LazySrc",          // saved as EFLAGS computed:
            "Processor.LazyRes", "Processor.LazySign",                                               // compared through GetEflags
            "Processor.fault", "Processor.backing",                                                  // preallocated; the memory's array
            "PhysicalMemory.Code", "PhysicalMemory.reportedPages", "PhysicalMemory.mmio",            // decoded-code marks; log-once set; wiring
            "VirtualClock.anchorNs", "VirtualClock.anchorInstructions",                              // compared through Now instead
            "VirtualClock.hostBase", "VirtualClock.windowHost", "VirtualClock.windowInstructions",  // realtime pacing: host-side,
            "VirtualClock.nsPerInstruction",                                                         // re-anchored on load
            "AtapiDrive.sectorBuf", "AtapiDrive.cachedSector", "AtapiDrive.LastIoError", "AtaDrive.LastIoError", // read cache, diagnostics
            "FloppyController.sector",                                                               // scratch of one command
        ];

        static readonly Type[] ComponentTypes =
        [
            typeof(Processor), typeof(PhysicalMemory), typeof(VirtualClock), typeof(IoBus), typeof(IIrqLines), typeof(IBlockDevice),
            typeof(JitVm.Devices.Pit8254), typeof(JitVm.Devices.Dma8237), typeof(CpuModel), typeof(JitVm.Devices.Ata.AtaChannel),
        ];

        readonly HashSet<(object, object)> seen = new(new PairComparer());

        public void Compare(string path, object? a, object? b)
        {
            if (a is null || b is null)
            {
                if (a is not null || b is not null) differences.Add($"{path}: {Show(a)} vs {Show(b)}");
                return;
            }
            var t = a.GetType();
            if (t != b.GetType()) { differences.Add($"{path}: type {t.Name} vs {b.GetType().Name}"); return; }
            if (t.IsPrimitive || t.IsEnum || a is string || a is decimal || a is Float80)
            {
                if (!a.Equals(b)) differences.Add($"{path}: {Show(a)} vs {Show(b)}");
                return;
            }
            if (a is Delegate) return;
            if (a is VirtualClock ca && b is VirtualClock cb && path == "clock" && ca.Now != cb.Now) differences.Add($"clock.Now: {ca.Now} vs {cb.Now}");
            if (a is Processor pa && b is Processor pb && pa.GetEflags() != pb.GetEflags()) differences.Add($"{path}.GetEflags(): {pa.GetEflags():X8} vs {pb.GetEflags():X8}");
            if (a is DeviceTimer ta && b is DeviceTimer tb)
            {
                if (ta.Deadline != tb.Deadline) differences.Add($"{path}.Deadline: {ta.Deadline} vs {tb.Deadline}");
                return;
            }
            if (!t.IsValueType && !seen.Add((a, b))) return;
            if (a is byte[] ba && b is byte[] bb)
            {
                int at = ba.AsSpan().CommonPrefixLength(bb);
                if (at != ba.Length || ba.Length != bb.Length) differences.Add($"{path}: byte arrays differ at {at}");
                return;
            }
            if (InlineElements(a) is { } ea)
            {
                var eb = InlineElements(b)!;
                for (int i = 0; i < ea.Length; i++) Compare($"{path}[{i}]", ea[i], eb[i]);
                return;
            }
            if (a is IEnumerable ia && b is IEnumerable ib)
            {
                var la = ia.Cast<object?>().ToList();
                var lb = ib.Cast<object?>().ToList();
                if (la.Count != lb.Count) { differences.Add($"{path}: {la.Count} items vs {lb.Count}"); return; }
                for (int i = 0; i < la.Count; i++) Compare($"{path}[{i}]", la[i], lb[i]);
                return;
            }
            for (var type = t; type is not null && type != typeof(object); type = type.BaseType)
                foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    string name = f.Name.StartsWith('<') ? f.Name[1..f.Name.IndexOf('>')] : f.Name;
                    if (NotSaved.Contains($"{type.Name}.{name}")) continue;
                    if (typeof(Delegate).IsAssignableFrom(f.FieldType)) continue;
                    if (ComponentTypes.Any(c => c.IsAssignableFrom(f.FieldType)) && path.Contains('.')) continue;
                    if (ComponentTypes.Any(c => c.IsAssignableFrom(f.FieldType)) && f.FieldType != typeof(VirtualClock)) continue;
                    if (f.FieldType == typeof(VirtualClock)) continue;
                    Compare($"{path}.{name}", f.GetValue(a), f.GetValue(b));
                }
        }

        /// <summary>The elements of the processor's inline arrays (reflection sees only their first element).</summary>
        static object[]? InlineElements(object o) => o switch
        {
            GprFile g => Enumerable.Range(0, 10).Select(i => (object)g[i]).ToArray(),
            SegmentFile s => Enumerable.Range(0, 6).Select(i => (object)s[i]).ToArray(),
            Processor.DebugRegisterFile d => Enumerable.Range(0, 8).Select(i => (object)d[i]).ToArray(),
            FpuRegisterFile r => Enumerable.Range(0, 8).Select(i => (object)r[i]).ToArray(),
            _ => null,
        };

        static string Show(object? o) => o switch { null => "null", byte[] b => $"byte[{b.Length}]", _ => o.ToString() ?? "?" };

        sealed class PairComparer : IEqualityComparer<(object, object)>
        {
            public bool Equals((object, object) x, (object, object) y) => ReferenceEquals(x.Item1, y.Item1) && ReferenceEquals(x.Item2, y.Item2);
            public int GetHashCode((object, object) p) => HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(p.Item1), System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(p.Item2));
        }
    }
}
