using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Firmware;

/// <summary>
/// The built-in guest that <c>jitvm run</c> boots when no firmware is given: a 64 KiB real-mode ROM, assembled
/// here with Iced's assembler, that exercises the CPU (a prime sieve, Fibonacci with 32-bit registers, an
/// insertion sort with a weighted checksum, string copy/compare, software interrupts, divide-error recovery,
/// packed BCD) and prints each result to the debug console (port 0xE9). It needs a 386 or later (it uses
/// 32-bit registers in real mode) and ends with CLI; HLT.
/// </summary>
public static class DemoRom
{
    public const int Size = 0x10000;
    const ushort RomSegment = RomBuilder.RomSegment;

    // RAM layout (segment 0).
    const ushort SieveBase = 0x1000, SieveSize = 10000;
    const ushort SortBase = 0x4000, SortCount = 200;
    const ushort CopyBase = 0x6000;
    const ushort DivideCounter = 0x0600;

    /// <summary>The parameters the guest computes with, so tests can derive the expected output independently.</summary>
    public const int SieveLimit = SieveSize, FibonacciIndex = 40, SortLength = SortCount, SortSeed = 0x1234, DivideErrors = 3;
    public const ushort BcdA = 0x1234, BcdB = 0x5678;
    public const string Banner = "JitVm demo ROM: exercising the CPU";

