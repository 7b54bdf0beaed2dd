using Iced.Intel;

namespace JitVm.HostOracle;

/// <summary>
/// One thing the oracle runs: a fixed instruction (opcode, registers, immediate) or a short fixed sequence of them
/// (a flag producer followed by flag consumers, to exercise the interpreter's lazy flags across instructions);
/// the vectors vary only the register, flag and memory inputs. <see cref="GuestSequence"/> is what the interpreter
/// runs (16-bit real-mode code, a memory operand at DS:<see cref="OperandAddress"/>); <see cref="NativeSequence"/>
/// is what the host runs (the same instructions in 64-bit code with a RIP-relative memory operand), or an
/// equivalent encoding where the guest one does not exist in 64-bit mode (INC r32 = 40+r is a REX prefix there,
/// 82 /r is invalid).
/// </summary>
public sealed class OracleForm
{
    /// <summary>Guest offset of the memory operand (DS = 0); the 16-byte window starts 4 bytes before it.</summary>
    public const ushort OperandAddress = 0x1004;
    /// <summary>Longest guest encoding of a form.</summary>
    public const int MaxGuestBytes = 31;

    public OracleForm(Instruction guest, Instruction? native = null, double weight = 1)
        : this([guest], native is { } n ? [n] : null, weight)
    {
    }

    public OracleForm(Instruction[] guest, Instruction[]? native, double weight = 1)
    {
        if (guest.Length == 0) throw new ArgumentException("empty form", nameof(guest));
        native ??= guest;
        if (native.Length != guest.Length) throw new ArgumentException("guest and native sequences differ in length", nameof(native));
        GuestSequence = guest;
        NativeSequence = native;
        Weight = weight;
        GuestBytes = guest.SelectMany(i => Encode(i, 16, 0)).ToArray();
        if (GuestBytes.Length > MaxGuestBytes) throw new ArgumentException($"guest encoding of {guest.Length} instructions is {GuestBytes.Length} bytes");
        Name = string.Join("; ", guest.Select(Format));
        Family = string.Join("+", guest.Select(FamilyOf));
    }

    /// <summary>The instructions the interpreter runs, in order.</summary>
    public IReadOnlyList<Instruction> GuestSequence { get; }
    /// <summary>The instructions the host runs, in order (memory operands are made RIP-relative when the stub is built).</summary>
    public IReadOnlyList<Instruction> NativeSequence { get; }
    /// <summary>The first guest instruction: the one under test for a single form, the flag producer of a sequence.</summary>
    public Instruction Guest => GuestSequence[0];
    public byte[] GuestBytes { get; }
    /// <summary>Intel syntax of the guest instructions (the memory operand shown as <c>[mem]</c>).</summary>
    public string Name { get; }
    /// <summary>Tally key: the mnemonic, or mnemonics joined by '+' for a sequence (SETcc/CMOVcc grouped).</summary>
    public string Family { get; }
    /// <summary>Share of the vectors this form gets relative to others.</summary>
    public double Weight { get; }

    public Mnemonic Mnemonic => Guest.Mnemonic;
    public bool IsSequence => GuestSequence.Count > 1;
    public bool HasMemoryOperand => GuestSequence.Any(UsesMemory);

    public static bool UsesMemory(Instruction i)
    {
        for (int op = 0; op < i.OpCount; op++)
            if (i.GetOpKind(op) == OpKind.Memory) return true;
        return false;
    }

    /// <summary>Decodes a form back from its 16-bit guest encoding (vector files store only that).</summary>
    public static OracleForm FromGuestBytes(byte[] bytes)
    {
        var d = Decoder.Create(16, new ByteArrayCodeReader(bytes));
        var list = new List<Instruction>();
        while (d.IP < (ulong)bytes.Length)
        {
            var i = d.Decode();
            if (i.IsInvalid) throw new FormatException($"bad guest instruction bytes {Convert.ToHexString(bytes)}");
            list.Add(i);
        }
        return new OracleForm(list.ToArray(), null);
    }

    internal static byte[] Encode(in Instruction i, int bitness, ulong ip)
    {
        var w = new ByteWriter();
        var e = Encoder.Create(bitness, w);
        if (!e.TryEncode(i, ip, out _, out string? error)) throw new InvalidOperationException($"cannot encode {i} in {bitness}-bit code: {error}");
        return w.ToArray();
    }

    static string FamilyOf(Instruction i)
    {
        string m = i.Mnemonic.ToString().ToLowerInvariant();
        if (m.StartsWith("set", StringComparison.Ordinal)) return "setcc";
        if (m.StartsWith("cmov", StringComparison.Ordinal)) return "cmovcc";
        return m;
    }

    static string Format(Instruction i)
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
