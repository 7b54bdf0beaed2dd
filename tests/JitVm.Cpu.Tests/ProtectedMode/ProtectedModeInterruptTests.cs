using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.ProtectedModeMachine;

namespace JitVm.Cpu.Tests.ProtectedMode;

/// <summary>Interrupt and exception delivery through the IDT: gates, frames, stack switch, error codes, #DF.</summary>
public class ProtectedModeInterruptTests
{
    [Fact]
    public void AFaultAtRingZeroPushesEflagsCsEipAndTheErrorCodeOnTheSameStack()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x => { x.mov(ax, 0x10B); x.mov(ds, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(Stack0, pm.Cpu.Seg[SegReg.SS].Selector);
        Assert.Equal(0xFFF0u - 16, pm.Cpu.Esp);
        Assert.Equal(0x108u, pm.Stack32(0));
        Assert.Equal(3u, pm.Stack32(4));
        Assert.Equal((uint)Code0, pm.Stack32(8));
        Assert.Equal(Processor.FlagRF | 2, pm.Stack32(12) & 0xFFFF0002);   // a fault's image has RF set
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagRF);
    }

    [Fact]
    public void AnInterruptFromRingThreeSwitchesToTheTssStackAndPushesSsEsp()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.SetGate(0x41, Handler0, HandlerBase + 0x41 * 4, 0xEE);         // DPL 3 interrupt gate
        pm.Cpu.Flags |= Processor.FlagIF;
        pm.Load(x => { x.mov(eax, 7); x.@int(0x41); });
        pm.Run();
        Assert.True(pm.InHandler(0x41));
        Assert.Equal(0, pm.Cpu.Cpl);
        Assert.Equal(Stack0, pm.Cpu.Seg[SegReg.SS].Selector);
        Assert.Equal(0xFFF0u - 20, pm.Cpu.Esp);
        Assert.Equal(8u, pm.Stack32(0));                                   // EIP after INT 41h (6 + 2 bytes)
        Assert.Equal((uint)Code3, pm.Stack32(4));
        Assert.NotEqual(0u, pm.Stack32(8) & Processor.FlagIF);             // the image has IF set
        Assert.Equal(0u, pm.Stack32(8) & Processor.FlagRF);                // a software interrupt's has RF clear
        Assert.Equal(0xFFF0u, pm.Stack32(12));
        Assert.Equal((uint)Stack3, pm.Stack32(16));
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagIF);                 // interrupt gate clears IF
    }

    [Fact]
    public void ATrapGateKeepsIf()
    {
        var pm = new ProtectedModeMachine();
        pm.SetGate(0x42, Handler0, HandlerBase + 0x42 * 4, 0x8F);
        pm.Cpu.Flags |= Processor.FlagIF | Processor.FlagNT;
        pm.Load(x => x.@int(0x42));
        pm.Run();
        Assert.True(pm.InHandler(0x42));
        Assert.NotEqual(0u, pm.Cpu.Flags & Processor.FlagIF);
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagNT);                 // NT is cleared by every gate
    }

    [Fact]
    public void A286GatePushesAWordFrame()
    {
        var pm = new ProtectedModeMachine();
        pm.SetGate(0x43, Handler0, HandlerBase + 0x43 * 4, 0x86);
        pm.Load(x => { x.nop(); x.@int(0x43); });
        pm.Run();
        Assert.True(pm.InHandler(0x43));
        Assert.Equal(0xFFF0u - 6, pm.Cpu.Esp);
        Assert.Equal(3, pm.Stack16(0));
        Assert.Equal(Code0, pm.Stack16(2));
    }

    [Fact]
    public void SoftwareInterruptThroughAMorePrivilegedGateIsGpWithTheIdtBit()
    {
        var pm = new ProtectedModeMachine(ring3: true);                   // every gate is DPL 0
        pm.Load(x => { x.nop(); x.@int(0x40); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0x40u * 8 + 2, pm.Stack32(0));                        // IDT bit, EXT clear (software)
        Assert.Equal(1u, pm.Stack32(4));                                   // the INT itself (a fault)
        Assert.Equal((uint)Code3, pm.Stack32(8));
        Assert.Equal((uint)Stack3, pm.Stack32(20));
    }

    [Fact]
    public void AnExceptionThroughANotPresentGateIsNpWithExtAndIdtBits()
    {
        var pm = new ProtectedModeMachine();
        pm.SetGate(CpuVectors.UD, Handler0, HandlerBase, 0x0E);           // not present
        pm.Load(x => x.ud2());
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.NP));
        Assert.Equal(6u * 8 + 2 + 1, pm.Stack32(0));
        Assert.Equal(0u, pm.Stack32(4));
    }

    [Fact]
    public void AVectorBeyondTheIdtLimitIsGp()
    {
        var pm = new ProtectedModeMachine();
        pm.Cpu.Idtr.Limit = 0x80 * 8 - 1;
        pm.Load(x => x.@int(0x80));
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0x80u * 8 + 2, pm.Stack32(0));
    }

    [Fact]
    public void TwoContributoryFaultsMakeADoubleFaultWithErrorCodeZero()
    {
        var pm = new ProtectedModeMachine();
        pm.SetGate(CpuVectors.GP, Handler0, HandlerBase, 0x0E);           // #GP gate not present: #NP while delivering #GP
        pm.Load(x => { x.mov(ax, 0); x.mov(ds, ax); x.mov(al, __byte_ptr[0]); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.DF));
        Assert.Equal(0u, pm.Stack32(0));
        Assert.Equal(5u, pm.Stack32(4));                                   // the instruction that faulted first
    }

    [Fact]
    public void AFaultWhileDeliveringADoubleFaultShutsDown()
    {
        var pm = new ProtectedModeMachine();
        pm.Cpu.Idtr.Limit = 0;
        pm.Load(x => x.ud2());
        Assert.Equal(StopReason.Shutdown, pm.M.Engine.Run(1000));
    }

    [Fact]
    public void AHandlerAtAnOuterLevelIsGp()
    {
        var pm = new ProtectedModeMachine();
        pm.SetGate(0x44, Code3, 0, 0x8E);                                 // ring-3 code from ring 0
        pm.Load(x => x.@int(0x44));
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal((uint)(Code3 & ~3), pm.Stack32(0));
    }

    [Fact]
    public void ABadInnerStackInTheTssIsTsWithTheStackSelector()
    {
        var pm = new ProtectedModeMachine(ring3: true);
        pm.SetGate(0x41, Handler0, HandlerBase + 0x41 * 4, 0xEE);
        pm.M.Memory.Write16(TssBase + 8, Data3);                           // SS0 with RPL/DPL 3
        pm.Load(x => x.@int(0x41));
        Assert.Equal(StopReason.Shutdown, pm.M.Engine.Run(1000));          // #TS cannot be delivered either: #DF, then shutdown
        Assert.Equal(1, pm.M.Exceptions(CpuVectors.TS));
    }

    [Fact]
    public void IretReturnsToRingThreeAndNullsDataSegmentsItCannotUse()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x =>
        {
            foreach (uint v in new uint[] { Stack3, 0x8000, 0x3202, Code3, 0x100 })   // SS ESP EFLAGS(IF, IOPL 3) CS EIP
            {
                x.mov(eax, v);
                x.push(eax);
            }
            x.iretd();
        });
        pm.M.Memory.Poke(CodeBase + 0x100, [0x90, 0xCC]);                  // nop; int3 (gate DPL 0: #GP at ring 3)
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(3u * 8 + 2, pm.Stack32(0));
        Assert.Equal(0x101u, pm.Stack32(4));
        Assert.Equal((uint)Code3, pm.Stack32(8));
        Assert.Equal(0x3202u, pm.Stack32(12) & 0x3202u);
        Assert.Equal(0x8000u, pm.Stack32(16));
        Assert.Equal((uint)Stack3, pm.Stack32(20));
        Assert.Equal(0, pm.Cpu.Seg[SegReg.DS].Selector);                   // DPL-0 DS was nulled on the way out
    }

    [Fact]
    public void RfFromIretdLastsOneInstruction()
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x =>
        {
            foreach (uint v in new uint[] { Processor.FlagRF | 2, Code0, 0x100 })   // EFLAGS CS EIP
            {
                x.mov(eax, v);
                x.push(eax);
            }
            x.iretd();
        });
        pm.M.Memory.Poke(CodeBase + 0x100, [0x90, 0xF4]);                  // nop; hlt
        pm.Run();
        Assert.Equal(0x102u, pm.Cpu.Eip);
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagRF);
    }
}
