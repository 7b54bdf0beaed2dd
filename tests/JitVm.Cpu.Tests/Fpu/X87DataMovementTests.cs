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

/// <summary>The converting loads and stores: FLD/FST of m32fp and m64fp, FILD/FIST(P), FBLD/FBSTP.</summary>
public class X87ConversionTests
{
    [Fact]
    public void SingleAndDoubleLoadsAreExact()
    {
        var r = new FpuRig();
        r.PokeSingle(0x7000, -1.25f);
        r.PokeDouble(0x7008, 1e300);
        r.Run(x => { x.fninit(); x.fld(__dword_ptr[0x7000]); x.fld(__qword_ptr[0x7008]); });
        Assert.Equal(FpuRig.F(-1.25), r.St(1));
        Assert.Equal(FpuRig.F(1e300), r.St(0));
        Assert.Equal(0, r.Flags);
    }

    [Fact]
    public void ASignallingNaNLoadIsInvalidAndQuieted()
    {
        var r = new FpuRig();
        r.M.Memory.Write32(0x7000, 0x7F80_0001);
        r.Run(x => { x.fninit(); x.fld(__dword_ptr[0x7000]); });
        Assert.Equal(new Float80(0x7FFF, 0xC000_0100_0000_0000), r.St(0));
        Assert.Equal(1, r.Flags);
    }

    [Theory]
    [InlineData(0, 0x3EAAAAAB)]         // 1/3 to nearest
    [InlineData(1, 0x3EAAAAAA)]         // down
    [InlineData(2, 0x3EAAAAAB)]         // up
    [InlineData(3, 0x3EAAAAAA)]         // toward zero
    public void StoresRoundByRc(int rc, uint single)
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7020, (ushort)(0x037F | rc << 10));
        r.M.Memory.Write16(0x7022, 3);
        r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7020]); x.fld1(); x.fidiv(__word_ptr[0x7022]); x.fstp(__dword_ptr[0x7000]); });
        Assert.Equal(single, r.M.Memory.Read32(0x7000));
        Assert.Equal(0, r.Top);
    }

    [Fact]
    public void UnmaskedOverflowStoresNothingAndDoesNotPop()
    {
        var r = new FpuRig();
        r.PokeDouble(0x7008, 1e300);
        r.M.Memory.Write32(0x7000, 0x5A5A5A5A);
        r.M.Memory.Write16(0x7020, 0x0377);                                        // OE unmasked
        r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7020]); x.fld(__qword_ptr[0x7008]); x.fstp(__dword_ptr[0x7000]); });
        Assert.Equal(0x5A5A5A5Au, r.M.Memory.Read32(0x7000));
        Assert.Equal(7, r.Top);
        Assert.Equal(0x8088, r.Status & 0xC7FF);                                   // B, ES, OE (no PE: nothing was delivered)
    }

    [Fact]
    public void IntegerLoadsAndStores()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, unchecked((ushort)-1234));
        r.Poke64(0x7008, 0x0123_4567_89AB_CDEF);
        r.Run(x =>
        {
            x.fninit();
            x.fild(__word_ptr[0x7000]); x.fistp(__dword_ptr[0x7020]);
            x.fild(__qword_ptr[0x7008]); x.fld(st0); x.fistp(__qword_ptr[0x7030]); x.fistp(__word_ptr[0x7040]);
        });
        Assert.Equal(unchecked((uint)-1234), r.M.Memory.Read32(0x7020));
        Assert.Equal(0x0123_4567_89AB_CDEFul, r.Peek64(0x7030));
        Assert.Equal(0x8000, r.M.Read16(0x7040));                                 // out of range: the integer indefinite
        Assert.Equal(1, r.Flags & 0x3F);
        Assert.Equal(0, r.Top);
    }

    [Fact]
    public void FistRoundsToNearestEven()
    {
        var r = new FpuRig();
        r.PokeDouble(0x7000, 2.5);
        r.PokeDouble(0x7008, -3.5);
        r.Run(x => { x.fninit(); x.fld(__qword_ptr[0x7000]); x.fistp(__word_ptr[0x7010]); x.fld(__qword_ptr[0x7008]); x.fistp(__word_ptr[0x7012]); });
        Assert.Equal(2, r.M.Read16(0x7010));
        Assert.Equal(unchecked((ushort)-4), r.M.Read16(0x7012));
    }

    [Fact]
    public void PackedBcdRoundTrip()
    {
        var r = new FpuRig();
        r.M.Memory.Poke(0x7000, [0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80]);   // -123456789
        r.Run(x => { x.fninit(); x.fbld(__tword_ptr[0x7000]); x.fld(st0); x.fbstp(__tword_ptr[0x7010]); });
        Assert.Equal(FpuRig.F(-123456789), r.St(0));
        Assert.Equal(r.Bytes(0x7000, 10), r.Bytes(0x7010, 10));
        Assert.Equal(7, r.Top);
    }
}
