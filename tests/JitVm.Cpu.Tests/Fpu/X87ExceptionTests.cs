using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>
/// Unmasked x87 exceptions: ES and B set by the faulting instruction, the report at the next waiting instruction
/// (#MF with CR0.NE = 1; FERR# with CR0.NE = 0, the instruction waiting for the interrupt), the no-wait instructions
/// that do not report, and the interaction with #NM.
/// </summary>
public class X87ExceptionTests
{
    /// <summary>FNINIT, unmask IE, then overflow the stack: an unmasked #IS is pending. Ends at offset <see cref="PendingEnd"/>.</summary>
    static void MakePending(Assembler x, bool ne)
    {
        if (ne) { x.mov(eax, cr0); x.or(eax, 0x20); x.mov(cr0, eax); }
        x.fninit();
        x.fldcw(__word_ptr[0x7000]);
        for (int k = 0; k < 9; k++) x.fld1();
    }

    static FpuRig Rig()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, 0x037E);
        return r;
    }

    [Fact]
    public void TheNextWaitingInstructionRaisesMathFaultWhenNumericErrorIsSet()
    {
        var r = Rig();
        r.M.Load(x => { MakePending(x, ne: true); x.mov(bx, 1); x.fnop(); x.mov(bx, 2); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.MF));
        Assert.Equal(1u, r.Cpu.Ebx & 0xFFFF);
        // The fault's return address is the FNOP (after MOV CR0 x3, FNINIT, FLDCW, nine FLD1 and MOV BX).
        ushort ip = r.Cpu.Read16(SegReg.SS, r.Cpu.StackPointer);
        Assert.Equal(0xD9, r.M.Memory.Read8(0x10000u + ip));
        Assert.Equal(0xD0, r.M.Memory.Read8(0x10000u + ip + 1u));
        // FIP still points at the ninth FLD1, the instruction that overflowed.
        Assert.Equal(ip - 5u, r.Cpu.Fpu.Ip);
        Assert.Equal(0x1E8, r.Cpu.Fpu.Opcode);
    }

    [Fact]
    public void NoWaitInstructionsDoNotReportAndFnclexClearsThePendingException()
    {
        var r = Rig();
        r.M.Load(x => { MakePending(x, ne: true); x.fnstsw(ax); x.fnstcw(__word_ptr[0x7002]); x.fnclex(); x.fnop(); x.wait(); x.mov(bx, 3); });
        r.M.Run();
        Assert.Equal(0, r.Exceptions(CpuVectors.MF));
        Assert.Equal(0x82C1u, r.Cpu.Eax & 0xC7FF);          // B, C1, ES, SF, IE (TOP 0)
        Assert.Equal(3u, r.Cpu.Ebx & 0xFFFF);
    }

    [Fact]
    public void WaitReportsAPendingException()
    {
        var r = Rig();
        r.M.Load(x => { MakePending(x, ne: true); x.mov(bx, 1); x.wait(); x.mov(bx, 2); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.MF));
        Assert.Equal(1u, r.Cpu.Ebx & 0xFFFF);
    }

    [Fact]
    public void FldcwThatUnmasksASetFlagMakesTheNextWaitingInstructionFault()
    {
        var r = new FpuRig();
        r.M.Memory.Write16(0x7000, 0x037E);
        r.M.Load(x =>
        {
            x.mov(eax, cr0); x.or(eax, 0x20); x.mov(cr0, eax);
            x.fninit();
            for (int k = 0; k < 9; k++) x.fld1();               // masked overflow: IE set, nothing pending
            x.mov(bx, 1);
            x.fldcw(__word_ptr[0x7000]);                        // unmasks IE: pending from now on
            x.mov(bx, 2);
            x.fnop();
            x.mov(bx, 3);
        });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.MF));
        Assert.Equal(2u, r.Cpu.Ebx & 0xFFFF);
    }

    [Fact]
    public void DeviceNotAvailableComesBeforeThePendingException()
    {
        var r = Rig();
        r.M.Load(x => { MakePending(x, ne: true); x.mov(eax, cr0); x.or(eax, 8); x.mov(cr0, eax); x.fnop(); });
        r.M.Run();
        Assert.Equal(1, r.Exceptions(CpuVectors.NM));
        Assert.Equal(0, r.Exceptions(CpuVectors.MF));
    }

    /// <summary>A PIC stand-in: FERR# raises IRQ 13 (vector 75h) until the handler's write to port F0h.</summary>
    sealed class Irq13 : IInterruptController, JitVm.Core.IIoDevice
    {
        public int Asserts;
        public bool Line;
        readonly Processor cpu;
        public Irq13(Processor cpu) { this.cpu = cpu; }
        public void Assert() { Asserts++; Line = true; cpu.IrqLine = true; }
        public bool InterruptPending => Line;
        public byte Acknowledge() { cpu.IrqLine = false; return 0x75; }
        public uint In(ushort port, int size) => 0xFF;
        public void Out(ushort port, int size, uint value) { Line = false; cpu.IrqLine = false; }
    }

    [Fact]
    public void WithoutNumericErrorTheInstructionWaitsForTheFerrInterruptAndRunsAfterIt()
    {
        var r = Rig();
        var pic = new Irq13(r.Cpu);
        r.Cpu.InterruptController = pic;
        r.Cpu.FerrAsserted = pic.Assert;
        r.M.Io.Register(0xF0, 1, pic);
        // IRQ 13 handler at 0000:0600: count, clear the latch, FNCLEX, IRET.
        r.M.Memory.Poke(0x75 * 4, [0x00, 0x06, 0x00, 0x00]);
        r.M.Memory.Poke(0x600, [0xFF, 0x06, 0x10, 0x70, 0xE6, 0xF0, 0xDB, 0xE2, 0xCF]);   // inc word [7010h]; out F0h, al; fnclex; iret
        r.M.Load(x => { x.sti(); MakePending(x, ne: false); x.mov(bx, 1); x.fnop(); x.mov(bx, 2); x.fnop(); x.mov(bx, 3); });
        r.M.Run();
        Assert.False(r.InHandler);
        Assert.Equal(1, pic.Asserts);
        Assert.Equal(1, r.M.Read16(0x7010));                // the handler ran once
        Assert.Equal(3u, r.Cpu.Ebx & 0xFFFF);              // then both FNOPs ran
        Assert.Equal(0, r.Exceptions(CpuVectors.MF));
        Assert.False(r.Cpu.Fpu.Ferr);
    }

    [Fact]
    public void WithoutNumericErrorAndNoInterruptTheInstructionKeepsWaiting()
    {
        var r = Rig();
        int asserts = 0;
        r.Cpu.FerrAsserted = () => asserts++;
        int length = r.M.Load(x => { MakePending(x, ne: false); x.fnop(); });
        var stop = r.M.Engine.Run(10_000);
        Assert.Equal(StopReason.Budget, stop);
        Assert.Equal((uint)length - 3, r.Cpu.Eip);          // still on the FNOP (2 bytes, then the HLT)
        Assert.Equal(1, asserts);                           // FERR# asserted once, then held
        Assert.True(r.Cpu.Fpu.Ferr);
    }
}
