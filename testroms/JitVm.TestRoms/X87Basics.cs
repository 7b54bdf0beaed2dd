using Iced.Intel;
using JitVm.Cpu;
using JitVm.Machine.Firmware;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// The x87 FPU on a P6: detection (FNINIT/FNSTSW/FNSTCW, CPUID), arithmetic, conversions, comparisons and
/// transcendentals checked by their bit patterns, FNSAVE/FRSTOR and FXSAVE, #NM, and unmasked-exception delivery
/// both ways: #MF at the next waiting instruction with CR0.NE = 1, and with CR0.NE = 0 FERR# through the board's
/// IRQ 13 latch (PIC programmed, the handler writes port F0h, sends EOIs and runs FNCLEX) while that instruction
/// waits.
/// </summary>
public sealed class X87Basics : ProtectedModeRom
{
    public override string Name => "x87";
    public override string Description => "x87 FPU: arithmetic, conversions, compares, transcendentals, save/restore, #NM, #MF and FERR#/IRQ 13";
    public override CpuModel Model => CpuModel.P6;

    // Constants in the ROM (linear F0000h + offset), results and handler records in RAM.
    const int Constants = 0xD000, Irq13Handler = 0x9000;
    static readonly uint I3 = Linear(Constants), I4 = I3 + 4, I5 = I3 + 8, I10 = I3 + 12, I17 = I3 + 16, I12345 = I3 + 20,
        D2 = I3 + 24, D2Half = I3 + 32, D8 = I3 + 40, DNegInf = I3 + 48,
        CwDefault = I3 + 56, CwRoundUp = I3 + 58, CwZeroDivideUnmasked = I3 + 60;
    const uint Result = Scratch, Fip = Scratch + 0x40, Env = Scratch + 0x60, SaveArea = Scratch + 0x100, FxArea = Scratch + 0x200,
        HandlerStatus = Scratch + 0x50, HandlerReturn = Scratch + 0x54, HandlerCount = Scratch + 0x58;
    const byte Irq13Vector = 0x2D;                                          // slave base 28h + 5

    static byte[] ConstantBytes()
    {
        var b = new List<byte>();
        foreach (int v in new[] { 3, 4, 5, 10, 17, 12345 }) b.AddRange(BitConverter.GetBytes(v));
        foreach (double d in new[] { 2.0, 2.5, 8.0, double.NegativeInfinity }) b.AddRange(BitConverter.GetBytes(d));
        foreach (ushort w in new ushort[] { 0x037F, 0x0B7F, 0x037B }) b.AddRange(BitConverter.GetBytes(w));
        return b.ToArray();
    }

    /// <summary>Compares the double at <see cref="Result"/> with <paramref name="bits"/> (one check line).</summary>
    void CheckDouble(Assembler m, string name, ulong bits)
    {
        m.mov(eax, __dword_ptr[Result]);
        m.xor(eax, (uint)bits);
        m.mov(edx, __dword_ptr[Result + 4]);
        m.xor(edx, (uint)(bits >> 32));
        m.or(eax, edx);
        Kit.CheckZero(m, name);
    }

    void CheckStatus(Assembler m, string name, ushort mask, ushort expected)
    {
        m.fnstsw(ax);
        m.movzx(eax, ax);
        m.and(eax, mask);
        Kit.CheckEax(m, name, expected);
    }

