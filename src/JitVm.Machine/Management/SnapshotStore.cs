namespace JitVm.Machine.Management;

/// <summary>Where <c>savevm</c>/<c>loadvm</c> get a machine's state from: the machine snapshot format.</summary>
internal static class SnapshotStore
{
    public static void Save(Machine machine, Stream stream) =>
        throw new VmCommandException("savevm: machine snapshots are not available in this build");

    public static void Restore(Machine machine, Stream stream) =>
        throw new VmCommandException("loadvm: machine snapshots are not available in this build");
}
