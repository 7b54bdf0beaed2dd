using JitVm.Core.State;
using JitVm.Core.Storage;
using JitVm.Machine.Snapshots;

namespace JitVm.Machine.Management;

/// <summary>
/// Where <c>savevm</c>/<c>loadvm</c> get a machine's state from: the machine snapshot format
/// (<see cref="MachineSnapshot"/>), with its failures turned into command errors. Called between slices.
/// </summary>
internal static class SnapshotStore
{
    public static void Save(Machine machine, Stream stream)
    {
        try { MachineSnapshot.Save(machine, stream); }
        catch (BlockDeviceException e) { throw new VmCommandException("savevm: " + e.Message); }
    }

    /// <summary>Restores the machine; on failure it is left as it was (the snapshot format guarantees that).</summary>
    public static void Restore(Machine machine, Stream stream)
    {
        try { MachineSnapshot.Restore(machine, stream); }
        catch (Exception e) when (e is SnapshotFormatException or BlockDeviceException) { throw new VmCommandException("loadvm: " + e.Message); }
    }
}
