using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.ProtectedModeMachine;

namespace JitVm.Cpu.Tests.ProtectedMode;

/// <summary>Virtual-8086 mode: entry by IRETD, real-mode segments, IOPL-sensitive instructions, the monitor frame.</summary>
public class V86Tests
{
    const ushort V86Cs = 0x1000;                                          // linear 10000h: the test code itself
    const uint V86Code = 0x400;                                           // V86 code at 1000:0400

    /// <summary>Ring-0 code that IRETDs into V86 mode at 1000:0400 with the given IOPL; the V86 code follows.</summary>
    static ProtectedModeMachine Enter(int iopl, Action<Assembler> v86)
    {
        var pm = new ProtectedModeMachine();
        pm.Load(x =>
        {
            uint eflags = Processor.FlagVM | ((uint)iopl << 12) | 2;
            foreach (uint v in new uint[] { 0x5000, 0x4000, 0x3000, 0x2000, 0x2000, 0xFFF0, eflags, V86Cs, V86Code })
            {
                x.mov(eax, v);                                           // GS FS DS ES SS ESP EFLAGS CS EIP
                x.push(eax);
            }
            x.iretd();
        });
        var a = new Assembler(16);
        v86(a);
        a.hlt();
        var w = new Bytes();
        a.Assemble(w, V86Code);
        pm.M.Memory.Poke(CodeBase + V86Code, w.B.ToArray());
        return pm;
    }

    sealed class Bytes : CodeWriter
    {
        public readonly List<byte> B = new();
        public override void WriteByte(byte value) => B.Add(value);
    }

    [Fact]
    public void IretdWithVmEntersV86ModeWithRealModeSegments()
    {
        var pm = Enter(3, x => { x.mov(ax, __word_ptr[0x10]); x.mov(bx, cs); x.int3(); });
        pm.M.Memory.Write16(0x30010, 0xBEEF);                              // DS = 3000h
        pm.SetGate(CpuVectors.BP, Handler0, HandlerBase + 3 * 4, 0xEE);
        pm.Run();
        Assert.Equal(0xBEEF, (int)pm.Cpu.Eax & 0xFFFF);
        Assert.Equal(V86Cs, (int)pm.Cpu.Ebx & 0xFFFF);
        Assert.True(pm.InHandler(CpuVectors.BP));
    }

    [Fact]
    public void AnInterruptFromV86PushesTheSegmentRegistersAndNullsThem()
    {
        var pm = Enter(3, x => { x.nop(); x.@int(0x30); });
        pm.SetGate(0x30, Handler0, HandlerBase + 0x30 * 4, 0xEE);
        pm.Run();
        Assert.True(pm.InHandler(0x30));
        Assert.False(pm.Cpu.V86Mode);
        Assert.Equal(0, pm.Cpu.Cpl);
        Assert.Equal(0xFFF0u - 36, pm.Cpu.Esp);
        Assert.Equal(V86Code + 3, pm.Stack32(0));                          // EIP after INT 30h
        Assert.Equal((uint)V86Cs, pm.Stack32(4));
        Assert.NotEqual(0u, pm.Stack32(8) & Processor.FlagVM);
        Assert.Equal(0xFFF0u, pm.Stack32(12));
        Assert.Equal(0x2000u, pm.Stack32(16));                             // SS
        Assert.Equal(0x2000u, pm.Stack32(20));                             // ES
        Assert.Equal(0x3000u, pm.Stack32(24));                             // DS
        Assert.Equal(0x4000u, pm.Stack32(28));                             // FS
        Assert.Equal(0x5000u, pm.Stack32(32));                             // GS
        for (int s = 0; s < 6; s++)
            if (s is not (SegReg.CS or SegReg.SS)) Assert.Equal(0, pm.Cpu.Seg[s].Selector);
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagVM);
    }

    [Theory]
    [InlineData(0xFA)]          // CLI
    [InlineData(0xFB)]          // STI
    [InlineData(0x9C)]          // PUSHF
    [InlineData(0x9D)]          // POPF
    [InlineData(0xCF)]          // IRET
    [InlineData(0xCD)]          // INT n
    public void IoplSensitiveInstructionsAreGpBelowIopl3(byte opcode)
    {
        var pm = Enter(0, x => { x.nop(); x.db(opcode, 0x30); });
        pm.SetGate(0x30, Handler0, HandlerBase + 0x30 * 4, 0xEE);
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(0u, pm.Stack32(0));
        Assert.Equal(V86Code + 1, pm.Stack32(4));
        Assert.NotEqual(0u, pm.Stack32(12) & Processor.FlagVM);
    }

    [Fact]
    public void Int3IsNotIoplSensitive()
    {
        var pm = Enter(0, x => x.int3());
        pm.SetGate(CpuVectors.BP, Handler0, HandlerBase + 3 * 4, 0xEE);
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.BP));
    }

    [Fact]
    public void PopfAtIopl3CannotChangeIopl()
    {
        var pm = Enter(3, x => { x.push(0x0201); x.popf(); x.pushf(); x.pop(dx); x.int3(); });
        pm.SetGate(CpuVectors.BP, Handler0, HandlerBase + 3 * 4, 0xEE);
        pm.Run();
        Assert.Equal(0x3201, (int)pm.Cpu.Edx & 0x3201);
    }

    [Fact]
    public void IoInV86ModeUsesTheBitmapWhateverIopl()
    {
        var pm = Enter(3, x => { x.@in(al, 0x61); x.mov(bx, 1); x.@in(al, 0x62); });
        pm.SetPortDenied(0x62, true);
        pm.Run();
        Assert.Equal(1, (int)pm.Cpu.Ebx & 0xFFFF);
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal(V86Code + 5, pm.Stack32(4));
    }

    [Fact]
    public void IretdFromTheMonitorReturnsToV86()
    {
        var pm = Enter(3, x => { x.@int(0x30); x.mov(cx, ds); x.int3(); });
        pm.SetGate(0x30, Handler0, 0x5800, 0xEE);
        pm.SetGate(CpuVectors.BP, Handler0, HandlerBase + 3 * 4, 0xEE);
        pm.M.Memory.Poke(0x5800, [0x66, 0xCF]);                            // iretd
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.BP));
        Assert.Equal(0x3000, (int)pm.Cpu.Ecx & 0xFFFF);                    // DS restored from the frame
        Assert.Equal(V86Code + 5, pm.Stack32(0));                          // after the INT3
    }
}
