using System.Runtime.CompilerServices;

namespace JitVm.Cpu.Instructions;

/// <summary>
/// An operand size as a type, so one generic handler body serves 8-, 16- and 32-bit forms and RyuJIT
/// specialises it per size (struct type arguments get their own code; the static members inline away).
/// </summary>
internal interface IOperandSize
{
    static abstract int Bytes { get; }
    static abstract uint Mask { get; }
    static abstract uint Sign { get; }
    static abstract uint GetReg(Processor c, int off);
    static abstract void SetReg(Processor c, int off, uint v);
    static abstract uint Read(Processor c, int seg, uint off);
    static abstract void Write(Processor c, int seg, uint off, uint v);
    /// <summary>Sign-extends a value of this size to 32 bits.</summary>
    static abstract int SignExtend(uint v);
}

internal struct Size8 : IOperandSize
{
    public static int Bytes => 1;
    public static uint Mask => 0xFF;
    public static uint Sign => 0x80;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint GetReg(Processor c, int off) => c.Reg8(off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(Processor c, int off, uint v) => c.SetReg8(off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Read(Processor c, int seg, uint off) => c.Read8(seg, off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(Processor c, int seg, uint off, uint v) => c.Write8(seg, off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int SignExtend(uint v) => (sbyte)v;
}

internal struct Size16 : IOperandSize
{
    public static int Bytes => 2;
    public static uint Mask => 0xFFFF;
    public static uint Sign => 0x8000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint GetReg(Processor c, int off) => c.Reg16(off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(Processor c, int off, uint v) => c.SetReg16(off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Read(Processor c, int seg, uint off) => c.Read16(seg, off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(Processor c, int seg, uint off, uint v) => c.Write16(seg, off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int SignExtend(uint v) => (short)v;
}

internal struct Size32 : IOperandSize
{
    public static int Bytes => 4;
    public static uint Mask => 0xFFFFFFFF;
    public static uint Sign => 0x80000000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint GetReg(Processor c, int off) => c.Reg32(off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(Processor c, int off, uint v) => c.SetReg32(off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Read(Processor c, int seg, uint off) => c.Read32(seg, off);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(Processor c, int seg, uint off, uint v) => c.Write32(seg, off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int SignExtend(uint v) => (int)v;
}

/// <summary>A segment register as a type, for handlers whose segment is part of the opcode (LDS, PUSH ES...).</summary>
internal interface ISegmentRegister
{
    static abstract int Index { get; }
}

internal struct SegES : ISegmentRegister { public static int Index => SegReg.ES; }
internal struct SegCS : ISegmentRegister { public static int Index => SegReg.CS; }
internal struct SegSS : ISegmentRegister { public static int Index => SegReg.SS; }
internal struct SegDS : ISegmentRegister { public static int Index => SegReg.DS; }
internal struct SegFS : ISegmentRegister { public static int Index => SegReg.FS; }
internal struct SegGS : ISegmentRegister { public static int Index => SegReg.GS; }
