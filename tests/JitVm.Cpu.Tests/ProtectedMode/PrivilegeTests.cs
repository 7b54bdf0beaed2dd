using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.ProtectedModeMachine;

namespace JitVm.Cpu.Tests.ProtectedMode;

/// <summary>Call gates, far returns across levels and the IOPL rules.</summary>
public class PrivilegeTests
{
    const ushort Gate16 = 0x50, Gate32 = 0x58;
    const uint Target = 0x800;                                            // ring-0 code at CodeBase + 800h: HLT

    static ProtectedModeMachine Ring3WithGates()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.SetDescriptor(Gate16, Gate(Code0, Target, 0xE4, paramCount: 2));
        pm.SetDescriptor(Gate32, Gate(Code0, Target, 0xEC, paramCount: 2));
        pm.M.Memory.Poke(CodeBase + Target, [0xF4]);
        return pm;
    }

    [Fact]
    public void A286CallGateSwitchesStacksAndCopiesWordParameters()
    {
        var pm = Ring3WithGates();
        pm.Load(x => { x.push(0x1111); x.push(0x2222); x.call(Gate16 | 3, 0); });
        pm.Run();
        Assert.Equal(0, pm.Cpu.Cpl);
        Assert.Equal(Code0, pm.Cpu.Seg[SegReg.CS].Selector);
        Assert.Equal(Stack0, pm.Cpu.Seg[SegReg.SS].Selector);
        Assert.Equal(0xFFF0u - 12, pm.Cpu.Esp);
        Assert.Equal(11, pm.Stack16(0));                                   // return IP (3 + 3 + 5 bytes)
        Assert.Equal(Code3, pm.Stack16(2));
        Assert.Equal(0x2222, pm.Stack16(4));
        Assert.Equal(0x1111, pm.Stack16(6));
        Assert.Equal(0xFFEC, pm.Stack16(8));                               // caller's SP after its two pushes
        Assert.Equal(Stack3, pm.Stack16(10));
    }

    [Fact]
    public void A386CallGateCopiesDwordParameters()
    {
        var pm = Ring3WithGates();
        pm.Load(x => { x.mov(eax, 0x11111111); x.push(eax); x.mov(eax, 0x22222222); x.push(eax); x.call(Gate32 | 3, 0); });
        pm.Run();
        Assert.Equal(0xFFF0u - 24, pm.Cpu.Esp);
        Assert.Equal(2u * 8 + 5, pm.Stack32(0));
        Assert.Equal((uint)Code3, pm.Stack32(4));
        Assert.Equal(0x22222222u, pm.Stack32(8));
        Assert.Equal(0x11111111u, pm.Stack32(12));
        Assert.Equal(0xFFE8u, pm.Stack32(16));
        Assert.Equal((uint)Stack3, pm.Stack32(20));
    }

    [Fact]
    public void ACallGateBelowTheCallersPrivilegeIsGp()
    {
        var pm = Ring3WithGates();
        pm.SetDescriptor(Gate16, Gate(Code0, Target, 0x84));             // gate DPL 0
        pm.Load(x => x.call(Gate16 | 3, 0));
        pm.Run();
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
        Assert.Equal((uint)Gate16, pm.Stack32(0));
        Assert.Equal(0xFFF0u, pm.Stack32(16));                             // the caller's stack is untouched
    }

    [Fact]
    public void AJumpThroughAGateCannotRaisePrivilege()
    {
        var pm = Ring3WithGates();
        pm.Load(x => x.jmp(Gate16 | 3, 0));
        pm.Run();
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
        Assert.Equal((uint)Code0, pm.Stack32(0));
    }

    [Fact]
    public void ADirectCallToMorePrivilegedCodeIsGp()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.Load(x => x.call(Code0, 0x800));
        pm.Run();
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
        Assert.Equal((uint)Code0, pm.Stack32(0));
    }

    [Fact]
    public void ConformingCodeRunsAtTheCallersLevel()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.SetDescriptor(0x60, Segment(CodeBase, 0xFFFF, 0x9F));           // conforming, DPL 0
        pm.M.Memory.Poke(CodeBase + 0x800, [0x8C, 0xC8, 0xF4]);            // mov ax, cs; hlt (HLT at CPL 3: #GP)
        pm.Load(x => x.call(0x60, 0x800));
        pm.Run();
        Assert.Equal(0x63, (int)pm.Cpu.Eax & 0xFFFF);                      // CS.RPL = CPL 3
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
    }

    [Fact]
    public void RetfToAnOuterLevelRestoresTheCallersStack()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x =>
        {
            x.mov(ax, Stack3); x.push(ax);
            x.push(0x7000);
            x.mov(ax, Code3); x.push(ax);
            x.push(0x900);
            x.retf();
        });
        pm.M.Memory.Poke(CodeBase + 0x900, [0xFA]);                        // CLI at CPL 3 with IOPL 0: #GP
        pm.Run();
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
        Assert.Equal(0x900u, pm.Stack32(4));
        Assert.Equal((uint)Code3, pm.Stack32(8));
        Assert.Equal(0x7000u, pm.Stack32(16));
        Assert.Equal((uint)Stack3, pm.Stack32(20));
        Assert.Equal(0, pm.Cpu.Seg[SegReg.DS].Selector);
        Assert.Equal(0, pm.Cpu.Seg[SegReg.ES].Selector);
    }

    [Fact]
    public void RetfWithAnRplBelowCplIsGp()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.Load(x => { x.push(Code0); x.push(0x800); x.retf(); });
        pm.Run();
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
        Assert.Equal((uint)Code0, pm.Stack32(0));
    }

    [Fact]
    public void PopfWithoutPrivilegeKeepsIfAndIopl()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.Cpu.Flags |= Processor.FlagIF;
        pm.Load(x => { x.push(0x3001); x.popf(); x.pushf(); x.pop(ax); x.int3(); });
        pm.Run();
        Assert.Equal(0x0203, (int)pm.Cpu.Eax & 0x3203);                    // CF from the image, IF kept, IOPL kept 0
    }

    [Fact]
    public void PopfAtRingZeroChangesIoplAndIf()
    {
        var pm = new ProtectedModeMachine();
        pm.Cpu.Flags |= Processor.FlagIF;
        pm.Load(x => { x.push(0x3001); x.popf(); });
        pm.Run();
        Assert.Equal(0x3001u, pm.Cpu.Flags & 0x3201);
    }

    [Fact]
    public void CliAndStiFollowIopl()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.Cpu.Flags |= 0x3000;
        pm.Load(x => { x.cli(); x.mov(bx, 1); x.sti(); });
        pm.Run();                                                          // IOPL 3: both allowed, then HLT faults
        Assert.Equal(1, (int)pm.Cpu.Ebx);
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
        Assert.Equal(5u, pm.Stack32(4));                                   // the HLT
    }

    [Fact]
    public void InAndOutConsultTheIoBitmapAboveIopl()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.SetPortDenied(0x62, true);
        pm.Load(x => { x.@in(al, 0x61); x.mov(bx, 1); x.mov(dx, 0x61); x.@in(ax, dx); });
        pm.Run();
        Assert.Equal(1, (int)pm.Cpu.Ebx);                                  // port 61h allowed
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0u, pm.Stack32(0));
        Assert.Equal(8u, pm.Stack32(4));                                   // the word IN covering 62h
    }

    [Fact]
    public void OutsIsCheckedToo()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.SetPortDenied(0x80, true);
        pm.Load(x => { x.mov(dx, 0x80); x.xor(si, si); x.outsb(); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(5u, pm.Stack32(4));
    }

    [Fact]
    public void The286HasNoIoBitmap()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286, ring3: true);
        pm.Load(x => x.@in(al, 0x61));
        pm.Run();
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.GP));
    }
}
