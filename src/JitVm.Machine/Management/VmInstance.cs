using System.Text.Json.Nodes;
using JitVm.Cpu;
using JitVm.Machine.Debugging;
using Serilog;
using Serilog.Context;

namespace JitVm.Machine.Management;

/// <summary>A VM's run state, as QMP's <c>query-status</c> names it.</summary>
public enum VmStatus
{
    /// <summary>Built, its thread not started yet.</summary>
    Prelaunch,
    Running,
    /// <summary>Held between slices (<c>stop</c>, or started paused).</summary>
    Paused,
    /// <summary>The run ended (the guest halted, exited, triple-faulted, or the VM was quit).</summary>
    Shutdown,
    /// <summary>The run ended with a host exception (a device or engine bug); the VM's message says which.</summary>
    InternalError,
}

/// <summary>An asynchronous event from a VM (QMP's STOP, RESUME, RESET, SHUTDOWN, BLOCK_IO_ERROR).</summary>
public sealed record VmEvent(string Name, string Vm, JsonObject Data, DateTimeOffset Timestamp);

/// <summary>The failure of a management request that the client can fix or retry (bad state, bad argument, timeout).</summary>
public sealed class VmCommandException(string message) : Exception(message);

/// <summary>
/// One machine under management: its own thread running <see cref="Machine.Run"/>, held and released between slices
/// through a <see cref="RunControl"/> (the GDB stub's state machine), with inspection and changes of guest state
/// done only while the machine's thread is between slices (<see cref="OnMachine{T}"/>). A host exception from the
/// machine (a device or engine bug) is caught on its thread and ends only this VM, with status
/// <see cref="VmStatus.InternalError"/> and a SHUTDOWN event that says why. Every log event from the VM's thread
/// carries the VM's name (the <see cref="LogProperty"/> property).
/// </summary>
public sealed class VmInstance
{
    /// <summary>The Serilog property naming the VM on every log event from its thread.</summary>
    public const string LogProperty = "Vm";

    /// <summary>How long a request waits for the machine to reach a slice boundary.</summary>
    public static TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    readonly object sync = new();
    readonly Dictionary<string, byte[]> snapshots = new(StringComparer.Ordinal);
    readonly ManualResetEventSlim exited = new();
    RunControl? control;
    Thread? thread;
    int started;
    /// <summary>Bumped (under <see cref="sync"/>) each time the machine parks for a stop or a step, and when the run ends.</summary>
    long stopSequence;
    int lastResets;
    RunResult? result;
    string? errorMessage;

    public VmInstance(string name, Machine machine, IReadOnlyList<ObservedBlockDevice>? disks = null)
    {
        Name = name;
        Machine = machine;
        Disks = disks ?? [];
        foreach (var d in Disks)
            d.IoError = (operation, message) => Raise("BLOCK_IO_ERROR", new JsonObject
            {
                ["device"] = d.Device,
                ["operation"] = operation,
                ["action"] = "report",
                ["reason"] = message,
            });
    }

    public string Name { get; }
    public Machine Machine { get; }
    public IReadOnlyList<ObservedBlockDevice> Disks { get; }

    /// <summary>Raised (on any thread, never while a lock of the caller's is needed) for each event of this VM.</summary>
    public event Action<VmEvent>? Event;

    /// <summary>The run's outcome once it has ended.</summary>
    public RunResult? Result { get { lock (sync) return result; } }

    /// <summary>Why the VM stopped with an internal error (the host exception), or null.</summary>
    public string? ErrorMessage { get { lock (sync) return errorMessage; } }

    public VmStatus Status
    {
        get
        {
            lock (sync)
            {
                if (result is not null) return errorMessage is not null ? VmStatus.InternalError : VmStatus.Shutdown;
                if (control is null) return VmStatus.Prelaunch;
            }
            return control.IsStopped ? VmStatus.Paused : VmStatus.Running;
        }
    }

    /// <summary>QMP's status name ("running", "paused", "shutdown", "internal-error", "prelaunch").</summary>
    public static string StatusName(VmStatus s) => s switch
    {
        VmStatus.Prelaunch => "prelaunch",
        VmStatus.Running => "running",
        VmStatus.Paused => "paused",
        VmStatus.Shutdown => "shutdown",
        _ => "internal-error",
    };

    /// <summary>The exit summary's reason name for a finished run ("halt", "triple-fault", "quit", "host-error", ...).</summary>
    public string? ExitReasonName
    {
        get
        {
            lock (sync)
            {
                if (result is null) return null;
                if (errorMessage is not null) return "host-error";
                string summary = result.Summary;
                int at = summary.IndexOf("reason=", StringComparison.Ordinal) + 7;
                return summary[at..summary.IndexOf(' ', at)];
            }
        }
    }

