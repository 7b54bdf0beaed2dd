using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>FLD/FST/FSTP of registers and m80fp, FXCH, FCMOVcc, the constants, and the stack fault rules.</summary>
public class X87DataMovementTests
{
    static readonly Float80 Pi = new(0x4000, 0xC90F_DAA2_2168_C235);
    static readonly Float80 SignallingNaN = new(0x7FFF, 0x8000_0000_0000_0001);
    static readonly Float80 Unnormal = new(0x4000, 0x4000_0000_0000_0000);

    [Fact]
    public void ExtendedLoadAndStoreKeepEveryEncodingAsItIs()
    {
        foreach (var v in new[] { Pi, SignallingNaN, Unnormal, new Float80(0, 0x8000_0000_0000_0000), new Float80(0x8000, 1) })
        {
            var r = new FpuRig();
            r.Poke80(0x7000, v);
            r.Run(x => { x.fninit(); x.fld(__tword_ptr[0x7000]); x.fnstsw(__word_ptr[0x7020]); x.fstp(__tword_ptr[0x7010]); });
            Assert.Equal(v, r.Peek80(0x7010));
            Assert.Equal(7 << 11, r.M.Read16(0x7020));       // TOP 7, no exception
            Assert.Equal(0, r.Top);
            Assert.Equal(0, r.Flags);
        }
    }

    [Fact]
    public void FldStiPushesACopyOfTheOldStackEntry()
    {
        var r = new FpuRig();
        r.Poke80(0x7000, Pi);
        r.Run(x => { x.fninit(); x.fld(__tword_ptr[0x7000]); x.fld1(); x.fld(st1); });
        Assert.Equal(Pi, r.St(0));
        Assert.Equal(Float80.One, r.St(1));
        Assert.Equal(Pi, r.St(2));
        Assert.Equal(5, r.Top);
    }

