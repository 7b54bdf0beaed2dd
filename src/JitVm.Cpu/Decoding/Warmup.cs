using Iced.Intel;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// Builds the interpreter's opcode table and Iced's decoder tables, so that a host about to run a guest can pay for
/// their one-time construction (and for compiling the code that builds them: with tiered compilation off, every
/// method is compiled fully optimised on first call) on another thread while its own parses options and reads
/// images. Whoever needs a table first waits for its static constructor to finish, as the runtime guarantees.
/// </summary>
public static class Warmup
{
    /// <summary>Builds them on a pool thread.</summary>
    public static void Start() => ThreadPool.UnsafeQueueUserWorkItem(static _ => Prepare(), null);

    /// <summary>Builds them on the calling thread.</summary>
    public static void Prepare()
    {
        _ = HandlerTable.Default;
        // One decode in each mode fills Iced's legacy opcode handler tables (the VEX/EVEX ones come with them).
        byte[] nop = [0x90];
        foreach (int bitness in (ReadOnlySpan<int>)[16, 32])
            Decoder.Create(bitness, new ByteArrayCodeReader(nop)).Decode();
    }
}
