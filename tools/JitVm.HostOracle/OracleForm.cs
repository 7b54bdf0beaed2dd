using Iced.Intel;

namespace JitVm.HostOracle;

/// <summary>
/// One instruction instance the oracle runs: fixed opcode, registers and immediate; the vectors vary only the
/// register, flag and memory inputs. <see cref="Guest"/> is what the interpreter runs (16-bit real-mode code, a
/// memory operand at DS:<see cref="OracleForm.OperandAddress"/>); <see cref="Native"/> is what the host runs (the
/// same instruction in 64-bit code with a RIP-relative memory operand), or an equivalent encoding where the
/// guest one does not exist in 64-bit mode (INC r32 = 40+r is a REX prefix there, 82 /r is invalid).
/// </summary>
public sealed class OracleForm
{
    /// <summary>Guest offset of the memory operand (DS = 0); the 16-byte window starts 4 bytes before it.</summary>
    public const ushort OperandAddress = 0x1004;

    public OracleForm(Instruction guest, Instruction? native = null, double weight = 1)
    {
        Guest = guest;
        Native = native ?? guest;
        Weight = weight;
        GuestBytes = Encode(guest, 16, 0);
        Name = Format(guest);
    }

    public Instruction Guest { get; }
    public Instruction Native { get; }
    public byte[] GuestBytes { get; }
    /// <summary>Intel syntax of the guest instruction (the memory operand shown as <c>[mem]</c>).</summary>
    public string Name { get; }
    /// <summary>Share of the vectors this form gets relative to others.</summary>
    public double Weight { get; }

    public Mnemonic Mnemonic => Guest.Mnemonic;
    public bool HasMemoryOperand => Guest.Op0Kind == OpKind.Memory || (Guest.OpCount > 1 && Guest.Op1Kind == OpKind.Memory);

    /// <summary>Decodes a form back from its 16-bit guest encoding (vector files store only that).</summary>
    public static OracleForm FromGuestBytes(byte[] bytes)
    {
        var d = Decoder.Create(16, new ByteArrayCodeReader(bytes));
        var i = d.Decode();
        if (i.IsInvalid || i.Length != bytes.Length) throw new FormatException($"bad guest instruction bytes {Convert.ToHexString(bytes)}");
        return new OracleForm(i);
    }

    internal static byte[] Encode(in Instruction i, int bitness, ulong ip)
    {
        var w = new ByteWriter();
        var e = Encoder.Create(bitness, w);
        if (!e.TryEncode(i, ip, out _, out string? error)) throw new InvalidOperationException($"cannot encode {i} in {bitness}-bit code: {error}");
        return w.ToArray();
    }

    static string Format(in Instruction i)
    {
        var f = new IntelFormatter();
        f.Options.HexPrefix = "0x";
        f.Options.HexSuffix = "";
        f.Options.UppercaseHex = false;
        f.Options.SpaceAfterOperandSeparator = true;
        f.Options.ShowSymbolAddress = false;
        var o = new StringOutput();
        f.Format(i, o);
        string s = o.ToStringAndReset();
        return s.Replace("ds:[0x1004]", "[mem]").Replace("[0x1004]", "[mem]");
    }

    public override string ToString() => Name;

    internal sealed class ByteWriter : CodeWriter
    {
        readonly List<byte> bytes = new();
        public override void WriteByte(byte value) => bytes.Add(value);
        public byte[] ToArray() => bytes.ToArray();
        public int Count => bytes.Count;
    }
}
