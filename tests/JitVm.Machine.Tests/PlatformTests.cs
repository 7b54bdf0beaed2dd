using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Jit;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests;

/// <summary>
/// The chipset as a guest drives it: a ROM programs the PIC pair and the PIT as a BIOS does, takes timer
/// interrupts while halted and while spinning in a loop, reads the RTC and the CMOS memory bytes, and the run is
/// compared across engines in deterministic mode.
/// </summary>
public class PlatformTests
{
    // Results the ROM leaves in RAM (segment 0).
    const uint TicksAt = 0x500, SpinAt = 0x504, YearAt = 0x508, ExtMemAt = 0x50C, SecondsAt = 0x510, StatusAt = 0x514;
    const int HaltTicks = 20, SpinTicks = 60;

    /// <summary>
    /// PIC initialised like a PC BIOS (vectors 08h/70h, cascade on IR2, only IRQ 0 unmasked), PIT channel 0 in
    /// mode 2 at 1 kHz (divisor 1193). Waits for <see cref="HaltTicks"/> ticks with STI;HLT, then counts loop
    /// turns of a register loop until <see cref="SpinTicks"/> more ticks have come in (the handler increments the
    /// tick count in RAM and sends a non-specific EOI), then reads the RTC year and seconds and CMOS 17h/18h.
    /// </summary>
    static byte[] TimerRom()
    {
        var rb = new RomBuilder();
        var a = rb.Code;
        const ushort handlerOffset = 0x8000;
        var halt = a.CreateLabel();
        var spin = a.CreateLabel();
        a.cli();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7000);
        // IVT entry 08h → F000:handler
        a.mov(__word_ptr[0x08 * 4], handlerOffset);
        a.mov(__word_ptr[0x08 * 4 + 2], RomBuilder.RomSegment);
        a.mov(__dword_ptr[TicksAt], 0);
        a.mov(__dword_ptr[SpinAt], 0);
        // ICW1..ICW4 for both chips, then the masks
        void Out(byte port, byte value) { a.mov(al, value); a.@out(port, al); }
        Out(0x20, 0x11); Out(0x21, 0x08); Out(0x21, 0x04); Out(0x21, 0x01);
        Out(0xA0, 0x11); Out(0xA1, 0x70); Out(0xA1, 0x02); Out(0xA1, 0x01);
        Out(0x21, 0xFE); Out(0xA1, 0xFF);
        // PIT channel 0: LSB then MSB, mode 2, divisor 1193 (1 kHz)
        Out(0x43, 0x34); Out(0x40, 1193 & 0xFF); Out(0x40, 1193 >> 8);
        a.sti();
        a.Label(ref halt);
        a.hlt();
        a.cmp(__dword_ptr[TicksAt], HaltTicks);
        a.jb(halt);
        // Spin: a register loop the JIT keeps inside one method; only the budget checks let the interrupts in.
        a.xor(ecx, ecx);
        a.Label(ref spin);
        a.inc(ecx);
        a.add(edx, ecx);
        a.rol(edx, 3);
        a.cmp(__dword_ptr[TicksAt], HaltTicks + SpinTicks);
        a.jb(spin);
        a.cli();
        a.mov(__dword_ptr[SpinAt], ecx);
        // RTC: year (09h) and seconds (00h) in BCD; CMOS 17h/18h (extended memory in KiB)
        Out(0x70, 0x09); a.@in(al, 0x71); a.mov(__byte_ptr[YearAt], al);
        Out(0x70, 0x00); a.@in(al, 0x71); a.mov(__byte_ptr[SecondsAt], al);
        Out(0x70, 0x17); a.@in(al, 0x71); a.mov(__byte_ptr[ExtMemAt], al);
        Out(0x70, 0x18); a.@in(al, 0x71); a.mov(__byte_ptr[ExtMemAt + 1], al);
        // The 8042's self test answers 55h once the output buffer is full
        var wait = a.CreateLabel();
        Out(0x64, 0xAA);
        a.Label(ref wait);
        a.@in(al, 0x64);
        a.test(al, 1);
        a.jz(wait);
        a.@in(al, 0x60);
        a.mov(__byte_ptr[StatusAt], al);
        a.hlt();

