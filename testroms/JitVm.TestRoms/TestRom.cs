using System.Reflection;
using JitVm.Cpu;

namespace JitVm.TestRoms;

/// <summary>
/// One of the project's test ROMs: a guest program (built from C# with Iced's assembler) that reports progress as
/// POST codes on port 0x80, prints a readable log to port 0xE9, and ends with CLI; HLT after writing
/// <see cref="FinalPost"/>. Its expected log is testroms/expected/&lt;Name&gt;.txt.
/// </summary>
public abstract class TestRom
{
    /// <summary>File-name-safe name (also the expected-output file name).</summary>
    public abstract string Name { get; }

    /// <summary>What the ROM exercises.</summary>
    public abstract string Description { get; }

    /// <summary>The POST code written just before the final HLT.</summary>
    public virtual byte FinalPost => 0xFF;

    /// <summary>The CPU model the expected output was written for.</summary>
    public virtual CpuModel Model => CpuModel.Pentium;

    /// <summary>Assembles the 64 KiB image.</summary>
    public abstract byte[] Build();

    /// <summary>Every test ROM in this assembly, by name.</summary>
    public static IReadOnlyList<TestRom> All { get; } = typeof(TestRom).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(TestRom)) && !t.IsAbstract)
        .Select(t => (TestRom)Activator.CreateInstance(t)!)
        .OrderBy(r => r.Name, StringComparer.Ordinal)
        .ToList();
}
