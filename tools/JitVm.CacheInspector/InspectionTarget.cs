using System.Diagnostics;
using Microsoft.Diagnostics.Runtime;

namespace JitVm.CacheInspector;

/// <summary>
/// A suspended process or a dump opened with ClrMD, and the CLR runtime in it. Disposing it detaches (which
/// resumes the process). Every failure to open becomes an <see cref="InspectionException"/> with one line of text.
/// </summary>
public sealed class InspectionTarget : IDisposable
{
    InspectionTarget(DataTarget target, string description)
    {
        Target = target;
        Description = description;
        try
        {
            if (target.ClrVersions.Length == 0)
                throw new InspectionException($"{description} is not a .NET process (no CLR in it)");
            Runtime = CreateRuntime(target.ClrVersions[0]);
        }
        catch (Exception e) when (e is not InspectionException)
        {
            target.Dispose();
            throw new InspectionException($"cannot read the CLR of {description}: {e.Message}");
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The runtime through ClrMD's own DAC lookup, or else through the DAC installed next to the process's
    /// libcoreclr.so when that file is the one the process loaded (same ELF build id). ClrMD 4.2 attached to a live
    /// Linux process reads the runtime's version as 0.0 and then finds no matching DAC, though the shared
    /// framework ships one beside the runtime.
    /// </summary>
    static ClrRuntime CreateRuntime(ClrInfo clr)
    {
        try
        {
            return clr.CreateRuntime();
        }
        catch (Exception e) when (e is FileNotFoundException or ClrDiagnosticsException
                                  && LocalDac(clr) is { } dac)
        {
            return clr.CreateRuntime(dac, ignoreMismatch: true);
        }
    }

    static string? LocalDac(ClrInfo clr)
    {
        string module = clr.ModuleInfo.FileName;
        if (!OperatingSystem.IsLinux() || Path.GetFileName(module) != "libcoreclr.so" || clr.BuildId.IsDefaultOrEmpty) return null;
        string dac = Path.Combine(Path.GetDirectoryName(module) ?? "", "libmscordaccore.so");
        return File.Exists(dac) && ElfBuildId.Read(module) is { } id && id.AsSpan().SequenceEqual(clr.BuildId.AsSpan()) ? dac : null;
    }

    public DataTarget Target { get; }
    public ClrRuntime Runtime { get; }

    /// <summary>"process N" or "dump FILE".</summary>
    public string Description { get; }

    /// <summary>Attaches to process <paramref name="pid"/> and suspends it until disposed.</summary>
    public static InspectionTarget Attach(int pid)
    {
        try
        {
            using var _ = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            throw new InspectionException($"no process with id {pid}");
        }
        DataTarget target;
        try
        {
            target = DataTarget.AttachToProcess(pid, suspend: true);
        }
        catch (Exception e) when (e is ClrDiagnosticsException or ArgumentException or InvalidOperationException
                                      or UnauthorizedAccessException or IOException or PlatformNotSupportedException)
        {
            throw new InspectionException($"cannot attach to process {pid}: {e.Message}");
        }
        return new InspectionTarget(target, $"process {pid}");
    }

    /// <summary>
    /// Attaches to process <paramref name="pid"/>, reads it with <paramref name="read"/> and detaches. Where the
    /// process was stopped at a moment that cannot be read (a <see cref="InspectionException.Transient"/> failure),
    /// it is let run for a moment and read again, up to <paramref name="attempts"/> times.
    /// </summary>
    public static T Read<T>(int pid, Func<InspectionTarget, T> read, int attempts = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempts, 1);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                using var target = Attach(pid);
                return read(target);
            }
            catch (InspectionException e) when (e.Transient && attempt < attempts)
            {
                Thread.Sleep(20 * attempt);
            }
            catch (InspectionException e) when (e.Transient)
            {
                throw new InspectionException($"{e.Message} (gave up after {attempts} attempts)", transient: true);
            }
        }
    }

    /// <summary>Opens a core dump (<c>dotnet-dump collect</c>, <c>createdump</c>) or a Windows minidump.</summary>
    public static InspectionTarget Open(string dump)
    {
        if (!File.Exists(dump)) throw new InspectionException($"no such dump file: {dump}");
        DataTarget target;
        try
        {
            target = DataTarget.LoadDump(dump);
        }
        catch (Exception e) when (e is ClrDiagnosticsException or ArgumentException or InvalidDataException
                                      or NotSupportedException or UnauthorizedAccessException or IOException)
        {
            throw new InspectionException($"cannot open dump {dump}: {e.Message}");
        }
        return new InspectionTarget(target, $"dump {dump}");
    }

    public void Dispose()
    {
        Runtime.Dispose();
        Target.Dispose();
    }
}
