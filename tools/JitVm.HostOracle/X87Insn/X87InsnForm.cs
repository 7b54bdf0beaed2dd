using Iced.Intel;

namespace JitVm.HostOracle.X87Insn;

/// <summary>What the memory operand of a form holds (how the generator fills it).</summary>
public enum X87Operand { None, Float32, Float64, Float80, Int16, Int32, Int64, Bcd }

/// <summary>
/// One x87 instruction form under test: its guest encoding (16-bit, the memory operand at DS:<see cref="OperandAddress"/>),
/// the host instruction (the operand made RIP-relative by the stub), what the operand holds, and which of C0-C3 the
/// SDM defines after it (the rest are not compared).
/// </summary>
public sealed class X87InsnForm
{
    /// <summary>The guest operand's offset in DS (base 0) and the memory window around it.</summary>
    public const ushort OperandAddress = 0x1000;
    public const ushort C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, AllConditions = C0 | C1 | C2 | C3;

    public string Name { get; }
    public Instruction Guest { get; }
    public Instruction Host { get; }
    public byte[] GuestBytes { get; }
    public X87Operand Operand { get; }
    /// <summary>The operand is written (a store): its input is noise.</summary>
    public bool Stores { get; }
    /// <summary>Condition-code bits the SDM defines after this instruction.</summary>
    public ushort DefinedConditions { get; }
    /// <summary>FCOMI/FUCOMI: the result is in ZF, PF, CF (and OF, SF, AF are cleared).</summary>
    public bool WritesEflags { get; }
    /// <summary>FPREM/FPREM1: C0, C1, C3 hold quotient bits only when C2 is clear and nothing was invalid.</summary>
    public bool PartialRemainder { get; }
    /// <summary>
    /// A transcendental: the host's results are not correctly rounded (and differ between vendors), so finite values
    /// are compared within 1 ulp (the trigonometric ones and undefined operands by kind only) and precision and C1 not
    /// at all.
    /// </summary>
    public bool Approximate { get; }

    X87InsnForm(string name, Instruction guest, Instruction host, X87Operand operand, bool stores, ushort defined, bool eflags, bool prem,
        bool approximate = false)
    {
        Name = name;
        Guest = guest;
        Host = host;
        GuestBytes = OracleForm.Encode(guest, 16, 0);
        Operand = operand;
        Stores = stores;
        DefinedConditions = defined;
        WritesEflags = eflags;
        PartialRemainder = prem;
        Approximate = approximate;
    }

    public override string ToString() => Name;

