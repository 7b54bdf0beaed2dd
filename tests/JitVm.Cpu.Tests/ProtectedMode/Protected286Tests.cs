using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.ProtectedModeMachine;

namespace JitVm.Cpu.Tests.ProtectedMode;

/// <summary>The 80286's protected mode: 16-bit gates and TSS only, descriptors without their last two bytes, LMSW.</summary>
public class Protected286Tests
{
    [Fact]
    public void AnExceptionThroughA286GatePushesWords()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286);
        pm.Load(x => { x.mov(ax, 0x10B); x.mov(ds, ax); });
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0xFFF0u - 8, pm.Cpu.Esp & 0xFFFF);
        Assert.Equal(0x108, pm.Stack16(0));                                // error code
        Assert.Equal(3, pm.Stack16(2));                                    // IP
        Assert.Equal(Code0, pm.Stack16(4));
    }

    [Fact]
    public void A286CallGateFromRingThreeUsesTheSp0OfA286Tss()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286, ring3: true);
        pm.SetDescriptor(0x50, Gate(Code0, 0x800, 0xE4, paramCount: 1));
        pm.M.Memory.Poke(CodeBase + 0x800, [0xF4]);
        pm.Load(x => { x.push(0x3333); x.call(0x53, 0); });
        pm.Run();
        Assert.Equal(0, pm.Cpu.Cpl);
        Assert.Equal(Stack0, pm.Cpu.Seg[SegReg.SS].Selector);
        Assert.Equal(0xFFF0u - 10, pm.Cpu.Esp & 0xFFFF);
        Assert.Equal(8, pm.Stack16(0));
        Assert.Equal(Code3, pm.Stack16(2));
        Assert.Equal(0x3333, pm.Stack16(4));
        Assert.Equal(0xFFEE, pm.Stack16(6));
        Assert.Equal(Stack3, pm.Stack16(8));
    }

    [Fact]
    public void A386GateTypeIsInvalidOnThe286()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286);
        pm.SetDescriptor(0x50, Gate(Code0, 0x800, 0xEC));
        pm.Load(x => x.call(0x50, 0));
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0x50, pm.Stack16(0));
    }

    [Fact]
    public void TheReservedDescriptorWordIsIgnored()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286);
        pm.SetDescriptor(0x48, Segment(0xFF040000, 0xF0FFF, 0x92, g: true, big: true));   // base 31:24, limit 19:16, G, B set
        pm.Load(x => { x.mov(ax, 0x48); x.mov(es, ax); });
        pm.Run();
        Assert.Equal(0x040000u, pm.Cpu.Seg[SegReg.ES].Base);
        Assert.Equal(0x0FFFu, pm.Cpu.Seg[SegReg.ES].Limit);
        Assert.False(pm.Cpu.Seg[SegReg.ES].Big);
    }

    [Fact]
    public void LmswCannotLeaveProtectedMode()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286);
        pm.Load(x => { x.xor(ax, ax); x.lmsw(ax); x.smsw(bx); });
        pm.Run();
        Assert.True(pm.Cpu.ProtectedMode);
        Assert.Equal(1, (int)pm.Cpu.Ebx & 1);
    }

    [Fact]
    public void PopfAtRingZeroCanSetIoplOnThe286()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286);
        pm.Load(x => { x.push(0x3002); x.popf(); x.pushf(); x.pop(bx); });
        pm.Run();
        Assert.Equal(0x3002, (int)pm.Cpu.Ebx & 0x7002);
    }
}
