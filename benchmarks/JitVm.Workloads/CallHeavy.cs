using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Workloads;

/// <summary>
/// Call-heavy recursion with cdecl stack frames (arguments on the stack, EBP frames, callee-saved registers):
/// Fibonacci, Ackermann and Takeuchi, plus a loop of indirect calls through a function table. Every call also
/// increments a global counter.
/// </summary>
/// <remarks>
/// Round r (from 0): <c>f = fib(15 + (r &amp; 7))</c>, <c>k = ack(3, 3 + r mod 3)</c>, <c>t = tak(18, 12, 6 + (r &amp; 1))</c>
/// (tak on signed values: <c>y &lt; x ? tak(tak(x-1,y,z), tak(y-1,z,x), tak(z-1,x,y)) : z</c>), then 2000 indirect
/// calls <c>v = op[v &amp; 3](v)</c> from <c>v = (r·0x01000193) ^ 0xABCDEF</c> with op0 <c>3v+1</c>, op1
/// <c>rol(v ^ 0x55AA55AA, 3)</c>, op2 <c>v - 0x1234567</c>, op3 <c>~v + 17</c>;
/// <c>total = rol(total, 7) ^ (f + 3k + 5t) ^ v</c>. Checksum: <c>total ^ calls</c>, where calls counts every fib,
/// ack and tak entry and every indirect call.
/// </remarks>
public sealed class CallHeavy : Workload
{
    public const int IndirectCalls = 2000;

    public override string Name => "call-heavy";
    public override string Description => "recursive fib, ackermann and tak with stack frames, indirect calls";
    public override int DefaultIterations => 300;

