namespace JitVm.Core.State;

/// <summary>
/// A component whose state goes into a machine snapshot. <see cref="SaveState"/> writes one section (or more) and
/// must not change the component; <see cref="LoadState"/> reads exactly what it wrote into a component built the
/// same way (same constructor arguments and wiring), validating every value it will later use as an index or count,
/// and throws only <see cref="SnapshotFormatException"/> (through the reader's checks or <see cref="StateReader.Invalid"/>).
/// Loading does not notify other components (interrupt lines, timers, memory map): each restores its own side of
/// every connection, so the order of loads does not matter.
/// </summary>
public interface ISnapshotable
{
    /// <summary>Writes the component's state.</summary>
    void SaveState(StateWriter writer);

    /// <summary>Replaces the component's state with what <see cref="SaveState"/> wrote.</summary>
    void LoadState(StateReader reader);
}
