namespace JitVm.Machine.Boot;

/// <summary>
/// A kernel image the loader cannot boot: malformed, unsupported, or not fitting in the machine. The message names
/// the field or header at fault; no other exception escapes the loader for bad input.
/// </summary>
public sealed class KernelLoadException(string message) : Exception(message);
