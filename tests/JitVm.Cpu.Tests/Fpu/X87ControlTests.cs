using JitVm.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>FNINIT, FNCLEX, FLDCW/FNSTCW, FNSTSW, FFREE(P), FINCSTP/FDECSTP, FNOP and the device-not-available rules.</summary>
public class X87ControlTests
{
    [Fact]
    public void PowerUpStateIsControl0040AndEightZeroRegisters()
    {
        var r = new FpuRig();
        Assert.Equal(0x0040, r.Control);
        Assert.Equal(0, r.Status);
        Assert.Equal(0x5555, r.Cpu.FpuTagWord);
        Assert.Equal(Float80.Zero, r.St(3));
    }

    [Fact]
    public void FninitLoadsTheDefaultControlWordAndEmptiesTheStack()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fld1(); x.fninit(); x.fnstcw(__word_ptr[0x7000]); x.fnstsw(__word_ptr[0x7002]); });
        Assert.Equal(0x037F, r.M.Read16(0x7000));
        Assert.Equal(0, r.M.Read16(0x7002));
        Assert.Equal(0xFFFF, r.Cpu.FpuTagWord);
        Assert.Equal(0, r.Top);
    }

    [Fact]
    public void FldcwKeepsReservedBitsAsTheHardwareReadsThem()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, 0xFFFF);
        r.M.Memory.Write16(0x7010, 0x0000);
        r.Run(x => { x.fninit(); x.fldcw(__word_ptr[0x7000]); x.fnstcw(__word_ptr[0x7002]); x.fldcw(__word_ptr[0x7010]); x.fnstcw(__word_ptr[0x7004]); });
        Assert.Equal(0x1F7F, r.M.Read16(0x7002));          // bits 7 and 13-15 read as 0, bit 6 as 1
        Assert.Equal(0x0040, r.M.Read16(0x7004));
    }

    [Fact]
    public void FnstswAxHoldsTopAndTheConditionCodes()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fldz(); x.fxam(); x.fnstsw(ax); });
        // TOP = 6; FXAM of +0: C3 = 1, C2 = C1 = C0 = 0.
        Assert.Equal(0x4000 | 6 << 11, (int)(r.Cpu.Eax & 0xFFFF));
    }

    [Fact]
    public void FnclexClearsFlagsStackFaultErrorSummaryAndBusyButNotConditionCodes()
    {
        var r = new FpuRig().Run(x =>
        {
            x.fninit(); x.fldz(); x.fxam();                      // C3
            for (int k = 0; k < 8; k++) x.fld1();              // the eighth push overflows (masked)
            x.fnstsw(__word_ptr[0x7000]);
            x.fnclex();
        });
        Assert.Equal(0x0041 | 0x0200 | 0x4000, r.M.Read16(0x7000) & 0xC7FF);   // IE, SF, C1 (overflow), C3
        Assert.Equal(0x4200, r.Status & 0xC7FF);
    }

    [Fact]
    public void FfreeEmptiesOneRegisterAndFfreepPops()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fld1(); x.fld1(); x.ffree(st1); x.ffreep(st0); });
        Assert.Equal(6, r.Top);
        Assert.True(r.Empty(0));                            // was ST(1)
        Assert.False(r.Empty(1));
        Assert.Equal(0x3FFF, r.Cpu.FpuTagWord);
    }

    [Fact]
    public void FincstpAndFdecstpRotateTopWithoutChangingTags()
    {
        var r = new FpuRig().Run(x => { x.fninit(); x.fld1(); x.fincstp(); });
        Assert.Equal(0, r.Top);
        Assert.True(r.Empty(0));
        Assert.False(r.Empty(7));                           // the 1.0, still tagged valid
        r = new FpuRig().Run(x => { x.fninit(); x.fdecstp(); x.fdecstp(); });
        Assert.Equal(6, r.Top);
        Assert.Equal(0xFFFF, r.Cpu.FpuTagWord);
    }

    [Fact]
    public void EmulateBitRaisesDeviceNotAvailableForEveryX87InstructionButNotWait()
    {
        foreach (var op in new Action<Iced.Intel.Assembler>[] { x => x.fninit(), x => x.fnstsw(ax), x => x.fld1(), x => x.fnop(), x => x.fxsave(__[0x7000]) })
        {
            var r = new FpuRig();
            r.M.Load(x => { x.mov(ax, 4); x.lmsw(ax); x.wait(); x.mov(bx, 1); op(x); x.mov(bx, 2); });
            r.M.Run();
            Assert.Equal(1, r.Exceptions(CpuVectors.NM));
            Assert.Equal(1u, r.Cpu.Ebx & 0xFFFF);
        }
    }

    [Fact]
    public void TaskSwitchedRaisesDeviceNotAvailableAndWaitOnlyWithMonitorCoprocessor()
    {
        var r = new FpuRig();
        r.M.Load(x => { x.mov(ax, 8); x.lmsw(ax); x.wait(); x.mov(bx, 1); x.fninit(); x.mov(bx, 2); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.NM));
        Assert.Equal(1u, r.Cpu.Ebx & 0xFFFF);
        r = new FpuRig();
        r.M.Load(x => { x.mov(ax, 0xA); x.lmsw(ax); x.mov(bx, 1); x.wait(); x.mov(bx, 2); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.NM));
        Assert.Equal(1u, r.Cpu.Ebx & 0xFFFF);
    }

    [Theory]
    [InlineData(new byte[] { 0xD9, 0x0E, 0x34, 0x12 })]       // D9 /1 m (reserved)
    [InlineData(new byte[] { 0xD9, 0xD1 })]                   // D9 D1 (reserved)
    [InlineData(new byte[] { 0xDB, 0xE7 })]                   // DB E7 (reserved)
    [InlineData(new byte[] { 0xDD, 0x6F, 0x10 })]             // DD /5 m (reserved)
    [InlineData(new byte[] { 0xDB, 0xE5 })]                   // FRSTPM (287XL only)
    [InlineData(new byte[] { 0xDF, 0xE1 })]                   // FNSTDW (386SL only)
    [InlineData(new byte[] { 0xDB, 0x0E, 0x00, 0x70 })]       // FISTTP m32int: SSE3, which no model has
    public void EncodingsNoFpuOfTheModelDefinesAreInvalidOpcodes(byte[] code)
    {
        foreach (var model in new[] { CpuModel.I486, CpuModel.Pentium, CpuModel.P6 })
        {
            var r = new FpuRig(model);
            r.M.LoadBytes([.. code, 0xB8, 0x01, 0x00]);
            r.M.Run();
            Assert.Equal(1, r.Exceptions(CpuVectors.UD));
            Assert.Equal(0u, r.Cpu.Eax & 0xFFFF);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0xDB, 0xE0 })]                   // FNENI
    [InlineData(new byte[] { 0xDB, 0xE1 })]                   // FNDISI
    [InlineData(new byte[] { 0xDB, 0xE4 })]                   // FNSETPM
    public void The8087And287LeftoversAreNoOperations(byte[] code)
    {
        var r = new FpuRig();
        r.M.LoadBytes([0xDB, 0xE3, .. code, 0xB8, 0x01, 0x00]);   // FNINIT first
        r.M.Run();
        Assert.False(r.InHandler);
        Assert.Equal(1u, r.Cpu.Eax & 0xFFFF);
        Assert.Equal(0x037F, r.Control);
        Assert.Equal(0, r.Status);
    }
}
