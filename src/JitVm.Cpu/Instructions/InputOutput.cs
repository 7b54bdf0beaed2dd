using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>IN and OUT, immediate-port and DX forms (INS/OUTS are in <see cref="Strings"/>).</summary>
internal static unsafe class InputOutput
{
    // Port from the 8-bit immediate (0..FF) or from DX. In protected mode the port must pass the IOPL / I/O
    // bitmap check first (#GP(0)).
    static void InImm<S>(Processor c, ref Insn i) where S : IOperandSize => In<S>(c, (ushort)(i.Imm & 0xFF));
    static void InDx<S>(Processor c, ref Insn i) where S : IOperandSize => In<S>(c, (ushort)c.Edx);
    static void OutImm<S>(Processor c, ref Insn i) where S : IOperandSize => Out<S>(c, (ushort)(i.Imm & 0xFF));
    static void OutDx<S>(Processor c, ref Insn i) where S : IOperandSize => Out<S>(c, (ushort)c.Edx);

    static void In<S>(Processor c, ushort port) where S : IOperandSize
    {
        c.CheckIoPermission(port, S.Bytes);
        S.SetReg(c, Processor.EAX, c.Io.In(port, S.Bytes));
    }

    static void Out<S>(Processor c, ushort port) where S : IOperandSize
    {
        c.CheckIoPermission(port, S.Bytes);
        c.Io.Out(port, S.Bytes, S.GetReg(c, Processor.EAX));
    }

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
