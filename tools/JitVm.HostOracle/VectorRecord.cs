using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace JitVm.HostOracle;

/// <summary>EAX ECX EDX EBX ESP EBP ESI EDI, in encoding order (ESP is not an operand and is not compared).</summary>
[InlineArray(8)]
public struct RegisterSet
{
    private uint _r0;
}

/// <summary>The 16 bytes around the memory operand: the operand itself starts at <see cref="VectorRecord.OperandOffset"/>.</summary>
[InlineArray(16)]
public struct MemoryWindow
{
    private byte _b0;
}

/// <summary>What happened when the vector ran on the host.</summary>
public enum VectorStatus : uint
{
    /// <summary>Executed natively; the outputs are the host CPU's.</summary>
    Executed = 0,
    /// <summary>A divide whose quotient does not fit (or divisor 0): #DE by the SDM's rule, not executed on the host (it would raise SIGFPE). Outputs equal inputs.</summary>
    DivideError = 1,
}

/// <summary>
/// One vector: inputs and outputs of one instruction. The layout is fixed (the native stubs address the
/// fields by offset, and the vector file stores records verbatim, little-endian).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct VectorRecord
{
    public const int Size = 112;
    public const int InRegsOffset = 0, InFlagsOffset = 32, StatusOffset = 36, InMemOffset = 40;
    public const int OutRegsOffset = 56, OutFlagsOffset = 88, OutMemOffset = 96;
    /// <summary>Offset of the memory operand inside the window; bytes before and after it are reachable by BT* with a register bit offset.</summary>
    public const int OperandOffset = 4;

    public RegisterSet InRegs;
    public uint InFlags;
    public VectorStatus Status;
    public MemoryWindow InMem;
    public RegisterSet OutRegs;
    public uint OutFlags;
    public uint Reserved;
    public MemoryWindow OutMem;
}
