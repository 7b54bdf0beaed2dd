using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Fpu;

/// <summary>
/// The last-instruction pointers: FIP/FCS/FOP for every non-control instruction, FDP/FDS for its memory operand, left
/// alone by the control instructions; FOP's ModRM byte for 16- and 32-bit addressing forms.
/// </summary>
public class X87PointerTests
{
    public static TheoryData<string, int> Forms => new()
    {
        { "fld dword [bx+si+10h]", 0x140 },        // D9 /0, mod 01 rm 000
        { "fld dword [bp]", 0x146 },               // [bp] needs a displacement: mod 01 rm 110
        { "fld dword [1234h]", 0x106 },            // disp16: mod 00 rm 110
        { "fadd qword [di+1234h]", 0x485 },        // DC /0, mod 10 rm 101
        { "fistp word [si]", 0x71C },              // DF /3, mod 00 rm 100
        { "fld dword [eax+ecx*4+12345678h]", 0x184 },  // SIB with disp32: mod 10 rm 100
        { "fst dword [ebp-4]", 0x155 },            // D9 /2, mod 01 rm 101
        { "fld tword [esi]", 0x32E },              // DB /5, mod 00 rm 110 (ESI)
        { "fxch st(3)", 0x1CB },
        { "fnop", 0x1D0 },
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public void FopHoldsTheLowEscapeBitsAndTheSecondByte(string form, int fop)
    {
        var r = new FpuRig();
        r.M.Load(x =>
        {
            x.fninit(); x.fld1(); x.fld1();
            x.xor(eax, eax); x.xor(ecx, ecx); x.mov(ebp, 0x7100); x.mov(esi, 0x7100); x.mov(edi, 0x7000); x.mov(ebx, 0x7000);
            Emit(x, form);
        });
        r.M.Run();
        Assert.False(r.InHandler);
        Assert.Equal(fop, r.Cpu.Fpu.Opcode);
    }

    static void Emit(Assembler x, string form)
    {
        switch (form)
        {
            case "fld dword [bx+si+10h]": x.fld(__dword_ptr[bx + si + 0x10]); break;
            case "fld dword [bp]": x.fld(__dword_ptr[bp]); break;
            case "fld dword [1234h]": x.fld(__dword_ptr[0x1234]); break;
            case "fadd qword [di+1234h]": x.fadd(__qword_ptr[di + 0x1234]); break;
            case "fistp word [si]": x.fistp(__word_ptr[si]); break;
            case "fld dword [eax+ecx*4+12345678h]": x.mov(eax, unchecked((uint)-0x12345678 + 0x7000)); x.fld(__dword_ptr[eax + ecx * 4 + 0x12345678]); break;
            case "fst dword [ebp-4]": x.fst(__dword_ptr[ebp - 4]); break;
            case "fld tword [esi]": x.fld(__tword_ptr[esi]); break;
            case "fxch st(3)": x.fxch(st0, st3); break;
            default: x.fnop(); break;
        }
    }

    [Fact]
    public void ControlInstructionsLeaveThePointersAndRegisterFormsTheDataPointer()
    {
        var r = new FpuRig();
        r.M.Load(x =>
        {
            x.fninit(); x.fld(__dword_ptr.es[0x7004]);                 // 1000:0002, operand ES:7004 (ES = 0)
            x.fld1();                                                   // 1000:0007: no operand
            x.fnstcw(__word_ptr[0x7010]); x.fnstsw(ax); x.fnclex(); x.fldcw(__word_ptr[0x7010]);
        });
        r.M.Run();
        Assert.Equal(7u, r.Cpu.Fpu.Ip);
        Assert.Equal(0x1000, r.Cpu.Fpu.Cs);
        Assert.Equal(0x1E8, r.Cpu.Fpu.Opcode);                          // FLD1
        Assert.Equal(0x7004u, r.Cpu.Fpu.Dp);                            // still FLD m32's
        Assert.Equal(0, r.Cpu.Fpu.Ds);
    }
}
