using System.Diagnostics;
using JitVm.Cpu;
using JitVm.Jit.Translation;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;
namespace JitVm.Jit.Tests;
public class Scratch(ITestOutputHelper o)
{
    [Fact]
    public void Probe()
    {
        var side = Pair.Side(CpuModel.Pentium, 1 << 20, false);
        var code = Pair.Assemble(16, 0, a => { var top = a.CreateLabel(); a.Label(ref top); a.mov(eax, __dword_ptr[si]); a.add(eax, ebx); a.xor(edx, eax); a.mov(__dword_ptr[si + 4], edx); a.add(si, 8); a.dec(ecx); a.jnz(top); });
        Pair.RealMode(side.Cpu, side.Memory, code);
        var interp = (Interpreter)side.Engine;
        var block = interp.Blocks.Lookup();
        var t = new Translator();
        for (int k = 0; k < 30; k++) t.Translate(block, side.Cpu);
        var sw = Stopwatch.StartNew();
        TranslatedBlock tb = null!;
        for (int k = 0; k < 20; k++) tb = t.Translate(block, side.Cpu);
        o.WriteLine($"avg {sw.Elapsed.TotalMicroseconds / 20:F0} us, IL {tb.IlBytes} bytes, last {tb.CompileTime.TotalMicroseconds:F0} us emit {tb.EmitTime.TotalMicroseconds:F0} us");
    }
}
