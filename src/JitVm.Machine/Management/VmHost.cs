namespace JitVm.Machine.Management;

/// <summary>
/// The VMs of one host process (<c>jitvm serve</c>, or the single VM of <c>jitvm run</c>), by name, and the events of
/// all of them. Each VM runs on its own thread with its own machine; the host only finds them and passes events on.
/// </summary>
public sealed class VmHost : IDisposable
{
    readonly List<VmInstance> vms = new();
    readonly ManualResetEventSlim quit = new();

    /// <summary>Every event of every VM, raised on the thread that produced it (often a VM's thread: do not block).</summary>
    public event Action<VmEvent>? Event;

    /// <summary>The VMs in the order they were added.</summary>
    public IReadOnlyList<VmInstance> Vms
    {
        get { lock (vms) return vms.ToArray(); }
    }

    /// <summary>Adds a VM; its name must be new (names are compared exactly).</summary>
    public void Add(VmInstance vm)
    {
        lock (vms)
        {
            if (vms.Any(v => v.Name == vm.Name)) throw new ArgumentException($"a VM named '{vm.Name}' exists already");
            vms.Add(vm);
        }
        vm.Event += e => Event?.Invoke(e);
    }

    /// <summary>The VM called <paramref name="name"/>, or null.</summary>
    public VmInstance? Find(string name)
    {
        lock (vms) return vms.FirstOrDefault(v => v.Name == name);
    }

    /// <summary>
    /// The VM a request addresses: the one named, or with no name the only VM there is. Throws
    /// <see cref="VmCommandException"/> for an unknown name, or no name with several VMs.
    /// </summary>
    public VmInstance Resolve(string? name)
    {
        if (name is not null) return Find(name) ?? throw new VmCommandException($"no VM named '{name}'");
        var all = Vms;
        return all.Count switch
        {
            1 => all[0],
            0 => throw new VmCommandException("there is no VM"),
            _ => throw new VmCommandException($"{all.Count} VMs are running here: say which one (\"vm\": one of {string.Join(", ", all.Select(v => v.Name))})"),
        };
    }

    /// <summary>Someone asked the whole host to end (<c>server-quit</c>, a signal).</summary>
    public bool QuitRequested => quit.IsSet;

    /// <summary>Asks the host process to end (the serve loop waits on <see cref="WaitForQuit"/>).</summary>
    public void RequestQuit() => quit.Set();

    public bool WaitForQuit(TimeSpan timeout) => quit.Wait(timeout);

    /// <summary>Quits every VM still running.</summary>
    public void Dispose()
    {
        foreach (var vm in Vms)
        {
            try { vm.Quit(); }
            catch (VmCommandException) { }
        }
    }
}