    static readonly (Code Code, X87Operand Operand, bool Store)[] MemoryForms =
    [
        (Code.Fld_m32fp, X87Operand.Float32, false), (Code.Fld_m64fp, X87Operand.Float64, false), (Code.Fld_m80fp, X87Operand.Float80, false),
        (Code.Fst_m32fp, X87Operand.Float32, true), (Code.Fstp_m32fp, X87Operand.Float32, true), (Code.Fst_m64fp, X87Operand.Float64, true),
        (Code.Fstp_m64fp, X87Operand.Float64, true), (Code.Fstp_m80fp, X87Operand.Float80, true),
        (Code.Fild_m16int, X87Operand.Int16, false), (Code.Fild_m32int, X87Operand.Int32, false), (Code.Fild_m64int, X87Operand.Int64, false),
        (Code.Fist_m16int, X87Operand.Int16, true), (Code.Fist_m32int, X87Operand.Int32, true), (Code.Fistp_m16int, X87Operand.Int16, true),
        (Code.Fistp_m32int, X87Operand.Int32, true), (Code.Fistp_m64int, X87Operand.Int64, true),
        (Code.Fbld_m80bcd, X87Operand.Bcd, false), (Code.Fbstp_m80bcd, X87Operand.Bcd, true),
        (Code.Fadd_m32fp, X87Operand.Float32, false), (Code.Fmul_m32fp, X87Operand.Float32, false), (Code.Fsub_m32fp, X87Operand.Float32, false),
        (Code.Fsubr_m32fp, X87Operand.Float32, false), (Code.Fdiv_m32fp, X87Operand.Float32, false), (Code.Fdivr_m32fp, X87Operand.Float32, false),
        (Code.Fadd_m64fp, X87Operand.Float64, false), (Code.Fmul_m64fp, X87Operand.Float64, false), (Code.Fsub_m64fp, X87Operand.Float64, false),
        (Code.Fsubr_m64fp, X87Operand.Float64, false), (Code.Fdiv_m64fp, X87Operand.Float64, false), (Code.Fdivr_m64fp, X87Operand.Float64, false),
        (Code.Fiadd_m16int, X87Operand.Int16, false), (Code.Fimul_m16int, X87Operand.Int16, false), (Code.Fisub_m16int, X87Operand.Int16, false),
        (Code.Fisubr_m16int, X87Operand.Int16, false), (Code.Fidiv_m16int, X87Operand.Int16, false), (Code.Fidivr_m16int, X87Operand.Int16, false),
        (Code.Fiadd_m32int, X87Operand.Int32, false), (Code.Fimul_m32int, X87Operand.Int32, false), (Code.Fisub_m32int, X87Operand.Int32, false),
        (Code.Fisubr_m32int, X87Operand.Int32, false), (Code.Fidiv_m32int, X87Operand.Int32, false), (Code.Fidivr_m32int, X87Operand.Int32, false),
        (Code.Fcom_m32fp, X87Operand.Float32, false), (Code.Fcomp_m32fp, X87Operand.Float32, false),
        (Code.Fcom_m64fp, X87Operand.Float64, false), (Code.Fcomp_m64fp, X87Operand.Float64, false),
        (Code.Ficom_m16int, X87Operand.Int16, false), (Code.Ficomp_m16int, X87Operand.Int16, false),
        (Code.Ficom_m32int, X87Operand.Int32, false), (Code.Ficomp_m32int, X87Operand.Int32, false),
    ];

    static readonly Code[] RegisterForms =
    [
        Code.Fld_sti, Code.Fst_sti, Code.Fstp_sti, Code.Fxch_st0_sti, Code.Ffree_sti, Code.Ffreep_sti,
        Code.Fcmovb_st0_sti, Code.Fcmove_st0_sti, Code.Fcmovbe_st0_sti, Code.Fcmovu_st0_sti,
        Code.Fcmovnb_st0_sti, Code.Fcmovne_st0_sti, Code.Fcmovnbe_st0_sti, Code.Fcmovnu_st0_sti,
        Code.Fadd_st0_sti, Code.Fmul_st0_sti, Code.Fsub_st0_sti, Code.Fsubr_st0_sti, Code.Fdiv_st0_sti, Code.Fdivr_st0_sti,
        Code.Fadd_sti_st0, Code.Fmul_sti_st0, Code.Fsub_sti_st0, Code.Fsubr_sti_st0, Code.Fdiv_sti_st0, Code.Fdivr_sti_st0,
        Code.Faddp_sti_st0, Code.Fmulp_sti_st0, Code.Fsubp_sti_st0, Code.Fsubrp_sti_st0, Code.Fdivp_sti_st0, Code.Fdivrp_sti_st0,
        Code.Fcom_st0_sti, Code.Fcomp_st0_sti, Code.Fucom_st0_sti, Code.Fucomp_st0_sti,
        Code.Fcomi_st0_sti, Code.Fcomip_st0_sti, Code.Fucomi_st0_sti, Code.Fucomip_st0_sti,
    ];

    static readonly Code[] PlainForms =
    [
        Code.Fcompp, Code.Fucompp, Code.Ftst, Code.Fxam, Code.Fabs, Code.Fchs,
        Code.Fld1, Code.Fldl2t, Code.Fldl2e, Code.Fldpi, Code.Fldlg2, Code.Fldln2, Code.Fldz,
        Code.Fsqrt, Code.Frndint, Code.Fscale, Code.Fxtract, Code.Fprem, Code.Fprem1, Code.Fincstp, Code.Fdecstp,
    ];