        var h = rb.AddSection(16, handlerOffset, "irq0");
        h.push(ax);
        h.inc(__dword_ptr[TicksAt]);
        h.mov(al, 0x20);
        h.@out(0x20, al);
        h.pop(ax);
        h.iret();
        return rb.Build();
    }

    static Machine Boot(Func<Processor, IExecutionEngine>? engine, string name) => new(new MachineConfig
    {
        Rom = TimerRom(),
        MemoryBytes = 16 << 20,
        EngineFactory = engine,
        EngineName = name,
        MaxInstructions = 50_000_000,
    });

    static (RunResult Result, uint Ticks, uint Spin, Machine M) Run(Func<Processor, IExecutionEngine>? engine, string name)
    {
        var m = Boot(engine, name);
        var r = m.Run();
        return (r, m.Memory.Read32(TicksAt), m.Memory.Read32(SpinAt), m);
    }

    [Fact]
    public void TimerInterruptsWakeTheHaltedCpuAndInterruptALoop()
    {
        var (r, ticks, spin, m) = Run(null, "interp");
        Assert.Equal(ExitReason.Halt, r.Reason);
        Assert.Equal((uint)(HaltTicks + SpinTicks), ticks);
        Assert.True(spin > 1000, $"spin count {spin}");
        // 80 interrupts at 1193 PIT clocks apart, the first when the mode-2 control word raises OUT: 79 periods
        // (78.99 ms) of guest time. Deterministic time is 10 ns per instruction, so the spin phase's 60 ms are
        // about 6 million instructions (halted time costs none).
        Assert.InRange(r.Instructions, 5_000_000, 7_000_000);
        Assert.InRange(m.Clock.Now, 78_900_000, 79_100_000);
        Assert.Equal(0x26, m.Memory.Read8(YearAt));            // the deterministic RTC starts on 2026-01-01
        Assert.Equal(0x00, m.Memory.Read8(SecondsAt));         // 80 ms later
        Assert.Equal((ushort)((16 << 10) - 1024), m.Memory.Read16(ExtMemAt));
        Assert.Equal(0x55, m.Memory.Read8(StatusAt));
    }

    [Fact]
    public void DeterministicRunsAreIdenticalInEveryEngine()
    {
        var interp = Run(null, "interp");
        var jit = Run(c => new JitEngine(c, threshold: 0), "jit");
        var auto = Run(c => new JitEngine(c, background: true), "auto");
        // Slices end at exactly the timer deadlines in every engine, so each interrupt arrives at the same
        // instruction: the loop turns counted between ticks, the instruction count and the time all agree.
        Assert.Equal(interp.Spin, jit.Spin);
        Assert.Equal(interp.Spin, auto.Spin);
        Assert.Equal(interp.Result.Instructions, jit.Result.Instructions);
        Assert.Equal(interp.Result.Instructions, auto.Result.Instructions);
        Assert.Equal(interp.M.Clock.Now, jit.M.Clock.Now);
        Assert.True(jit.M.Engine is IEngineStatistics s && s.GetStatistics().TranslatedInstructions > 1_000_000,
            "the jit run must have run the loop translated");
    }

    [Fact]
    public void HaltWithInterruptsEnabledAndNoTimerEndsTheRun()
    {
        var rb = new RomBuilder();
        rb.Code.sti();
        rb.Code.hlt();
        var m = new Machine(new MachineConfig { Rom = rb.Build(), ExitOnHalt = false });
        var r = m.Run();
        Assert.Equal(ExitReason.Halt, r.Reason);
        Assert.Equal(3, r.Instructions);                        // the reset vector's JMP, STI, HLT
    }
}
