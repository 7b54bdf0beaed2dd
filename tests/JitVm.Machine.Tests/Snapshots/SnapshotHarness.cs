using System.Security.Cryptography;
using System.Text;
using JitVm.Cpu;
using JitVm.Jit;
using JitVm.Machine.Snapshots;

namespace JitVm.Machine.Tests.Snapshots;

/// <summary>
/// A guest for the snapshot tests: how to build its machine (for an engine, the instruction limit of each
/// <see cref="Machine.Run"/> call and an output sink) and how far to run it before the snapshot and after.
/// </summary>
/// <param name="Name">For test output.</param>
/// <param name="Configure">The configuration for an engine factory, the limit of each <see cref="Machine.Run"/> call and
/// the sink that receives the debug console and both serial ports (tagged per channel).</param>
/// <param name="Slice">The instruction limit of each <see cref="Machine.Run"/> call.</param>
/// <param name="Before">Run calls before the snapshot.</param>
/// <param name="After">Run calls after it, by the original and by the restored machine (so both end their slices at the
/// same instructions: where a run stops is where the machine loop polls devices).</param>
internal sealed record SnapshotGuest(string Name, Func<Func<Processor, IExecutionEngine>, long, Action<char, byte>, MachineConfig> Configure, long Slice, int Before, int After)
{
    public override string ToString() => Name;
}

/// <summary>Builds, runs, snapshots and hashes machines for the snapshot tests.</summary>
internal static class SnapshotHarness
{
    public const string SeaBiosPath = "/usr/share/seabios/bios-256k.bin";
    public const string VgaBiosPath = "/usr/share/seabios/vgabios-isavga.bin";

    public static Func<Processor, IExecutionEngine> Engine(string name) => name switch
    {
        "interp" => cpu => new Interpreter(cpu),
        "jit" => cpu => new JitEngine(cpu, threshold: 0),
        "auto" => cpu => new JitEngine(cpu, background: true),
        _ => throw new ArgumentException(name),
    };

    /// <summary>A machine running <paramref name="guest"/> on <paramref name="engine"/>, each Run limited to <paramref name="limit"/> instructions.</summary>
    public static Machine Build(SnapshotGuest guest, string engine, long limit, StringBuilder output) =>
        new(guest.Configure(Engine(engine), limit, (channel, b) => output.Append(channel).Append((char)b)));

    /// <summary>The snapshot bytes of a machine (the same state always gives the same bytes).</summary>
    public static byte[] Save(Machine m)
    {
        using var s = new MemoryStream();
        MachineSnapshot.Save(m, s);
        return s.ToArray();
    }

    public static void Restore(Machine m, byte[] snapshot)
    {
        using var s = new MemoryStream(snapshot, writable: false);
        MachineSnapshot.Restore(m, s);
    }

    /// <summary>
    /// What a run's outcome is judged by: general, segment, control and x87 registers, EIP and EFLAGS, the instruction
    /// count and guest time, a SHA-256 of all of RAM, and a SHA-256 of the console output.
    /// </summary>
    public static string StateHash(Machine m, string output)
    {
        var cpu = m.Cpu;
        var sb = new StringBuilder();
        for (int i = 0; i < 8; i++) sb.Append(cpu.Gpr[i].ToString("X8")).Append(' ');
        sb.Append($"eip={cpu.Eip:X8} eflags={cpu.GetEflags():X8} ");
        for (int s = 0; s < 6; s++) sb.Append($"{cpu.Seg[s].Selector:X4}:{cpu.Seg[s].Base:X8}:{cpu.Seg[s].Limit:X8} ");
        sb.Append($"cr0={cpu.Cr0:X8} cr2={cpu.Cr2:X8} cr3={cpu.Cr3:X8} cr4={cpu.Cr4:X8} n={cpu.InstructionCount} t={m.Clock.Now} ");
        for (int i = 0; i < 8; i++) sb.Append($"{cpu.Fpu.R[i].SignExponent:X4}{cpu.Fpu.R[i].Significand:X16} ");
        sb.Append($"fsw={cpu.FpuStatusWord:X4} fcw={cpu.Fpu.Control:X4} ");
        sb.Append("ram=").Append(Convert.ToHexString(SHA256.HashData(m.Memory.Backing.AsSpan(0, (int)m.Memory.RamSize)))).Append(' ');
        sb.Append("out=").Append(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(output))));
        return sb.ToString();
    }

    /// <summary>Outcome of running a guest through a snapshot.</summary>
    public sealed record Outcome(string ReferenceHash, string RestoredHash, byte[] ReferenceState, byte[] RestoredState, byte[] Snapshot, long ReferenceInstructions);

    /// <summary>
    /// Runs <paramref name="guest"/> on <paramref name="saveEngine"/> for its Before calls, snapshots it, runs its After
    /// calls (the reference); builds a fresh machine on <paramref name="restoreEngine"/>, restores the snapshot into it
    /// and runs the same After calls. Returns both state hashes (output counted from the snapshot on) and both
    /// machines' final snapshots.
    /// </summary>
    public static Outcome RunThroughSnapshot(SnapshotGuest guest, string saveEngine, string restoreEngine)
    {
        var output = new StringBuilder();
        var original = Build(guest, saveEngine, guest.Slice, output);
        RunCalls(original, guest.Before);
        byte[] snapshot = Save(original);
        int mark = output.Length;
        RunCalls(original, guest.After);
        string reference = StateHash(original, output.ToString(mark, output.Length - mark));

        var restoredOutput = new StringBuilder();
        var restored = Build(guest, restoreEngine, guest.Slice, restoredOutput);
        Restore(restored, snapshot);
        RunCalls(restored, guest.After);
        string again = StateHash(restored, restoredOutput.ToString());
        return new Outcome(reference, again, Save(original), Save(restored), snapshot, original.Cpu.InstructionCount);
    }

    /// <summary>Calls <see cref="Machine.Run"/> <paramref name="calls"/> times, or until a run ends for another reason than its limit.</summary>
    public static void RunCalls(Machine m, int calls)
    {
        for (int i = 0; i < calls; i++)
            if (m.Run().Reason != ExitReason.InstructionLimit) return;
    }

    /// <summary>Where two snapshot files first differ: the top-level section and the offset inside its payload.</summary>
    public static string FirstDifference(byte[] a, byte[] b)
    {
        int at = 24;
        while (at + 14 <= a.Length - 32 && at + 14 <= b.Length - 32)
        {
            string tag = System.Text.Encoding.ASCII.GetString(a, at, 4);
            long la = BitConverter.ToInt64(a, at + 6), lb = BitConverter.ToInt64(b, at + 6);
            var pa = a.AsSpan(at, (int)(14 + la));
            var pb = b.AsSpan(at, (int)Math.Min(14 + lb, b.Length - at));
            if (!pa.SequenceEqual(pb))
            {
                int k = pa.CommonPrefixLength(pb);
                return $"section '{tag}' at payload offset {k - 14} (lengths {la} and {lb})";
            }
            at += (int)(14 + la);
        }
        return a.AsSpan().SequenceEqual(b) ? "none" : "after the sections";
    }
}
