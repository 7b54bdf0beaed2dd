namespace JitVm.Core.State;

/// <summary>
/// A machine snapshot that cannot be loaded: truncated, corrupt, of an unsupported version, out-of-range values, or
/// taken on a machine whose configuration differs from the one it is restored into. The message names the section
/// and field (or the configuration fact) at fault. Loading a snapshot raises this and nothing else.
/// </summary>
public sealed class SnapshotFormatException(string message, Exception? inner = null) : Exception(message, inner);
