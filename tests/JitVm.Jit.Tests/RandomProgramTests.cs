using Iced.Intel;
using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Jit.Tests;

/// <summary>
/// Randomly generated real-mode programs (8/16/32-bit ALU, moves, shifts, multiplies and divides that may raise
/// #DE, stack operations, SETcc, forward branches, counted loops, string instructions, accesses that may fault at
/// the segment limit), run on the interpreter and on forced translation in lockstep.
/// </summary>
public class RandomProgramTests
{
    static readonly AssemblerRegister8[] R8 = [al, cl, dl, bl, ah, ch, dh, bh];
    static readonly AssemblerRegister16[] R16 = [ax, cx, dx, bx, bp, si, di];
    static readonly AssemblerRegister32[] R32 = [eax, ecx, edx, ebx, ebp, esi, edi];

    static AssemblerMemoryOperand Mem(Random rng, AssemblerMemoryOperandFactory? sized = null)
    {
        var f = sized ?? __;
        // Offsets near the top of the segment now and then, so word/dword accesses can hit the limit (#GP/#SS).
        return rng.Next(6) switch
        {
            0 => f[bx + si + rng.Next(0, 0x100)],
            1 => f[di + rng.Next(0, 0x100)],
            2 => f[bp + rng.Next(0, 0x80)],
            3 => f[(ulong)rng.Next(0x1000, 0x1100)],
            4 => f[bx + di],
            _ => f[(ulong)(0xFFFF - rng.Next(0, 3))],
        };
    }

