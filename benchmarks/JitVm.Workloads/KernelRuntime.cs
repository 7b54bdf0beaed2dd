using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Workloads;

/// <summary>
/// What every workload kernel shares: the entry code (own stack, boot checks, UART set-up, banner), output to the
/// debug console (port 0xE9) and COM1 together, and the exit through QEMU's isa-debug-exit (port 0xF4).
/// Routines preserve every register they do not return in.
/// </summary>
/// <remarks>
/// Exit convention: the kernel writes <see cref="ExitSuccess"/> (0) to port 0xF4 when it completed and printed its
/// checksum, and <see cref="ExitFailure"/> (1) when a boot check failed; QEMU and jitvm turn a value v into the process
/// exit status (v &lt;&lt; 1) | 1, so 1 means success and 3 failure. If no exit device is present the kernel halts.
/// </remarks>
public sealed class KernelRuntime
{
    public const byte ExitSuccess = 0, ExitFailure = 1;
    public const uint StackSize = 64 * 1024;
    const ushort Com1 = 0x3F8;
    const uint BootMagic = 0x2BADB002;

    readonly KernelBuilder k;
    readonly Assembler a;
    Label print, putc, printHex, printDec, exit, uartInit;

    public KernelRuntime(KernelBuilder k)
    {
        this.k = k;
        a = k.Code;
        print = a.CreateLabel("print");
        putc = a.CreateLabel("putc");
        printHex = a.CreateLabel("print_hex");
        printDec = a.CreateLabel("print_dec");
        exit = a.CreateLabel("exit");
        uartInit = a.CreateLabel("uart_init");
    }

    /// <summary>The line every workload prints first.</summary>
    public static string Banner(string name, string description, int iterations) =>
        $"JitVm workload {name}: {description}\niterations: {iterations}\n";

    /// <summary>The line with the result.</summary>
    public static string ChecksumLine(uint checksum) => $"checksum: {checksum:X8}\n";

    /// <summary>
    /// Emits the entry code, which calls <paramref name="main"/> (the workload: result in EAX, may clobber every
    /// register but ESP), prints the checksum and exits; then the shared routines.
    /// </summary>
    public void EmitEntry(string name, string description, int iterations, Label main)
    {
        uint stackTop = k.Bss(StackSize, 4096) + StackSize;
        uint saved = k.Bss(8, 4);
        var badMagic = a.CreateLabel();
        var noMemInfo = a.CreateLabel();
        var tooSmall = a.CreateLabel();

        a.cli();
        a.cld();
        a.mov(esp, stackTop);
        a.mov(__dword_ptr[saved], eax);
        a.mov(__dword_ptr[saved + 4], ebx);
        a.call(uartInit);
        a.cmp(__dword_ptr[saved], BootMagic);
        a.jne(badMagic);
        // The information structure must say how much memory there is, and there must be enough for bss.
        a.mov(ebx, __dword_ptr[saved + 4]);
        a.test(__byte_ptr[ebx], 1);
        a.jz(noMemInfo);
        uint neededKib = (k.End - 0x100000 + 1023) / 1024;
        a.cmp(__dword_ptr[ebx + 8], neededKib);
        a.jb(tooSmall);

        Print(Banner(name, description, iterations));
        a.call(main);
        Print("checksum: ");
        a.call(printHex);
        Print("\n");
        a.mov(al, ExitSuccess);
        a.jmp(exit);

        a.Label(ref badMagic);
        Print("error: not started by a Multiboot loader (EAX is not 2BADB002)\n");
        a.mov(al, ExitFailure);
        a.jmp(exit);
        a.Label(ref noMemInfo);
        Print("error: the Multiboot information has no memory size\n");
        a.mov(al, ExitFailure);
        a.jmp(exit);
        a.Label(ref tooSmall);
        Print($"error: this kernel needs {neededKib} KiB above 1 MiB\n");
        a.mov(al, ExitFailure);
        a.jmp(exit);

        EmitRoutines();
    }

    /// <summary>Prints a constant string (both channels).</summary>
    public void Print(string text)
    {
        a.push(esi);
        a.mov(esi, k.String(text));
        a.call(print);
        a.pop(esi);
    }

    /// <summary>Prints EAX as eight hex digits.</summary>
    public void PrintHex() => a.call(printHex);

    /// <summary>Prints EAX as an unsigned decimal number.</summary>
    public void PrintDec() => a.call(printDec);