    [Fact]
    public void FstAndFstpToRegisters()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fldz(); x.fldz(); x.fldpi(); x.fst(st2); x.fld1(); x.fstp(st2); });
        // Stack now: ST0 = pi, ST1 = 1.0, ST2 = pi.
        Assert.Equal(Pi, r.St(0));
        Assert.Equal(Float80.One, r.St(1));
        Assert.Equal(Pi, r.St(2));
        Assert.Equal(5, r.Top);
    }

    [Fact]
    public void FxchSwapsAndAnEmptyOperandBecomesTheIndefiniteWhenMasked()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fldpi(); x.fxch(st0, st1); });
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(Pi, r.St(1));
        Assert.Equal(0, r.Flags);
        r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fxch(st0, st3); });
        Assert.Equal(Float80.Indefinite, r.St(0));
        Assert.Equal(Float80.One, r.St(3));
        Assert.Equal(0x41, r.Flags);                        // IE + SF, C1 = 0 (underflow)
    }

    [Theory]
    [InlineData(0, 0.0, 0.0)]          // CF=ZF=PF=0
    [InlineData(0x01, 3.0, 0.0)]       // CF=1 ("below")
    [InlineData(0x40, 0.0, 3.0)]       // ZF=1
    [InlineData(0x45, 3.0, 3.0)]       // all three ("unordered")
    public void FcmovMovesWhenItsEflagsConditionHolds(int flags, double below, double equal)
    {
        var r = new FpuRig();
        r.Poke80(0x7030, FpuRig.F(3.0));
        r.Run(x =>
        {
            x.push((ushort)flags); x.popf();
            x.fninit(); x.fld(__tword_ptr[0x7030]);
            x.fldz();                                           // ST0 = 0, ST1 = 3
            x.fcmovb(st0, st1); x.fstp(__tword_ptr[0x7000]);
            x.fldz(); x.fcmove(st0, st1); x.fstp(__tword_ptr[0x7010]);
            x.fldz(); x.fcmovnu(st0, st1); x.fstp(__tword_ptr[0x7020]);
        });
        Assert.Equal(FpuRig.F(below), r.Peek80(0x7000));
        Assert.Equal(FpuRig.F(equal), r.Peek80(0x7010));
        Assert.Equal(FpuRig.F((flags & 4) == 0 ? 3.0 : 0.0), r.Peek80(0x7020));
    }

    [Fact]
    public void FcmovIsInvalidWithoutCmovAndAnEscapeWithoutAnFpu()
    {
        var r = new FpuRig(CpuModel.Pentium);
        r.M.LoadBytes(0xDA, 0xC1, 0xB8, 0x01, 0x00);        // fcmovb st0, st1; mov ax, 1
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.UD));
        r = new FpuRig(CpuModel.I386);
        r.M.LoadBytes(0xDA, 0xC1, 0xDB, 0xF1, 0xB8, 0x01, 0x00);   // fcmovb, fcomi: escapes
        r.M.Run();
        Assert.Equal(0, r.Exceptions(CpuVectors.UD));
        Assert.Equal(1u, r.Cpu.Eax & 0xFFFF);
    }

    // The constants with their significand for round to nearest, down, up and toward zero (the 387 and later round
    // the internal 66-bit constants by RC).
    [Theory]
    [InlineData(0xE9, 0x4000, 0xD49A784BCD1B8AFEUL, 0xD49A784BCD1B8AFEUL, 0xD49A784BCD1B8AFFUL)]   // FLDL2T
    [InlineData(0xEA, 0x3FFF, 0xB8AA3B295C17F0BCUL, 0xB8AA3B295C17F0BBUL, 0xB8AA3B295C17F0BCUL)]   // FLDL2E
    [InlineData(0xEB, 0x4000, 0xC90FDAA22168C235UL, 0xC90FDAA22168C234UL, 0xC90FDAA22168C235UL)]   // FLDPI
    [InlineData(0xEC, 0x3FFD, 0x9A209A84FBCFF799UL, 0x9A209A84FBCFF798UL, 0x9A209A84FBCFF799UL)]   // FLDLG2
    [InlineData(0xED, 0x3FFE, 0xB17217F7D1CF79ACUL, 0xB17217F7D1CF79ABUL, 0xB17217F7D1CF79ACUL)]   // FLDLN2
    public void ConstantsAreRoundedByTheRoundingControl(int opcode, int exponent, ulong nearest, ulong down, ulong up)
    {
        for (int rc = 0; rc < 4; rc++)
        {
            var r = new FpuRig();
            r.M.Memory.Write16(0x7000, (ushort)(0x037F | rc << 10));
            r.M.LoadBytes(0xDB, 0xE3, 0xD9, 0x2E, 0x00, 0x70, 0xD9, (byte)opcode);   // fninit; fldcw [7000h]; const
            r.M.Run();
            ulong expected = rc switch { 0 => nearest, 2 => up, _ => down };
            Assert.Equal(new Float80((ushort)exponent, expected), r.St(0));
            Assert.Equal(0, r.Flags);                       // no precision exception, C1 = 0
        }
    }

    [Fact]
    public void FldzAndFld1()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fldz(); x.fld1(); });
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(Float80.Zero, r.St(1));
    }

    [Fact]
    public void MaskedStackOverflowPushesTheIndefiniteAndSetsC1()
    {
        var r = new FpuRig().Run(x => { x.fninit(); for (int k = 0; k < 9; k++) x.fld1(); });
        Assert.Equal(Float80.Indefinite, r.St(0));
        Assert.Equal(0x0241, r.Flags);                      // C1, SF, IE
        Assert.Equal(7, r.Top);
    }

    [Fact]
    public void UnmaskedStackOverflowChangesNothingButTheStatusWord()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, 0x037E);                 // IM clear
        r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7000]); for (int k = 0; k < 9; k++) x.fld1(); x.fnstsw(__word_ptr[0x7002]); });
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(0, r.Top);
        Assert.Equal(0x82C1, r.M.Read16(0x7002));           // B, C1, ES, SF, IE; TOP 0
    }

    [Fact]
    public void MaskedUnderflowStoresTheIndefiniteAndPops()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fstp(__tword_ptr[0x7000]); });
        Assert.Equal(Float80.Indefinite, r.Peek80(0x7000));
        Assert.Equal(1, r.Top);
        Assert.Equal(0x0041, r.Flags);
    }

    [Fact]
    public void AStoreThatFaultsLeavesTheFpuUnchanged()
    {
        var r = new FpuRig();
        r.M.Load(x => { x.fninit(); x.fld1(); x.mov(bx, 0xFFF8); x.fstp(__tword_ptr[bx]); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.GP));
        Assert.Equal(7, r.Top);
        Assert.Equal(Float80.One, r.St(0));
        Assert.Equal(0, r.Flags);
        Assert.Equal(2u, r.Cpu.Fpu.Ip);                     // the pointer still that of FLD1
    }
}
