using Iced.Intel;
using JitVm.Cpu;
using static Iced.Intel.Register;

namespace JitVm.HostOracle.Tests;

/// <summary>The oracle's own parts: native execution, the #DE rule, the masks, mismatch detection, the vector file.</summary>
public class OracleSelfTests
{
    const uint CF = Processor.FlagCF, PF = Processor.FlagPF, AF = Processor.FlagAF, ZF = Processor.FlagZF,
        SF = Processor.FlagSF, OF = Processor.FlagOF;
    static readonly MemoryOperand Mem = new(Register.None, OracleForm.OperandAddress, 2);

    static VectorRecord Input(uint eax = 0, uint ecx = 0, uint edx = 0, uint ebx = 0, uint flags = 0, uint mem = 0)
    {
        var r = new VectorRecord { InFlags = flags | VectorGenerator.FixedFlags };
        r.InRegs[0] = eax;
        r.InRegs[1] = ecx;
        r.InRegs[2] = edx;
        r.InRegs[3] = ebx;
        Operands.WriteOperandMemory(ref r.InMem, 4, mem);
        return r;
    }

    static VectorRecord RunNative(OracleForm form, VectorRecord r)
    {
        using var native = new NativeExecutor([form]);
        var batch = new[] { r };
        native.Execute(0, batch);
        return batch[0];
    }

    [Fact]
    public void NativeAddProducesTheSumAndItsFlags()
    {
        var r = RunNative(new OracleForm(Instruction.Create(Code.Add_rm32_r32, EAX, ECX)), Input(eax: 0xFFFFFFFF, ecx: 1, edx: 0x1234));
        Assert.Equal(0u, r.OutRegs[0]);
        Assert.Equal(1u, r.OutRegs[1]);
        Assert.Equal(0x1234u, r.OutRegs[2]);
        Assert.Equal(CF | PF | AF | ZF, r.OutFlags & Processor.ArithFlags);
    }

    [Fact]
    public void NativeHighByteRegistersAndMemoryOperandsWork()
    {
        var r = RunNative(new OracleForm(Instruction.Create(Code.Sub_rm8_r8, Mem, AH)), Input(eax: 0x0100, mem: 0x11223300));
        Assert.Equal(0x112233FFu, Operands.ReadOperandMemory(r.OutMem, 4));
        Assert.Equal(CF | SF | PF | AF, r.OutFlags & Processor.ArithFlags);

        r = RunNative(new OracleForm(Instruction.Create(Code.Adc_rm8_r8, BH, CH)), Input(ecx: 0x7F00, ebx: 0x12340000, flags: CF));
        Assert.Equal(0x12348000u, r.OutRegs[3]);                                        // 0 + 7F + 1 = 80 in BH
        r = RunNative(new OracleForm(Instruction.Create(Code.Adc_rm8_r8, BH, CH)), Input(ecx: 0x7F00, ebx: 0x12340100, flags: CF));
        Assert.Equal(0x12348100u, r.OutRegs[3]);
        Assert.Equal(SF | OF | AF | PF, r.OutFlags & Processor.ArithFlags);             // 1 + 7F + 1 = 81
    }

    [Fact]
    public void NativeFlagsInputReachesTheInstruction()
    {
        var setc = new OracleForm(Instruction.Create(Code.Setb_rm8, DL));
        Assert.Equal(1u, RunNative(setc, Input(edx: 0xFF, flags: CF)).OutRegs[2]);
        Assert.Equal(0u, RunNative(setc, Input(edx: 0xFF)).OutRegs[2]);
    }

    [Fact]
    public void DivideVectorsThatWouldFaultAreNotRunNatively()
    {
        var form = new OracleForm(Instruction.Create(Code.Div_rm32, ECX));
        var r = Input(eax: 5, ecx: 0, edx: 0);
        r.Status = VectorStatus.DivideError;
        r.OutRegs[0] = 0xDEAD;
        var after = RunNative(form, r);                     // would raise SIGFPE if executed
        Assert.Equal(0xDEADu, after.OutRegs[0]);
    }