    /// <summary>Waits until the run has ended; false on timeout.</summary>
    public bool WaitForExit(TimeSpan timeout) => exited.Wait(timeout);

    /// <summary>Starts the VM on its own thread (named "vm-NAME"), running or held before its first instruction.</summary>
    public void Start(bool paused = false)
    {
        Attach(paused);
        thread = new Thread(() => RunOnThisThread()) { IsBackground = true, Name = "vm-" + Name };
        thread.Start();
    }

    /// <summary>
    /// Runs the VM on the calling thread until it ends (<c>jitvm run</c> with a monitor: the run stays on the main
    /// thread). Never throws for a guest or device failure: a host exception is caught, logged and reported as the
    /// result (reason unsupported, status <see cref="VmStatus.InternalError"/>).
    /// </summary>
    public RunResult Run(bool paused = false)
    {
        Attach(paused);
        return RunOnThisThread();
    }

    void Attach(bool paused)
    {
        if (Interlocked.Exchange(ref started, 1) != 0) throw new InvalidOperationException($"VM {Name} was already started");
        var c = new RunControl(startRunning: !paused)
        {
            Stopped = cause => OnParked(cause),
        };
        lock (sync) control = c;
        lastResets = Machine.Resets;
        Machine.Debugger = new Controller(this, c);
    }

    RunResult RunOnThisThread()
    {
        using var _ = LogContext.PushProperty(LogProperty, Name);
        Log.Information("VM started");
        RunResult r;
        string? error = null;
        try
        {
            r = Machine.Run();
        }
        catch (Exception e)
        {
            // A bug below us (a device or the engine threw): this VM ends, every other goes on.
            error = $"{e.GetType().Name}: {e.Message}";
            Log.Error(e, "host exception at {Cs:X4}:{Eip:X8}: the VM is stopped", Machine.Cpu.Seg[SegReg.CS].Selector, Machine.Cpu.Eip);
            r = new RunResult(ExitReason.Unsupported, null, Machine.Post.LastCode, Machine.Cpu.InstructionCount, 0, "-", "host exception: " + error);
            control!.RunEnded(r);
        }
        lock (sync)
        {
            result = r;
            errorMessage = error;
            stopSequence++;
            Monitor.PulseAll(sync);
        }
        Log.Information("VM ended: {Summary}", r.Summary);
        var data = new JsonObject
        {
            ["guest"] = error is null && r.Reason is not ExitReason.Quit,
            ["reason"] = ExitReasonName,
            ["instructions"] = r.Instructions,
        };
        if (r.GuestExitCode is { } code) data["exit-code"] = code;
        if (r.Message is { } m) data["message"] = m;
        Raise("SHUTDOWN", data);
        exited.Set();
        return r;
    }

    /// <summary>The machine's side: the run control plus reset detection, on the machine's thread.</summary>
    sealed class Controller(VmInstance vm, RunControl inner) : IRunController
    {
        public long BeforeSlice()
        {
            vm.CheckGuestReset();
            return inner.BeforeSlice();
        }

        public void AfterSlice(StopReason stop) => inner.AfterSlice(stop);

        public void RunEnded(RunResult result) => inner.RunEnded(result);
    }

    void CheckGuestReset()
    {
        int resets = Machine.Resets;
        if (resets == lastResets) return;
        lastResets = resets;
        Raise("RESET", new JsonObject { ["guest"] = true, ["reason"] = "guest-reset" });
    }

    void OnParked(StopCause cause)
    {
        lock (sync)
        {
            stopSequence++;
            Monitor.PulseAll(sync);
        }
        if (cause != StopCause.Step) Raise("STOP", new JsonObject { ["reason"] = cause == StopCause.Breakpoint ? "breakpoint" : "host" });
    }

    void Raise(string name, JsonObject data)
    {
        var e = new VmEvent(name, Name, data, DateTimeOffset.UtcNow);
        try { Event?.Invoke(e); }
        catch (Exception ex) { Log.Warning(ex, "vm {Name}: an event handler failed", Name); }
    }

    RunControl Control => control ?? throw new VmCommandException($"VM {Name} has not been started");

    void RequireLive()
    {
        if (Result is not null) throw new VmCommandException($"VM {Name} is not running (status {StatusName(Status)}: {ExitReasonName})");
    }

    /// <summary>Pauses the VM (QMP <c>stop</c>): returns once its thread has parked between slices.</summary>
    public void Stop()
    {
        RequireLive();
        var c = Control;
        if (c.IsStopped) return;
        long seen;
        lock (sync) seen = stopSequence;
        c.Pause();
        WaitForStop(seen, "stop");
    }

    /// <summary>Lets a paused VM run (QMP <c>cont</c>); no-op when it runs already.</summary>
    public void Continue()
    {
        RequireLive();
        var c = Control;
        if (!c.IsStopped) return;
        if (!c.Resume(step: false)) RequireLive();
        Raise("RESUME", new JsonObject());
    }

