using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>FNSTENV/FLDENV, FNSAVE/FRSTOR in their four layouts, and FXSAVE/FXRSTOR.</summary>
public class X87EnvironmentTests
{
    // fninit (DB E3) at 1000:0000, then fld tword [7100h] (DB 2E 00 71) at 1000:0002: FOP = 3 << 8 | 2Eh (ModRM).
    const ushort Fop = 0x32E;

    static FpuRig RealModeAfterLoad(Action<Iced.Intel.Assembler> then)
    {
        var r = new FpuRig();
        r.Poke80(0x7100, Float80.One);
        return r.Run(x => { x.fninit(); x.fld(__tword_ptr[0x7100]); then(x); });
    }

    [Fact]
    public void RealMode16BitEnvironmentHoldsTwentyBitLinearPointers()
    {
        var r = RealModeAfterLoad(x => x.fnstenv(__[0x7200]));
        var words = Enumerable.Range(0, 7).Select(k => r.M.Read16(0x7200 + 2 * (uint)k)).ToArray();
        // CW, SW (TOP 7), TW (R7 valid), IP 15..0, IP 19..16 | FOP, DP 15..0, DP 19..16.
        Assert.Equal(new ushort[] { 0x037F, 0x3800, 0x3FFF, 0x0002, 0x1000 | Fop, 0x7100, 0x0000 }, words);
    }

    [Fact]
    public void RealMode32BitEnvironmentHoldsThirtyTwoBitLinearPointers()
    {
        var r = RealModeAfterLoad(x => { x.db(0x66); x.fnstenv(__[0x7200]); });
        var dwords = Enumerable.Range(0, 7).Select(k => r.M.Memory.Read32(0x7200 + 4 * (uint)k)).ToArray();
        Assert.Equal(new uint[] { 0xFFFF037F, 0xFFFF3800, 0xFFFF3FFF, 0xFFFF0002, 0x1000u | Fop, 0xFFFF7100, 0 }, dwords);
    }

