using JitVm.Core.State;

namespace JitVm.Machine;

/// <summary>The machine's side of <see cref="Snapshots.MachineSnapshot"/>: what the snapshot code needs from its private state.</summary>
public sealed partial class Machine
{
    /// <summary>The configuration the machine was built from.</summary>
    internal MachineConfig Config => config;

    /// <summary>
    /// Writes section "MACH": board-level state outside the devices (a reset a device asked for and the run loop has
    /// not carried out yet, the reset count).
    /// </summary>
    internal void SaveBoardState(StateWriter w)
    {
        w.BeginSection("MACH", 1);
        w.WriteBool(resetRequested);
        w.WriteInt32(Resets);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveBoardState"/> wrote.</summary>
    internal void LoadBoardState(StateReader r)
    {
        r.BeginSection("MACH", 1);
        resetRequested = r.ReadBool("reset requested");
        Resets = r.ReadInt32("resets");
        r.EndSection();
    }
}
