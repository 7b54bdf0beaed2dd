using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.HostOracle;

/// <summary>What the interpreter did with one vector.</summary>
public struct GuestResult
{
    public RegisterSet Regs;
    public uint Flags;
    public MemoryWindow Mem;
    /// <summary>The exception vector raised, or -1.</summary>
    public int Exception;
}

/// <summary>
/// Runs vectors through the interpreter: one real-mode processor with 1 MiB of RAM, each form's guest bytes plus a
/// HLT in its own 32-byte slot (CS = 3000h + 2 * form index, IP = 0), so every form is decoded once and later vectors hit
/// the block cache. Per vector: load EAX..EDI (ESP = FFFEh on a stack at 2000:0000), the arithmetic flags and the
/// memory window at 0000:1000, run to the HLT; every IVT entry points at a HLT at 0050:0000, so an exception ends
/// the run there.
/// </summary>
public sealed class InterpreterHarness
{
    const uint CodeBase = 0x30000, CodeEnd = 0xA0000, SlotBytes = 32;
    const uint HandlerAddress = 0x500;
    const ushort HandlerSegment = 0x50, StackSegment = 0x2000, StackTop = 0xFFFE;
    /// <summary>Physical address of the memory window (the operand is at <see cref="OracleForm.OperandAddress"/>).</summary>
    public const uint WindowAddress = OracleForm.OperandAddress - VectorRecord.OperandOffset;

    readonly PhysicalMemory memory;
    readonly Interpreter engine;
    readonly long[] counts = new long[32];
    readonly int windowHost;
    readonly int formCount;

    public Processor Cpu { get; }
    public CpuModel Model => Cpu.Model;

    public InterpreterHarness(CpuModel model, IReadOnlyList<OracleForm> forms)
    {
        if (forms.Count > (CodeEnd - CodeBase) / SlotBytes) throw new ArgumentException($"at most {(CodeEnd - CodeBase) / SlotBytes} forms");
        memory = new PhysicalMemory(1 << 20);
        Cpu = new Processor(model, memory, new IoBus());
        engine = new Interpreter(Cpu);
        Cpu.A20Enabled = true;
        for (uint v = 0; v < 256; v++) memory.Poke(v * 4, [0x00, 0x00, (byte)HandlerSegment, (byte)(HandlerSegment >> 8)]);
        memory.Poke(HandlerAddress, [0xF4]);
        formCount = forms.Count;
        for (int f = 0; f < forms.Count; f++)
        {
            var bytes = forms[f].GuestBytes;
            if (bytes.Length >= SlotBytes) throw new ArgumentException($"{forms[f]}: guest encoding longer than {SlotBytes - 1} bytes");
            memory.Poke(CodeBase + (uint)f * SlotBytes, [.. bytes, 0xF4]);
        }
        for (int s = 0; s < 6; s++)
            Cpu.LoadRealModeSegmentFull(s, 0, 0, 0xFFFF, s == SegReg.CS ? Segment.RealModeCode : Segment.RealModeData);
        Cpu.LoadRealModeSegmentFull(SegReg.SS, StackSegment, (uint)StackSegment << 4, 0xFFFF, Segment.RealModeData);
        windowHost = memory.HostOffset(WindowAddress) + (int)(WindowAddress & PhysicalMemory.PageMask);
    }

    /// <summary>Runs form <paramref name="form"/> on the inputs of <paramref name="r"/>.</summary>
    public void Run(int form, in VectorRecord r, out GuestResult result)
    {
        if ((uint)form >= (uint)formCount) throw new ArgumentOutOfRangeException(nameof(form));
        var c = Cpu;
        for (int i = 0; i < 8; i++) c.Gpr[i] = r.InRegs[i];
        c.Gpr[4] = StackTop;
        c.SetEflags((r.InFlags & Processor.ArithFlags) | 2);
        var backing = memory.Backing;
        for (int i = 0; i < 16; i++) backing[windowHost + i] = r.InMem[i];
        ushort cs = (ushort)((CodeBase + (uint)form * SlotBytes) >> 4);
        c.LoadRealModeSegmentFull(SegReg.CS, cs, (uint)cs << 4, 0xFFFF, Segment.RealModeCode);
        c.Eip = 0;
        c.Halted = false;

        var stop = engine.Run(8);
        if (stop != StopReason.Halted)
            throw new InvalidOperationException($"the interpreter did not reach the HLT after form {form} ({stop} at {c.Seg[SegReg.CS].Selector:X4}:{c.Eip:X4})");

        result = default;
        for (int i = 0; i < 8; i++) result.Regs[i] = c.Gpr[i];
        result.Flags = c.GetEflags();
        for (int i = 0; i < 16; i++) result.Mem[i] = backing[windowHost + i];
        result.Exception = -1;
        if (c.Seg[SegReg.CS].Selector == HandlerSegment)
        {
            for (int v = 0; v < counts.Length; v++)
            {
                if (c.ExceptionCounts[v] != counts[v])
                {
                    result.Exception = v;
                    counts[v] = c.ExceptionCounts[v];
                }
            }
        }
    }
}
