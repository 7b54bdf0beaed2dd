using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Workloads;

/// <summary>
/// Memory-bound work over arrays of several hundred KiB: fill from an LCG, copy with REP MOVSD, copy with an
/// unrolled dword loop, copy 64 KiB backwards byte by byte, heapsort (random access), then a sortedness check and
/// weighted sums.
/// </summary>
/// <remarks>
/// Round r (from 0): <c>x = 0x1234 + r·0x9E3779B9</c>; <c>A[i] = x' ^ (x' &gt;&gt; 16)</c> with
/// <c>x' = x·1664525 + 1013904223</c> (x advances); <c>B = A</c> (REP MOVSD); <c>C = B</c> (unrolled loop);
/// <c>D[j] = bytes(C)[65535 - j]</c> for j &lt; 65536; heapsort C ascending (unsigned). Then
/// <c>s = Σ C[i]·(i+1)</c>, <c>t = Σ (D32[j] ^ j)</c> over the 16384 dwords of D, and
/// <c>total = rol(total, 5) ^ s ^ rol(t, 11)</c>. The checksum is the final total.
/// </remarks>
public sealed class MemoryWorkload : Workload
{
    /// <summary>Dwords per array (384 KiB).</summary>
    public const int Count = 96 * 1024;
    /// <summary>Bytes copied backwards into D.</summary>
    public const int ReverseBytes = 64 * 1024;
    public const uint SeedBase = 0x1234, SeedStep = 0x9E3779B9;

    public override string Name => "memory";
    public override string Description => "copy loops (rep movsd, unrolled, bytewise) and heapsort over 384 KiB arrays";
    public override int DefaultIterations => 15;

