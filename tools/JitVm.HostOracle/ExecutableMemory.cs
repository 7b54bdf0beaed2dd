using System.Runtime.InteropServices;

namespace JitVm.HostOracle;

/// <summary>The host cannot run the oracle: not x86-64 Linux, or executable memory was refused.</summary>
public sealed class HostOracleUnavailableException(string message) : Exception(message);

/// <summary>
/// Anonymous memory from <c>mmap</c>: a code part that is written while read-write and then switched to
/// read-execute (never writable and executable at once), followed by a read-write data part. Linux x86-64 only.
/// </summary>
internal sealed unsafe partial class ExecutableMemory : IDisposable
{
    const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    const int MapPrivate = 0x02, MapAnonymous = 0x20;
    const int PageSize = 4096;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint addr, nuint length);

    readonly nuint length;
    bool sealedCode, disposed;

    /// <summary>Start of the code part (page aligned).</summary>
    public byte* Code { get; }
    public int CodeBytes { get; }
    /// <summary>Start of the data part (page aligned, read-write for the object's lifetime).</summary>
    public byte* Data { get; }
    public int DataBytes { get; }

    public ExecutableMemory(int codeBytes, int dataBytes)
    {
        EnsureSupportedHost();
        CodeBytes = RoundUp(codeBytes);
        DataBytes = RoundUp(dataBytes);
        length = (nuint)(CodeBytes + DataBytes);
        nint p = Mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == -1)
            throw new HostOracleUnavailableException($"mmap of {length} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        Code = (byte*)p;
        Data = (byte*)p + CodeBytes;
    }

    static int RoundUp(int n) => Math.Max(PageSize, (n + PageSize - 1) & ~(PageSize - 1));

    /// <summary>Throws <see cref="HostOracleUnavailableException"/> unless this process can run x86-64 code it generates.</summary>
    public static void EnsureSupportedHost()
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new HostOracleUnavailableException(
                $"the host-CPU oracle executes x86 instructions natively and needs an x86-64 process; this one is {RuntimeInformation.ProcessArchitecture}");
        if (!OperatingSystem.IsLinux())
            throw new HostOracleUnavailableException(
                $"the host-CPU oracle allocates executable memory with Linux mmap/mprotect; this host is {RuntimeInformation.OSDescription}");
    }

    /// <summary>Makes the code part read-execute. No more code can be written afterwards.</summary>
    public void SealCode()
    {
        if (sealedCode) return;
        if (Mprotect((nint)Code, (nuint)CodeBytes, ProtRead | ProtExec) != 0)
            throw new HostOracleUnavailableException($"mprotect(PROT_READ|PROT_EXEC) failed (errno {Marshal.GetLastPInvokeError()})");
        sealedCode = true;
    }

    /// <summary>
    /// Writes <paramref name="count"/> stubs one after the other, each starting 16-byte aligned, then seals the code
    /// part. <paramref name="build"/> gets the stub's index and the host address it will run at (for RIP-relative
    /// operands) and returns its bytes. Returns each stub's offset from <see cref="Code"/>.
    /// </summary>
    public int[] LayOutStubs(int count, Func<int, ulong, byte[]> build)
    {
        const int StubAlign = 16;
        var offsets = new int[count];
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            byte[] code = build(i, (ulong)Code + (ulong)at);
            if (at + code.Length > CodeBytes) throw new InvalidOperationException("native stub area too small");
            WriteCode(at, code);
            offsets[i] = at;
            at = (at + code.Length + StubAlign - 1) & ~(StubAlign - 1);
        }
        SealCode();
        return offsets;
    }

    /// <summary>Copies code into the (still writable) code part.</summary>
    public void WriteCode(int offset, ReadOnlySpan<byte> bytes)
    {
        if (sealedCode) throw new InvalidOperationException("the code part is sealed");
        if (offset < 0 || offset + bytes.Length > CodeBytes) throw new ArgumentOutOfRangeException(nameof(offset));
        bytes.CopyTo(new Span<byte>(Code + offset, bytes.Length));
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Munmap((nint)Code, length);
    }
}
