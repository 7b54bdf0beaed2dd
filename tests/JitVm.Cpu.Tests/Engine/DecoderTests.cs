namespace JitVm.Cpu.Tests.Engine;

public class DecoderTests
{
    [Fact]
    public void InvalidOpcodeRaisesUdWithTheFaultingAddress()
    {
        var m = new TestMachine();
        m.LoadBytes(0x90, 0x0F, 0xFF);            // nop; 0F FF (UD0 without operands on old CPUs: invalid)
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
        Assert.Equal(1, m.Read16(0x20000 + 0xFFFE - 6));    // pushed IP = address of the invalid opcode
    }

    [Fact]
    public void The286RejectsOperandSizePrefixes()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x66, 0x40);                 // inc eax on a 386
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
        var m386 = new TestMachine(CpuModel.I386);
        m386.LoadBytes(0x66, 0x40);
        m386.Run();
        Assert.Equal(0, m386.Exceptions(CpuVectors.UD));
        Assert.Equal(1u, m386.Cpu.Eax);
    }

    [Fact]
    public void InstructionsLongerThanTheModelLimitRaiseGp()
    {
        // 11 bytes: ten segment prefixes and a NOP. Fine for 15-byte CPUs, too long for the 286.
        byte[] code = [.. Enumerable.Repeat((byte)0x2E, 10), 0x90];
        var m286 = new TestMachine(CpuModel.I286);
        m286.LoadBytes(code);
        m286.Run();
        Assert.Equal(1, m286.Exceptions(CpuVectors.GP));
        var m386 = new TestMachine(CpuModel.I386);
        m386.LoadBytes(code);
        m386.Run();
        Assert.False(m386.InHandler);
        // 16 bytes is too long everywhere.
        var m16 = new TestMachine(CpuModel.I386);
        m16.LoadBytes([.. Enumerable.Repeat((byte)0x2E, 15), 0x90]);
        m16.Run();
        Assert.Equal(1, m16.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void LockOnANonLockableInstructionIsUdFrom386On()
    {
        byte[] code = [0xF0, 0x89, 0xC3];         // lock mov bx, ax
        var m386 = new TestMachine(CpuModel.I386);
        m386.LoadBytes(code);
        m386.Run();
        Assert.Equal(1, m386.Exceptions(CpuVectors.UD));
        var m286 = new TestMachine(CpuModel.I286);
        m286.LoadBytes(code);
        m286.Run();
        Assert.Equal(0, m286.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void OpcodesNewerThanTheModelAreUndefined()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x0F, 0xB6, 0xC3);            // movzx ax, bl (386+)
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.UD));
    }

    [Fact]
    public void CodeRunningPastTheSegmentLimitFaults()
    {
        var m = new TestMachine();
        m.Cpu.Eip = 0xFFFF;
        m.Memory.Poke(((uint)TestMachine.CodeSegment << 4) + 0xFFFF, [0xB8]);     // mov ax, imm16 straddles the limit
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.GP));
    }
}