    protected override void Body(Assembler m)
    {
        Rom.Data(Constants, ConstantBytes());
        RomKit.Post(m, 0x40);
        Kit.Print(m, "x87: start\n");

        // ---- detection ----
        m.fninit();
        CheckStatus(m, "FNINIT then FNSTSW AX is 0", 0xFFFF, 0);
        m.fnstcw(__word_ptr[Result]);
        m.movzx(eax, __word_ptr[Result]);
        Kit.CheckEax(m, "FNSTCW gives 037F", 0x037F);
        m.mov(eax, 1);
        m.cpuid();
        m.mov(eax, edx);
        m.and(eax, CpuidInfo.FeatureFpu | CpuidInfo.FeatureFxsr | CpuidInfo.FeatureCmov);
        Kit.CheckEax(m, "CPUID.1:EDX has FPU, CMOV and FXSR", CpuidInfo.FeatureFpu | CpuidInfo.FeatureFxsr | CpuidInfo.FeatureCmov);

        // ---- arithmetic and conversions ----
        RomKit.Post(m, 0x41);
        m.fild(__dword_ptr[I10]);
        m.fidiv(__dword_ptr[I4]);
        m.fstp(__qword_ptr[Result]);
        CheckDouble(m, "10 / 4 = 2.5", 0x4004_0000_0000_0000);
        m.fld1();
        m.fidiv(__dword_ptr[I3]);
        m.fstp(__qword_ptr[Result]);
        CheckDouble(m, "1 / 3 rounded to a double", 0x3FD5_5555_5555_5555);
        m.fld(__qword_ptr[D2]);
        m.fsqrt();
        m.fstp(__qword_ptr[Result]);
        CheckDouble(m, "sqrt(2)", 0x3FF6_A09E_667F_3BCD);
        m.fldpi();
        m.fstp(__qword_ptr[Result]);
        CheckDouble(m, "FLDPI stored as a double", 0x4009_21FB_5444_2D18);
        m.fld(__qword_ptr[D2Half]);
        m.frndint();
        m.fistp(__dword_ptr[Result]);
        m.mov(eax, __dword_ptr[Result]);
        Kit.CheckEax(m, "FRNDINT 2.5 to nearest even", 2);
        m.fldcw(__word_ptr[CwRoundUp]);
        m.fld(__qword_ptr[D2Half]);
        m.fistp(__dword_ptr[Result]);
        m.fldcw(__word_ptr[CwDefault]);
        m.mov(eax, __dword_ptr[Result]);
        Kit.CheckEax(m, "FISTP 2.5 rounding up", 3);
        m.fild(__dword_ptr[I12345]);
        m.fbstp(__tword_ptr[Result]);
        m.mov(eax, __dword_ptr[Result]);
        Kit.CheckEax(m, "FBSTP 12345", 0x12345);

        // ---- partial remainder, compares, classification ----
        RomKit.Post(m, 0x42);
        m.fild(__dword_ptr[I5]);
        m.fild(__dword_ptr[I17]);
        m.fprem();
        CheckStatus(m, "FPREM 17 mod 5: quotient 3 in C3 C1, C2 clear", 0x4700, 0x4200);
        m.fistp(__dword_ptr[Result]);
        m.fstp(st0);
        m.mov(eax, __dword_ptr[Result]);
        Kit.CheckEax(m, "FPREM 17 mod 5 = 2", 2);
        m.fld1();
        m.fldz();
        m.fcomip(st0, st1);
        m.pushfd();
        m.pop(eax);
        m.and(eax, 0x45);
        Kit.CheckEax(m, "FCOMIP 0 < 1: CF", 1);
        m.ficomp(__dword_ptr[I3]);
        CheckStatus(m, "FICOMP 1 with 3: C0", 0x4500, 0x0100);
        m.fld(__qword_ptr[DNegInf]);
        m.fxam();
        CheckStatus(m, "FXAM -infinity: C2 C1 C0", 0x4700, 0x0700);
        m.fstp(st0);
        CheckStatus(m, "stack empty again (TOP 0)", 0x3800, 0);

        // ---- transcendentals ----
        RomKit.Post(m, 0x43);
        m.fld1();
        m.fld1();
        m.fpatan();
        m.fstp(__qword_ptr[Result]);
        CheckDouble(m, "FPATAN(1, 1) = pi/4", 0x3FE9_21FB_5444_2D18);
        m.fld1();
        m.fld(__qword_ptr[D8]);
        m.fyl2x();
        m.fistp(__dword_ptr[Result]);
        m.mov(eax, __dword_ptr[Result]);
        Kit.CheckEax(m, "FYL2X 1 * log2(8)", 3);
        m.fldz();
        m.fsincos();
        m.fistp(__dword_ptr[Result]);
        m.fistp(__dword_ptr[Result + 4]);
        m.mov(eax, __dword_ptr[Result]);
        m.shl(eax, 4);
        m.or(eax, __dword_ptr[Result + 4]);
        Kit.CheckEax(m, "FSINCOS 0: cos 1 on top of sin 0", 0x10);

        // ---- FNSAVE/FRSTOR, FXSAVE ----
        RomKit.Post(m, 0x44);
        m.fldpi();
        m.fld1();
        m.fnsave(__[SaveArea]);
        CheckStatus(m, "FNSAVE reinitialises", 0xFFFF, 0);
        m.frstor(__[SaveArea]);
        m.fsubp(st1, st0);                                                 // pi - 1
        m.fstp(__qword_ptr[Result]);
        CheckDouble(m, "FRSTOR brings back pi and 1", BitConverter.DoubleToUInt64Bits(Math.PI - 1));
        m.fld1();
        m.fxsave(__[FxArea]);
        m.fstp(st0);
        m.mov(eax, __dword_ptr[FxArea + 4]);
        m.and(eax, 0xFFFF00FF);
        Kit.CheckEax(m, "FXSAVE: abridged tag R7, opcode D9 E8", 0x1E8_0080);

        // ---- #NM ----
        RomKit.Post(m, 0x45);
        m.mov(eax, cr0);
        m.or(eax, (uint)Processor.Cr0EM);
        m.mov(cr0, eax);
        ExpectFault(m, "#NM with CR0.EM", 7, 0, a => a.fld1());
        m.mov(eax, cr0);
        m.and(eax, ~(uint)Processor.Cr0EM);
        m.or(eax, (uint)Processor.Cr0TS);
        m.mov(cr0, eax);
        ExpectFault(m, "#NM with CR0.TS", 7, 0, a => a.fnop());
        m.clts();

        // ---- unmasked exception, CR0.NE = 1: #MF at the next waiting instruction ----
        RomKit.Post(m, 0x46);
        m.mov(eax, cr0);
        m.or(eax, (uint)Processor.Cr0NE);
        m.mov(cr0, eax);
        m.fninit();
        m.fldcw(__word_ptr[CwZeroDivideUnmasked]);
        m.fld1();
        m.fldz();
        var atDivide = m.CreateLabel();
        m.call(atDivide);
        m.Label(ref atDivide);
        m.pop(eax);                                                        // the FDIVP is at EAX + 1
        m.fdivp(st1, st0);                                                 // 1 / 0 with ZE unmasked: pending
        m.inc(eax);
        m.mov(__dword_ptr[Fip], eax);
        CheckStatus(m, "1/0 with ZE unmasked: B, ES, ZE", 0x80BF, 0x8084);
        ExpectFault(m, "#MF on the next waiting instruction", 16, 0, a => a.fnop());
        m.fnstenv(__[Env]);
        m.mov(eax, __dword_ptr[Env + 12]);
        m.sub(eax, __dword_ptr[Fip]);
        Kit.CheckZero(m, "FIP is the FDIVP's");
        m.mov(eax, __dword_ptr[Env + 16]);
        m.shr(eax, 16);
        Kit.CheckEax(m, "FOP is DE F9", 0x6F9);
        m.fnclex();
        CheckStatus(m, "unmasked: no pop, destination kept (TOP 6, no flags)", 0xBFFF, 6 << 11);
        m.fstp(st0);
        m.fistp(__dword_ptr[Result]);
        m.mov(eax, __dword_ptr[Result]);
        Kit.CheckEax(m, "ST(1) still 1", 1);

        // ---- CR0.NE = 0: FERR# to IRQ 13; the waiting instruction runs after the handler ----
        RomKit.Post(m, 0x47);
        ProgramPics(m);
        SetGate(m, Irq13Vector, Code0, Linear(Irq13Handler), 0x8E);
        m.mov(__dword_ptr[HandlerCount], 0);
        m.mov(eax, cr0);
        m.and(eax, ~(uint)Processor.Cr0NE);
        m.mov(cr0, eax);
        m.fninit();
        m.fldcw(__word_ptr[CwZeroDivideUnmasked]);
        m.fld1();
        m.fldz();
        m.fdivp(st1, st0);
        m.sti();
        var atWait = m.CreateLabel();
        m.call(atWait);
        m.Label(ref atWait);
        m.pop(ebx);                                                        // the FNOP is at EBX + 1
        m.fnop();
        m.cli();
        m.mov(eax, __dword_ptr[HandlerCount]);
        Kit.CheckEax(m, "IRQ 13 handler ran once", 1);
        m.mov(eax, __dword_ptr[HandlerReturn]);
        m.sub(eax, ebx);
        Kit.CheckEax(m, "IRQ 13 taken at the waiting FNOP", 1);
        m.mov(eax, __dword_ptr[HandlerStatus]);
        m.and(eax, 0x80BF);
        Kit.CheckEax(m, "status in the handler: B, ES, ZE", 0x8084);
        CheckStatus(m, "the handler's FNCLEX cleared it", 0x80BF, 0);
        m.wait();
        m.mov(eax, __dword_ptr[HandlerCount]);
        Kit.CheckEax(m, "nothing pending afterwards", 1);

        Kit.Print(m, "x87: done\n");
        RomKit.Finish(m, FinalPost);
    }

