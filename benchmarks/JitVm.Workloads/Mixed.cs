using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Workloads;

/// <summary>
/// A mixed program in the spirit of Dhrystone (written for this project, not a port of it): record copies and
/// field updates through pointers, string copy and compare, procedure calls with stack arguments and pointer
/// parameters, a switch through a jump table, one- and two-dimensional arrays, and integer multiply and divide.
/// </summary>
/// <remarks>
/// Records are 48 bytes: next pointer, kind (0-4), value, count, a 32-byte name. Start: <c>str1 = S1</c>,
/// <c>A = { next = &amp;B, kind = 2, value = 40, count = 0, name = S1 }</c>, B, arrays and acc zero.
/// Iteration i = 1..n:
/// <code>
/// str2 = S2; str2[5 + (i &amp; 15)] = 'A' + i % 26; flag = strcmp(str1, str2) &gt; 0
/// int1 = 2 + (i &amp; 3); int2 = int1 + 3
/// do { int3 = add3(int1, 5·int1 - int2); int1++ } while (int1 &lt; int2)          add3(a, b) = a + b + 2
/// loc = int1 + 5: arr1[loc] = int3; arr1[loc+1] = arr1[loc]; arr1[loc+30] = loc;
///     arr2[loc][loc] = arr2[loc][loc+1] = loc; arr2[loc][loc-1] += 1; arr2[loc+20][loc] = arr1[loc]
/// A.count += 1; B = A (whole record); A.value = 5 + (i &amp; 7); B.value = A.value
/// if (B.kind == 2) { B.value = 6; B.kind = classify(A.kind, i); B.value = add3(B.value, 10) } else A = B
/// A.kind = (A.kind + B.kind + i) mod 5
/// for (ch = 'A'; ch &lt;= 'A' + (i &amp; 3); ch++) if (ch == 'C') int2 += ch
/// int2 = int2·int1; int1 = int2 / int3 (unsigned); int2 = 7·(int2 - int3) - int1
/// int1 = (signed)int1 &gt; 20 ? int1 - (i &amp; 7) : int1 + 3
/// acc = rol(acc, 1) ^ (int1 + 3·int2 + 7·int3 + flag + A.value + 11·B.value + 13·B.kind + 17·A.kind + A.count)
/// </code>
/// classify(k, i): 0 → 1 + (i &amp; 1); 1 → (i &amp; 4) ? 3 : 0; 2 → 4; 3 → i mod 3; 4 → 2. Checksum: starting from
/// acc, <c>h = h·31 + v</c> over the 50 dwords of arr1, the 2500 of arr2 (row-major), then the 32 bytes of B.name.
/// All arithmetic is modulo 2^32.
/// </remarks>
public sealed class Mixed : Workload
{
    public const string S1 = "JITVM MIXED WORKLOAD, 1ST STRING";
    public const string S2 = "JITVM MIXED WORKLOAD, 2ND STRING";
    public const int RecordSize = 48, NameOffset = 16, ArraySize = 50;

    public override string Name => "mixed";
    public override string Description => "Dhrystone-like records, strings, calls, switch, arrays and arithmetic";
    public override int DefaultIterations => 800_000;