    [Fact]
    public void FnstenvMasksEveryExceptionAfterStoring()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, 0x0360);
        r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7000]); x.fnstenv(__[0x7200]); });
        Assert.Equal(0x0360, r.M.Read16(0x7200));
        Assert.Equal(0x037F, r.Control);
    }

    [Fact]
    public void ProtectedModeEnvironmentHoldsOffsetsSelectorsAndTheOpcode()
    {
        var p = new ProtectedModeMachine(CpuModel.P6);
        var r = new FpuRig(CpuModel.P6);   // only for its value helpers
        p.M.Memory.Write32(0x7100, 0); p.M.Memory.Write32(0x7104, 0x80000000); p.M.Memory.Write16(0x7108, 0x3FFF);
        p.M.Load(x => { x.fninit(); x.fld(__tword_ptr[0x7100]); x.db(0x66); x.fnstenv(__[0x7200]); x.fnstenv(__[0x7300]); });
        p.M.Run();
        Assert.False(p.M.InHandler);
        var dwords = Enumerable.Range(0, 7).Select(k => p.M.Memory.Read32(0x7200 + 4 * (uint)k)).ToArray();
        Assert.Equal(new uint[] { 0xFFFF037F, 0xFFFF3800, 0xFFFF3FFF, 2, ProtectedModeMachine.Code0 | (uint)Fop << 16, 0x7100,
            0xFFFF0000 | ProtectedModeMachine.Flat0 }, dwords);
        var words = Enumerable.Range(0, 7).Select(k => p.M.Memory.Read16(0x7300 + 2 * (uint)k)).ToArray();
        Assert.Equal(new ushort[] { 0x037F, 0x3800, 0x3FFF, 2, ProtectedModeMachine.Code0, 0x7100, ProtectedModeMachine.Flat0 }, words);
        Assert.NotNull(r);
    }

    [Fact]
    public void FldenvLoadsControlStatusTagsAndPointers()
    {
        var r = new FpuRig();
        // CW 0272 (RC down, PC double, PE/UE/OE... masks partly clear), SW with C3|C0, TOP 5 and PE (masked),
        // tags: R5 valid, R6 zero, R7 special, others empty; IP 12345h, FOP 5A5h, DP 6789Ah.
        ushort[] env = [0x0E7F, 0x4000 | 5 << 11 | 0x100 | 0x20, 0x93FF, 0x2345, 0x1000 | 0x5A5, 0x789A, 0x6000];
        for (int k = 0; k < env.Length; k++) r.M.Memory.Write16(0x7200 + 2 * (uint)k, env[k]);
        r.Run(x => { x.fninit(); x.fldenv(__[0x7200]); x.fnstenv(__[0x7300]); });
        Assert.Equal(0x0E7F, r.Control);
        Assert.Equal(5, r.Top);
        Assert.Equal(0x4120, r.Status & 0xC7FF);
        Assert.Equal(0xE0u, r.Cpu.Fpu.Valid);
        Assert.Equal(0x12345u, r.Cpu.Fpu.Ip);
        Assert.Equal(0x5A5, r.Cpu.Fpu.Opcode);
        Assert.Equal(0x6789Au, r.Cpu.Fpu.Dp);
        // Stored again: the same, but the tags are derived from the (power-up +0.0) contents: all three zero.
        var words = Enumerable.Range(0, 7).Select(k => r.M.Read16(0x7300 + 2 * (uint)k)).ToArray();
        Assert.Equal(new ushort[] { 0x0E7F, env[1], 0x57FF, 0x2345, 0x1000 | 0x5A5, 0x789A, 0x6000 }, words);
    }

    [Fact]
    public void FldenvOfAnUnmaskedFlagMakesItPending()
    {
        var r = new FpuRig();
        ushort[] env = [0x037E, 0x0001, 0xFFFF, 0, 0, 0, 0];    // IE set, IM clear
        for (int k = 0; k < env.Length; k++) r.M.Memory.Write16(0x7200 + 2 * (uint)k, env[k]);
        r.M.Load(x => { x.mov(eax, cr0); x.or(eax, 0x20); x.mov(cr0, eax); x.fninit(); x.fldenv(__[0x7200]); x.fnop(); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.MF));
        Assert.Equal(0x8081, r.Status & 0xC7FF);            // B, ES, IE
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FnsaveStoresTheRegistersInStackOrderAndReinitialises(bool o32)
    {
        var r = new FpuRig();
        r.Run(x => { x.fninit(); x.fldpi(); x.fld1(); x.fldz(); if (o32) x.db(0x66); x.fnsave(__[0x7200]); });
        Assert.Equal(0xFFFF, r.Cpu.FpuTagWord);
        Assert.Equal(0, r.Top);
        Assert.Equal(0x037F, r.Control);
        uint regs = 0x7200u + (o32 ? 28u : 14u);
        Assert.Equal(Float80.Zero, r.Peek80(regs));
        Assert.Equal(Float80.One, r.Peek80(regs + 10));
        Assert.Equal(new Float80(0x4000, 0xC90F_DAA2_2168_C235), r.Peek80(regs + 20));
        Assert.Equal(o32 ? 0x2800u | 0xFFFF0000 : 0x2800u, o32 ? r.M.Memory.Read32(0x7204) : r.M.Read16(0x7202));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FrstorRestoresWhatFnsaveStored(bool o32)
    {
        var r = new FpuRig();
        r.Run(x =>
        {
            x.fninit(); x.fldpi(); x.fld1(); x.fldz();
            if (o32) x.db(0x66);
            x.fnsave(__[0x7200]);
            x.fld1();
            if (o32) x.db(0x66);
            x.frstor(__[0x7200]);
        });
        Assert.Equal(5, r.Top);
        Assert.Equal(Float80.Zero, r.St(0));
        Assert.Equal(Float80.One, r.St(1));
        Assert.Equal(new Float80(0x4000, 0xC90F_DAA2_2168_C235), r.St(2));
        Assert.True(r.Empty(3));
        Assert.Equal(0x037F, r.Control);
    }

    [Fact]
    public void FrstorPlacesTheRegistersRelativeToTheLoadedTop()
    {
        var r = new FpuRig();
        ushort[] env = [0x037F, 2 << 11, 0xFFCF, 0, 0, 0, 0];    // TOP 2, only R2 valid
        for (int k = 0; k < env.Length; k++) r.M.Memory.Write16(0x7200 + 2 * (uint)k, env[k]);
        for (int k = 0; k < 8; k++) r.Poke80(0x7200 + 14 + 10 * (uint)k, FpuRig.F(k + 1));
        r.Run(x => { x.fninit(); x.frstor(__[0x7200]); });
        Assert.Equal(2, r.Top);
        Assert.Equal(FpuRig.F(1), r.Cpu.Fpu.R[2]);
        Assert.Equal(FpuRig.F(6), r.Cpu.Fpu.R[7]);
        Assert.Equal(FpuRig.F(7), r.Cpu.Fpu.R[0]);
        Assert.Equal(0x04, r.Cpu.Fpu.Valid);
    }

    [Fact]
    public void SaveAreaBeyondTheSegmentLimitFaultsBeforeAnythingIsWritten()
    {
        var r = new FpuRig();
        r.M.Memory.Poke(0xFFF0, [0xAA, 0xAA, 0xAA, 0xAA]);
        r.M.Load(x => { x.fninit(); x.fld1(); x.fnsave(__[0xFFF0]); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.GP));
        Assert.Equal(new byte[] { 0xAA, 0xAA, 0xAA, 0xAA }, r.Bytes(0xFFF0, 4));
        Assert.Equal(7, r.Top);                             // not reinitialised
    }

    [Fact]
    public void FxsaveWritesTheFxsrImage()
    {
        var r = new FpuRig();
        r.M.Memory.Poke(0x7400, Enumerable.Repeat((byte)0xCC, 512).ToArray());
        r.Poke80(0x7100, Float80.One);
        r.Run(x => { x.fninit(); x.fld(__tword_ptr[0x7100]); x.fldpi(); x.fxsave(__[0x7400]); });
        Assert.Equal(0x037F, r.M.Read16(0x7400));
        Assert.Equal(0x3000, r.M.Read16(0x7402));          // TOP 6
        Assert.Equal(0xC0, r.M.Memory.Read8(0x7404));       // abridged: R6, R7 valid
        Assert.Equal(0, r.M.Memory.Read8(0x7405));
        Assert.Equal(0x1EB, r.M.Read16(0x7406));            // FLDPI: D9 EB
        Assert.Equal(6u, r.M.Memory.Read32(0x7408));       // FIP: offset of FLDPI
        Assert.Equal(0x1000u, r.M.Memory.Read32(0x740C));  // FCS
        Assert.Equal(0x7100u, r.M.Memory.Read32(0x7410));  // FDP: FLDPI has no operand, so FLD's
        Assert.Equal(0u, r.M.Memory.Read32(0x7414));       // FDS
        Assert.Equal(0ul, r.Peek64(0x7418));                // MXCSR and mask
        Assert.Equal(new Float80(0x4000, 0xC90F_DAA2_2168_C235), r.Peek80(0x7420));
        Assert.Equal(Float80.One, r.Peek80(0x7430));
        Assert.Equal(new byte[6], r.Bytes(0x742A, 6));
        Assert.Equal(0xCC, r.M.Memory.Read8(0x74A0));      // the XMM area is not written
    }

    [Fact]
    public void FxrstorLoadsTheImage()
    {
        var r = new FpuRig();
        r.Poke80(0x7100, Float80.One);
        r.Run(x =>
        {
            x.fninit(); x.fld(__tword_ptr[0x7100]); x.fldpi(); x.fxsave(__[0x7400]);
            x.fninit(); x.fldz(); x.fxrstor(__[0x7400]);
        });
        Assert.Equal(6, r.Top);
        Assert.Equal(0xC0, r.Cpu.Fpu.Valid);
        Assert.Equal(new Float80(0x4000, 0xC90F_DAA2_2168_C235), r.St(0));
        Assert.Equal(Float80.One, r.St(1));
        Assert.Equal(0x1EB, r.Cpu.Fpu.Opcode);
        Assert.Equal(0x7100u, r.Cpu.Fpu.Dp);
    }

    [Fact]
    public void FxsaveNeedsASixteenByteAlignedOperandAndCpuidFxsr()
    {
        var r = new FpuRig();
        r.M.Load(x => { x.fninit(); x.fxsave(__[0x7408]); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.GP));
        r = new FpuRig(CpuModel.Pentium);
        r.M.Load(x => { x.fninit(); x.fxsave(__[0x7400]); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.UD));
    }
}