    /// <summary>ICW1-4 for the PC's 8259 pair (vector bases 20h and 28h), everything masked but IRQ 2 and IRQ 13.</summary>
    static void ProgramPics(Assembler m)
    {
        foreach (var (port, value) in new (byte, byte)[]
                 {
                     (0x20, 0x11), (0xA0, 0x11), (0x21, 0x20), (0xA1, 0x28), (0x21, 0x04), (0xA1, 0x02), (0x21, 0x01), (0xA1, 0x01),
                     (0x21, 0xFB), (0xA1, 0xDF),
                 })
        {
            m.mov(al, value);
            m.@out(port, al);
        }
    }

    protected override void Sections(RomBuilder rom)
    {
        // IRQ 13: record the status word and the return address, count, clear the latch, EOI both PICs, FNCLEX.
        var h = rom.AddSection(32, Irq13Handler, "irq13");
        h.push(eax);
        h.fnstsw(ax);
        h.movzx(eax, ax);
        h.mov(__dword_ptr[HandlerStatus], eax);
        h.mov(eax, __dword_ptr[esp + 4]);
        h.mov(__dword_ptr[HandlerReturn], eax);
        h.inc(__dword_ptr[HandlerCount]);
        h.xor(al, al);
        h.@out(0xF0, al);
        h.mov(al, 0x20);
        h.@out(0xA0, al);
        h.@out(0x20, al);
        h.fnclex();
        h.pop(eax);
        h.iretd();
    }
}
