using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>IN and OUT, immediate-port and DX forms (INS/OUTS are in <see cref="Strings"/>).</summary>
/// <remarks>Protected-mode IOPL and I/O-bitmap checks are not modelled yet; real mode has none.</remarks>
internal static unsafe class InputOutput
{
    // Port from the 8-bit immediate (0..FF) or from DX.
    static void InImm<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, Processor.EAX, c.Io.In((ushort)(i.Imm & 0xFF), S.Bytes));
    static void InDx<S>(Processor c, ref Insn i) where S : IOperandSize => S.SetReg(c, Processor.EAX, c.Io.In((ushort)c.Edx, S.Bytes));
    static void OutImm<S>(Processor c, ref Insn i) where S : IOperandSize => c.Io.Out((ushort)(i.Imm & 0xFF), S.Bytes, S.GetReg(c, Processor.EAX));
    static void OutDx<S>(Processor c, ref Insn i) where S : IOperandSize => c.Io.Out((ushort)c.Edx, S.Bytes, S.GetReg(c, Processor.EAX));

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.In_AL_imm8, &InImm<Size8>);
        t.Add(Code.In_AX_imm8, &InImm<Size16>);
        t.Add(Code.In_EAX_imm8, &InImm<Size32>, min: CpuGeneration.I386);
        t.Add(Code.In_AL_DX, &InDx<Size8>);
        t.Add(Code.In_AX_DX, &InDx<Size16>);
        t.Add(Code.In_EAX_DX, &InDx<Size32>, min: CpuGeneration.I386);
        t.Add(Code.Out_imm8_AL, &OutImm<Size8>);
        t.Add(Code.Out_imm8_AX, &OutImm<Size16>);
        t.Add(Code.Out_imm8_EAX, &OutImm<Size32>, min: CpuGeneration.I386);
        t.Add(Code.Out_DX_AL, &OutDx<Size8>);
        t.Add(Code.Out_DX_AX, &OutDx<Size16>);
        t.Add(Code.Out_DX_EAX, &OutDx<Size32>, min: CpuGeneration.I386);
    }
}