    public static byte[] Build()
    {
        var rom = new RomBuilder();
        ushort S(string text) => rom.Str(text);
        var a = rom.Code;
        var print = a.CreateLabel("print");
        var printDec = a.CreateLabel("print_dec");
        var printHex = a.CreateLabel("print_hex16");
        var newline = a.CreateLabel("newline");
        var int60 = a.CreateLabel("int60");
        var divideHandler = a.CreateLabel("divide_error");

        void Post(byte code) { a.mov(al, code); a.@out(0x80, al); }
        void Print(string text) { a.mov(si, S(text)); a.call(print); }

        // ---- entry: stack below 7C00, DS = ROM, ES = RAM ----
        a.cli();
        Post(0x01);
        a.xor(ax, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7C00);
        a.mov(es, ax);
        a.mov(ax, RomSegment);
        a.mov(ds, ax);
        a.cld();
        Print(Banner);
        a.call(newline);

        // ---- 1. sieve of Eratosthenes over [0, SieveSize) at ES:SieveBase ----
        Post(0x02);
        var outer = a.CreateLabel(); var inner = a.CreateLabel(); var next = a.CreateLabel();
        var count = a.CreateLabel(); var cnt = a.CreateLabel(); var notPrime = a.CreateLabel();
        a.mov(di, SieveBase);
        a.mov(cx, SieveSize);
        a.mov(al, 1);
        a.rep.stosb();
        a.mov(__byte_ptr.es[SieveBase], 0);
        a.mov(__byte_ptr.es[SieveBase + 1], 0);
        a.mov(bx, 2);
        a.Label(ref outer);
        a.mov(ax, bx);
        a.mul(bx);                                   // DX:AX = bx²
        a.cmp(ax, SieveSize);
        a.jae(count);
        a.cmp(__byte_ptr.es[bx + SieveBase], 0);
        a.je(next);
        a.mov(di, ax);
        a.Label(ref inner);
        a.cmp(di, SieveSize);
        a.jae(next);
        a.mov(__byte_ptr.es[di + SieveBase], 0);
        a.add(di, bx);
        a.jmp(inner);
        a.Label(ref next);
        a.inc(bx);
        a.jmp(outer);
        a.Label(ref count);
        a.mov(si, SieveBase);
        a.mov(cx, SieveSize);
        a.xor(edx, edx);
        a.Label(ref cnt);
        a.cmp(__byte_ptr.es[si], 0);
        a.je(notPrime);
        a.inc(edx);
        a.Label(ref notPrime);
        a.inc(si);
        a.loop(cnt);
        Print($"primes below {SieveSize}: ");
        a.mov(eax, edx);
        a.call(printDec);
        a.call(newline);

        // ---- 2. Fibonacci with 32-bit registers ----
        Post(0x03);
        var fib = a.CreateLabel();
        a.xor(eax, eax);
        a.mov(ebx, 1);
        a.mov(cx, FibonacciIndex);
        a.Label(ref fib);
        a.mov(edx, eax);
        a.add(edx, ebx);
        a.mov(eax, ebx);
        a.mov(ebx, edx);
        a.loop(fib);
        a.mov(edi, eax);                             // print clobbers AL and SI
        Print($"fib({FibonacciIndex}) = ");
        a.mov(eax, edi);
        a.call(printDec);
        a.call(newline);

        // ---- 3. insertion sort of LCG words, then a weighted checksum sum(a[i]·(i+1)) ----
        Post(0x04);
        var gen = a.CreateLabel(); var sortOuter = a.CreateLabel(); var sortInner = a.CreateLabel();
        var place = a.CreateLabel(); var sum = a.CreateLabel();
        a.mov(ax, SortSeed);
        a.mov(di, SortBase);
        a.mov(cx, SortCount);
        a.Label(ref gen);
        a.imul(ax, ax, (short)25173);                       // x = x·25173 + 13849 (mod 2^16)
        a.add(ax, 13849);
        a.mov(__word_ptr.es[di], ax);
        a.add(di, 2);
        a.loop(gen);
        a.mov(si, 2);                                // si = byte index of the element to insert
        a.Label(ref sortOuter);
        a.cmp(si, SortCount * 2);
        a.jae(sum);
        a.mov(dx, __word_ptr.es[si + SortBase]);
        a.mov(di, si);
        a.Label(ref sortInner);
        a.test(di, di);
        a.jz(place);
        a.mov(bx, __word_ptr.es[di + SortBase - 2]);
        a.cmp(bx, dx);
        a.jbe(place);
        a.mov(__word_ptr.es[di + SortBase], bx);
        a.sub(di, 2);
        a.jmp(sortInner);
        a.Label(ref place);
        a.mov(__word_ptr.es[di + SortBase], dx);
        a.add(si, 2);
        a.jmp(sortOuter);
        a.Label(ref sum);
        var sumLoop = a.CreateLabel();
        a.xor(ebx, ebx);                             // checksum
        a.xor(esi, esi);
        a.mov(ecx, 1);                               // weight
        a.Label(ref sumLoop);
        a.movzx(eax, __word_ptr.es[si + SortBase]);
        a.imul(eax, ecx);
        a.add(ebx, eax);
        a.add(si, 2);
        a.inc(ecx);
        a.cmp(si, SortCount * 2);
        a.jb(sumLoop);
        Print($"sorted {SortCount} words, checksum ");
        a.mov(eax, ebx);
        a.call(printDec);
        a.call(newline);

        // ---- 4. string copy and compare ----
        Post(0x05);
        var same = a.CreateLabel(); var strDone = a.CreateLabel();
        a.mov(si, S(Banner));
        a.mov(di, CopyBase);
        a.mov(cx, (ushort)Banner.Length);
        a.rep.movsb();
        a.mov(si, S(Banner));
        a.mov(di, CopyBase);
        a.mov(cx, (ushort)Banner.Length);
        a.repe.cmpsb();
        a.je(same);
        Print("string copy: mismatch");
        a.jmp(strDone);
        a.Label(ref same);
        Print("string copy: ok");
        a.Label(ref strDone);
        a.call(newline);

        // ---- 5. software interrupt and divide-error recovery through the IVT ----
        Post(0x06);
        a.mov(__word_ptr.es[0x60 * 4], 0);           // patched below with int60's offset
        var int60Patch = a.CreateLabel();
        a.Label(ref int60Patch);
        a.mov(__word_ptr.es[0x60 * 4 + 2], RomSegment);
        a.mov(ax, 21);
        a.@int(0x60);
        a.push(ax);
        Print("int 60h doubled 21 to ");
        a.pop(ax);
        a.movzx(eax, ax);
        a.call(printDec);
        a.call(newline);

        a.mov(__word_ptr.es[DivideCounter], 0);
        a.mov(__word_ptr.es[0], 0);                   // vector 0: patched with divide_error's offset
        var divPatch = a.CreateLabel();
        a.Label(ref divPatch);
        a.mov(__word_ptr.es[2], RomSegment);
        a.mov(cx, DivideErrors);
        var divLoop = a.CreateLabel();
        a.Label(ref divLoop);
        a.mov(ax, 100);
        a.xor(bl, bl);
        a.div(bl);                                    // #DE: the handler skips these two bytes
        a.loop(divLoop);
        Print("divide errors caught: ");
        a.movzx(eax, __word_ptr.es[DivideCounter]);
        a.call(printDec);
        a.call(newline);

        // ---- 6. packed BCD addition with DAA ----
        Post(0x07);
        a.mov(ax, BcdA);
        a.mov(bx, BcdB);
        a.add(al, bl);
        a.daa();
        a.mov(cl, al);
        a.mov(al, ah);
        a.adc(al, bh);
        a.daa();
        a.mov(ah, al);
        a.mov(al, cl);
        a.push(ax);
        Print($"bcd {BcdA:X4} + {BcdB:X4} = ");
        a.pop(ax);
        a.call(printHex);
        a.call(newline);

        Print("done");
        a.call(newline);
        Post(0xFF);
        var stop = a.CreateLabel();
        a.Label(ref stop);
        a.cli();
        a.hlt();
        a.jmp(stop);

        // ---- subroutines ----
        // print: DS:SI → port E9 until NUL.
        var pDone = a.CreateLabel();
        a.Label(ref print);
        a.lodsb();
        a.test(al, al);
        a.jz(pDone);
        a.@out(0xE9, al);
        a.jmp(print);
        a.Label(ref pDone);
        a.ret();

        // print_dec: EAX as unsigned decimal.
        var d1 = a.CreateLabel(); var d2 = a.CreateLabel();
        a.Label(ref printDec);
        a.push(ebx);
        a.mov(ebx, 10);
        a.xor(cx, cx);
        a.Label(ref d1);
        a.xor(edx, edx);
        a.div(ebx);
        a.push(dx);
        a.inc(cx);
        a.test(eax, eax);
        a.jnz(d1);
        a.Label(ref d2);
        a.pop(ax);
        a.add(al, (byte)'0');
        a.@out(0xE9, al);
        a.loop(d2);
        a.pop(ebx);
        a.ret();

        // print_hex16: AX as four hex digits.
        var h1 = a.CreateLabel(); var hDigit = a.CreateLabel();
        a.Label(ref printHex);
        a.mov(cx, 4);
        a.Label(ref h1);
        a.rol(ax, 4);
        a.push(ax);
        a.and(al, 0x0F);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(hDigit);
        a.add(al, 7);
        a.Label(ref hDigit);
        a.@out(0xE9, al);
        a.pop(ax);
        a.loop(h1);
        a.ret();

        a.Label(ref newline);
        a.mov(al, (byte)'\n');
        a.@out(0xE9, al);
        a.ret();

        // INT 60h: AX = AX · 2.
        a.Label(ref int60);
        a.shl(ax, 1);
        a.iret();

        // #DE handler: count, then step the saved IP over the 2-byte DIV that faulted.
        a.Label(ref divideHandler);
        a.push(bp);
        a.mov(bp, sp);
        a.inc(__word_ptr.es[DivideCounter]);
        a.add(__word_ptr.ss[bp + 2], 2);
        a.pop(bp);
        a.iret();

        byte[] image = rom.Build();
        // Patch the IVT-setup immediates with the handler offsets now that they are known.
        PatchWord(image, rom, a, int60Patch, (ushort)rom.LabelAddress(a, int60));
        PatchWord(image, rom, a, divPatch, (ushort)rom.LabelAddress(a, divideHandler));
        return image;
    }

    // The instruction before `label` is "mov word [es:disp16], imm16"; its immediate is its last two bytes.
    static void PatchWord(byte[] image, RomBuilder rom, Assembler a, Label label, ushort value)
    {
        int at = (int)rom.LabelAddress(a, label) - 2;
        image[at] = (byte)value;
        image[at + 1] = (byte)(value >> 8);
    }
}
