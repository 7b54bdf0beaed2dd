using Iced.Intel;

namespace JitVm.Workloads;

/// <summary>
/// One guest benchmark: a bare-metal Multiboot v1 kernel generated from C#. It prints
/// <see cref="KernelRuntime.Banner"/>, runs its body <c>iterations</c> times, prints
/// <see cref="KernelRuntime.ChecksumLine"/> with a result that depends on every step, and exits with
/// <see cref="KernelRuntime.ExitSuccess"/>. The checksum is recomputed independently in C# by the tests.
/// </summary>
public abstract class Workload
{
    /// <summary>Short name (file name, <c>--workloads</c> value).</summary>
    public abstract string Name { get; }

    /// <summary>What it exercises, printed in the banner.</summary>
    public abstract string Description { get; }

    /// <summary>The count that makes the interpreter take a few seconds (Release, a 2020s x86 host).</summary>
    public abstract int DefaultIterations { get; }

    /// <summary>
    /// Emits the body at <paramref name="main"/>: called with a valid stack, returns the checksum in EAX and may
    /// clobber every other register but ESP. Data and bss come from <paramref name="k"/>.
    /// </summary>
    protected abstract void EmitMain(KernelBuilder k, KernelRuntime rt, Label main, int iterations);

    /// <summary>The output the kernel prints for a given checksum (both on port 0xE9 and COM1).</summary>
    public string ExpectedOutput(int iterations, uint checksum) =>
        KernelRuntime.Banner(Name, Description, iterations) + KernelRuntime.ChecksumLine(checksum);

    /// <summary>Generates the kernel file.</summary>
    public byte[] Build(int iterations, KernelFileFormat format = KernelFileFormat.Elf)
    {
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), "at least one iteration");
        var k = new KernelBuilder();
        var rt = new KernelRuntime(k);
        var main = k.Code.CreateLabel("main");
        rt.EmitEntry(Name, Description, iterations, main);
        EmitMain(k, rt, main, iterations);
        return k.Build(format);
    }

    /// <summary>Every workload, in the order the benchmark table lists them.</summary>
    public static IReadOnlyList<Workload> All { get; } =
        [new IntegerLoop(), new MemoryWorkload(), new CallHeavy(), new SelfModifying(), new Mixed()];

    /// <summary>The workload called <paramref name="name"/>, or null.</summary>
    public static Workload? Find(string name) => All.FirstOrDefault(w => w.Name == name);
}
