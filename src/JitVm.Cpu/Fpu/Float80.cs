namespace JitVm.Cpu.Fpu;

/// <summary>
/// An x87 80-bit extended-precision value exactly as it is stored: a sign bit and 15-bit biased exponent
/// (<see cref="SignExponent"/>) and a 64-bit significand whose bit 63 is the explicit integer bit. Every encoding
/// is representable, including pseudo-denormals, pseudo-NaNs/infinities and unnormals (the "unsupported" ones).
/// </summary>
public readonly struct Float80 : IEquatable<Float80>
{
    public readonly ulong Significand;
    public readonly ushort SignExponent;

    public Float80(ushort signExponent, ulong significand)
    {
        SignExponent = signExponent;
        Significand = significand;
    }

    public const int Bias = 16383;
    public const int MaxExponent = 0x7FFF;
    public const ulong IntegerBit = 1UL << 63;

    public bool Sign => (SignExponent & 0x8000) != 0;
    /// <summary>Biased exponent, 0..32767.</summary>
    public int Exponent => SignExponent & 0x7FFF;

    public bool IsZero => Exponent == 0 && Significand == 0;
    /// <summary>Exponent 0, integer bit 0, fraction nonzero.</summary>
    public bool IsDenormal => Exponent == 0 && Significand != 0 && (Significand & IntegerBit) == 0;
    /// <summary>Exponent 0 with the integer bit set (the 387 and later read it as exponent 1).</summary>
    public bool IsPseudoDenormal => Exponent == 0 && (Significand & IntegerBit) != 0;
    /// <summary>
    /// Encodings the 387 and later reject as operands (invalid operation): nonzero exponent with the integer bit
    /// clear (unnormals, pseudo-infinities, pseudo-NaNs).
    /// </summary>
    public bool IsUnsupported => Exponent != 0 && (Significand & IntegerBit) == 0;
    public bool IsInfinity => Exponent == MaxExponent && Significand == IntegerBit;
    public bool IsNaN => Exponent == MaxExponent && (Significand & IntegerBit) != 0 && (Significand << 1) != 0;
    public bool IsSignalingNaN => IsNaN && (Significand & (1UL << 62)) == 0;
    public bool IsQuietNaN => IsNaN && (Significand & (1UL << 62)) != 0;

    public Float80 Negate() => new((ushort)(SignExponent ^ 0x8000), Significand);
    public Float80 Abs() => new((ushort)(SignExponent & 0x7FFF), Significand);

    public static readonly Float80 Zero = new(0, 0);
    public static readonly Float80 NegativeZero = new(0x8000, 0);
    public static readonly Float80 One = new(Bias, IntegerBit);
    public static readonly Float80 PositiveInfinity = new(0x7FFF, IntegerBit);
    public static readonly Float80 NegativeInfinity = new(0xFFFF, IntegerBit);
    /// <summary>The x87 default NaN ("real indefinite"): negative, quiet, fraction 0.</summary>
    public static readonly Float80 Indefinite = new(0xFFFF, 0xC000_0000_0000_0000);

    public bool Equals(Float80 other) => Significand == other.Significand && SignExponent == other.SignExponent;
    public override bool Equals(object? obj) => obj is Float80 f && Equals(f);
    public override int GetHashCode() => HashCode.Combine(Significand, SignExponent);
    public static bool operator ==(Float80 a, Float80 b) => a.Equals(b);
    public static bool operator !=(Float80 a, Float80 b) => !a.Equals(b);
    public override string ToString() => $"{SignExponent:X4}:{Significand:X16}";
}

/// <summary>x87 exception flags, with the bit positions of the status word (and of the control word's masks).</summary>
[Flags]
public enum FpuExceptions : ushort
{
    None = 0,
    Invalid = 1 << 0,
    Denormal = 1 << 1,
    ZeroDivide = 1 << 2,
    Overflow = 1 << 3,
    Underflow = 1 << 4,
    Precision = 1 << 5,
    All = 0x3F,
}

/// <summary>Control word RC field (bits 10-11).</summary>
public enum RoundingControl { Nearest = 0, Down = 1, Up = 2, TowardZero = 3 }

/// <summary>Control word PC field (bits 8-9): the significand width results of FADD/FSUB/FMUL/FDIV/FSQRT round to.</summary>
public enum PrecisionControl { Single = 0, Reserved = 1, Double = 2, Extended = 3 }

/// <summary>Result of an x87 comparison (FCOM/FUCOM/FCOMI/FTST/FICOM).</summary>
public enum FpuCompare { Greater = 0, Less = 1, Equal = 2, Unordered = 3 }

/// <summary>
/// The environment one soft-float operation runs in and reports to: the control word in (RC, PC and the exception
/// masks), and out the exceptions the operation raised (before masking: all detected flags), C1 ("rounded up")
/// and whether the result must not be stored because an unmasked exception with that effect occurred.
/// </summary>
public struct FpuEnv
{
    public ushort ControlWord;
    /// <summary>Exceptions detected by the operation (to be ORed into the status word's flags).</summary>
    public FpuExceptions Raised;
    /// <summary>The rounded result's magnitude is larger than the exact one (status word C1 after a rounding operation).</summary>
    public bool RoundedUp;
    /// <summary>
    /// An unmasked invalid, denormal or zero-divide exception occurred: the destination keeps its old value
    /// (the SDM's "unmasked response"). For unmasked overflow/underflow the operation instead returns the result
    /// with its exponent rebiased by ∓24576 (arithmetic to a register), and this stays false.
    /// </summary>
    public bool SuppressResult;

    public FpuEnv(ushort controlWord) { ControlWord = controlWord; Raised = 0; RoundedUp = false; SuppressResult = false; }

    public readonly RoundingControl Rounding => (RoundingControl)((ControlWord >> 10) & 3);
    public readonly PrecisionControl Precision => (PrecisionControl)((ControlWord >> 8) & 3);
    public readonly bool Masked(FpuExceptions e) => (ControlWord & (ushort)e) == (ushort)e;
}
