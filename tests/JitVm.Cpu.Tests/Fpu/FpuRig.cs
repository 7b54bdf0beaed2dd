using Iced.Intel;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>
/// A <see cref="TestMachine"/> (real mode, code at 1000:0000, DS base 0, every vector a HLT) with x87 helpers:
/// values poked into and read from memory in the 80-, 64- and 32-bit formats, and the FPU state.
/// </summary>
internal sealed class FpuRig
{
    public TestMachine M { get; }
    public Processor Cpu => M.Cpu;

    public FpuRig(CpuModel? model = null) => M = new TestMachine(model ?? CpuModel.P6);

    /// <summary>Assembles <paramref name="code"/> (16-bit, a HLT appended) and runs it to the HLT.</summary>
    public FpuRig Run(Action<Assembler> code)
    {
        M.Load(code);
        M.Run();
        return this;
    }

    public void Poke80(uint addr, Float80 v)
    {
        M.Memory.Write32(addr, (uint)v.Significand);
        M.Memory.Write32(addr + 4, (uint)(v.Significand >> 32));
        M.Memory.Write16(addr + 8, v.SignExponent);
    }

    public Float80 Peek80(uint addr) =>
        new(M.Memory.Read16(addr + 8), M.Memory.Read32(addr) | (ulong)M.Memory.Read32(addr + 4) << 32);

    public void Poke64(uint addr, ulong v)
    {
        M.Memory.Write32(addr, (uint)v);
        M.Memory.Write32(addr + 4, (uint)(v >> 32));
    }

    public ulong Peek64(uint addr) => M.Memory.Read32(addr) | (ulong)M.Memory.Read32(addr + 4) << 32;

    public void PokeDouble(uint addr, double d) => Poke64(addr, (ulong)BitConverter.DoubleToInt64Bits(d));
    public double PeekDouble(uint addr) => BitConverter.Int64BitsToDouble((long)Peek64(addr));
    public void PokeSingle(uint addr, float f) => M.Memory.Write32(addr, BitConverter.SingleToUInt32Bits(f));
    public float PeekSingle(uint addr) => BitConverter.UInt32BitsToSingle(M.Memory.Read32(addr));

    public Float80 St(int i) => Cpu.FpuSt(i);
    public bool Empty(int i) => Cpu.FpuEmpty(i);
    public ushort Status => Cpu.FpuStatusWord;
    public int Top => Cpu.Fpu.Top;
    public ushort Control => Cpu.Fpu.Control;

    /// <summary>Status word exception flags, SF, ES, condition codes, without TOP and B.</summary>
    public int Flags => Status & 0x47FF;

    public long Exceptions(int vector) => M.Exceptions(vector);
    public bool InHandler => M.InHandler;

    /// <summary>Bytes of memory at <paramref name="addr"/>.</summary>
    public byte[] Bytes(uint addr, int count)
    {
        var b = new byte[count];
        M.Memory.ReadBytes(addr, b);
        return b;
    }

    /// <summary>An x87 value from a double (exact: every double has an 80-bit image).</summary>
    public static Float80 F(double d)
    {
        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(d);
        ushort sign = (ushort)((bits >> 48) & 0x8000);
        int exp = (int)((bits >> 52) & 0x7FF);
        ulong frac = bits & 0xF_FFFF_FFFF_FFFF;
        if (exp == 0 && frac == 0) return new Float80(sign, 0);
        if (exp == 0x7FF) return new Float80((ushort)(sign | 0x7FFF), Float80.IntegerBit | frac << 11);
        if (exp == 0)
        {
            int shift = System.Numerics.BitOperations.LeadingZeroCount(frac) - 11;
            return new Float80((ushort)(sign | (Float80.Bias - 1022 - shift)), frac << (11 + shift));
        }
        return new Float80((ushort)(sign | (exp - 1023 + Float80.Bias)), Float80.IntegerBit | frac << 11);
    }
}
