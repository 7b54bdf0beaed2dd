using System.Diagnostics;
using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests;

public class SerialMachineTests
{
    [Fact]
    public void GuestOutputOnCom1ReachesTheSerialSink()
    {
        var rom = new byte[0x1000];
        // mov dx,3F8h; mov al,'O'; out dx,al; mov al,'K'; out dx,al; cli; hlt
        byte[] code = [0xBA, 0xF8, 0x03, 0xB0, 0x4F, 0xEE, 0xB0, 0x4B, 0xEE, 0xFA, 0xF4];
        code.CopyTo(rom, 0xFF0);
        var output = new List<byte>();
        var m = new Machine(new MachineConfig { Rom = rom, Serial = output.Add });
        var result = m.Run();
        Assert.Equal("OK"u8.ToArray(), output);
        Assert.Equal(ExitReason.Halt, result.Reason);
    }
}

public class IdleHaltTests
{
    // STI; HLT with nothing that could ever raise an interrupt armed (the PIT is never programmed).
    static Machine IdleGuest(Func<bool>? waitForInput, double? maxSeconds)
    {
        var rom = new byte[0x1000];
        byte[] code = [0xFB, 0xF4, 0xEB, 0xFD];                   // sti; hlt; jmp $-3
        code.CopyTo(rom, 0xFF0);
        return new Machine(new MachineConfig { Rom = rom, WaitForInput = waitForInput, MaxSeconds = maxSeconds, ExitOnHalt = false });
    }

    [Fact]
    public void AnIdleGuestNobodyCanWakeEndsTheRun() =>
        Assert.Equal(ExitReason.Halt, IdleGuest(waitForInput: null, maxSeconds: 5).Run().Reason);

    [Fact]
    public void AnIdleGuestWithHostInputAttachedWaitsForIt()
    {
        // As QEMU: an idle Linux stops its tick and waits for a key; the run goes on until its limit.
        var result = IdleGuest(waitForInput: () => true, maxSeconds: 0.3).Run();
        Assert.Equal(ExitReason.Timeout, result.Reason);
        Assert.True(result.Seconds >= 0.3, result.Seconds.ToString());
    }

    [Fact]
    public void AnIdleGuestStopsWaitingWhenItsInputEnds()
    {
        // Piped stdin: waited for while the pipe is open, not after it ends.
        Stopwatch? open = null;                                 // the pipe stays open 0.2 s from the first time the run asks
        var result = IdleGuest(waitForInput: () => (open ??= Stopwatch.StartNew()).Elapsed < TimeSpan.FromSeconds(0.2), maxSeconds: 20).Run();
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.True(result.Seconds >= 0.2, result.Seconds.ToString());
    }

    [Fact]
    public void HostBytesAlreadyQueuedWakeAnIdleGuestThatNothingElseCan()
    {
        // The bytes reach the UART in the device poll after the CPU halted; its interrupt must still be taken
        // before the run decides that nothing can wake the guest.
        var output = new List<byte>();
        var m = new Machine(new MachineConfig { Rom = EchoRom(), Serial = output.Add, ExitOnHalt = false, MaxSeconds = 20 });
        foreach (byte b in "hello"u8) m.Serial.Receive(b);
        var result = m.Run();
        Assert.Equal("hello"u8.ToArray(), output);
        Assert.Equal(ExitReason.Halt, result.Reason);
    }

    /// <summary>
    /// Echoes COM1: the PIC set up as a BIOS does with only IRQ 4 unmasked, the UART's receive interrupt enabled
    /// with OUT2, and the CPU idle in STI;HLT. The handler sends back every byte the receiver holds.
    /// </summary>
    internal static byte[] EchoRom()
    {
        var rb = new RomBuilder();
        var a = rb.Code;
        const ushort handlerOffset = 0x8000;
        void Out(ushort port, byte value)
        {
            a.mov(dx, port);
            a.mov(al, value);
            a.@out(dx, al);
        }
        a.cli();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7000);
        a.mov(__word_ptr[0x0C * 4], handlerOffset);           // IRQ 4 → vector 0Ch
        a.mov(__word_ptr[0x0C * 4 + 2], RomBuilder.RomSegment);
        Out(0x20, 0x11); Out(0x21, 0x08); Out(0x21, 0x04); Out(0x21, 0x01);
        Out(0xA0, 0x11); Out(0xA1, 0x70); Out(0xA1, 0x02); Out(0xA1, 0x01);
        Out(0x21, 0xEF); Out(0xA1, 0xFF);
        Out(0x3FB, 0x03);                                       // 8N1
        Out(0x3F9, 0x01);                                       // IER: received data available
        Out(0x3FC, 0x0B);                                       // MCR: DTR, RTS, OUT2
        var idle = a.CreateLabel();
        a.Label(ref idle);
        a.sti();
        a.hlt();
        a.jmp(idle);

        var h = rb.AddSection(16, handlerOffset, "irq4");
        var more = h.CreateLabel();
        var done = h.CreateLabel();
        h.push(ax);
        h.push(dx);
        h.Label(ref more);
        h.mov(dx, 0x3FD);                                       // LSR: data ready?
        h.@in(al, dx);
        h.test(al, 1);
        h.jz(done);
        h.mov(dx, 0x3F8);
        h.@in(al, dx);
        h.@out(dx, al);
        h.jmp(more);
        h.Label(ref done);
        h.mov(al, 0x20);
        h.@out(0x20, al);
        h.pop(dx);
        h.pop(ax);
        h.iret();
        return rb.Build();
    }
}