    protected override void EmitMain(KernelBuilder k, KernelRuntime rt, Label main, int iterations)
    {
        var a = k.Code;
        uint arrA = k.Bss(Count * 4, 4096), arrB = k.Bss(Count * 4, 4096), arrC = k.Bss(Count * 4, 4096);
        uint arrD = k.Bss(ReverseBytes, 4096);
        uint round = k.Bss(4, 4), total = k.Bss(4, 4);
        var sift = a.CreateLabel("sift");
        var notSorted = a.CreateLabel();
        var rounds = a.CreateLabel();

        a.Label(ref main);
        a.mov(__dword_ptr[round], 0);
        a.mov(__dword_ptr[total], 0);
        a.Label(ref rounds);

        // 1. fill A
        var fill = a.CreateLabel();
        a.imul(eax, __dword_ptr[round], unchecked((int)SeedStep));
        a.add(eax, SeedBase);
        a.mov(edi, arrA);
        a.mov(ecx, Count);
        a.Label(ref fill);
        a.imul(eax, eax, 1664525);
        a.add(eax, 1013904223);
        a.mov(edx, eax);
        a.shr(edx, 16);
        a.xor(edx, eax);
        a.mov(__dword_ptr[edi], edx);
        a.add(edi, 4);
        a.dec(ecx);
        a.jnz(fill);

        // 2. B = A with REP MOVSD
        a.mov(esi, arrA);
        a.mov(edi, arrB);
        a.mov(ecx, Count);
        a.rep.movsd();

        // 3. C = B, unrolled: four dwords per iteration
        var copy = a.CreateLabel();
        a.mov(esi, arrB);
        a.mov(edi, arrC);
        a.mov(ecx, Count / 4);
        a.Label(ref copy);
        a.mov(eax, __dword_ptr[esi]);
        a.mov(edx, __dword_ptr[esi + 4]);
        a.mov(__dword_ptr[edi], eax);
        a.mov(__dword_ptr[edi + 4], edx);
        a.mov(eax, __dword_ptr[esi + 8]);
        a.mov(edx, __dword_ptr[esi + 12]);
        a.mov(__dword_ptr[edi + 8], eax);
        a.mov(__dword_ptr[edi + 12], edx);
        a.add(esi, 16);
        a.add(edi, 16);
        a.dec(ecx);
        a.jnz(copy);

        // 4. D = the first 64 KiB of C, reversed, one byte at a time
        var rev = a.CreateLabel();
        a.mov(esi, arrC + ReverseBytes - 1);
        a.mov(edi, arrD);
        a.mov(ecx, ReverseBytes);
        a.Label(ref rev);
        a.mov(al, __byte_ptr[esi]);
        a.mov(__byte_ptr[edi], al);
        a.dec(esi);
        a.inc(edi);
        a.dec(ecx);
        a.jnz(rev);

        // 5. heapsort C: build the heap (sift down from Count/2-1 to 0), then move the maximum out Count-1 times
        var build = a.CreateLabel();
        var sortLoop = a.CreateLabel();
        a.mov(ebx, arrC);
        a.mov(ebp, Count);
        a.mov(esi, Count / 2 - 1);
        a.Label(ref build);
        a.push(esi);
        a.call(sift);
        a.pop(esi);
        a.dec(esi);
        a.jns(build);
        a.mov(ebp, Count - 1);
        a.Label(ref sortLoop);
        a.mov(eax, __dword_ptr[ebx]);
        a.mov(edx, __dword_ptr[ebx + ebp * 4]);
        a.mov(__dword_ptr[ebx], edx);
        a.mov(__dword_ptr[ebx + ebp * 4], eax);
        a.xor(esi, esi);
        a.call(sift);
        a.dec(ebp);
        a.jnz(sortLoop);

        // 6. sortedness check and s = Σ C[i]·(i+1)
        var sum = a.CreateLabel();
        a.mov(esi, arrC);
        a.mov(ecx, 1);
        a.xor(ebp, ebp);
        a.xor(edx, edx);
        a.Label(ref sum);
        a.mov(eax, __dword_ptr[esi]);
        a.cmp(eax, edx);
        a.jb(notSorted);
        a.mov(edx, eax);
        a.imul(eax, ecx);
        a.add(ebp, eax);
        a.add(esi, 4);
        a.inc(ecx);
        a.cmp(ecx, Count + 1);
        a.jne(sum);

        // 7. t = Σ (D32[j] ^ j); total = rol(total, 5) ^ s ^ rol(t, 11)
        var dsum = a.CreateLabel();
        a.mov(esi, arrD);
        a.xor(ecx, ecx);
        a.xor(ebx, ebx);
        a.Label(ref dsum);
        a.mov(eax, __dword_ptr[esi + ecx * 4]);
        a.xor(eax, ecx);
        a.add(ebx, eax);
        a.inc(ecx);
        a.cmp(ecx, ReverseBytes / 4);
        a.jne(dsum);
        a.rol(ebx, 11);
        a.xor(ebp, ebx);
        a.mov(eax, __dword_ptr[total]);
        a.rol(eax, 5);
        a.xor(eax, ebp);
        a.mov(__dword_ptr[total], eax);

        a.inc(__dword_ptr[round]);
        a.cmp(__dword_ptr[round], (uint)iterations);
        a.jb(rounds);
        a.mov(eax, __dword_ptr[total]);
        a.ret();

        a.Label(ref notSorted);
        rt.Fail("heapsort left the array unsorted");

        // sift: sift the element at index ESI down the max-heap of EBP elements at EBX. Clobbers EAX ECX EDX ESI EDI.
        var noRight = a.CreateLabel();
        var done = a.CreateLabel();
        a.Label(ref sift);
        a.lea(edi, __dword_ptr[esi * 2 + 1]);
        a.cmp(edi, ebp);
        a.jae(done);
        a.mov(eax, __dword_ptr[ebx + edi * 4]);
        a.lea(ecx, __dword_ptr[edi + 1]);
        a.cmp(ecx, ebp);
        a.jae(noRight);
        a.mov(edx, __dword_ptr[ebx + ecx * 4]);
        a.cmp(eax, edx);
        a.jae(noRight);
        a.mov(edi, ecx);
        a.mov(eax, edx);
        a.Label(ref noRight);
        a.mov(edx, __dword_ptr[ebx + esi * 4]);
        a.cmp(edx, eax);
        a.jae(done);
        a.mov(__dword_ptr[ebx + esi * 4], eax);
        a.mov(__dword_ptr[ebx + edi * 4], edx);
        a.mov(esi, edi);
        a.jmp(sift);
        a.Label(ref done);
        a.ret();
    }
}