    /// <summary>Runs <paramref name="count"/> instructions of a paused VM, one slice of one instruction each.</summary>
    public void Step(int count = 1)
    {
        RequireLive();
        if (count is < 1 or > 1_000_000) throw new VmCommandException("step count must be between 1 and 1000000");
        var c = Control;
        if (!c.IsStopped) throw new VmCommandException($"VM {Name} is running: stop it before stepping");
        for (int i = 0; i < count && Result is null; i++)
        {
            long seen;
            lock (sync) seen = stopSequence;
            if (!c.Resume(step: true)) break;
            WaitForStop(seen, "step");
        }
    }

    void WaitForStop(long seen, string what)
    {
        var deadline = DateTime.UtcNow + RequestTimeout;
        lock (sync)
        {
            while (stopSequence == seen)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) throw new VmCommandException($"VM {Name}: {what} timed out waiting for the machine to reach a slice boundary");
                Monitor.Wait(sync, left);
            }
        }
    }

    /// <summary>Resets the board (QMP <c>system_reset</c>); a paused VM stays paused.</summary>
    public void Reset()
    {
        RequireLive();
        OnMachine(() =>
        {
            Machine.SystemReset();
            lastResets = Machine.Resets;
            return true;
        });
        Raise("RESET", new JsonObject { ["guest"] = false, ["reason"] = "host-qmp-system-reset" });
    }

    /// <summary>Ends the VM's run (reason quit) and waits for its thread to report it.</summary>
    public void Quit()
    {
        if (Result is not null) return;
        if (control is null)
        {
            // Never started: nothing to stop, but the VM is over.
            lock (sync) result ??= new RunResult(ExitReason.Quit, null, 0, 0, 0, "-", null);
            exited.Set();
            return;
        }
        control.Kill();
        if (!WaitForExit(RequestTimeout)) throw new VmCommandException($"VM {Name}: quit timed out");
    }

    /// <summary>
    /// Runs <paramref name="access"/> with the machine between slices: at once when it is paused or its run is over,
    /// otherwise on its thread before its next slice. Exceptions from <paramref name="access"/> come back to the caller.
    /// </summary>
    public T OnMachine<T>(Func<T> access)
    {
        var c = control;
        if (c is null) return access();             // not started: nothing runs it
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        c.RunOnMachine(() =>
        {
            try { done.SetResult(access()); }
            catch (Exception e) { done.SetException(e); }
        });
        if (!((IAsyncResult)done.Task).AsyncWaitHandle.WaitOne(RequestTimeout) && !done.Task.IsCompleted)
            throw new VmCommandException($"VM {Name}: the machine did not reach a slice boundary in time");
        return done.Task.GetAwaiter().GetResult();      // the access's own exception, not an AggregateException
    }

    /// <summary>The tags of the snapshots taken with <see cref="SaveSnapshot"/>, with their sizes.</summary>
    public IReadOnlyList<(string Tag, int Bytes)> Snapshots
    {
        get { lock (snapshots) return snapshots.Select(kv => (kv.Key, kv.Value.Length)).OrderBy(t => t.Key, StringComparer.Ordinal).ToList(); }
    }

    /// <summary>Takes a snapshot of the whole machine under <paramref name="tag"/> (replacing one of that tag), between slices.</summary>
    public int SaveSnapshot(string tag)
    {
        if (string.IsNullOrEmpty(tag)) throw new VmCommandException("savevm needs a tag");
        RequireLive();
        byte[] image = OnMachine(() =>
        {
            using var s = new MemoryStream();
            SnapshotStore.Save(Machine, s);
            return s.ToArray();
        });
        lock (snapshots) snapshots[tag] = image;
        Log.Information("vm {Name}: saved snapshot {Tag} ({Bytes} bytes)", Name, tag, image.Length);
        return image.Length;
    }

    /// <summary>Restores the snapshot <paramref name="tag"/>, between slices; a paused VM stays paused.</summary>
    public void LoadSnapshot(string tag)
    {
        RequireLive();
        byte[]? image;
        lock (snapshots) snapshots.TryGetValue(tag ?? "", out image);
        if (image is null) throw new VmCommandException($"no snapshot '{tag}' (savevm makes one)");
        OnMachine(() =>
        {
            using var s = new MemoryStream(image, writable: false);
            SnapshotStore.Restore(Machine, s);
            lastResets = Machine.Resets;
            return true;
        });
        Log.Information("vm {Name}: loaded snapshot {Tag}", Name, tag);
    }

    /// <summary>Removes the snapshot <paramref name="tag"/>; false if there was none.</summary>
    public bool DeleteSnapshot(string tag)
    {
        lock (snapshots) return snapshots.Remove(tag);
    }
}
