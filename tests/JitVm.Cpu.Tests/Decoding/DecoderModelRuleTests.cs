namespace JitVm.Cpu.Tests.Decoding;

/// <summary>Model rules the block decoder applies on top of Iced.</summary>
public class DecoderModelRuleTests
{
    [Theory]
    [InlineData(new byte[] { 0x8C, 0xE0 })]                   // mov ax, fs
    [InlineData(new byte[] { 0x8C, 0x2E, 0x00, 0x70 })]       // mov [7000h], gs
    [InlineData(new byte[] { 0x8E, 0xE0 })]                   // mov fs, ax
    [InlineData(new byte[] { 0x8E, 0x2E, 0x00, 0x70 })]       // mov gs, [7000h]
    public void The286HasNoFsOrGs(byte[] code)
    {
        var m = new TestMachine(CpuModel.I286);
        m.Cpu.Eax = 0x1234;
        m.LoadBytes(code);
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
        Assert.Equal(0, m.Read16(0x7000));
        Assert.Equal(0x1234u, m.Cpu.Eax);
    }

    [Fact]
    public void The386MovesFsAndGs()
    {
        var m = new TestMachine(CpuModel.I386);
        m.LoadBytes(0xB8, 0x34, 0x12, 0x8E, 0xE0, 0x8C, 0xE3);  // mov ax, 1234h; mov fs, ax; mov bx, fs
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(0x1234u, m.Cpu.Ebx & 0xFFFF);
    }

    [Fact]
    public void LdsWithRegisterOperandIsUndefinedNotTooLongOnThe286()
    {
        // Iced reads this as a 12-byte VEX instruction (over the 286's 10-byte limit); as LDS it is 7 bytes (#UD).
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x26, 0x2E, 0x26, 0x2E, 0x2E, 0xC5, 0xFD, 0x70, 0x90, 0xBB, 0x78, 0xB6);
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
        Assert.Equal(0, m.Exceptions(CpuVectors.GP));
    }

    [Theory]
    [InlineData(new byte[] { 0xC4, 0xC0 })]     // les ax, ax (VEX3 to Iced)
    [InlineData(new byte[] { 0xC5, 0xF8 })]     // lds di, ax (VEX2: vzeroupper would follow)
    [InlineData(new byte[] { 0x62, 0xF1 })]     // bound si, cx (EVEX to Iced)
    [InlineData(new byte[] { 0x8F, 0xE8 })]     // 8F /5 (XOP to Iced)
    public void VexEscapeBytesAreLegacyAtTheEndOfTheCodeSegment(byte[] code)
    {
        // The two bytes end exactly at the CS limit. As VEX/EVEX/XOP Iced would fetch past it (#GP); the legacy
        // instruction is complete after its ModRM byte and raises #UD.
        foreach (var model in new[] { CpuModel.I286, CpuModel.I386, CpuModel.I486 })
        {
            var m = new TestMachine(model);
            m.Memory.Poke(((uint)TestMachine.CodeSegment << 4) + 0xFFFE, code);
            m.Cpu.Eip = 0xFFFE;
            m.Run();
            Assert.Equal(1, m.Exceptions(CpuVectors.UD));
            Assert.Equal(0, m.Exceptions(CpuVectors.GP));
            Assert.Equal(0xFFFE, m.Cpu.Read16(SegReg.SS, m.Cpu.StackPointer));   // the pushed IP: the instruction
        }
    }

    [Fact]
    public void LesWithAMemoryOperandStillLoads()
    {
        var m = new TestMachine(CpuModel.I486);
        m.Memory.Poke(0x7000, [0x78, 0x56, 0x34, 0x12]);
        m.LoadBytes(0xC4, 0x1E, 0x00, 0x70);                   // les bx, [7000h]
        m.Run();
        Assert.Equal(0x5678u, m.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0x1234, m.Cpu.Seg[SegReg.ES].Selector);
    }
}
