using Iced.Intel;

namespace JitVm.HostOracle;

/// <summary>Where an operand of an oracle instruction lives in a <see cref="VectorRecord"/>, and its value there.</summary>
internal static class Operands
{
    /// <summary>Index into <see cref="RegisterSet"/> (0 = EAX ... 7 = EDI), bit shift (8 for AH..BH) and size in bytes of a general register.</summary>
    public static (int Index, int Shift, int Size) Slot(Register r)
    {
        int size = r.GetSize();
        int shift = r is Register.AH or Register.CH or Register.DH or Register.BH ? 8 : 0;
        int index = shift != 0 ? r - Register.AH : r.GetFullRegister32() - Register.EAX;
        return (index, shift, size);
    }

    public static uint SizeMask(int bytes) => bytes >= 4 ? 0xFFFFFFFF : (1u << (bytes * 8)) - 1;

    public static uint ReadRegister(in RegisterSet regs, Register r)
    {
        var (index, shift, size) = Slot(r);
        return (regs[index] >> shift) & SizeMask(size);
    }

    public static uint ReadOperandMemory(in MemoryWindow mem, int size)
    {
        uint v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | mem[VectorRecord.OperandOffset + i];
        return v;
    }

    public static void WriteOperandMemory(ref MemoryWindow mem, int size, uint value)
    {
        for (int i = 0; i < size; i++) mem[VectorRecord.OperandOffset + i] = (byte)(value >> (8 * i));
    }

    public static void WriteRegister(ref RegisterSet regs, Register r, uint value)
    {
        var (index, shift, size) = Slot(r);
        uint mask = SizeMask(size) << shift;
        regs[index] = (regs[index] & ~mask) | ((value << shift) & mask);
    }

    /// <summary>Size in bytes of operand <paramref name="op"/> (register or memory).</summary>
    public static int Size(in Instruction i, int op) => i.GetOpKind(op) switch
    {
        OpKind.Register => i.GetOpRegister(op).GetSize(),
        OpKind.Memory => i.MemorySize.GetSize(),
        _ => throw new ArgumentException($"operand {op} of {i} is neither a register nor memory"),
    };

    /// <summary>The value of register or memory operand <paramref name="op"/> in the record's inputs.</summary>
    public static uint ReadInput(in Instruction i, int op, in VectorRecord r) => i.GetOpKind(op) switch
    {
        OpKind.Register => ReadRegister(r.InRegs, i.GetOpRegister(op)),
        OpKind.Memory => ReadOperandMemory(r.InMem, i.MemorySize.GetSize()),
        _ => (uint)i.GetImmediate(op),
    };

    /// <summary>The width in bits the instruction operates on: its first operand's, or the accumulator's for CBW-style forms.</summary>
    public static int OperandBits(in Instruction i)
    {
        if (i.OpCount > 0 && i.Op0Kind is OpKind.Register or OpKind.Memory) return Size(i, 0) * 8;
        return i.Code switch
        {
            Code.Cbw or Code.Cwd => 16,
            _ => 32,
        };
    }

    /// <summary>Shift/rotate count as the processor uses it: the last operand (1, imm8 or CL) masked to 5 bits.</summary>
    public static uint MaskedCount(in Instruction i, in VectorRecord r)
    {
        int last = i.OpCount - 1;
        uint raw = i.GetOpKind(last) == OpKind.Register ? r.InRegs[1] & 0xFF : (uint)i.GetImmediate(last);
        return raw & 31;
    }
}
