using Iced.Intel;
using JitVm.Core;
using JitVm.Machine.Boot;
using JitVm.Machine.Management;
using JitVm.Machine.Tests.Boot;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests.Management;

/// <summary>Tiny Multiboot guests for the management tests, and machines around them (deterministic clock).</summary>
internal static class TestGuests
{
    public const uint CodeBase = 0x100000;

    /// <summary>Where the counting guest keeps its counter (a copy of EAX after each increment).</summary>
    public const uint CounterAddress = 0x200000;

    /// <summary>The port the crashing-device guest writes to.</summary>
    public const ushort CrashPort = 0x5F0;

    /// <summary>
    /// A guest that never ends: EAX counts up from 0, each new value stored at <see cref="CounterAddress"/>.
    /// Loop: <c>inc eax; mov [counter], eax; jmp loop</c> (three instructions per count).
    /// </summary>
    public static byte[] Counter(out uint loopAddress)
    {
        var a = new Assembler(32);
        Label start = a.CreateLabel(), loop = a.CreateLabel();
        TestElf.Header(a, 3);
        a.Label(ref start);
        a.xor(eax, eax);
        a.Label(ref loop);
        a.inc(eax);
        a.mov(__dword_ptr[CounterAddress], eax);
        a.jmp(loop);
        var (bytes, entry) = TestElf.Assemble(a, start, CodeBase);
        loopAddress = entry + 2;
        return Flat(bytes, entry);
    }

    /// <summary>
    /// Counts ECX down from <paramref name="spin"/>, then loads an empty IDT (limit 0, from the zeroed RAM at
    /// <see cref="CounterAddress"/>) and executes UD2: #UD → #GP → #DF → triple fault.
    /// </summary>
    public static byte[] TripleFault(int spin) => SpinThen(spin, a =>
    {
        a.lidt(__fword_ptr[CounterAddress]);
        a.ud2();
    });

    /// <summary>Counts ECX down from <paramref name="spin"/>, then writes to <see cref="CrashPort"/> (where a test puts a device that throws).</summary>
    public static byte[] WritesCrashPort(int spin) => SpinThen(spin, a =>
    {
        a.mov(dx, CrashPort);
        a.mov(al, 1);
        a.@out(dx, al);
        a.hlt();
    });

    /// <summary>A guest that counts ECX down from <paramref name="spin"/>, then runs <paramref name="then"/>.</summary>
    static byte[] SpinThen(int spin, Action<Assembler> then)
    {
        var a = new Assembler(32);
        Label start = a.CreateLabel(), loop = a.CreateLabel();
        TestElf.Header(a, 3);
        a.Label(ref start);
        a.mov(ecx, spin);
        a.Label(ref loop);
        a.dec(ecx);
        a.jnz(loop);
        then(a);
        var (bytes, entry) = TestElf.Assemble(a, start, CodeBase);
        return Flat(bytes, entry);
    }

    /// <summary>
    /// Writes sector 0 of the primary master through ATA PIO (LBA 28, WRITE SECTORS, 256 words from the code), then
    /// spins. The drive's image write happens when the last word arrives.
    /// </summary>
    public static byte[] WritesDiskSector()
    {
        var a = new Assembler(32);
        Label start = a.CreateLabel(), wait = a.CreateLabel(), spin = a.CreateLabel();
        TestElf.Header(a, 3);
        a.Label(ref start);
        void Out(ushort port, byte value)
        {
            a.mov(dx, port);
            a.mov(al, value);
            a.@out(dx, al);
        }
        Out(0x1F6, 0xE0);
        Out(0x1F2, 1);
        Out(0x1F3, 0);
        Out(0x1F4, 0);
        Out(0x1F5, 0);
        Out(0x1F7, 0x30);
        a.Label(ref wait);
        a.@in(al, dx);
        a.test(al, 8);
        a.jz(wait);
        a.mov(dx, 0x1F0);
        a.mov(ecx, 256);
        a.mov(esi, CodeBase);
        a.cld();
        a.rep.outsw();
        a.Label(ref spin);
        a.jmp(spin);
        var (bytes, entry) = TestElf.Assemble(a, start, CodeBase);
        return Flat(bytes, entry);
    }

    /// <summary>An ELF with one segment at <see cref="CodeBase"/> holding <paramref name="code"/> (which starts with the Multiboot header).</summary>
    static byte[] Flat(byte[] code, uint entry)
    {
        var elf = new TestElf { Entry = entry };
        elf.Segments.Add(new TestElf.Seg(CodeBase, code, (uint)code.Length));
        return elf.Build();
    }

    public static Machine MachineFor(byte[] kernel, Action<byte>? debugConsole = null) => new(new MachineConfig
    {
        Kernel = new KernelImage(kernel),
        MemoryBytes = 4 << 20,
        Clock = ClockMode.Deterministic,
        NoReboot = true,
        DebugConsole = debugConsole,
    });

    /// <summary>A device that throws on every access: a host bug in a device, as far as the machine knows.</summary>
    public sealed class ThrowingDevice : IIoDevice
    {
        public uint In(ushort port, int size) => throw new InvalidOperationException("test device failure (read)");
        public void Out(ushort port, int size, uint value) => throw new InvalidOperationException($"test device failure (write {value:X2} to port {port:X4})");
    }

    /// <summary>Waits until <paramref name="condition"/> holds (polling), failing the test after <paramref name="seconds"/>.</summary>
    public static void WaitUntil(Func<bool> condition, string what, double seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting for " + what);
            Thread.Sleep(5);
        }
    }

    /// <summary>A VM host with these VMs added (not started).</summary>
    public static VmHost Host(params VmInstance[] vms)
    {
        var h = new VmHost();
        foreach (var v in vms) h.Add(v);
        return h;
    }
}
