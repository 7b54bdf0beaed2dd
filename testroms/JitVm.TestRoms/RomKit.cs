using Iced.Intel;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Building blocks shared by the test ROMs: POST codes, printing strings and numbers to port 0xE9 from 16- and
/// 32-bit code, and pass/fail checks that print a line each. Routines are emitted into the section that calls
/// them (labels are per section); strings live in the ROM's string table.
/// </summary>
public sealed class RomKit
{
    readonly RomBuilder rom;
    readonly Dictionary<Assembler, Routines> routines = new();

    public RomKit(RomBuilder rom) => this.rom = rom;

    public RomBuilder Rom => rom;

    sealed class Routines
    {
        public Label Print, PrintHex32, Check;
        public bool Emitted;
    }

    Routines For(Assembler a)
    {
        if (!routines.TryGetValue(a, out var r))
        {
            r = new Routines { Print = a.CreateLabel("print"), PrintHex32 = a.CreateLabel("print_hex32"), Check = a.CreateLabel("check") };
            routines[a] = r;
        }
        return r;
    }

    static bool Is32(Assembler a) => a.Bitness == 32;

    public static void Post(Assembler a, byte code)
    {
        a.mov(al, code);
        a.@out(0x80, al);
    }

    /// <summary>
    /// Prints a string. 16-bit code: DS must be the ROM segment (F000). 32-bit code: DS must be flat (base 0).
    /// Clobbers ESI and AL.
    /// </summary>
    public void Print(Assembler a, string text)
    {
        ushort off = rom.Str(text);
        if (Is32(a)) a.mov(esi, RomBuilder.RomLinearBase + off);
        else a.mov(si, off);
        a.call(For(a).Print);
    }

    /// <summary>Prints EAX as 8 hex digits (clobbers nothing).</summary>
    public void PrintHex32(Assembler a) => a.call(For(a).PrintHex32);

    /// <summary>Prints "name: ok" when ZF is set, otherwise "name: FAIL" followed by EAX in hex.</summary>
    public void CheckZero(Assembler a, string name)
    {
        var ok = a.CreateLabel();
        var done = a.CreateLabel();
        a.jz(ok);
        Print(a, name + ": FAIL ");
        PrintHex32(a);
        Print(a, "\n");
        a.jmp(done);
        a.Label(ref ok);
        Print(a, name + ": ok\n");
        a.Label(ref done);
    }

    /// <summary>Compares EAX with <paramref name="expected"/> and reports like <see cref="CheckZero"/>.</summary>
    public void CheckEax(Assembler a, string name, uint expected)
    {
        a.cmp(eax, expected);
        CheckZero(a, name);
    }

    /// <summary>Writes the final POST code and stops: CLI; HLT (looping on HLT).</summary>
    public static void Finish(Assembler a, byte post)
    {
        Post(a, post);
        var stop = a.CreateLabel();
        a.Label(ref stop);
        a.cli();
        a.hlt();
        a.jmp(stop);
    }

    /// <summary>Emits the routines used by a section; call once at the end of each section that printed.</summary>
    public void EmitRoutines(Assembler a)
    {
        var r = For(a);
        if (r.Emitted) return;
        r.Emitted = true;
        bool b32 = Is32(a);

        // print: [DS:(E)SI] to port E9 until NUL.
        var loop = a.CreateLabel();
        var done = a.CreateLabel();
        a.Label(ref r.Print);
        a.push(eax);
        a.Label(ref loop);
        if (b32) a.mov(al, __byte_ptr[esi]); else a.mov(al, __byte_ptr[si]);
        a.test(al, al);
        a.jz(done);
        a.@out(0xE9, al);
        if (b32) a.inc(esi); else a.inc(si);
        a.jmp(loop);
        a.Label(ref done);
        a.pop(eax);
        a.ret();

        // print_hex32: EAX as eight hex digits.
        var digit = a.CreateLabel();
        var dec = a.CreateLabel();
        a.Label(ref r.PrintHex32);
        a.push(eax);
        a.push(ecx);
        a.push(edx);
        a.mov(edx, eax);
        a.mov(ecx, 8);
        a.Label(ref digit);
        a.rol(edx, 4);
        a.mov(al, dl);
        a.and(al, 0x0F);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(dec);
        a.add(al, 7);
        a.Label(ref dec);
        a.@out(0xE9, al);
        if (b32) a.dec(ecx); else a.dec(cx);
        a.jnz(digit);
        a.pop(edx);
        a.pop(ecx);
        a.pop(eax);
        a.ret();
    }
}