    protected override void EmitMain(KernelBuilder k, KernelRuntime rt, Label main, int iterations)
    {
        var a = k.Code;
        uint calls = k.Bss(4, 4), round = k.Bss(4, 4), total = k.Bss(4, 4);
        var fib = a.CreateLabel("fib");
        var ack = a.CreateLabel("ack");
        var tak = a.CreateLabel("tak");
        var ops = new[] { a.CreateLabel("op0"), a.CreateLabel("op1"), a.CreateLabel("op2"), a.CreateLabel("op3") };
        var rounds = a.CreateLabel();
        var indirect = a.CreateLabel();
        uint table = k.AddressTable(ops);

        a.Label(ref main);
        a.push(ebp);
        a.push(ebx);
        a.push(esi);
        a.push(edi);
        a.xor(eax, eax);
        a.mov(__dword_ptr[calls], eax);
        a.mov(__dword_ptr[round], eax);
        a.mov(__dword_ptr[total], eax);
        a.Label(ref rounds);
        // f = fib(15 + (r & 7))
        a.mov(eax, __dword_ptr[round]);
        a.and(eax, 7);
        a.add(eax, 15);
        a.push(eax);
        a.call(fib);
        a.add(esp, 4);
        a.mov(ebx, eax);
        // k = ack(3, 3 + r % 3)
        a.mov(eax, __dword_ptr[round]);
        a.xor(edx, edx);
        a.mov(ecx, 3);
        a.div(ecx);
        a.add(edx, 3);
        a.push(edx);
        a.push(3);
        a.call(ack);
        a.add(esp, 8);
        a.lea(eax, __dword_ptr[eax + eax * 2]);
        a.add(ebx, eax);
        // t = tak(18, 12, 6 + (r & 1))
        a.mov(eax, __dword_ptr[round]);
        a.and(eax, 1);
        a.add(eax, 6);
        a.push(eax);
        a.push(12);
        a.push(18);
        a.call(tak);
        a.add(esp, 12);
        a.lea(eax, __dword_ptr[eax + eax * 4]);
        a.add(ebx, eax);
        // v = op[v & 3](v), 2000 times
        a.imul(eax, __dword_ptr[round], 0x01000193);
        a.xor(eax, 0xABCDEF);
        a.mov(ecx, IndirectCalls);
        a.Label(ref indirect);
        a.mov(edx, eax);
        a.and(edx, 3);
        a.inc(__dword_ptr[calls]);
        a.call(__dword_ptr[edx * 4 + table]);
        a.dec(ecx);
        a.jnz(indirect);
        // total = rol(total, 7) ^ (f + 3k + 5t) ^ v
        a.xor(ebx, eax);
        a.mov(eax, __dword_ptr[total]);
        a.rol(eax, 7);
        a.xor(eax, ebx);
        a.mov(__dword_ptr[total], eax);
        a.inc(__dword_ptr[round]);
        a.cmp(__dword_ptr[round], (uint)iterations);
        a.jb(rounds);
        a.mov(eax, __dword_ptr[total]);
        a.xor(eax, __dword_ptr[calls]);
        a.pop(edi);
        a.pop(esi);
        a.pop(ebx);
        a.pop(ebp);
        a.ret();

        // fib(n): n < 2 ? n : fib(n-1) + fib(n-2)
        var fibRet = a.CreateLabel();
        a.Label(ref fib);
        a.inc(__dword_ptr[calls]);
        a.mov(eax, __dword_ptr[esp + 4]);
        a.cmp(eax, 2);
        a.jb(fibRet);
        a.push(ebp);
        a.mov(ebp, esp);
        a.push(ebx);
        a.dec(eax);
        a.push(eax);
        a.call(fib);
        a.add(esp, 4);
        a.mov(ebx, eax);
        a.mov(eax, __dword_ptr[ebp + 8]);
        a.sub(eax, 2);
        a.push(eax);
        a.call(fib);
        a.add(esp, 4);
        a.add(eax, ebx);
        a.pop(ebx);
        a.pop(ebp);
        a.Label(ref fibRet);
        a.ret();

        // ack(m, n): m == 0 ? n+1 : n == 0 ? ack(m-1, 1) : ack(m-1, ack(m, n-1))
        var mNonZero = a.CreateLabel();
        var both = a.CreateLabel();
        var ackRet = a.CreateLabel();
        a.Label(ref ack);
        a.inc(__dword_ptr[calls]);
        a.push(ebp);
        a.mov(ebp, esp);
        a.mov(eax, __dword_ptr[ebp + 8]);
        a.mov(edx, __dword_ptr[ebp + 12]);
        a.test(eax, eax);
        a.jnz(mNonZero);
        a.lea(eax, __dword_ptr[edx + 1]);
        a.jmp(ackRet);
        a.Label(ref mNonZero);
        a.test(edx, edx);
        a.jnz(both);
        a.push(1);
        a.dec(eax);
        a.push(eax);
        a.call(ack);
        a.add(esp, 8);
        a.jmp(ackRet);
        a.Label(ref both);
        a.dec(edx);
        a.push(edx);
        a.push(eax);
        a.call(ack);
        a.add(esp, 8);
        a.push(eax);
        a.mov(eax, __dword_ptr[ebp + 8]);
        a.dec(eax);
        a.push(eax);
        a.call(ack);
        a.add(esp, 8);
        a.Label(ref ackRet);
        a.pop(ebp);
        a.ret();

        // tak(x, y, z) on signed values
        var recurse = a.CreateLabel();
        var takOut = a.CreateLabel();
        a.Label(ref tak);
        a.inc(__dword_ptr[calls]);
        a.push(ebp);
        a.mov(ebp, esp);
        a.push(ebx);
        a.push(esi);
        a.mov(eax, __dword_ptr[ebp + 8]);
        a.mov(edx, __dword_ptr[ebp + 12]);
        a.cmp(edx, eax);
        a.jl(recurse);
        a.mov(eax, __dword_ptr[ebp + 16]);
        a.jmp(takOut);
        a.Label(ref recurse);
        a.push(__dword_ptr[ebp + 16]);                 // tak(x-1, y, z)
        a.push(edx);
        a.dec(eax);
        a.push(eax);
        a.call(tak);
        a.add(esp, 12);
        a.mov(ebx, eax);
        a.push(__dword_ptr[ebp + 8]);                  // tak(y-1, z, x)
        a.push(__dword_ptr[ebp + 16]);
        a.mov(eax, __dword_ptr[ebp + 12]);
        a.dec(eax);
        a.push(eax);
        a.call(tak);
        a.add(esp, 12);
        a.mov(esi, eax);
        a.push(__dword_ptr[ebp + 12]);                 // tak(z-1, x, y)
        a.push(__dword_ptr[ebp + 8]);
        a.mov(eax, __dword_ptr[ebp + 16]);
        a.dec(eax);
        a.push(eax);
        a.call(tak);
        a.add(esp, 12);
        a.push(eax);                                   // tak(a, b, c)
        a.push(esi);
        a.push(ebx);
        a.call(tak);
        a.add(esp, 12);
        a.Label(ref takOut);
        a.pop(esi);
        a.pop(ebx);
        a.pop(ebp);
        a.ret();

        // The indirect-call targets: EAX in, EAX out.
        a.Label(ref ops[0]);
        a.lea(eax, __dword_ptr[eax + eax * 2 + 1]);
        a.ret();
        a.Label(ref ops[1]);
        a.xor(eax, 0x55AA55AA);
        a.rol(eax, 3);
        a.ret();
        a.Label(ref ops[2]);
        a.sub(eax, 0x1234567);
        a.ret();
        a.Label(ref ops[3]);
        a.not(eax);
        a.add(eax, 17);
        a.ret();
    }
}
