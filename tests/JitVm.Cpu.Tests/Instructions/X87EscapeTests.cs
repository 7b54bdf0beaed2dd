using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Instructions;

/// <summary>ESC (D8-DF) and WAIT on a machine without a coprocessor (the 286 and 386 presets, a 486SX).</summary>
public class X87EscapeTests
{
    public static TheoryData<string> Models => new() { "286", "386", Sx486 };

    const string Sx486 = "486,features=-fpu";

    [Theory]
    [MemberData(nameof(Models))]
    public void EscapesRunAsNoOperationsWhenTheFpuIsNotEmulated(string model)
    {
        var m = new TestMachine(CpuModel.Parse(model));
        m.Memory.Poke(0x7000, [0x5A, 0x5A]);
        // The FPU detection idiom: FNINIT; FNSTSW [mem] leaves the preset word when nothing answers.
        m.Load(x => { x.fninit(); x.fnstsw(__word_ptr[0x7000]); x.fld(__dword_ptr[0x7010]); x.fadd(st0, st1); x.wait(); x.mov(ax, 1); });
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(0x5A5A, m.Read16(0x7000));
        Assert.Equal(1u, m.Cpu.Eax & 0xFFFF);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EscapeRaisesDeviceNotAvailableWhenEmulated(string model)
    {
        var m = new TestMachine(CpuModel.Parse(model));
        m.Load(x => { x.mov(ax, 4); x.lmsw(ax); x.wait(); x.fld(__dword_ptr[0x7000]); });   // EM
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.NM));
        // WAIT ran (MP is clear); the pushed IP is the ESC's: MOV (3 bytes) + LMSW (3) + WAIT (1).
        Assert.Equal(7, m.Cpu.Read16(SegReg.SS, m.Cpu.StackPointer));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void TaskSwitchedFaultsEscapesAndWaitOnlyWithMonitorCoprocessor(string model)
    {
        // TS alone: WAIT runs, ESC faults.
        var m = new TestMachine(CpuModel.Parse(model));
        m.Load(x => { x.mov(ax, 8); x.lmsw(ax); x.wait(); x.mov(bx, 1); x.fnclex(); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.NM));
        Assert.Equal(1u, m.Cpu.Ebx & 0xFFFF);

        // TS and MP: WAIT faults.
        m = new TestMachine(CpuModel.Parse(model));
        m.Load(x => { x.mov(ax, 0xA); x.lmsw(ax); x.mov(bx, 1); x.wait(); x.mov(bx, 2); });
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.NM));
        Assert.Equal(1u, m.Cpu.Ebx & 0xFFFF);

        // MP alone: nothing faults.
        m = new TestMachine(CpuModel.Parse(model));
        m.Load(x => { x.mov(ax, 2); x.lmsw(ax); x.wait(); x.fnop(); x.mov(bx, 3); });
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(3u, m.Cpu.Ebx & 0xFFFF);
    }

    [Theory]
    [InlineData("286", 0xFFFF, true)]     // the first word crosses the limit: interrupt 13 (hardware vectors)
    [InlineData("286", 0xFFFE, false)]    // first word fits; the rest would be the coprocessor's overrun (int 9)
    [InlineData("286", 0xFFFD, false)]
    [InlineData("386", 0xFFFE, true)]     // 386+: any part of the dword outside the segment
    [InlineData("386", 0xFFFC, false)]
    [InlineData(Sx486, 0xFFFD, true)]
    public void MemoryOperandIsCheckedAgainstTheSegmentLimit(string model, int offset, bool faults)
    {
        var m = new TestMachine(CpuModel.Parse(model));
        m.Load(x => { x.mov(si, (ushort)offset); x.fsub(__dword_ptr[si]); });
        m.Run();
        Assert.Equal(faults ? 1 : 0, m.Exceptions(CpuVectors.GP));
    }

    [Theory]
    [InlineData(new byte[] { 0xD9, 0x0E, 0x34, 0x12 })]       // D9 /1 m (reserved), disp16
    [InlineData(new byte[] { 0xD9, 0xD1 })]                   // D9 D1 (reserved)
    [InlineData(new byte[] { 0xDB, 0xE7 })]                   // DB E7
    [InlineData(new byte[] { 0xDD, 0x6F, 0x10 })]             // DD /5 m, disp8
    [InlineData(new byte[] { 0x26, 0xDF, 0xFF })]             // DF FF with a segment prefix
    [InlineData(new byte[] { 0xDE, 0xD9 })]                   // FCOMPP (valid)
    public void EveryEscapeEncodingIsAnEscapeOnEveryModel(byte[] esc)
    {
        foreach (var model in new[] { CpuModel.I286, CpuModel.I386, CpuModel.Parse(Sx486) })
        {
            var m = new TestMachine(model);
            m.LoadBytes([.. esc, 0xB8, 0x01, 0x00]);          // then mov ax, 1
            m.Run();
            Assert.Equal(0, m.Exceptions(CpuVectors.UD));
            Assert.Equal(1u, m.Cpu.Eax & 0xFFFF);
            Assert.Equal((uint)esc.Length + 4, m.Cpu.Eip);    // after MOV and the HLT
        }
    }

    [Fact]
    public void ReservedEscapeHonoursTheDeviceNotAvailableRule()
    {
        var m = new TestMachine(CpuModel.I286);
        m.Cpu.Cr0 |= Processor.Cr0TS;
        m.LoadBytes(0xD9, 0x0E, 0x34, 0x12);
        m.Run();
        Assert.Equal(1, m.Exceptions(CpuVectors.NM));
    }
}
