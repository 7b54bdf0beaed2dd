using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Workloads;

/// <summary>
/// ALU-heavy loop, registers only: add/adc carry chains, xor, rotate, LEA arithmetic, multiply, shifts, a
/// flag-to-mask idiom (CMP; SBB r,r) and a data-dependent branch, 17 instructions per iteration.
/// </summary>
/// <remarks>
/// State a, b, c, d (EAX, EBX, ECX, EDX), per iteration:
/// <code>
/// a += b (carry k); d += k; b ^= a; b = rol(b, 7); c += 4a + 0x11; d -= c; a *= 0x2F; a ^= d >> 3;
/// c += (c &lt; d ? 0x5BD1E995 : 0); if (a &amp; 0x10) d = -d;
/// </code>
/// Checksum: <c>a ^ rol(b, 8) ^ rol(c, 16) ^ rol(d, 24)</c>.
/// </remarks>
public sealed class IntegerLoop : Workload
{
    public const uint A0 = 0x12345678, B0 = 0x9E3779B9, C0 = 0, D0 = 0x7F4A7C15;

    public override string Name => "integer-loop";
    public override string Description => "ALU-heavy register loop (add/adc, xor, rol, lea, imul, shifts, sbb mask, branch)";
    public override int DefaultIterations => 30_000_000;

    protected override void EmitMain(KernelBuilder k, KernelRuntime rt, Label main, int iterations)
    {
        var a = k.Code;
        var loop = a.CreateLabel();
        var skip = a.CreateLabel();
        a.Label(ref main);
        a.mov(eax, A0);
        a.mov(ebx, B0);
        a.mov(ecx, C0);
        a.mov(edx, D0);
        a.mov(edi, (uint)iterations);
        a.Label(ref loop);
        a.add(eax, ebx);
        a.adc(edx, 0);
        a.xor(ebx, eax);
        a.rol(ebx, 7);
        a.lea(ecx, __dword_ptr[ecx + eax * 4 + 0x11]);
        a.sub(edx, ecx);
        a.imul(eax, eax, 0x2F);
        a.mov(ebp, edx);
        a.shr(ebp, 3);
        a.xor(eax, ebp);
        a.cmp(ecx, edx);
        a.sbb(ebp, ebp);                 // -1 when c < d (unsigned), else 0
        a.and(ebp, 0x5BD1E995);
        a.add(ecx, ebp);
        a.test(al, 0x10);
        a.jz(skip);
        a.neg(edx);
        a.Label(ref skip);
        a.dec(edi);
        a.jnz(loop);
        // checksum
        a.rol(ebx, 8);
        a.rol(ecx, 16);
        a.rol(edx, 24);
        a.xor(eax, ebx);
        a.xor(eax, ecx);
        a.xor(eax, edx);
        a.ret();
    }
}
