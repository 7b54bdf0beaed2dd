using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>DAA DAS AAA AAS AAM AAD: decimal adjusts of AL (and AH).</summary>
/// <remarks>
/// The flags the SDM leaves undefined are those of the underlying 8-bit add or subtract of the adjustment
/// (DAA/AAA: ADD AL, adj; DAS/AAS: SUB AL, adj; AAD: ADD AL, AH*imm), which is what the 80286 vectors show
/// for every undefined bit except AAD's OF (see there).
/// </remarks>
internal static unsafe class Bcd
{
    const uint CF = Processor.FlagCF, AF = Processor.FlagAF, OF = Processor.FlagOF;

    // OF of an 8-bit a + b = r: both inputs differ in sign from the result.
    static uint AddOverflow(uint a, uint b, uint r) => ((a ^ r) & (b ^ r) & 0x80) != 0 ? OF : 0;

    // OF of an 8-bit a - b = r: the inputs differ in sign and the result differs from a.
    static uint SubOverflow(uint a, uint b, uint r) => ((a ^ b) & (a ^ r) & 0x80) != 0 ? OF : 0;

    // DAA: add 06 if the low digit overflowed (>9 or AF), add 60 if the byte did (>99 or CF).
    static void Daa(Processor c, ref Insn i)
    {
        uint al = c.Reg8(Processor.EAX), f = c.ComputeArith(), adj = 0, nf = 0;
        if ((al & 0xF) > 9 || (f & AF) != 0) { adj = 0x06; nf = AF; }            // AF = low digit adjusted
        if (al > 0x99 || (f & CF) != 0) { adj |= 0x60; nf |= CF; }               // CF = high digit adjusted (a carry out of AL+6 implies al > 99)
        uint r = (al + adj) & 0xFF;
        c.SetReg8(Processor.EAX, r);
        c.SetArithFlags(nf | Processor.SzpFlags(r, 0x80) | AddOverflow(al, adj, r));
    }

    // DAS: subtract 06 if the low digit needs it (>9 or AF), 60 if the byte does (>99 or CF).
    static void Das(Processor c, ref Insn i)
    {
        uint al = c.Reg8(Processor.EAX), f = c.ComputeArith(), adj = 0, nf = 0;
        if ((al & 0xF) > 9 || (f & AF) != 0)
        {
            adj = 0x06;
            nf = AF | (al < 6 ? CF : 0);                                           // CF |= borrow from AL - 6
        }
        if (al > 0x99 || (f & CF) != 0) { adj |= 0x60; nf |= CF; }
        uint r = (al - adj) & 0xFF;
        c.SetReg8(Processor.EAX, r);
        c.SetArithFlags(nf | Processor.SzpFlags(r, 0x80) | SubOverflow(al, adj, r));
    }

    // AAA: if the low digit of AL overflowed, AX += 106h (a carry out of AL+6 reaches AH too) and AF = CF = 1;
    // AL keeps its low nibble. SF/ZF/PF/OF are those of AL + 6 (or of AL when nothing is adjusted).
    static void Aaa(Processor c, ref Insn i)
    {
        uint ax = c.Reg16(Processor.EAX), al = ax & 0xFF, f = c.ComputeArith();
        uint nf;
        if ((al & 0xF) > 9 || (f & AF) != 0)
        {
            uint r = (al + 6) & 0xFF;
            ax += 0x106;
            nf = AF | CF | Processor.SzpFlags(r, 0x80) | AddOverflow(al, 6, r);
        }
        else nf = Processor.SzpFlags(al, 0x80);
        c.SetReg16(Processor.EAX, ax & 0xFF0F);
        c.SetArithFlags(nf);
    }

    // AAS: if the low digit of AL needs a borrow, AX -= 6, AH -= 1 and AF = CF = 1; AL keeps its low nibble.
    // SF/ZF/PF/OF are those of AL - 6 (or of AL when nothing is adjusted).
    static void Aas(Processor c, ref Insn i)
    {
        uint ax = c.Reg16(Processor.EAX), al = ax & 0xFF, f = c.ComputeArith();
        uint nf;
        if ((al & 0xF) > 9 || (f & AF) != 0)
        {
            uint r = (al - 6) & 0xFF;
            ax = ax - 6 - 0x100;
            nf = AF | CF | Processor.SzpFlags(r, 0x80) | SubOverflow(al, 6, r);
        }
        else nf = Processor.SzpFlags(al, 0x80);
        c.SetReg16(Processor.EAX, ax & 0xFF0F);
        c.SetArithFlags(nf);
    }

    // AAM imm8: AH = AL / imm, AL = AL mod imm; #DE when imm is 0. SF/ZF/PF from AL; OF/AF/CF (undefined) = 0,
    // as on the 80286.
    static void Aam(Processor c, ref Insn i)
    {
        uint b = i.Imm & 0xFF, al = c.Reg8(Processor.EAX);
        if (b == 0) c.Fault(CpuVectors.DE);
        uint q = al / b, r = al - q * b;
        c.SetReg16(Processor.EAX, (q << 8) | r);
        c.SetArithFlags(Processor.SzpFlags(r, 0x80));
    }

    // AAD imm8: AL = AL + AH * imm (8 bits), AH = 0. SF/ZF/PF from AL; CF/AF (undefined) from that 8-bit add.
    // OF (undefined): the 80286 sets it equal to CF (all 201 vectors agree); the 386+ models use the add's OF.
    static void Aad(Processor c, ref Insn i)
    {
        uint al = c.Reg8(Processor.EAX), p = (c.Reg8(Processor.EAX + 1) * (i.Imm & 0xFF)) & 0xFF;
        uint sum = al + p, r = sum & 0xFF;
        uint cf = sum >> 8;                                                         // CF = carry out of AL + AH*imm
        uint of = c.Model.Is286 ? (cf != 0 ? OF : 0) : AddOverflow(al, p, r);
        c.SetReg16(Processor.EAX, r);
        c.SetArithFlags(cf | ((al ^ p ^ r) & AF) | of | Processor.SzpFlags(r, 0x80));   // AF = carry out of bit 3
    }

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Daa, &Daa);
        t.Add(Code.Das, &Das);
        t.Add(Code.Aaa, &Aaa);
        t.Add(Code.Aas, &Aas);
        t.Add(Code.Aam_imm8, &Aam);
        t.Add(Code.Aad_imm8, &Aad);
    }
}
