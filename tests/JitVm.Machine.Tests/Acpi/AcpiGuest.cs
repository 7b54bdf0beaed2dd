using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests.Acpi;

/// <summary>
/// 32-bit guest code (flat segments, paging off) that powers the machine off the way a small OS does without an AML
/// interpreter: from the RSDP to the RSDT, its FACP entry, the FADT's DSDT, a byte scan of the DSDT for "_S5_" whose
/// package's first element is SLP_TYPa, and finally SLP_TYPa &lt;&lt; 10 | SLP_EN written to the FADT's PM1a_CNT_BLK.
/// Any check that fails prints 'F' on the debug console and halts with interrupts off (the run ends with reason halt).
/// </summary>
internal static class AcpiGuest
{
    /// <summary>Looks for "RSD PTR " on 16-byte boundaries in 0xE0000–0xFFFFF (where an OS scans), leaving its address in EBX.</summary>
    public static void ScanForRsdp(Assembler a, Label fail)
    {
        Label loop = a.CreateLabel(), next = a.CreateLabel(), found = a.CreateLabel();
        a.mov(ebx, 0xE0000);
        a.Label(ref loop);
        a.cmp(__dword_ptr[ebx], 0x20445352);                   // "RSD "
        a.jne(next);
        a.cmp(__dword_ptr[ebx + 4], 0x20525450);               // "PTR "
        a.je(found);
        a.Label(ref next);
        a.add(ebx, 16);
        a.cmp(ebx, 0x100000);
        a.jb(loop);
        a.jmp(fail);
        a.Label(ref found);
    }

    /// <summary>With the RSDP's address in EBX: walk to the FADT and the DSDT's \_S5 and write SLP_TYP | SLP_EN.</summary>
    public static void PowerOff(Assembler a, Label fail)
    {
        Label entry = a.CreateLabel(), found = a.CreateLabel(), scan = a.CreateLabel(), s5 = a.CreateLabel(),
            notByte = a.CreateLabel(), have = a.CreateLabel();
        a.cmp(__dword_ptr[ebx], 0x20445352);                   // "RSD "
        a.jne(fail);
        a.mov(ebx, __dword_ptr[ebx + 16]);                      // RsdtAddress
        a.cmp(__dword_ptr[ebx], 0x54445352);                   // "RSDT"
        a.jne(fail);
        a.mov(ecx, __dword_ptr[ebx + 4]);
        a.sub(ecx, 36);
        a.shr(ecx, 2);                                          // entries
        a.lea(edi, __dword_ptr[ebx + 36]);
        a.Label(ref entry);
        a.test(ecx, ecx);
        a.jz(fail);
        a.mov(eax, __dword_ptr[edi]);
        a.cmp(__dword_ptr[eax], 0x50434146);                   // "FACP"
        a.je(found);
        a.add(edi, 4);
        a.dec(ecx);
        a.jmp(entry);
        a.Label(ref found);
        a.mov(ebp, eax);                                        // FADT
        a.mov(esi, __dword_ptr[ebp + 40]);                      // DSDT
        a.cmp(__dword_ptr[esi], 0x54445344);                   // "DSDT"
        a.jne(fail);
        a.mov(ecx, __dword_ptr[esi + 4]);
        a.lea(edx, __dword_ptr[esi + ecx - 8]);                 // last place "_S5_" plus a package header can start
        a.add(esi, 36);
        a.Label(ref scan);
        a.cmp(esi, edx);
        a.jae(fail);
        a.cmp(__dword_ptr[esi], 0x5F35535F);                   // "_S5_"
        a.je(s5);
        a.inc(esi);
        a.jmp(scan);
        a.Label(ref s5);
        a.cmp(__byte_ptr[esi + 4], 0x12);                       // PackageOp, one-byte PkgLength, NumElements, element 0
        a.jne(fail);
        a.movzx(eax, __byte_ptr[esi + 7]);
        a.cmp(al, 0x0A);                                        // BytePrefix
        a.jne(notByte);
        a.movzx(eax, __byte_ptr[esi + 8]);
        a.jmp(have);
        a.Label(ref notByte);
        a.cmp(al, 1);                                           // ZeroOp or OneOp: the value itself
        a.ja(fail);
        a.Label(ref have);
        a.shl(eax, 10);
        a.or(eax, 0x2000);                                      // SLP_EN
        a.mov(edx, __dword_ptr[ebp + 64]);                      // PM1a_CNT_BLK
        a.@out(dx, ax);
        a.jmp(fail);                                            // still running: the power-off did not happen
    }

    /// <summary>The failure path: 'F' on port 0xE9, then CLI; HLT.</summary>
    public static void Fail(Assembler a, Label fail)
    {
        a.Label(ref fail);
        a.mov(al, (byte)'F');
        a.@out(0xE9, al);
        a.cli();
        a.hlt();
    }

    public static byte[] Assemble(Assembler a, ulong ip)
    {
        var w = new Writer();
        a.Assemble(w, ip);
        return w.Bytes.ToArray();
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
