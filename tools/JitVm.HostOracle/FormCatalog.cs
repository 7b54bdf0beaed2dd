using Iced.Intel;
using static Iced.Intel.Register;

namespace JitVm.HostOracle;

/// <summary>
/// The instruction forms the oracle covers: 8/16/32-bit ALU, unary, shift/rotate, double shift, multiply, divide,
/// bit test/scan, BSWAP, XADD, CMPXCHG, MOVZX/MOVSX, SETcc, CMOVcc and the accumulator sign extensions, each in
/// register and memory forms with several register choices (AH..BH included) and, for immediate forms, a set of
/// edge-case immediates. Deterministic: the list does not depend on the seed.
/// </summary>
public static class FormCatalog
{
    static readonly Register[] R8 = [AL, CL, DL, BL, AH, CH, DH, BH];
    static readonly Register[] R16 = [AX, CX, DX, BX, BP, SI, DI];
    static readonly Register[] R32 = [EAX, ECX, EDX, EBX, EBP, ESI, EDI];

    static readonly MemoryOperand Mem = new(Register.None, OracleForm.OperandAddress, 2);

    // Immediates: zero, one, the sign boundaries, all ones, and an irregular pattern.
    static readonly int[] Imm8 = [0, 1, 0x7F, 0x80, 0xFF, 0x5A];
    static readonly int[] Imm16 = [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0xA5C3];
    static readonly int[] Imm32 = [0, 1, 0x7FFFFFFF, unchecked((int)0x80000000), -1, unchecked((int)0xDEADBEEF)];
    static readonly int[] Imm8Sx = [0, 1, 0x7F, -0x80, -1, -0x26];
    // Shift counts as imm8: 0, 1, around 8/16/32, and counts the 5-bit mask folds (32 -> 0, 33 -> 1, 255 -> 31).
    static readonly int[] ShiftCounts = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 255];
    static readonly int[] BitOffsets = [0, 1, 7, 15, 16, 31, 32, 33, 255];

    static readonly string[] Conditions = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

    public static IReadOnlyList<OracleForm> All { get; } = Build();

    static IReadOnlyList<OracleForm> Build()
    {
        var b = new Builder();
        Alu(b);
        Unary(b);
        Shifts(b);
        DoubleShifts(b);
        MulDiv(b);
        BitOps(b);
        Exchange(b);
        Moves(b);
        Conditionals(b);
        LazyFlagSequences(b);
        return b.Forms;
    }

    static Register[] Regs(int bits) => bits switch { 8 => R8, 16 => R16, _ => R32 };
    static int[] Imms(int bits) => bits switch { 8 => Imm8, 16 => Imm16, _ => Imm32 };
    static string Sz(int bits) => bits.ToString();
    static Code C(string name) => Enum.Parse<Code>(name);

    static void Alu(Builder b)
    {
        foreach (var op in new[] { "Add", "Or", "Adc", "Sbb", "And", "Sub", "Xor", "Cmp" })
        {
            foreach (int s in new[] { 8, 16, 32 })
            {
                var regs = Regs(s);
                string n = Sz(s);
                // rm, r: register pairs (one of them the same register twice) and memory destination
                var rmr = C($"{op}_rm{n}_r{n}");
                b.RegReg(rmr, regs, 3);
                b.Add(Instruction.Create(rmr, Mem, b.Next(regs)));
                b.Add(Instruction.Create(rmr, Mem, b.Next(regs)));
                // r, rm
                var rrm = C($"{op}_r{n}_rm{n}");
                b.RegReg(rrm, regs, 1);
                b.Add(Instruction.Create(rrm, b.Next(regs), Mem));
                b.Add(Instruction.Create(rrm, b.Next(regs), Mem));
                // rm, imm (full-size immediate)
                var rmi = C($"{op}_rm{n}_imm{n}");
                foreach (int imm in Imms(s))
                {
                    b.Add(Instruction.Create(rmi, b.Next(regs), imm), weight: 0.3);
                    b.Add(Instruction.Create(rmi, Mem, imm), weight: 0.3);
                }
                // accumulator, imm
                var acc = C(s switch { 8 => $"{op}_AL_imm8", 16 => $"{op}_AX_imm16", _ => $"{op}_EAX_imm32" });
                foreach (int imm in Imms(s)) b.Add(Instruction.Create(acc, regs[0], imm), weight: 0.3);
                if (s == 8)
                {
                    // 82 /r: an alias of 80 /r that 64-bit mode does not have; the host runs 80 /r.
                    var alias = C($"{op}_rm8_imm8_82");
                    foreach (int imm in new[] { 0x80, 0x5A })
                    {
                        var r = b.Next(regs);
                        b.Add(Instruction.Create(alias, r, imm), Instruction.Create(rmi, r, imm), 0.3);
                        b.Add(Instruction.Create(alias, Mem, imm), Instruction.Create(rmi, Mem, imm), 0.3);
                    }
                }
                else
                {
                    // rm, imm8 sign-extended
                    var rmi8 = C($"{op}_rm{n}_imm8");
                    foreach (int imm in Imm8Sx)
                    {
                        b.Add(Instruction.Create(rmi8, b.Next(regs), imm), weight: 0.3);
                        b.Add(Instruction.Create(rmi8, Mem, imm), weight: 0.3);
                    }
                }
            }
        }

        foreach (int s in new[] { 8, 16, 32 })
        {
            var regs = Regs(s);
            string n = Sz(s);
            var rmr = C($"Test_rm{n}_r{n}");
            b.RegReg(rmr, regs, 3);
            b.Add(Instruction.Create(rmr, Mem, b.Next(regs)));
            b.Add(Instruction.Create(rmr, Mem, b.Next(regs)));
            var rmi = C($"Test_rm{n}_imm{n}");
            var alias = C($"Test_rm{n}_imm{n}_{(s == 8 ? "F6" : "F7")}r1");
            foreach (int imm in Imms(s))
            {
                b.Add(Instruction.Create(rmi, b.Next(regs), imm), weight: 0.3);
                b.Add(Instruction.Create(rmi, Mem, imm), weight: 0.3);
            }
            // F6 /1 and F7 /1: undocumented aliases of TEST; the host runs the documented /0 encoding.
            var ar = b.Next(regs);
            b.Add(Instruction.Create(alias, ar, Imms(s)[3]), Instruction.Create(rmi, ar, Imms(s)[3]), 0.3);
            b.Add(Instruction.Create(alias, Mem, Imms(s)[5]), Instruction.Create(rmi, Mem, Imms(s)[5]), 0.3);
            var acc = C(s switch { 8 => "Test_AL_imm8", 16 => "Test_AX_imm16", _ => "Test_EAX_imm32" });
            foreach (int imm in Imms(s)) b.Add(Instruction.Create(acc, regs[0], imm), weight: 0.3);
        }
    }

    static void Unary(Builder b)
    {
        foreach (var op in new[] { "Neg", "Not", "Inc", "Dec" })
        {
            foreach (int s in new[] { 8, 16, 32 })
            {
                var code = C($"{op}_rm{s}");
                for (int k = 0; k < 3; k++) b.Add(Instruction.Create(code, b.Next(Regs(s))));
                b.Add(Instruction.Create(code, Mem), weight: 2);
                if (op is "Inc" or "Dec" && s != 8)
                {
                    // 40+r / 48+r are REX prefixes in 64-bit mode; the host runs FF /0 and FF /1.
                    var shortForm = C($"{op}_r{s}");
                    for (int k = 0; k < 2; k++)
                    {
                        var r = b.Next(Regs(s));
                        b.Add(Instruction.Create(shortForm, r), Instruction.Create(code, r));
                    }
                }
            }
        }
    }

    static void Shifts(Builder b)
    {
        foreach (var op in new[] { "Rol", "Ror", "Rcl", "Rcr", "Shl", "Sal", "Shr", "Sar" })
        {
            // SAL /6 is an undocumented alias of SHL /4: the host runs SHL.
            string hostOp = op == "Sal" ? "Shl" : op;
            foreach (int s in new[] { 8, 16, 32 })
            {
                var regs = Regs(s);
                Code by1 = C($"{op}_rm{s}_1"), byCl = C($"{op}_rm{s}_CL"), byImm = C($"{op}_rm{s}_imm8");
                Code hBy1 = C($"{hostOp}_rm{s}_1"), hByCl = C($"{hostOp}_rm{s}_CL"), hByImm = C($"{hostOp}_rm{s}_imm8");
                for (int k = 0; k < 2; k++)
                {
                    var r = b.Next(regs);
                    b.Add(Instruction.Create(by1, r, 1), Instruction.Create(hBy1, r, 1));
                }
                b.Add(Instruction.Create(by1, Mem, 1), Instruction.Create(hBy1, Mem, 1));
                // By CL: the count register itself is one of the destinations tried.
                foreach (var r in new[] { b.Next(regs), b.Next(regs), regs[1] })
                    b.Add(Instruction.Create(byCl, r, CL), Instruction.Create(hByCl, r, CL), 3);
                b.Add(Instruction.Create(byCl, Mem, CL), Instruction.Create(hByCl, Mem, CL), 3);
                foreach (int count in ShiftCounts)
                {
                    var r = b.Next(regs);
                    b.Add(Instruction.Create(byImm, r, count), Instruction.Create(hByImm, r, count), 0.3);
                    b.Add(Instruction.Create(byImm, Mem, count), Instruction.Create(hByImm, Mem, count), 0.3);
                }
            }
        }
    }

    static void DoubleShifts(Builder b)
    {
        foreach (var op in new[] { "Shld", "Shrd" })
        {
            foreach (int s in new[] { 16, 32 })
            {
                var regs = Regs(s);
                Code byImm = C($"{op}_rm{s}_r{s}_imm8"), byCl = C($"{op}_rm{s}_r{s}_CL");
                foreach (int count in ShiftCounts)
                {
                    var (d, src) = b.NextPair(regs);
                    b.Add(Instruction.Create(byImm, d, src, count), weight: 0.3);
                    b.Add(Instruction.Create(byImm, Mem, b.Next(regs), count), weight: 0.3);
                }
                for (int k = 0; k < 3; k++)
                {
                    var (d, src) = b.NextPair(regs);
                    b.Add(Instruction.Create(byCl, d, src, CL), weight: 3);
                }
                b.Add(Instruction.Create(byCl, regs[1], regs[2], CL), weight: 2);      // the count register is the destination
                b.Add(Instruction.Create(byCl, regs[3], regs[3], CL), weight: 2);      // source and destination the same
                b.Add(Instruction.Create(byCl, Mem, b.Next(regs), CL), weight: 3);
            }
        }
    }

    static void MulDiv(Builder b)
    {
        foreach (int s in new[] { 8, 16, 32 })
        {
            // Sources include the accumulator itself.
            Register[] mulSources = s switch { 8 => [CL, AL, AH, BH, DL], 16 => [CX, AX, DX, SI], _ => [ECX, EAX, EDX, EDI] };
            // AH / DX / EDX as the divisor always overflow (the dividend's high half is the divisor): left out.
            Register[] divSources = s switch { 8 => [CL, BH, AL], 16 => [CX, SI, AX], _ => [ECX, EDI, EAX] };
            foreach (var op in new[] { "Mul", "Imul" })
            {
                var code = C($"{op}_rm{s}");
                foreach (var r in mulSources) b.Add(Instruction.Create(code, r));
                b.Add(Instruction.Create(code, Mem), weight: 2);
            }
            foreach (var op in new[] { "Div", "Idiv" })
            {
                var code = C($"{op}_rm{s}");
                foreach (var r in divSources) b.Add(Instruction.Create(code, r), weight: 2);
                b.Add(Instruction.Create(code, Mem), weight: 3);
            }
        }
        foreach (int s in new[] { 16, 32 })
        {
            var regs = Regs(s);
            var two = C($"Imul_r{s}_rm{s}");
            b.RegReg(two, regs, 3);
            b.Add(Instruction.Create(two, b.Next(regs), Mem), weight: 2);
            var imm8 = C($"Imul_r{s}_rm{s}_imm8");
            foreach (int imm in Imm8Sx)
            {
                var (d, src) = b.NextPair(regs);
                b.Add(Instruction.Create(imm8, d, src, imm), weight: 0.3);
                b.Add(Instruction.Create(imm8, b.Next(regs), Mem, imm), weight: 0.3);
            }
            var immFull = C($"Imul_r{s}_rm{s}_imm{s}");
            foreach (int imm in Imms(s))
            {
                var (d, src) = b.NextPair(regs);
                b.Add(Instruction.Create(immFull, d, src, imm), weight: 0.3);
                b.Add(Instruction.Create(immFull, b.Next(regs), Mem, imm), weight: 0.3);
            }
        }
    }

    static void BitOps(Builder b)
    {
        foreach (var op in new[] { "Bt", "Bts", "Btr", "Btc" })
        {
            foreach (int s in new[] { 16, 32 })
            {
                var regs = Regs(s);
                var rr = C($"{op}_rm{s}_r{s}");
                b.RegReg(rr, regs, 3);
                // Memory with a register bit offset: the offset selects a word/dword around the operand (inputs keep it within the window).
                b.Add(Instruction.Create(rr, Mem, b.Next(regs)), weight: 2);
                var ri = C($"{op}_rm{s}_imm8");
                foreach (int bit in BitOffsets)
                {
                    b.Add(Instruction.Create(ri, b.Next(regs), bit), weight: 0.3);
                    b.Add(Instruction.Create(ri, Mem, bit), weight: 0.3);
                }
            }
        }
        foreach (var op in new[] { "Bsf", "Bsr" })
        {
            foreach (int s in new[] { 16, 32 })
            {
                var code = C($"{op}_r{s}_rm{s}");
                b.RegReg(code, Regs(s), 3);
                b.Add(Instruction.Create(code, b.Next(Regs(s)), Mem), weight: 2);
            }
        }
        foreach (var r in R32) b.Add(Instruction.Create(Code.Bswap_r32, r), weight: 0.5);
        foreach (var r in new[] { AX, SI }) b.Add(Instruction.Create(Code.Bswap_r16, r), weight: 0.5);
    }

    static void Exchange(Builder b)
    {
        foreach (var op in new[] { "Xadd", "Cmpxchg" })
        {
            foreach (int s in new[] { 8, 16, 32 })
            {
                var regs = Regs(s);
                var code = C($"{op}_rm{s}_r{s}");
                b.RegReg(code, regs, 3);
                b.Add(Instruction.Create(code, regs[0], regs[2]));      // the accumulator as destination
                b.Add(Instruction.Create(code, regs[3], regs[0]));      // the accumulator as source
                b.Add(Instruction.Create(code, Mem, b.Next(regs)), weight: 2);
                b.Add(Instruction.Create(code, Mem, regs[0]));
            }
        }
    }

    static void Moves(Builder b)
    {
        (string name, int d, int s)[] forms = [("r16_rm8", 16, 8), ("r32_rm8", 32, 8), ("r16_rm16", 16, 16), ("r32_rm16", 32, 16)];
        foreach (var op in new[] { "Movzx", "Movsx" })
        {
            foreach (var (name, d, s) in forms)
            {
                var code = C($"{op}_{name}");
                for (int k = 0; k < 2; k++) b.Add(Instruction.Create(code, b.Next(Regs(d)), b.Next(Regs(s))), weight: 0.5);
                b.Add(Instruction.Create(code, b.Next(Regs(d)), Mem), weight: 0.5);
            }
        }
        foreach (var code in new[] { Code.Cbw, Code.Cwde, Code.Cwd, Code.Cdq }) b.Add(Instruction.Create(code), weight: 0.5);
    }

    static void Conditionals(Builder b)
    {
        foreach (var cc in Conditions)
        {
            var set = C($"Set{cc}_rm8");
            b.Add(Instruction.Create(set, b.Next(R8)), weight: 0.5);
            b.Add(Instruction.Create(set, Mem), weight: 0.3);
            foreach (int s in new[] { 16, 32 })
            {
                var code = C($"Cmov{cc}_r{s}_rm{s}");
                var (d, src) = b.NextPair(Regs(s));
                b.Add(Instruction.Create(code, d, src), weight: 0.5);
                b.Add(Instruction.Create(code, b.Next(Regs(s)), Mem), weight: 0.3);
            }
        }
    }

    /// <summary>
    /// Flag producers followed by flag consumers in one block: the interpreter keeps flags lazy (operation and
    /// operands) between instructions and has fast paths for conditions after a compare, so a consumer reading the
    /// flags of the previous instruction follows a different path from one reading materialised flags (which is
    /// all a single-instruction vector can show). Consumers have no input-dependent undefined behaviour, so the
    /// masks of the sequence are those of its parts.
    /// </summary>
    static void LazyFlagSequences(Builder b)
    {
        // name, operand count: 2 = op dst, src; 1 = op dst; "1" suffix: shift by 1
        (string op, int kind)[] producers =
        [
            ("Add", 2), ("Adc", 2), ("Sub", 2), ("Sbb", 2), ("Cmp", 2), ("And", 2), ("Or", 2), ("Xor", 2), ("Test", 2),
            ("Xadd", 2), ("Cmpxchg", 2), ("Neg", 1), ("Inc", 1), ("Dec", 1), ("Shl", 3), ("Shr", 3), ("Sar", 3),
        ];
        int sizeTurn = 0, memTurn = 0;
        Instruction Producer(string op, int kind, int s)
        {
            var regs = Regs(s);
            bool mem = memTurn++ % 4 == 3;
            switch (kind)
            {
                case 2:
                    var code = C($"{op}_rm{s}_r{s}");
                    if (mem) return Instruction.Create(code, Mem, b.Next(regs));
                    var (d, src) = b.NextPair(regs);
                    return Instruction.Create(code, d, src);
                case 1:
                    return mem ? Instruction.Create(C($"{op}_rm{s}"), Mem) : Instruction.Create(C($"{op}_rm{s}"), b.Next(regs));
                default:
                    return mem ? Instruction.Create(C($"{op}_rm{s}_1"), Mem, 1) : Instruction.Create(C($"{op}_rm{s}_1"), b.Next(regs), 1);
            }
        }

        var consumers = new List<Func<int, Instruction[]>>();
        foreach (var cc in Conditions)
        {
            consumers.Add(_ => [Instruction.Create(C($"Set{cc}_rm8"), b.Next(R8))]);
            consumers.Add(s => [Instruction.Create(C($"Cmov{cc}_r{(s == 16 ? 16 : 32)}_rm{(s == 16 ? 16 : 32)}"), b.Next(Regs(s == 16 ? 16 : 32)), b.Next(Regs(s == 16 ? 16 : 32)))]);
        }
        foreach (var op in new[] { "Adc", "Sbb" })
            consumers.Add(s => [Instruction.Create(C($"{op}_rm{s}_r{s}"), b.Next(Regs(s)), b.Next(Regs(s)))]);
        foreach (var op in new[] { "Rcl", "Rcr" })
            consumers.Add(s => [Instruction.Create(C($"{op}_rm{s}_1"), b.Next(Regs(s)), 1)]);
        // INC/DEC keep CF: the producer's CF must survive them; then a condition combining CF and ZF/SF/OF.
        foreach (var (op, cc) in new[] { ("Inc", "be"), ("Dec", "a"), ("Inc", "b"), ("Dec", "l") })
            consumers.Add(s => [Instruction.Create(C($"{op}_rm{s}"), b.Next(Regs(s))), Instruction.Create(C($"Set{cc}_rm8"), b.Next(R8))]);
        consumers.Add(s => [Instruction.Create(C($"Inc_rm{s}"), b.Next(Regs(s))), Instruction.Create(C($"Adc_rm{s}_r{s}"), b.Next(Regs(s)), b.Next(Regs(s)))]);
        // CMC inverts CF in place: after a lazy producer it must materialise first.
        consumers.Add(_ => [Instruction.Create(Code.Cmc), Instruction.Create(Code.Setbe_rm8, b.Next(R8))]);
        consumers.Add(s => [Instruction.Create(Code.Cmc), Instruction.Create(C($"Sbb_rm{s}_r{s}"), b.Next(Regs(s)), b.Next(Regs(s)))]);
        consumers.Add(_ => [Instruction.Create(Code.Cmc)]);

        foreach (var (op, kind) in producers)
        {
            foreach (var consumer in consumers)
            {
                int s = (sizeTurn++ % 3) switch { 0 => 32, 1 => 8, _ => 16 };
                var first = Producer(op, kind, s);
                b.Add([first, .. consumer(s)], 0.5);
            }
        }

        // Instructions between producer and consumer that leave the flags alone must leave the lazy state alone.
        var transparent = new List<Func<int, Instruction>>
        {
            s => Instruction.Create(C($"Not_rm{s}"), b.Next(Regs(s))),
            _ => Instruction.Create(Code.Movzx_r32_rm8, b.Next(R32), b.Next(R8)),
            _ => Instruction.Create(Code.Bswap_r32, b.Next(R32)),
            _ => Instruction.Create(Code.Setl_rm8, b.Next(R8)),
            _ => Instruction.Create(Code.Cmovbe_r32_rm32, b.Next(R32), b.Next(R32)),
        };
        // BT* define CF and leave ZF: with a lazy producer before them, a condition reading CF and ZF combines both.
        // (Their OF SF AF PF are undefined, so only CF/ZF readers follow.)
        var bitTests = new List<Func<int, Instruction>>
        {
            _ => Instruction.Create(Code.Bt_rm32_imm8, b.Next(R32), 5),
            _ => Instruction.Create(Code.Bts_rm16_r16, b.Next(R16), b.Next(R16)),
            _ => Instruction.Create(Code.Btr_rm32_r32, b.Next(R32), b.Next(R32)),
            _ => Instruction.Create(Code.Btc_rm16_imm8, b.Next(R16), 15),
        };
        string[] conditions = ["b", "be", "l", "le", "o", "s", "p", "a", "ge", "ne"];
        string[] carryZero = ["be", "a", "b", "e"];
        int condTurn = 0;
        foreach (var (op, kind) in producers)
        {
            foreach (var middle in transparent)
            {
                for (int k = 0; k < 2; k++)
                {
                    int s = (sizeTurn++ % 3) switch { 0 => 32, 1 => 8, _ => 16 };
                    var cc = conditions[condTurn++ % conditions.Length];
                    b.Add([Producer(op, kind, s), middle(s), Instruction.Create(C($"Set{cc}_rm8"), b.Next(R8))], 0.5);
                }
            }
            foreach (var middle in bitTests)
            {
                int s = (sizeTurn++ % 3) switch { 0 => 32, 1 => 8, _ => 16 };
                var cc = carryZero[condTurn++ % carryZero.Length];
                b.Add([Producer(op, kind, s), middle(s), Instruction.Create(C($"Set{cc}_rm8"), b.Next(R8))], 0.5);
            }
        }
    }

    sealed class Builder
    {
        public List<OracleForm> Forms { get; } = new();
        readonly HashSet<string> seen = new();
        int turn;

        /// <summary>Adds a form unless the same guest encoding is already there (register rotation can repeat a choice).</summary>
        public void Add(Instruction guest, Instruction? native = null, double weight = 1) => Add(new OracleForm(guest, native, weight));

        /// <summary>Adds a sequence whose instructions all exist in 64-bit mode as they are.</summary>
        public void Add(Instruction[] sequence, double weight) => Add(new OracleForm(sequence, null, weight));

        void Add(OracleForm form)
        {
            if (seen.Add(Convert.ToHexString(form.GuestBytes))) Forms.Add(form);
        }

        /// <summary>The next register of the list, rotating, so forms spread over all registers.</summary>
        public Register Next(Register[] regs) => regs[turn++ % regs.Length];

        /// <summary>Two different registers.</summary>
        public (Register, Register) NextPair(Register[] regs)
        {
            var a = Next(regs);
            var c = Next(regs);
            if (c == a) c = Next(regs);
            return (a, c);
        }

        /// <summary><paramref name="n"/> register-register forms: different pairs, and (n > 1) one register used twice.</summary>
        public void RegReg(Code code, Register[] regs, int n)
        {
            if (n == 1)
            {
                var (a, c) = NextPair(regs);
                Add(Instruction.Create(code, a, c));
                return;
            }
            for (int k = 0; k < n - 1; k++)
            {
                var (d, s) = NextPair(regs);
                Add(Instruction.Create(code, d, s));
            }
            var same = Next(regs);
            Add(Instruction.Create(code, same, same));
        }
    }
}
