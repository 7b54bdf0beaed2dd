using System.Runtime.InteropServices;
using JitVm.Cpu.Fpu;

namespace JitVm.HostOracle.X87Insn;

/// <summary>
/// One x87 instruction vector: the FPU state before and after as FXSAVE images (FCW, FSW, abridged tag byte,
/// ST(0)-ST(7) in 16-byte slots from offset 32), a 16-byte memory window holding the operand, and EFLAGS (FCMOVcc
/// reads them, FCOMI writes them). The native stub reads and writes this layout directly.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct X87InsnRecord
{
    public const int ImageSize = 512;
    public const int InImageOffset = 0, OutImageOffset = 512, InMemOffset = 1024, OutMemOffset = 1040, InFlagsOffset = 1056,
        OutFlagsOffset = 1060, Size = 1072;
    /// <summary>Offsets inside an image.</summary>
    public const int FcwOffset = 0, FswOffset = 2, FtwOffset = 4, MxcsrOffset = 24, RegistersOffset = 32;

    public fixed byte InImage[ImageSize];
    public fixed byte OutImage[ImageSize];
    public fixed byte InMem[16];
    public fixed byte OutMem[16];
    public uint InFlags, OutFlags;
    ulong padding;

    public static ushort Fcw(ReadOnlySpan<byte> image) => MemoryMarshal.Read<ushort>(image[FcwOffset..]);
    public static ushort Fsw(ReadOnlySpan<byte> image) => MemoryMarshal.Read<ushort>(image[FswOffset..]);
    public static byte Ftw(ReadOnlySpan<byte> image) => image[FtwOffset];

    /// <summary>ST(<paramref name="k"/>) of an image.</summary>
    public static Float80 St(ReadOnlySpan<byte> image, int k)
    {
        var slot = image.Slice(RegistersOffset + 16 * k, 10);
        return new Float80(MemoryMarshal.Read<ushort>(slot[8..]), MemoryMarshal.Read<ulong>(slot));
    }

    public static void SetSt(Span<byte> image, int k, Float80 v)
    {
        var slot = image.Slice(RegistersOffset + 16 * k, 16);
        slot.Clear();
        MemoryMarshal.Write(slot, v.Significand);
        MemoryMarshal.Write(slot[8..], v.SignExponent);
    }

    public static void SetWords(Span<byte> image, ushort fcw, ushort fsw, byte ftw)
    {
        MemoryMarshal.Write(image[FcwOffset..], fcw);
        MemoryMarshal.Write(image[FswOffset..], fsw);
        image[FtwOffset] = ftw;
    }
}