    [Theory]
    [InlineData(Code.Div_rm8, 0x0100u, 0u, 1u, true)]          // 256 / 1 does not fit in AL
    [InlineData(Code.Div_rm8, 0x00FFu, 0u, 1u, false)]
    [InlineData(Code.Div_rm8, 0x0005u, 0u, 0u, true)]          // divisor 0
    [InlineData(Code.Idiv_rm8, 0xFF80u, 0u, 1u, false)]        // -128 / 1 = -128 fits
    [InlineData(Code.Idiv_rm8, 0x0080u, 0u, 0xFFu, false)]     // 128 / -1 = -128 fits
    [InlineData(Code.Idiv_rm8, 0xFF80u, 0u, 0xFFu, true)]      // -128 / -1 = 128 does not
    [InlineData(Code.Idiv_rm8, 0x8000u, 0u, 0xFFu, true)]      // -32768 / -1
    [InlineData(Code.Idiv_rm16, 0x8000u, 0xFFFFu, 1u, false)]  // -32768 / 1
    [InlineData(Code.Idiv_rm16, 0x8000u, 0xFFFFu, 0xFFFFu, true)]
    [InlineData(Code.Idiv_rm32, 0u, 0x80000000u, 0xFFFFFFFFu, true)]   // -2^63 / -1 (the host trap case)
    [InlineData(Code.Idiv_rm32, 0x80000000u, 0xFFFFFFFFu, 1u, false)]  // -2^31 / 1
    [InlineData(Code.Div_rm32, 0xFFFFFFFFu, 0xFFFFFFFEu, 0xFFFFFFFFu, false)]
    [InlineData(Code.Div_rm32, 0u, 0xFFFFFFFFu, 0xFFFFFFFFu, true)]
    public void DivideErrorRuleFollowsTheSdm(Code code, uint eax, uint edx, uint divisor, bool faults)
    {
        var reg = code switch { Code.Div_rm8 or Code.Idiv_rm8 => CL, Code.Div_rm16 or Code.Idiv_rm16 => CX, _ => ECX };
        var form = new OracleForm(Instruction.Create(code, reg));
        Assert.Equal(faults, Divide.Faults(form.Guest, Input(eax: eax, edx: edx, ecx: divisor)));
    }

    [Theory]
    [InlineData(Code.Shl_rm8_CL, 8, CF | OF | AF)]        // count = width: CF undefined for SHL
    [InlineData(Code.Shl_rm8_CL, 7, OF | AF)]
    [InlineData(Code.Shl_rm8_CL, 1, AF)]
    [InlineData(Code.Shl_rm8_CL, 32, 0u)]                 // masked to 0: nothing changes, all defined
    [InlineData(Code.Sar_rm8_CL, 9, OF | AF)]             // SAR keeps CF defined
    [InlineData(Code.Rcl_rm8_CL, 9, OF)]
    [InlineData(Code.Rol_rm32_CL, 1, 0u)]
    public void ShiftMasksDependOnTheMaskedCount(Code code, int count, uint flags)
    {
        var form = new OracleForm(Instruction.Create(code, code.ToString().Contains("rm8") ? DL : EDX, CL));
        var mask = UndefinedBehaviour.For(form.Guest, Input(ecx: 0xAB00u | (uint)count));
        Assert.Equal(flags, mask.Flags);
    }

    [Fact]
    public void UndefinedResultsMaskTheDestinationOnly()
    {
        var shld = new OracleForm(Instruction.Create(Code.Shld_rm16_r16_CL, DX, BX, CL));
        var m = UndefinedBehaviour.For(shld.Guest, Input(ecx: 17));
        Assert.Equal(Processor.ArithFlags, m.Flags);
        Assert.Equal(0xFFFFu, m.Registers[2]);
        Assert.Equal(0u, m.Registers[3]);
        Assert.Equal(0u, UndefinedBehaviour.For(shld.Guest, Input(ecx: 16)).Registers[2]);

        var bsf = new OracleForm(Instruction.Create(Code.Bsf_r32_rm32, EAX, Mem));
        Assert.Equal(0xFFFFFFFFu, UndefinedBehaviour.For(bsf.Guest, Input(mem: 0)).Registers[0]);
        Assert.Equal(0u, UndefinedBehaviour.For(bsf.Guest, Input(mem: 8)).Registers[0]);

        var bswap = new OracleForm(Instruction.Create(Code.Bswap_r16, SI));
        Assert.Equal(0xFFFFu, UndefinedBehaviour.For(bswap.Guest, Input()).Registers[6]);

        var add = new OracleForm(Instruction.Create(Code.Add_rm32_r32, EAX, ECX));
        var none = UndefinedBehaviour.For(add.Guest, Input());
        Assert.Equal(0u, none.Flags);
    }

    [Fact]
    public void EveryRuleQuotesTheManual()
    {
        Assert.All(UndefinedBehaviour.Rules, r => Assert.Contains("\"", r.Sdm));
    }

    [Fact]
    public void ComparisonReportsDefinedDifferencesAndIgnoresUndefinedOnes()
    {
        var form = new OracleForm(Instruction.Create(Code.And_rm32_r32, EAX, ECX));
        var r = RunNative(form, Input(eax: 0xF0F0, ecx: 0xFF00));
        var h = new InterpreterHarness(Oracle.P6Model, [form]);
        h.Run(0, r, out var actual);
        Assert.True(Comparison.Matches(form, r, actual, out _));

        var flippedAf = actual;
        flippedAf.Flags ^= AF;                              // undefined after AND
        Assert.True(Comparison.Matches(form, r, flippedAf, out _));

        var flippedZf = actual;
        flippedZf.Flags ^= ZF;
        Assert.False(Comparison.Matches(form, r, flippedZf, out string? report));
        Assert.Contains("flags ZF", report);

        var otherRegister = actual;
        otherRegister.Regs[6] ^= 1;                          // ESI must not change either
        Assert.False(Comparison.Matches(form, r, otherRegister, out report));
        Assert.Contains("esi", report);
    }