    static void Instruction(Assembler a, Random rng)
    {
        int size = rng.Next(3);
        switch (rng.Next(16))
        {
            case 0:
            case 1:
            case 2:
            {
                // ALU op, register or memory forms.
                int op = rng.Next(9);
                int form = rng.Next(4);
                void Alu8(AssemblerRegister8 d, AssemblerRegister8 s)
                {
                    switch (op) { case 0: a.add(d, s); break; case 1: a.or(d, s); break; case 2: a.adc(d, s); break; case 3: a.sbb(d, s); break; case 4: a.and(d, s); break; case 5: a.sub(d, s); break; case 6: a.xor(d, s); break; case 7: a.cmp(d, s); break; default: a.test(d, s); break; }
                }
                void Alu16(AssemblerRegister16 d, AssemblerRegister16 s)
                {
                    switch (op) { case 0: a.add(d, s); break; case 1: a.or(d, s); break; case 2: a.adc(d, s); break; case 3: a.sbb(d, s); break; case 4: a.and(d, s); break; case 5: a.sub(d, s); break; case 6: a.xor(d, s); break; case 7: a.cmp(d, s); break; default: a.test(d, s); break; }
                }
                void Alu32(AssemblerRegister32 d, AssemblerRegister32 s)
                {
                    switch (op) { case 0: a.add(d, s); break; case 1: a.or(d, s); break; case 2: a.adc(d, s); break; case 3: a.sbb(d, s); break; case 4: a.and(d, s); break; case 5: a.sub(d, s); break; case 6: a.xor(d, s); break; case 7: a.cmp(d, s); break; default: a.test(d, s); break; }
                }
                void AluMem(AssemblerMemoryOperand m, int imm)
                {
                    switch (op) { case 0: a.add(m, imm); break; case 1: a.or(m, imm); break; case 2: a.adc(m, imm); break; case 3: a.sbb(m, imm); break; case 4: a.and(m, imm); break; case 5: a.sub(m, imm); break; case 6: a.xor(m, imm); break; case 7: a.cmp(m, imm); break; default: a.test(m, imm); break; }
                }
                if (form == 0) { if (size == 0) Alu8(R8[rng.Next(8)], R8[rng.Next(8)]); else if (size == 1) Alu16(R16[rng.Next(7)], R16[rng.Next(7)]); else Alu32(R32[rng.Next(7)], R32[rng.Next(7)]); }
                else if (form == 1)
                {
                    var m = Mem(rng);
                    if (op == 8) { if (size == 0) a.test(m, R8[rng.Next(8)]); else if (size == 1) a.test(m, R16[rng.Next(7)]); else a.test(m, R32[rng.Next(7)]); }
                    else if (size == 0) { var r = R8[rng.Next(8)]; switch (op) { case 0: a.add(m, r); break; case 1: a.or(r, m); break; case 2: a.adc(m, r); break; case 3: a.sbb(r, m); break; case 4: a.and(m, r); break; case 5: a.sub(r, m); break; case 6: a.xor(m, r); break; default: a.cmp(r, m); break; } }
                    else if (size == 1) { var r = R16[rng.Next(7)]; switch (op) { case 0: a.add(m, r); break; case 1: a.or(r, m); break; case 2: a.adc(m, r); break; case 3: a.sbb(r, m); break; case 4: a.and(m, r); break; case 5: a.sub(r, m); break; case 6: a.xor(m, r); break; default: a.cmp(r, m); break; } }
                    else { var r = R32[rng.Next(7)]; switch (op) { case 0: a.add(m, r); break; case 1: a.or(r, m); break; case 2: a.adc(m, r); break; case 3: a.sbb(r, m); break; case 4: a.and(m, r); break; case 5: a.sub(r, m); break; case 6: a.xor(m, r); break; default: a.cmp(r, m); break; } }
                }
                else
                {
                    int imm = rng.Next(4) == 0 ? rng.Next(-128, 128) : rng.Next(0, 0x7FFF);
                    if (size == 0) AluMem(Mem(rng, __byte_ptr), imm & 0x7F);
                    else if (size == 1) AluMem(Mem(rng, __word_ptr), imm);
                    else AluMem(Mem(rng, __dword_ptr), imm);
                }
                break;
            }
            case 3:
                switch (rng.Next(4)) { case 0: a.inc(R16[rng.Next(7)]); break; case 1: a.dec(R32[rng.Next(7)]); break; case 2: a.neg(R8[rng.Next(8)]); break; default: a.not(__word_ptr[bx + si]); break; }
                break;
            case 4:
                switch (rng.Next(5))
                {
                    case 0: a.mov(R16[rng.Next(7)], (ushort)rng.Next(0x10000)); break;
                    case 1: a.mov(R32[rng.Next(7)], (uint)rng.Next()); break;
                    case 2: a.mov(__dword_ptr[di + rng.Next(0x100)], R32[rng.Next(7)]); break;
                    case 3: a.movzx(R32[rng.Next(7)], __byte_ptr[si + rng.Next(0x100)]); break;
                    default: a.movsx(R16[rng.Next(7)], R8[rng.Next(8)]); break;
                }
                break;
            case 5:
                switch (rng.Next(3)) { case 0: a.lea(R16[rng.Next(7)], __[bx + si + rng.Next(0x1000)]); break; case 1: a.xchg(R8[rng.Next(8)], R8[rng.Next(8)]); break; default: a.xchg(__word_ptr[bx + 2], R16[rng.Next(7)]); break; }
                break;
            case 6:
                // Balanced stack traffic (SP stays in its segment).
                if (rng.Next(2) == 0) { a.push(R16[rng.Next(7)]); a.pop(R16[rng.Next(7)]); }
                else { a.push((uint)rng.Next(0x100)); a.pop(R32[rng.Next(7)]); }
                break;
            case 7:
            {
                var r = R16[rng.Next(7)];
                switch (rng.Next(6)) { case 0: a.shl(r, (byte)rng.Next(1, 20)); break; case 1: a.sar(R32[rng.Next(7)], cl); break; case 2: a.rcl(R8[rng.Next(8)], 1); break; case 3: a.ror(r, cl); break; case 4: a.shr(__word_ptr[bx + si], 3); break; default: a.shld(R32[rng.Next(7)], R32[rng.Next(7)], (byte)rng.Next(32)); break; }
                // SHL/SHR/SAR by a constant (recorded lazily by the translator) in every size, by 1, past the
                // width, and on memory that may fault, with their flags read by SETcc (OF included) or not at all.
                switch (rng.Next(8))
                {
                    case 0: a.shr(R8[rng.Next(8)], (byte)rng.Next(1, 12)); break;
                    case 1: a.sar(R32[rng.Next(7)], (byte)rng.Next(0, 32)); break;
                    case 2: a.shl(R32[rng.Next(7)], 1); break;
                    case 3: a.sar(R8[rng.Next(8)], 1); break;
                    case 4: a.shl(Mem(rng, __byte_ptr), (byte)rng.Next(1, 9)); break;
                    case 5: a.sar(Mem(rng, __dword_ptr), (byte)rng.Next(1, 32)); break;
                    case 6: a.shr(r, (byte)rng.Next(1, 18)); break;
                    default: a.shl(R8[rng.Next(8)], (byte)rng.Next(1, 11)); break;
                }
                switch (rng.Next(4)) { case 0: a.seto(R8[rng.Next(8)]); break; case 1: a.setle(R8[rng.Next(8)]); break; case 2: a.setbe(R8[rng.Next(8)]); break; default: break; }
                break;
            }
            case 8:
                switch (rng.Next(5)) { case 0: a.mul(bl); break; case 1: a.imul(cx); break; case 2: a.imul(R32[rng.Next(7)], R32[rng.Next(7)], rng.Next(-500, 500)); break; case 3: a.div(R8[rng.Next(8)]); break; default: a.idiv(R16[rng.Next(7)]); break; }
                break;
            case 9:
                a.setb(R8[rng.Next(8)]);
                break;
            case 10:
            case 11:
            {
                // A forward conditional branch over one instruction.
                var skip = a.CreateLabel();
                switch (rng.Next(6)) { case 0: a.jz(skip); break; case 1: a.jb(skip); break; case 2: a.jl(skip); break; case 3: a.jo(skip); break; case 4: a.jbe(skip); break; default: a.jp(skip); break; }
                a.add(R16[rng.Next(7)], 5);
                a.Label(ref skip);
                a.nop();
                break;
            }
            case 12:
            {
                // A short counted loop.
                var top = a.CreateLabel();
                a.mov(cx, (ushort)rng.Next(1, 6));
                a.Label(ref top);
                a.add(ax, cx);
                a.xor(dx, ax);
                a.loop(top);
                break;
            }
            case 13:
                a.mov(cx, (ushort)rng.Next(0, 8));
                a.mov(si, (ushort)rng.Next(0x1000, 0x1100));
                a.mov(di, (ushort)rng.Next(0x1100, 0x1200));
                if (rng.Next(2) == 0)
                {
                    switch (rng.Next(4)) { case 0: a.rep.movsb(); break; case 1: a.rep.stosw(); break; case 2: a.repe.cmpsb(); break; default: a.repne.scasb(); break; }
                    break;
                }
                // Single string elements (translated inline), either direction, 16- or 32-bit addressing (ESI/EDI
                // near the top of 64 KiB now and then, so 16-bit pointers wrap and 32-bit ones pass the limit).
                if (rng.Next(2) == 0) a.std(); else a.cld();
                if (rng.Next(4) == 0) a.mov(si, (ushort)(0xFFFF - rng.Next(0, 4)));
                switch (rng.Next(13))
                {
                    case 9: a.scasb(); break;
                    case 10: a.scasd(); break;
                    case 11: a.cmpsb(); break;
                    case 12: a.cmpsw(); break;
                    case 0: a.movsb(); break;
                    case 1: a.movsw(); break;
                    case 2: a.movsd(); break;
                    case 3: a.stosb(); break;
                    case 4: a.stosw(); break;
                    case 5: a.stosd(); break;
                    case 6: a.lodsb(); break;
                    case 7: a.lodsw(); break;
                    default: a.db(0x67); a.lodsd(); break;       // 32-bit addressing: ESI as a whole
                }
                break;
            case 14:
                a.cmp(R32[rng.Next(7)], R32[rng.Next(7)]);
                break;
            default:
                if (rng.Next(2) == 0) a.stc(); else a.cld();
                break;
        }
    }

    [Theory]
    [InlineData(1, "pentium")]
    [InlineData(2, "386")]
    [InlineData(3, "pentium")]
    public void RandomProgramsAgreeBlockByBlock(int seed, string model)
    {
        var rng = new Random(seed);
        var failures = new List<string>();
        for (int p = 0; p < 120; p++)
        {
            byte[] code = Pair.Assemble(16, 0, a =>
            {
                a.mov(ax, 0x3000);
                a.mov(ds, ax);
                a.mov(es, ax);
                a.mov(bx, (ushort)rng.Next(0x1000));
                a.mov(si, (ushort)rng.Next(0x1000));
                a.mov(di, (ushort)rng.Next(0x1000));
                a.mov(bp, (ushort)rng.Next(0x1000));
                for (int k = 0; k < 40; k++) Instruction(a, rng);
            });
            var data = new byte[0x10000];
            rng.NextBytes(data);
            var lockstep = Pair.Create(CpuModel.Parse(model));
            lockstep.Both((c, m) =>
            {
                Pair.RealMode(c, m, code);
                m.Poke(0x30000, data);
            });
            var d = lockstep.Run(10_000);
            if (d is not null) failures.Add($"program {p}: {d}");
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures.Take(10)));
    }
}
