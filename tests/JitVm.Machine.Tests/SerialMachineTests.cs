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
    static Machine IdleGuest(bool waitForInput, double? maxSeconds)
    {
        var rom = new byte[0x1000];
        byte[] code = [0xFB, 0xF4, 0xEB, 0xFD];                   // sti; hlt; jmp $-3
        code.CopyTo(rom, 0xFF0);
        return new Machine(new MachineConfig { Rom = rom, WaitForInput = waitForInput, MaxSeconds = maxSeconds, ExitOnHalt = false });
    }

    [Fact]
    public void AnIdleGuestNobodyCanWakeEndsTheRun() =>
        Assert.Equal(ExitReason.Halt, IdleGuest(waitForInput: false, maxSeconds: 5).Run().Reason);

    [Fact]
    public void AnIdleGuestWithHostInputAttachedWaitsForIt()
    {
        // As QEMU: an idle Linux stops its tick and waits for a key; the run goes on until its limit.
        var result = IdleGuest(waitForInput: true, maxSeconds: 0.3).Run();
        Assert.Equal(ExitReason.Timeout, result.Reason);
        Assert.True(result.Seconds >= 0.3, result.Seconds.ToString());
    }
}