    static readonly Code[] Transcendentals =
    [
        Code.Fsin, Code.Fcos, Code.Fsincos, Code.Fptan, Code.Fpatan, Code.F2xm1, Code.Fyl2x, Code.Fyl2xp1,
    ];

    /// <summary>The ST(i) each register form is tested with.</summary>
    static readonly int[] StIndexes = [1, 2, 7];

    /// <summary>Every form: the memory forms, each register form with ST(1), ST(2) and ST(7), and the operand-less ones.</summary>
    public static IReadOnlyList<X87InsnForm> All { get; } = Build();

    static IReadOnlyList<X87InsnForm> Build()
    {
        var list = new List<X87InsnForm>();
        foreach (var (code, operand, store) in MemoryForms)
        {
            var guest = Instruction.Create(code, new MemoryOperand(Register.None, Register.None, 1, OperandAddress, 2));
            var host = Instruction.Create(code, new MemoryOperand(Register.RIP, 0L));
            list.Add(new X87InsnForm($"{Mnemonic(code)} {operand}", guest, host, operand, store, Defined(code), false, false));
        }
        foreach (var code in RegisterForms)
            foreach (int i in StIndexes)
            {
                var op = code.ToOpCode();
                var st = Register.ST0 + i;
                Instruction ins = op.OpCount == 1 ? Instruction.Create(code, st)
                    : op.GetOpKind(0) == OpCodeOperandKind.st0 ? Instruction.Create(code, Register.ST0, st)
                    : Instruction.Create(code, st, Register.ST0);
                bool eflags = code is Code.Fcomi_st0_sti or Code.Fcomip_st0_sti or Code.Fucomi_st0_sti or Code.Fucomip_st0_sti;
                list.Add(new X87InsnForm(Format(ins), ins, ins, X87Operand.None, false, Defined(code), eflags, false));
            }
        foreach (var code in PlainForms)
        {
            var ins = Instruction.Create(code);
            list.Add(new X87InsnForm(Format(ins), ins, ins, X87Operand.None, false, Defined(code), false, code is Code.Fprem or Code.Fprem1));
        }
        foreach (var code in Transcendentals)
        {
            var ins = Instruction.Create(code);
            // C2 reports an out-of-range operand for the trigonometric ones; C1 (rounding direction) is not compared.
            ushort defined = code is Code.Fsin or Code.Fcos or Code.Fsincos or Code.Fptan ? (ushort)(C2 | C1) : C1;
            list.Add(new X87InsnForm(Format(ins), ins, ins, X87Operand.None, false, defined, false, false, approximate: true));
        }
        return list;
    }

    static string Mnemonic(Code code) => code.ToOpCode().ToInstructionString().Split(' ')[0].ToLowerInvariant();

    static string Format(in Instruction i)
    {
        var o = new StringOutput();
        new IntelFormatter().Format(i, o);
        return o.ToStringAndReset();
    }

    /// <summary>Which condition codes the SDM defines after <paramref name="code"/> (C1 for most; all four for compares and FXAM).</summary>
    static ushort Defined(Code code) => code switch
    {
        Code.Fcom_m32fp or Code.Fcomp_m32fp or Code.Fcom_m64fp or Code.Fcomp_m64fp or Code.Ficom_m16int or Code.Ficomp_m16int or
            Code.Ficom_m32int or Code.Ficomp_m32int or Code.Fcom_st0_sti or Code.Fcomp_st0_sti or Code.Fucom_st0_sti or
            Code.Fucomp_st0_sti or Code.Fcompp or Code.Fucompp or Code.Ftst or Code.Fxam or Code.Fprem or Code.Fprem1 => AllConditions,
        Code.Ffree_sti or Code.Ffreep_sti => 0,
        _ => C1,
    };
}
