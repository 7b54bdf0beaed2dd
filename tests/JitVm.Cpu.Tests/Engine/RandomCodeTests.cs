namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// Random bytes as code: whatever the guest does (invalid opcodes, wild pointers, far jumps into nowhere,
/// faults inside fault handlers), the engine must only ever report guest-visible outcomes — never throw a .NET
/// exception other than the documented "not implemented yet" stop, and never hang.
/// </summary>
public class RandomCodeTests
{
    [Theory]
    [InlineData("286", 1)]
    [InlineData("386", 2)]
    [InlineData("pentium", 3)]
    public void RandomProgramsNeverEscapeTheEmulator(string model, int seed)
    {
        var rng = new Random(seed);
        int stopped = 0;
        for (int program = 0; program < 150; program++)
        {
            var m = new TestMachine(CpuModel.Parse(model));
            var code = new byte[512];
            rng.NextBytes(code);
            m.Memory.Poke((uint)TestMachine.CodeSegment << 4, code);
            // Random IVT entries too, so exceptions land in random places.
            var ivt = new byte[1024];
            rng.NextBytes(ivt);
            m.Memory.Poke(0, ivt);
            for (int r = 0; r < 8; r++) m.Cpu.Gpr[r] = (uint)rng.Next();
            m.Cpu.Esp &= 0xFFFE;
            try
            {
                var stop = m.Engine.Run(5000);
                Assert.True(Enum.IsDefined(stop));
            }
            catch (EmulationStopException)
            {
                stopped++;              // e.g. the program entered protected mode, which is not modelled yet
            }
        }
        Assert.True(stopped < 150, "every program stopped on an unimplemented path");
    }
}
