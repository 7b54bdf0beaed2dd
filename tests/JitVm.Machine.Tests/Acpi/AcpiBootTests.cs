using System.Text;
using Iced.Intel;
using JitVm.Core.Storage;
using JitVm.Machine.Boot;
using JitVm.Machine.Tests.Boot;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests.Acpi;

/// <summary>
/// Guests that find the ACPI tables the two ways this machine offers them and power the machine off through
/// PM1a_CNT: a direct Linux-protocol boot (boot_params.acpi_rsdp_addr) and a SeaBIOS boot (the RSDP the table
/// loader put in the F segment). Either way the run ends with reason poweroff.
/// </summary>
public class AcpiBootTests
{
    const string Bios256k = "/usr/share/seabios/bios-256k.bin";

    static Machine LinuxGuest(string engine = "interp", bool wrongSleepType = false)
    {
        var a = new Assembler(32);
        Label fail = a.CreateLabel();
        a.mov(ebx, __dword_ptr[esi + (int)LinuxLoader.AcpiRsdpAddrOffset]);   // ESI: boot_params
        if (wrongSleepType)
        {
            a.mov(dx, 0x604);
            a.mov(ax, 5 << 10 | 0x2000);                        // SLP_EN with a type that is not \_S5's
            a.@out(dx, ax);
            a.jmp(fail);
        }
        AcpiGuest.PowerOff(a, fail);
        AcpiGuest.Fail(a, fail);
        var image = LinuxLoaderTests.BzImage(AcpiGuest.Assemble(a, LinuxLoader.KernelAddress));
        return new Machine(new MachineConfig
        {
            MemoryBytes = 32 << 20,
            Kernel = new KernelImage(image, "", []),
            MaxInstructions = 100_000,
            EngineFactory = engine == "jit" ? c => new JitVm.Jit.JitEngine(c, threshold: 0) : null,
            EngineName = engine,
        });
    }

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    public void ADirectlyBootedGuestFindsTheRsdpInBootParamsAndPowersOff(string engine)
    {
        var m = LinuxGuest(engine);
        uint rsdp = m.Memory.Read32(LinuxLoader.BootParamsAddress + LinuxLoader.AcpiRsdpAddrOffset);
        Assert.Equal(0u, m.Memory.Read32(LinuxLoader.BootParamsAddress + LinuxLoader.AcpiRsdpAddrOffset + 4));
        Assert.InRange(rsdp, 0x9F000u, 0x9FFECu);             // in the ACPI range at the top of conventional memory
        var walker = new AcpiWalker((at, n) => Enumerable.Range(0, n).Select(i => m.Memory.Read8(at + (uint)i)).ToArray());
        walker.Walk(rsdp);
        Assert.Equal(0x9F000u, walker.Facs);
        var r = m.Run();
        Assert.Equal(ExitReason.PowerOff, r.Reason);
        Assert.Contains("reason=poweroff", r.Summary);
        Assert.True(m.Acpi.PowerOffRequested);
        Assert.True(r.Instructions < 2000, $"{r.Instructions} instructions");   // nothing ran after the OUT
        // A reset powers the board back on: the request is gone and the kernel is entered again.
        m.SystemReset();
        Assert.False(m.Acpi.PowerOffRequested);
        Assert.Equal(ExitReason.PowerOff, m.Run().Reason);
    }

    [Fact]
    public void SleepEnableWithAnotherTypeDoesNotPowerOff()
    {
        var m = LinuxGuest(wrongSleepType: true);
        var r = m.Run();
        Assert.Equal(ExitReason.Halt, r.Reason);               // the guest's failure path: CLI; HLT
        Assert.False(m.Acpi.PowerOffRequested);
    }

    /// <summary>
    /// A boot sector SeaBIOS loads at 0x7C00: 16-bit code that enters flat protected mode (GDT in the sector), then
    /// 32-bit code that scans 0xE0000–0xFFFFF for the RSDP and powers off.
    /// </summary>
    static byte[] PowerOffBootSector()
    {
        const uint origin = 0x7C00, pm = origin + 0x40, gdt = origin + 0x1A0, gdtr = gdt + 24;
        var a16 = new Assembler(16);
        a16.cli();
        a16.xor(ax, ax);
        a16.mov(ds, ax);
        a16.lgdt(__fword_ptr[(int)gdtr]);
        a16.mov(eax, cr0);
        a16.or(eax, 1);
        a16.mov(cr0, eax);
        a16.jmp(0x08, pm);
        var a = new Assembler(32);
        Label fail = a.CreateLabel();
        a.mov(ax, 0x10);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        AcpiGuest.ScanForRsdp(a, fail);
        AcpiGuest.PowerOff(a, fail);
        AcpiGuest.Fail(a, fail);
        var sector = new byte[512];
        var part16 = AcpiGuest.Assemble(a16, origin);
        var part32 = AcpiGuest.Assemble(a, pm);
        Assert.True(part16.Length <= pm - origin && part32.Length <= gdt - pm, "the boot sector's layout overflows");
        part16.CopyTo(sector, 0);
        part32.CopyTo(sector, (int)(pm - origin));
        ulong[] descriptors = [0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF];
        for (int i = 0; i < 3; i++) BitConverter.GetBytes(descriptors[i]).CopyTo(sector, (int)(gdt - origin) + 8 * i);
        BitConverter.GetBytes((ushort)23).CopyTo(sector, (int)(gdtr - origin));
        BitConverter.GetBytes(gdt).CopyTo(sector, (int)(gdtr - origin) + 2);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    [Fact]
    public void SeaBiosInstallsTheTablesFromFwCfgAndItsGuestPowersOff()
    {
        var disk = new byte[16 * 63 * 20 * 512];
        PowerOffBootSector().CopyTo(disk, 0);
        var log = new StringBuilder();
        var m = new Machine(new MachineConfig
        {
            Rom = File.ReadAllBytes(Bios256k),
            MemoryBytes = 32 << 20,
            HardDisks = [new MemoryBlockDevice(disk)],
            BootOrder = "c",
            DebugConsole = b => log.Append((char)b),
            MaxInstructions = 200_000_000,
            ExitOnHalt = false,
        });
        var r = m.Run();
        string text = log.ToString();
        Assert.True(r.Reason == ExitReason.PowerOff, $"{r.Summary}\n{text}");
        Assert.True(text.Contains("Moving pm_base to 0x600"), text);          // SeaBIOS saw etc/table-loader,
        Assert.True(text.Contains("table(50434146)=0x01ff"), text);           // found the FACP through the RSDT (in high RAM),
        Assert.True(text.Contains("ACPI: parse DSDT at 0x01ff"), text);       // parsed our DSDT,
        Assert.True(text.Contains("PS2 keyboard initialized"), text);         // and found the keyboard in it (PNP0303)
        Assert.Contains("Booting from Hard Disk...", text);
        Assert.DoesNotContain("WARNING", text);                  // no loader command was refused (warn_internalerror)
    }
}
