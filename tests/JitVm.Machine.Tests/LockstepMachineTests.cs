using JitVm.Cpu;
using JitVm.Jit;
using JitVm.Jit.Diagnostics;
using JitVm.Machine.Boot;
using JitVm.TestRoms;
using JitVm.Workloads;

namespace JitVm.Machine.Tests;

/// <summary>Whole guests (every test ROM, every benchmark workload) on the interpreter and on forced translation, compared block by block.</summary>
public class LockstepMachineTests
{
    static Lockstep Pair(Func<Func<Processor, IExecutionEngine>, Machine> build)
    {
        var reference = build(c => new Interpreter(c));
        var candidate = build(c => new JitEngine(c, threshold: 0));
        return new Lockstep(
            new LockstepSide(reference.Cpu, reference.Memory, reference.Engine),
            new LockstepSide(candidate.Cpu, candidate.Memory, candidate.Engine))
        {
            MemoryCheckInterval = 256,
        };
    }

    public static TheoryData<string> Roms()
    {
        var d = new TheoryData<string>();
        foreach (var r in TestRom.All) d.Add(r.Name);
        return d;
    }

    public static TheoryData<string> Workloads()
    {
        var d = new TheoryData<string>();
        foreach (var w in Workload.All) d.Add(w.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Roms))]
    public void TestRomAgreesBlockByBlock(string name)
    {
        var rom = TestRom.All.Single(r => r.Name == name);
        byte[] image = rom.Build();
        var l = Pair(f => new Machine(new MachineConfig { Cpu = rom.Model, Rom = image, EngineFactory = f, MemoryBytes = 2 << 20 }));
        var d = l.Run(1_000_000);
        Assert.True(d is null, d?.ToString());
        Assert.True(l.Reference.Cpu.Halted, "the ROM did not run to its end");
    }

    [Theory]
    [MemberData(nameof(Workloads))]
    public void WorkloadAgreesBlockByBlock(string name)
    {
        byte[] image = Workload.Find(name)!.Build(2);
        var l = Pair(f => new Machine(new MachineConfig { Kernel = new KernelImage(image), EngineFactory = f, MemoryBytes = 8 << 20 }));
        var d = l.Run(5_000_000);
        Assert.True(d is null, d?.ToString());
    }
}
