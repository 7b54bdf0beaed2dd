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
