using JitVm.Cpu;

namespace JitVm.Machine.Debugging;

/// <summary>What <see cref="Machine.Run"/> asks a host debugger between slices (<see cref="Machine.Debugger"/>).</summary>
internal interface IRunController
{
    /// <summary>
    /// Called on the machine's thread before each slice. Blocks while the debugger holds the machine stopped, then
    /// returns the most instructions the slice may run (<see cref="long.MaxValue"/>: no limit, 1: a single step),
    /// or 0 to end the run (reason quit: the debugger killed it).
    /// </summary>
    long BeforeSlice();

    /// <summary>Called on the machine's thread after each slice with why the engine returned.</summary>
    void AfterSlice(StopReason stop);

    /// <summary>Called on the machine's thread when the run is over.</summary>
    void RunEnded(RunResult result);
}

/// <summary>Why the machine stopped for the debugger.</summary>
internal enum StopCause
{
    /// <summary>The next instruction is at a breakpoint.</summary>
    Breakpoint,
    /// <summary>A single step completed.</summary>
    Step,
    /// <summary>The debugger asked it to stop (Ctrl-C, or a new connection).</summary>
    Interrupt,
}

/// <summary>
/// The machine's side of the debugger: a small state machine shared by the machine's thread and the stub's. The
/// machine runs slices while the state is Running, one instruction for Stepping, and while Stopped it parks in
/// <see cref="BeforeSlice"/> on a monitor. The stub's thread touches guest state only through
/// <see cref="Access{T}"/>, which holds the same monitor and waits until the machine is parked (or has not started,
/// or has ended), so the two threads never run guest code and debugger requests at the same time. A stop is reported
/// (<see cref="Stopped"/>) only once the machine has parked, never from inside a slice.
/// </summary>
internal sealed class RunControl : IRunController
{
    enum Mode { Stopped, Running, Stepping, Killed }

    readonly object gate = new();
    Mode mode;

    /// <param name="startRunning">
    /// False (the GDB stub): the machine is held before its first slice until <see cref="Resume"/>. True (the
    /// management API's VMs started without <c>-S</c>): it runs until <see cref="Pause"/>.
    /// </param>
    public RunControl(bool startRunning = false) => mode = startRunning ? Mode.Running : Mode.Stopped;

    /// <summary>The machine's thread runs no guest code: before its first slice, parked while stopped, or after the run.</summary>
    bool parked = true;
    volatile bool pauseRequested;
    StopCause? pendingStop;
    readonly Queue<Action> onMachine = new();

    /// <summary>Called (on the machine's thread, with the machine parked) when it has stopped for the debugger.</summary>
    public Action<StopCause>? Stopped { get; set; }

    /// <summary>Called on the machine's thread when the run has ended.</summary>
    public Action<RunResult>? Ended { get; set; }

    /// <summary>The run's outcome once it has ended.</summary>
    public RunResult? Result { get; private set; }

    /// <summary>The machine is held stopped (or the run is over): <see cref="Access{T}"/> will not wait.</summary>
    public bool IsStopped
    {
        get { lock (gate) return Result is not null || mode == Mode.Stopped; }
    }

    public long BeforeSlice()
    {
        lock (gate)
        {
            while (onMachine.TryDequeue(out var action)) action();
            if (pauseRequested && mode == Mode.Running)
            {
                mode = Mode.Stopped;
                pendingStop = StopCause.Interrupt;
            }
            pauseRequested = false;
            while (true)
            {
                switch (mode)
                {
                    case Mode.Killed:
                        return 0;
                    case Mode.Running:
                        parked = false;
                        return long.MaxValue;
                    case Mode.Stepping:
                        parked = false;
                        return 1;
                }
                parked = true;
                if (pendingStop is { } cause)
                {
                    pendingStop = null;
                    Stopped?.Invoke(cause);
                }
                Monitor.PulseAll(gate);
                Monitor.Wait(gate);
            }
        }
    }

    public void AfterSlice(StopReason stop)
    {
        lock (gate)
        {
            if (mode == Mode.Stepping)
            {
                mode = Mode.Stopped;
                pendingStop = stop == StopReason.Breakpoint ? StopCause.Breakpoint : StopCause.Step;
            }
            else if (mode == Mode.Running && stop == StopReason.Breakpoint)
            {
                mode = Mode.Stopped;
                pendingStop = StopCause.Breakpoint;
            }
        }
    }

    public void RunEnded(RunResult result)
    {
        lock (gate)
        {
            Result = result;
            mode = Mode.Killed;
            parked = true;
            // What was queued for the next slice runs now: the machine runs no guest code any more, and a caller
            // waiting for its action's outcome must not wait forever.
            while (onMachine.TryDequeue(out var action)) action();
            Monitor.PulseAll(gate);
        }
        Ended?.Invoke(result);
    }

    /// <summary>Runs <paramref name="access"/> on the calling thread once the machine is parked, holding it there.</summary>
    public T Access<T>(Func<T> access)
    {
        lock (gate)
        {
            while (!parked) Monitor.Wait(gate);
            return access();
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> now if the machine is parked, else on its thread before its next slice (or when
    /// the run ends, whichever comes first).
    /// </summary>
    public void RunOnMachine(Action action)
    {
        lock (gate)
        {
            if (parked) action();
            else onMachine.Enqueue(action);
        }
    }

    /// <summary>Lets a stopped machine run (or run one instruction); false when the run is already over.</summary>
    public bool Resume(bool step)
    {
        lock (gate)
        {
            if (Result is not null) return false;
            mode = step ? Mode.Stepping : Mode.Running;
            pendingStop = null;
            Monitor.PulseAll(gate);
            return true;
        }
    }

    /// <summary>Asks a running machine to stop at its next slice boundary (reported as <see cref="StopCause.Interrupt"/>).</summary>
    public void Pause() => pauseRequested = true;

    /// <summary>Ends the run (reason quit) at the next slice boundary.</summary>
    public void Kill()
    {
        lock (gate)
        {
            if (Result is not null) return;
            mode = Mode.Killed;
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>The debugger went away: the machine runs freely from now on (a pending pause is dropped).</summary>
    public void Release()
    {
        lock (gate)
        {
            pauseRequested = false;
            pendingStop = null;
            if (Result is null && mode != Mode.Killed) mode = Mode.Running;
            Monitor.PulseAll(gate);
        }
    }
}