    /// <summary>Prints a message and exits with the failure code (for self-checks inside workloads).</summary>
    public void Fail(string message)
    {
        Print("error: " + message + "\n");
        a.mov(al, ExitFailure);
        a.jmp(exit);
    }

    void EmitRoutines()
    {
        // uart_init: COM1 at 115200 baud (divisor 1), 8N1, FIFOs on and cleared, DTR/RTS/OUT2, no interrupts.
        a.Label(ref uartInit);
        a.push(eax);
        a.push(edx);
        void Out(ushort port, byte value)
        {
            a.mov(dx, port);
            a.mov(al, value);
            a.@out(dx, al);
        }
        Out(Com1 + 1, 0x00);        // IER: no interrupts
        Out(Com1 + 3, 0x80);        // LCR: DLAB on
        Out(Com1 + 0, 0x01);        // DLL: divisor 1
        Out(Com1 + 1, 0x00);        // DLM
        Out(Com1 + 3, 0x03);        // LCR: 8 data bits, no parity, 1 stop bit, DLAB off
        Out(Com1 + 2, 0xC7);        // FCR: enable and clear FIFOs, 14-byte threshold
        Out(Com1 + 4, 0x0B);        // MCR: DTR, RTS, OUT2
        a.pop(edx);
        a.pop(eax);
        a.ret();

        // putc: AL to port E9 and to COM1 (waiting, boundedly, for the transmitter holding register to empty:
        // an absent UART reads FFh, which says "empty").
        var wait = a.CreateLabel();
        var ready = a.CreateLabel();
        a.Label(ref putc);
        a.push(ecx);
        a.push(edx);
        a.push(eax);
        a.@out(0xE9, al);
        a.mov(ecx, 100000);
        a.mov(dx, (ushort)(Com1 + 5));
        a.Label(ref wait);
        a.@in(al, dx);
        a.test(al, 0x20);
        a.jnz(ready);
        a.dec(ecx);
        a.jnz(wait);
        a.Label(ref ready);
        a.pop(eax);
        a.mov(dx, Com1);
        a.@out(dx, al);
        a.pop(edx);
        a.pop(ecx);
        a.ret();

        // print: the NUL-terminated string at ESI.
        var ploop = a.CreateLabel();
        var pdone = a.CreateLabel();
        a.Label(ref print);
        a.push(eax);
        a.push(esi);
        a.Label(ref ploop);
        a.mov(al, __byte_ptr[esi]);
        a.test(al, al);
        a.jz(pdone);
        a.call(putc);
        a.inc(esi);
        a.jmp(ploop);
        a.Label(ref pdone);
        a.pop(esi);
        a.pop(eax);
        a.ret();

        // print_hex: EAX as eight upper-case hex digits.
        var hloop = a.CreateLabel();
        var hdigit = a.CreateLabel();
        a.Label(ref printHex);
        a.push(eax);
        a.push(ecx);
        a.push(edx);
        a.mov(edx, eax);
        a.mov(ecx, 8);
        a.Label(ref hloop);
        a.rol(edx, 4);
        a.mov(al, dl);
        a.and(al, 0x0F);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(hdigit);
        a.add(al, 7);
        a.Label(ref hdigit);
        a.call(putc);
        a.dec(ecx);
        a.jnz(hloop);
        a.pop(edx);
        a.pop(ecx);
        a.pop(eax);
        a.ret();

        // print_dec: EAX unsigned, digits pushed on the stack then printed.
        var dloop = a.CreateLabel();
        var dout = a.CreateLabel();
        a.Label(ref printDec);
        a.push(eax);
        a.push(ebx);
        a.push(ecx);
        a.push(edx);
        a.mov(ebx, 10);
        a.xor(ecx, ecx);
        a.Label(ref dloop);
        a.xor(edx, edx);
        a.div(ebx);
        a.push(edx);
        a.inc(ecx);
        a.test(eax, eax);
        a.jnz(dloop);
        a.Label(ref dout);
        a.pop(eax);
        a.add(al, (byte)'0');
        a.call(putc);
        a.dec(ecx);
        a.jnz(dout);
        a.pop(edx);
        a.pop(ecx);
        a.pop(ebx);
        a.pop(eax);
        a.ret();

        // exit: AL to the isa-debug-exit port; without that device, stop for good.
        var stop = a.CreateLabel();
        a.Label(ref exit);
        a.@out(0xF4, al);
        a.Label(ref stop);
        a.cli();
        a.hlt();
        a.jmp(stop);
    }
}