    protected override void EmitMain(KernelBuilder k, KernelRuntime rt, Label main, int iterations)
    {
        var a = k.Code;
        uint s1 = k.String(S1), s2 = k.String(S2);
        uint str1 = k.Bss(36, 4), str2 = k.Bss(36, 4);
        uint recA = k.Bss(RecordSize, 16), recB = k.Bss(RecordSize, 16);
        // arr2 directly follows arr1, so the final hash walks both in one loop.
        uint arr1 = k.Bss(ArraySize * 4 + ArraySize * ArraySize * 4, 16), arr2 = arr1 + ArraySize * 4;
        uint vars = k.Bss(32, 4);
        uint vI = vars, vInt1 = vars + 4, vInt2 = vars + 8, vInt3 = vars + 12, vFlag = vars + 16, vAcc = vars + 20, vCh2 = vars + 24;

        var strcpy = a.CreateLabel("strcpy");
        var strcmp = a.CreateLabel("strcmp");
        var add3 = a.CreateLabel("add3");
        var fillArrays = a.CreateLabel("fill_arrays");
        var procRec = a.CreateLabel("proc_rec");
        var classify = a.CreateLabel("classify");
        var chrEq = a.CreateLabel("chr_eq");
        var adjust = a.CreateLabel("adjust");
        var cases = new[] { a.CreateLabel("case0"), a.CreateLabel("case1"), a.CreateLabel("case2"), a.CreateLabel("case3"), a.CreateLabel("case4") };
        uint jumpTable = k.AddressTable(cases);

        const int next = 0, kind = 4, value = 8, count = 12;

        var iter = a.CreateLabel();
        var arith = a.CreateLabel();
        var chLoop = a.CreateLabel();
        var chNext = a.CreateLabel();
        var chDone = a.CreateLabel();
        var hashArrays = a.CreateLabel();
        var hashName = a.CreateLabel();

        // ---- main ----
        a.Label(ref main);
        a.push(ebp);
        a.push(ebx);
        a.push(esi);
        a.push(edi);
        a.push(s1);
        a.push(str1);
        a.call(strcpy);
        a.add(esp, 8);
        a.mov(__dword_ptr[recA + next], recB);
        a.mov(__dword_ptr[recA + kind], 2);
        a.mov(__dword_ptr[recA + value], 40);
        a.push(s1);
        a.push(recA + NameOffset);
        a.call(strcpy);
        a.add(esp, 8);
        a.mov(__dword_ptr[vI], 1);

        a.Label(ref iter);
        // strings
        a.push(s2);
        a.push(str2);
        a.call(strcpy);
        a.add(esp, 8);
        a.mov(ecx, __dword_ptr[vI]);
        a.mov(ebx, ecx);
        a.and(ebx, 15);
        a.mov(eax, ecx);
        a.xor(edx, edx);
        a.mov(esi, 26);
        a.div(esi);
        a.add(dl, (byte)'A');
        a.mov(__byte_ptr[ebx + str2 + 5], dl);
        a.push(str2);
        a.push(str1);
        a.call(strcmp);
        a.add(esp, 8);
        a.test(eax, eax);
        a.setg(al);
        a.movzx(eax, al);
        a.mov(__dword_ptr[vFlag], eax);
        // arithmetic loop with calls
        a.mov(eax, __dword_ptr[vI]);
        a.and(eax, 3);
        a.add(eax, 2);
        a.mov(__dword_ptr[vInt1], eax);
        a.add(eax, 3);
        a.mov(__dword_ptr[vInt2], eax);
        a.Label(ref arith);
        a.mov(eax, __dword_ptr[vInt1]);
        a.lea(eax, __dword_ptr[eax + eax * 4]);
        a.sub(eax, __dword_ptr[vInt2]);
        a.push(eax);
        a.push(__dword_ptr[vInt1]);
        a.call(add3);
        a.add(esp, 8);
        a.mov(__dword_ptr[vInt3], eax);
        a.inc(__dword_ptr[vInt1]);
        a.mov(eax, __dword_ptr[vInt1]);
        a.cmp(eax, __dword_ptr[vInt2]);
        a.jl(arith);
        // arrays
        a.push(__dword_ptr[vInt3]);
        a.push(__dword_ptr[vInt1]);
        a.call(fillArrays);
        a.add(esp, 8);
        // records
        a.push(__dword_ptr[vI]);
        a.push(recA);
        a.call(procRec);
        a.add(esp, 8);
        // characters
        a.mov(eax, __dword_ptr[vI]);
        a.and(eax, 3);
        a.add(eax, (int)'A');
        a.mov(__dword_ptr[vCh2], eax);
        a.mov(ebx, (uint)'A');
        a.Label(ref chLoop);
        a.cmp(ebx, __dword_ptr[vCh2]);
        a.ja(chDone);
        a.push((int)'C');
        a.push(ebx);
        a.call(chrEq);
        a.add(esp, 8);
        a.test(eax, eax);
        a.jz(chNext);
        a.add(__dword_ptr[vInt2], ebx);
        a.Label(ref chNext);
        a.inc(ebx);
        a.jmp(chLoop);
        a.Label(ref chDone);
        // multiply and divide
        a.mov(eax, __dword_ptr[vInt2]);
        a.imul(eax, __dword_ptr[vInt1]);
        a.mov(__dword_ptr[vInt2], eax);
        a.xor(edx, edx);
        a.div(__dword_ptr[vInt3]);
        a.mov(__dword_ptr[vInt1], eax);
        a.mov(eax, __dword_ptr[vInt2]);
        a.sub(eax, __dword_ptr[vInt3]);
        a.imul(eax, eax, 7);
        a.sub(eax, __dword_ptr[vInt1]);
        a.mov(__dword_ptr[vInt2], eax);
        // pointer parameter
        a.push(__dword_ptr[vI]);
        a.push(vInt1);
        a.call(adjust);
        a.add(esp, 8);
        // acc = rol(acc, 1) ^ (...)
        a.mov(eax, __dword_ptr[vInt1]);
        a.mov(edx, __dword_ptr[vInt2]);
        a.lea(edx, __dword_ptr[edx + edx * 2]);
        a.add(eax, edx);
        a.imul(edx, __dword_ptr[vInt3], 7);
        a.add(eax, edx);
        a.add(eax, __dword_ptr[vFlag]);
        a.add(eax, __dword_ptr[recA + value]);
        a.imul(edx, __dword_ptr[recB + value], 11);
        a.add(eax, edx);
        a.imul(edx, __dword_ptr[recB + kind], 13);
        a.add(eax, edx);
        a.imul(edx, __dword_ptr[recA + kind], 17);
        a.add(eax, edx);
        a.add(eax, __dword_ptr[recA + count]);
        a.mov(edx, __dword_ptr[vAcc]);
        a.rol(edx, 1);
        a.xor(eax, edx);
        a.mov(__dword_ptr[vAcc], eax);
        a.inc(__dword_ptr[vI]);
        a.cmp(__dword_ptr[vI], (uint)iterations);
        a.jbe(iter);

        // checksum: h = h·31 + v over arr1, arr2, then B's name bytes
        a.mov(eax, __dword_ptr[vAcc]);
        a.mov(esi, arr1);
        a.mov(ecx, ArraySize + ArraySize * ArraySize);
        a.Label(ref hashArrays);
        a.imul(eax, eax, 31);
        a.add(eax, __dword_ptr[esi]);
        a.add(esi, 4);
        a.dec(ecx);
        a.jnz(hashArrays);
        a.mov(esi, recB + NameOffset);
        a.mov(ecx, 32);
        a.Label(ref hashName);
        a.imul(eax, eax, 31);
        a.movzx(edx, __byte_ptr[esi]);
        a.add(eax, edx);
        a.inc(esi);
        a.dec(ecx);
        a.jnz(hashName);
        a.pop(edi);
        a.pop(esi);
        a.pop(ebx);
        a.pop(ebp);
        a.ret();

        // strcpy(dst, src)
        var cpy = a.CreateLabel();
        a.Label(ref strcpy);
        a.push(esi);
        a.push(edi);
        a.mov(edi, __dword_ptr[esp + 12]);
        a.mov(esi, __dword_ptr[esp + 16]);
        a.Label(ref cpy);
        a.mov(al, __byte_ptr[esi]);
        a.mov(__byte_ptr[edi], al);
        a.inc(esi);
        a.inc(edi);
        a.test(al, al);
        a.jnz(cpy);
        a.pop(edi);
        a.pop(esi);
        a.ret();

        // strcmp(a, b): -1, 0 or 1 by the first differing byte (unsigned)
        var cmpLoop = a.CreateLabel();
        var diff = a.CreateLabel();
        var cmpOut = a.CreateLabel();
        a.Label(ref strcmp);
        a.push(esi);
        a.push(edi);
        a.mov(esi, __dword_ptr[esp + 12]);
        a.mov(edi, __dword_ptr[esp + 16]);
        a.Label(ref cmpLoop);
        a.mov(al, __byte_ptr[esi]);
        a.mov(dl, __byte_ptr[edi]);
        a.cmp(al, dl);
        a.jne(diff);
        a.inc(esi);
        a.inc(edi);
        a.test(al, al);
        a.jnz(cmpLoop);
        a.xor(eax, eax);
        a.jmp(cmpOut);
        a.Label(ref diff);
        a.sbb(eax, eax);                                  // -1 when below, 0 when above
        a.or(eax, 1);
        a.Label(ref cmpOut);
        a.pop(edi);
        a.pop(esi);
        a.ret();

        // add3(a, b) = a + b + 2 (with a frame, as a compiler without optimisation would)
        a.Label(ref add3);
        a.push(ebp);
        a.mov(ebp, esp);
        a.mov(eax, __dword_ptr[ebp + 8]);
        a.add(eax, __dword_ptr[ebp + 12]);
        a.add(eax, 2);
        a.pop(ebp);
        a.ret();

        // fill_arrays(a1, a2)
        a.Label(ref fillArrays);
        a.push(ebp);
        a.mov(ebp, esp);
        a.push(ebx);
        a.mov(ecx, __dword_ptr[ebp + 8]);
        a.add(ecx, 5);                                    // loc
        a.mov(eax, __dword_ptr[ebp + 12]);
        a.mov(__dword_ptr[ecx * 4 + arr1], eax);
        a.mov(__dword_ptr[ecx * 4 + arr1 + 4], eax);
        a.mov(__dword_ptr[ecx * 4 + arr1 + 120], ecx);
        a.imul(ebx, ecx, ArraySize * 4);                  // row loc
        a.add(ebx, arr2);
        a.mov(__dword_ptr[ebx + ecx * 4], ecx);
        a.mov(__dword_ptr[ebx + ecx * 4 + 4], ecx);
        a.inc(__dword_ptr[ebx + ecx * 4 - 4]);
        a.mov(__dword_ptr[ebx + ecx * 4 + 20 * ArraySize * 4], eax);
        a.pop(ebx);
        a.pop(ebp);
        a.ret();

        // proc_rec(p, i)
        var otherwise = a.CreateLabel();
        var recDone = a.CreateLabel();
        a.Label(ref procRec);
        a.push(ebp);
        a.mov(ebp, esp);
        a.push(ebx);
        a.push(esi);
        a.push(edi);
        a.mov(ebx, __dword_ptr[ebp + 8]);                 // p
        a.inc(__dword_ptr[ebx + count]);
        a.mov(esi, ebx);
        a.mov(edi, __dword_ptr[ebx + next]);              // q = p->next
        a.push(edi);
        a.mov(ecx, RecordSize / 4);
        a.rep.movsd();                                    // *q = *p
        a.pop(edi);
        a.mov(eax, __dword_ptr[ebp + 12]);
        a.and(eax, 7);
        a.add(eax, 5);
        a.mov(__dword_ptr[ebx + value], eax);
        a.mov(__dword_ptr[edi + value], eax);
        a.cmp(__dword_ptr[edi + kind], 2);
        a.jne(otherwise);
        a.mov(__dword_ptr[edi + value], 6);
        a.push(__dword_ptr[ebp + 12]);
        a.push(__dword_ptr[ebx + kind]);
        a.call(classify);
        a.add(esp, 8);
        a.mov(__dword_ptr[edi + kind], eax);
        a.push(10);
        a.push(__dword_ptr[edi + value]);
        a.call(add3);
        a.add(esp, 8);
        a.mov(__dword_ptr[edi + value], eax);
        a.jmp(recDone);
        a.Label(ref otherwise);
        a.mov(esi, edi);
        a.push(edi);
        a.mov(edi, ebx);
        a.mov(ecx, RecordSize / 4);
        a.rep.movsd();                                    // *p = *q
        a.pop(edi);
        a.Label(ref recDone);
        a.mov(eax, __dword_ptr[ebx + kind]);
        a.add(eax, __dword_ptr[edi + kind]);
        a.add(eax, __dword_ptr[ebp + 12]);
        a.xor(edx, edx);
        a.mov(ecx, 5);
        a.div(ecx);
        a.mov(__dword_ptr[ebx + kind], edx);
        a.pop(edi);
        a.pop(esi);
        a.pop(ebx);
        a.pop(ebp);
        a.ret();

        // classify(k, i): a switch through a jump table
        a.Label(ref classify);
        a.mov(eax, __dword_ptr[esp + 4]);
        a.mov(ecx, __dword_ptr[esp + 8]);
        a.jmp(__dword_ptr[eax * 4 + jumpTable]);
        a.Label(ref cases[0]);
        a.mov(eax, ecx);
        a.and(eax, 1);
        a.inc(eax);
        a.ret();
        var zero = a.CreateLabel();
        a.Label(ref cases[1]);
        a.test(cl, 4);
        a.jz(zero);
        a.mov(eax, 3);
        a.ret();
        a.Label(ref zero);
        a.xor(eax, eax);
        a.ret();
        a.Label(ref cases[2]);
        a.mov(eax, 4);
        a.ret();
        a.Label(ref cases[3]);
        a.mov(eax, ecx);
        a.xor(edx, edx);
        a.mov(ecx, 3);
        a.div(ecx);
        a.mov(eax, edx);
        a.ret();
        a.Label(ref cases[4]);
        a.mov(eax, 2);
        a.ret();

        // chr_eq(a, b): 1 when equal
        a.Label(ref chrEq);
        a.mov(eax, __dword_ptr[esp + 4]);
        a.cmp(eax, __dword_ptr[esp + 8]);
        a.sete(al);
        a.movzx(eax, al);
        a.ret();

        // adjust(p, i): *p > 20 (signed) ? *p - (i & 7) : *p + 3
        var small = a.CreateLabel();
        var adjDone = a.CreateLabel();
        a.Label(ref adjust);
        a.mov(edx, __dword_ptr[esp + 4]);
        a.mov(eax, __dword_ptr[edx]);
        a.cmp(eax, 20);
        a.jle(small);
        a.mov(ecx, __dword_ptr[esp + 8]);
        a.and(ecx, 7);
        a.sub(eax, ecx);
        a.jmp(adjDone);
        a.Label(ref small);
        a.add(eax, 3);
        a.Label(ref adjDone);
        a.mov(__dword_ptr[edx], eax);
        a.ret();
    }
}