    [Fact]
    public void InterpreterDivideErrorIsExpectedAndChecked()
    {
        var form = new OracleForm(Instruction.Create(Code.Idiv_rm8, CL));
        var r = Input(eax: 0x8000, ecx: 0xFF);
        r.Status = VectorStatus.DivideError;
        r.OutRegs = r.InRegs;
        r.OutFlags = r.InFlags;
        r.OutMem = r.InMem;
        var h = new InterpreterHarness(Oracle.P6Model, [form]);
        h.Run(0, r, out var actual);
        Assert.Equal(CpuVectors.DE, actual.Exception);
        Assert.True(Comparison.Matches(form, r, actual, out _));
    }

    [Fact]
    public void CatalogCoversTheRequiredFamiliesAndEveryFormEncodesInBothModes()
    {
        var forms = FormCatalog.All;
        var mnemonics = forms.Select(f => f.Mnemonic).ToHashSet();
        Mnemonic[] required =
        [
            Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp,
            Mnemonic.Test, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Shl, Mnemonic.Shr, Mnemonic.Sar,
            Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr, Mnemonic.Shld, Mnemonic.Shrd, Mnemonic.Mul, Mnemonic.Imul,
            Mnemonic.Div, Mnemonic.Idiv, Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr,
            Mnemonic.Bswap, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Setl, Mnemonic.Cmovg,
            Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cwd, Mnemonic.Cdq,
        ];
        Assert.All(required, m => Assert.Contains(m, mnemonics));
        Assert.All(forms, f => Assert.NotEmpty(NativeExecutor.NativeBytes(f)));
        Assert.Contains(forms, f => f.HasMemoryOperand && f.Mnemonic == Mnemonic.Bts && f.Guest.Op1Kind == OpKind.Register);
        Assert.Equal(forms.Count, forms.Select(f => Convert.ToHexString(f.GuestBytes)).Distinct().Count());
        Assert.Contains(forms, f => f.Family == "cmp+setcc");
        Assert.Contains(forms, f => f.Family == "add+inc+adc");
    }

    [Fact]
    public void SequenceFormsRoundTripThroughTheirGuestBytes()
    {
        var form = FormCatalog.All.First(f => f.Family == "sub+dec+setcc");
        var back = OracleForm.FromGuestBytes(form.GuestBytes);
        Assert.Equal(form.Name, back.Name);
        Assert.Equal(3, back.GuestSequence.Count);
    }

    [Fact]
    public void SequenceMaskIsTheUnionOfItsParts()
    {
        var form = new OracleForm([Instruction.Create(Code.And_rm32_r32, EAX, ECX), Instruction.Create(Code.Sete_rm8, DL)], null);
        Assert.Equal(AF, UndefinedBehaviour.For(form, Input()).Flags);
    }

    [Fact]
    public void VectorFileRoundTripsAndComparesClean()
    {
        var forms = FormCatalog.All;
        var counts = Oracle.Distribute(forms, 20_000);
        string path = Path.Combine(Path.GetTempPath(), $"jitvm-oracle-{Environment.ProcessId}.jvo.gz");
        var written = new List<VectorRecord>();
        try
        {
            using (var native = new NativeExecutor(forms))
            using (var w = new VectorFile.Writer(path, 42, forms, counts))
            {
                Oracle.Generate(native, forms, counts, 42, (f, batch) =>
                {
                    w.Write(batch);
                    written.AddRange(batch.ToArray());
                });
            }
            using var reader = new VectorFile.Reader(path);
            Assert.Equal(42ul, reader.Seed);
            Assert.Equal(forms.Select(f => f.Name), reader.Forms.Select(f => f.Name));
            var read = new List<VectorRecord>();
            var checker = new Checker(reader.Forms, [new CheckTarget(Oracle.P6Model)]);
            reader.ReadAll((f, batch) =>
            {
                read.AddRange(batch.ToArray());
                checker.Check(f, batch);
            });
            Assert.Equal(written.Count, read.Count);
            Assert.True(written.SequenceEqual(read, RecordComparer.Instance));
            Assert.Equal(0, checker.Mismatches);
            Assert.Equal(written.Count, checker.Vectors);
        }
        finally
        {
            File.Delete(path);
        }
    }

    sealed class RecordComparer : IEqualityComparer<VectorRecord>
    {
        public static readonly RecordComparer Instance = new();
        public unsafe bool Equals(VectorRecord a, VectorRecord b) =>
            new ReadOnlySpan<byte>(&a, VectorRecord.Size).SequenceEqual(new ReadOnlySpan<byte>(&b, VectorRecord.Size));
        public int GetHashCode(VectorRecord r) => 0;
    }

    [Fact]
    public void GenerationIsDeterministicForASeed()
    {
        var forms = FormCatalog.All.Take(40).ToArray();
        var a = new List<VectorRecord>();
        var b = new List<VectorRecord>();
        using var native = new NativeExecutor(forms);
        var counts = Oracle.Distribute(forms, 2_000);
        Oracle.Generate(native, forms, counts, 7, (f, batch) => a.AddRange(batch.ToArray()));
        Oracle.Generate(native, forms, counts, 7, (f, batch) => b.AddRange(batch.ToArray()));
        Assert.True(a.SequenceEqual(b, RecordComparer.Instance));
    }
}
