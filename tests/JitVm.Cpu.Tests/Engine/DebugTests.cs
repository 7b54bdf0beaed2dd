using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Engine;

/// <summary>
/// Hardware breakpoints and single-step (SDM vol. 3, chapter 17) in real mode, where the 386 and later have the
/// debug registers too: instruction breakpoints as faults before the instruction, RF, data breakpoints as traps
/// after it, DR6 status bits.
/// </summary>
public class DebugTests
{
    const uint CodeBase = (uint)TestMachine.CodeSegment << 4;
    const int DB = CpuVectors.DB;
    const uint RF = Processor.FlagRF;

    // 0: mov ax, 1 / 3: mov bx, 2 / 6: mov cx, 3 / 9: mov dx, 4 / 12: hlt
    static readonly byte[] FourMoves = [0xB8, 0x01, 0x00, 0xBB, 0x02, 0x00, 0xB9, 0x03, 0x00, 0xBA, 0x04, 0x00];

    static TestMachine Machine(byte[] code)
    {
        var m = new TestMachine(TestModels.P6);
        m.LoadBytes(code);
        return m;
    }

    /// <summary>Enables DRn (local) with the given R/W and LEN fields.</summary>
    static void SetBreakpoint(TestMachine m, int n, uint lin, uint rw = 0, uint len = 0)
    {
        m.Cpu.Dr[n] = lin;
        m.Cpu.Dr[7] |= (1u << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n));
        m.Cpu.UpdateBreakpoints();
    }

    static StopReason RunToDebug(TestMachine m)
    {
        m.Engine.StopOnExceptions = 1u << DB;
        return m.Engine.Run(100_000);
    }

    // ---- instruction breakpoints ----

    [Fact]
    public void AnInstructionBreakpointFaultsBeforeTheInstruction()
    {
        var m = Machine(FourMoves);
        SetBreakpoint(m, 2, CodeBase + 6);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(6u, m.Cpu.Eip);
        Assert.Equal((1u, 2u, 0u), (m.Cpu.Eax, m.Cpu.Ebx, m.Cpu.Ecx));
        Assert.Equal(4u, m.Cpu.Dr[6] & Processor.Dr6Breakpoints);     // B2
        Assert.Equal(0u, m.Cpu.Dr[6] & Processor.Dr6BS);
    }

    [Fact]
    public void TheDebugHandlerSeesTheAddressOfTheBreakpointInstruction()
    {
        var m = Machine(FourMoves);
        m.Cpu.Edx = 0;
        SetBreakpoint(m, 0, CodeBase + 9);
        m.Run();
        Assert.True(m.InHandler);
        Assert.Equal(1, m.Exceptions(DB));
        Assert.Equal(9, m.Read16(0x20000 + (m.Cpu.Esp & 0xFFFF)));   // pushed IP
        Assert.Equal(0u, m.Cpu.Edx);
    }

    [Fact]
    public void DisabledOrDataTypeBreakpointsDoNotStopExecution()
    {
        var m = Machine(FourMoves);
        m.Cpu.Dr[0] = CodeBase + 6;                        // address set, L0/G0 clear
        SetBreakpoint(m, 1, CodeBase + 3, rw: 1);          // a write breakpoint on an instruction address
        Assert.Equal(0u, m.Cpu.CodeBreakpoints);
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(4u, m.Cpu.Edx);
    }

    [Fact]
    public void ResumeFlagSuppressesTheBreakpointForOneInstructionAndIsCleared()
    {
        var m = Machine(FourMoves);
        SetBreakpoint(m, 0, CodeBase + 6);
        m.Cpu.Eip = 6;
        m.Cpu.Flags |= RF;
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(3u, m.Cpu.Ecx);
        Assert.Equal(0u, m.Cpu.GetEflags() & RF);
    }

    /// <summary>#DB handler at 0060:0000: counts in SI, rebuilds the frame as 32-bit with RF set in EFLAGS, IRETD.</summary>
    static void InstallResumingHandler(TestMachine m)
    {
        var a = new Assembler(16);
        a.inc(si);
        a.pop(__word_ptr[0x700]);                          // IP
        a.pop(__word_ptr[0x708]);                          // CS
        a.pop(__word_ptr[0x710]);                          // FLAGS
        a.mov(__word_ptr[0x702], 0);
        a.mov(__word_ptr[0x70A], 0);
        a.mov(__word_ptr[0x712], 1);                       // EFLAGS bit 16: RF
        a.push(__dword_ptr[0x710]);
        a.push(__dword_ptr[0x708]);
        a.push(__dword_ptr[0x700]);
        a.iretd();
        m.Memory.Poke(0x600, Assemble(a));
        m.Memory.Poke(DB * 4, [0x00, 0x00, 0x60, 0x00]);
    }

    [Fact]
    public void AHandlerReturningWithRfRunsTheInstructionOnce()
    {
        var m = Machine(FourMoves);
        InstallResumingHandler(m);
        SetBreakpoint(m, 3, CodeBase + 6);
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(1u, m.Cpu.Esi);
        Assert.Equal((3u, 4u), (m.Cpu.Ecx, m.Cpu.Edx));
    }

    [Fact]
    public void ABreakpointOnALongRepInstructionFiresOnce()
    {
        var m = Machine(
        [
            0xB9, 0x00, 0x50,                              // 0: mov cx, 5000h (several dispatcher slices)
            0xBF, 0x00, 0x80,                              // 3: mov di, 8000h
            0xF3, 0xAA,                                    // 6: rep stosb
        ]);
        InstallResumingHandler(m);
        SetBreakpoint(m, 0, CodeBase + 6);
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(1u, m.Cpu.Esi);
        Assert.Equal(0u, m.Cpu.Ecx & 0xFFFF);
    }

    [Fact]
    public void ABreakpointInsideAnAlreadyDecodedBlockIsHonoured()
    {
        var m = Machine(FourMoves);
        m.Run();                                           // the whole block is decoded and cached
        m.Cpu.Eip = 0;
        m.Cpu.Halted = false;
        m.Cpu.Ecx = m.Cpu.Edx = 0;
        SetBreakpoint(m, 0, CodeBase + 9);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(9u, m.Cpu.Eip);
        Assert.Equal((3u, 0u), (m.Cpu.Ecx, m.Cpu.Edx));
    }

    [Fact]
    public void ABreakpointSetByMovDr7AppliesToTheNextInstructions()
    {
        var m = Machine(
        [
            0x66, 0xB8, 0x13, 0x00, 0x01, 0x00,            // 0: mov eax, 10013h
            0x0F, 0x23, 0xC0,                              // 6: mov dr0, eax
            0x66, 0xB8, 0x01, 0x04, 0x00, 0x00,            // 9: mov eax, 401h (L0, execute)
            0x0F, 0x23, 0xF8,                              // 15: mov dr7, eax
            0x90,                                          // 18: nop
            0xB9, 0x03, 0x00,                              // 19: mov cx, 3
        ]);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(19u, m.Cpu.Eip);
        Assert.Equal(0u, m.Cpu.Ecx);
    }

    [Fact]
    public void AFaultSetsRfInTheFlagsImageItPushes()
    {
        var m = Machine([0x0F, 0x0B]);                     // ud2
        m.Engine.StopOnExceptions = 1u << CpuVectors.UD;
        Assert.Equal(StopReason.Exception, m.Engine.Run(1000));
        Assert.Equal(RF, m.Cpu.GetEflags() & RF);          // what delivery would push
    }

    [Fact]
    public void An286HasNoResumeFlag()
    {
        var m = new TestMachine(CpuModel.I286);
        m.LoadBytes(0x0F, 0x0B);                           // ud2
        m.Engine.StopOnExceptions = 1u << CpuVectors.UD;
        m.Engine.Run(1000);
        Assert.Equal(0u, m.Cpu.GetEflags() & RF);
    }

    // ---- single step ----

    [Fact]
    public void SingleStepTrapsAfterEachInstructionWithBs()
    {
        var m = Machine(FourMoves);
        m.Cpu.SetEflags(0x2 | Processor.FlagTF);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(3u, m.Cpu.Eip);
        Assert.Equal(Processor.Dr6BS, m.Cpu.Dr[6] & Processor.Dr6BS);
        Assert.Equal(1u, m.Cpu.Eax);
        Assert.Equal(0u, m.Cpu.Ebx);
    }

    [Fact]
    public void SingleStepOverAnInstructionBreakpointTakesTheBreakpointFirst()
    {
        var m = Machine(FourMoves);
        SetBreakpoint(m, 1, CodeBase);
        m.Cpu.SetEflags(0x2 | Processor.FlagTF);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(0u, m.Cpu.Eip);
        Assert.Equal(2u, m.Cpu.Dr[6] & (Processor.Dr6Breakpoints | Processor.Dr6BS));
    }

    // ---- data breakpoints ----

    // 0: mov ax, 1234h / 3: mov [7002h], ax / 6: mov bx, 2 / 9: hlt
    static readonly byte[] StoreAt7002 = [0xB8, 0x34, 0x12, 0xA3, 0x02, 0x70, 0xBB, 0x02, 0x00];
    // 0: mov ax, [7000h] / 3: mov bx, 2 / 6: hlt
    static readonly byte[] LoadAt7000 = [0xA1, 0x00, 0x70, 0xBB, 0x02, 0x00];

    [Fact]
    public void AWriteBreakpointTrapsAfterTheWritingInstruction()
    {
        var m = Machine(StoreAt7002);
        SetBreakpoint(m, 1, 0x7000, rw: 1, len: 3);        // 4 bytes, writes
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(6u, m.Cpu.Eip);                       // after the store
        Assert.Equal(0x1234, m.Read16(0x7002));
        Assert.Equal(0u, m.Cpu.Ebx);
        Assert.Equal(2u, m.Cpu.Dr[6] & Processor.Dr6Breakpoints);
    }

    [Fact]
    public void AWriteBreakpointIgnoresReadsAndAReadWriteBreakpointCatchesThem()
    {
        var m = Machine(LoadAt7000);
        SetBreakpoint(m, 0, 0x7000, rw: 1, len: 1);
        m.Run();
        Assert.False(m.InHandler);

        m = Machine(LoadAt7000);
        SetBreakpoint(m, 0, 0x7001, rw: 3, len: 0);        // one byte, inside the word read
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(3u, m.Cpu.Eip);
        Assert.Equal(1u, m.Cpu.Dr[6] & Processor.Dr6Breakpoints);
    }

    [Fact]
    public void AccessesBesideTheWatchedBytesDoNotTrap()
    {
        var m = Machine(StoreAt7002);
        SetBreakpoint(m, 0, 0x7000, rw: 3, len: 1);        // bytes 7000-7001; the store is 7002-7003
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal(2u, m.Cpu.Ebx);
    }

    [Fact]
    public void ArmingADataBreakpointDropsCachedTranslationsOfItsPage()
    {
        var m = Machine([.. StoreAt7002, 0xF4, .. StoreAt7002]);
        m.Run();                                           // the page is now cached for writing
        Assert.Contains(m.Cpu.Tlb, e => e.WriteTag == 0x7000);
        SetBreakpoint(m, 0, 0x7002, rw: 1, len: 1);
        m.Cpu.Halted = false;
        m.Cpu.Eip = 10;
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(16u, m.Cpu.Eip);
    }

    [Fact]
    public void ARepStringTrapsAfterTheElementThatHitAndResumes()
    {
        var m = Machine(
        [
            0xB9, 0x10, 0x00,                              // 0: mov cx, 16
            0xBF, 0xF8, 0x6F,                              // 3: mov di, 6FF8h
            0xB0, 0xAA,                                    // 6: mov al, AAh
            0xF3, 0xAA,                                    // 8: rep stosb
            0xBB, 0x02, 0x00,                              // 10: mov bx, 2
        ]);
        SetBreakpoint(m, 0, 0x7000, rw: 1);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(8u, m.Cpu.Eip);                       // still on the REP: elements remain
        Assert.Equal((7u, 0x7001u), (m.Cpu.Ecx, m.Cpu.Edi));
        Assert.Equal(RF, m.Cpu.GetEflags() & RF);          // pushed RF = 1 for a trap before the last iteration
        Assert.Equal(0xAA, m.Memory.Read8(0x7000));
        Assert.Equal(0, m.Memory.Read8(0x7001));

        m.Engine.StopOnExceptions = 0;
        m.Run();
        Assert.False(m.InHandler);
        Assert.Equal((0u, 2u), (m.Cpu.Ecx, m.Cpu.Ebx));
        Assert.Equal(0xAA, m.Memory.Read8(0x7007));
    }

    [Fact]
    public void SingleStepAndADataBreakpointRaiseOneDebugTrap()
    {
        var m = Machine(StoreAt7002);
        SetBreakpoint(m, 2, 0x7002, rw: 1, len: 1);
        m.Cpu.Eip = 3;
        m.Cpu.SetEflags(0x2 | Processor.FlagTF);
        Assert.Equal(StopReason.Exception, RunToDebug(m));
        Assert.Equal(6u, m.Cpu.Eip);
        Assert.Equal(Processor.Dr6BS | 4u, m.Cpu.Dr[6] & (Processor.Dr6BS | Processor.Dr6Breakpoints));
        Assert.Equal(1, m.Exceptions(DB));
    }

    [Fact]
    public void AFaultingInstructionRaisesNoDataBreakpointTrap()
    {
        // push word [7000h] reads the watched word, then the push faults on SP = 1 (a word at FFFF).
        var m = Machine([0xBC, 0x01, 0x00, 0xFF, 0x36, 0x00, 0x70]);
        SetBreakpoint(m, 0, 0x7000, rw: 3, len: 1);
        m.Engine.StopOnExceptions = (1u << DB) | (1u << CpuVectors.SS);
        Assert.Equal(StopReason.Exception, m.Engine.Run(1000));
        Assert.Equal(CpuVectors.SS, m.Engine.StoppedOn.Vector);
        Assert.Equal(0u, m.Cpu.PendingDebugTrap);
    }

    static byte[] Assemble(Assembler a)
    {
        var w = new Writer();
        a.Assemble(w, 0);
        return [.. w.Bytes];
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
