using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Fpu;

namespace JitVm.HostOracle.X87Insn;

/// <summary>
/// Runs x87 vectors through the interpreter: one real-mode P6 with 1 MiB of RAM, each form's guest bytes and a HLT
/// in its own 32-byte slot. Per vector the FPU is loaded from the input image as FXRSTOR would (control word, status
/// word, abridged tags, ST(0)-ST(7) relative to the loaded TOP), the arithmetic flags and the memory window at
/// 0000:1000 are set, the instruction runs to the HLT, and the output image is built the way FXSAVE lays it out.
/// </summary>
public sealed class X87InsnHarness
{
    const uint CodeBase = 0x30000, SlotBytes = 32, HandlerAddress = 0x500;

    readonly PhysicalMemory memory;
    readonly Interpreter engine;
    readonly int formCount;

    public Processor Cpu { get; }

    public X87InsnHarness(IReadOnlyList<X87InsnForm> forms, CpuModel? model = null)
    {
        memory = new PhysicalMemory(1 << 20);
        Cpu = new Processor(model ?? CpuModel.P6, memory, new IoBus());
        engine = new Interpreter(Cpu);
        Cpu.A20Enabled = true;
        for (uint v = 0; v < 256; v++) memory.Poke(v * 4, [0x00, 0x00, 0x50, 0x00]);
        memory.Poke(HandlerAddress, [0xF4]);
        formCount = forms.Count;
        for (int f = 0; f < forms.Count; f++) memory.Poke(CodeBase + (uint)f * SlotBytes, [.. forms[f].GuestBytes, 0xF4]);
        for (int s = 0; s < 6; s++)
            Cpu.LoadRealModeSegmentFull(s, 0, 0, 0xFFFF, s == SegReg.CS ? Segment.RealModeCode : Segment.RealModeData);
        Cpu.LoadRealModeSegmentFull(SegReg.SS, 0x2000, 0x20000, 0xFFFF, Segment.RealModeData);
    }

    /// <summary>Runs form <paramref name="form"/> on the inputs of <paramref name="r"/> and writes its outputs; false when an exception was raised.</summary>
    public unsafe bool Run(int form, ref X87InsnRecord r)
    {
        if ((uint)form >= (uint)formCount) throw new ArgumentOutOfRangeException(nameof(form));
        var c = Cpu;
        fixed (byte* inImage = r.InImage, outImage = r.OutImage, inMem = r.InMem, outMem = r.OutMem)
        {
            var image = new ReadOnlySpan<byte>(inImage, X87InsnRecord.ImageSize);
            c.SetFpuControlWord(X87InsnRecord.Fcw(image));
            c.SetFpuStatusWord(X87InsnRecord.Fsw(image));
            c.Fpu.Valid = X87InsnRecord.Ftw(image);
            for (int k = 0; k < 8; k++) c.Fpu.R[(c.Fpu.Top + k) & 7] = X87InsnRecord.St(image, k);
            c.SetEflags((r.InFlags & Processor.ArithFlags) | 2);
            for (uint k = 0; k < 16; k++) memory.Write8(X87InsnForm.OperandAddress + k, inMem[k]);
            c.Esp = 0xFFFE;
            ushort cs = (ushort)((CodeBase + (uint)form * SlotBytes) >> 4);
            c.LoadRealModeSegmentFull(SegReg.CS, cs, (uint)cs << 4, 0xFFFF, Segment.RealModeCode);
            c.Eip = 0;
            c.Halted = false;
            var stop = engine.Run(8);
            if (stop != StopReason.Halted)
                throw new InvalidOperationException($"the interpreter did not reach the HLT after x87 form {form} ({stop})");
            bool faulted = c.Seg[SegReg.CS].Selector == 0x0050;

            var output = new Span<byte>(outImage, X87InsnRecord.ImageSize);
            output.Clear();
            X87InsnRecord.SetWords(output, c.Fpu.Control, c.FpuStatusWord, c.Fpu.Valid);
            for (int k = 0; k < 8; k++) X87InsnRecord.SetSt(output, k, c.FpuSt(k));
            r.OutFlags = c.GetEflags();
            for (uint k = 0; k < 16; k++) outMem[k] = memory.Read8(X87InsnForm.OperandAddress + k);
            return !faulted;
        }
    }
}
