using System.Buffers.Binary;
using System.Text;
using JitVm.Machine.Boot;
using JitVm.Workloads;
using static System.Numerics.BitOperations;

namespace JitVm.Machine.Tests.Workloads;

/// <summary>
/// Each benchmark kernel, built with a small iteration count, runs on the interpreter and must print (on port 0xE9
/// and on COM1) its banner and the checksum computed here, independently, from the workload's specification.
/// </summary>
public class WorkloadTests
{
    public static TheoryData<string, int> Cases() => new()
    {
        { "integer-loop", 200_000 },
        { "memory", 1 },
        { "call-heavy", 2 },
        { "self-modifying", 100 },
        { "mixed", 5_000 },
    };

    static uint Expected(string name, int n) => name switch
    {
        "integer-loop" => IntegerLoopModel(n),
        "memory" => MemoryModel(n),
        "call-heavy" => CallHeavyModel(n),
        "self-modifying" => SelfModifyingModel(n),
        "mixed" => MixedModel(n),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheKernelPrintsTheChecksumComputedInCSharp(string name, int iterations)
    {
        var w = Workload.Find(name)!;
        var (debug, serial, result) = Run(w.Build(iterations));
        string expected = w.ExpectedOutput(iterations, Expected(name, iterations));
        Assert.Equal(expected, debug);
        Assert.Equal(expected, serial);
        Assert.Equal(ExitReason.DebugExit, result.Reason);
        Assert.Equal(1, result.GuestExitCode);                // wrote 0: success
    }

    [Fact]
    public void TheFlatFormWithAddressFieldsRunsTheSameProgram()
    {
        var w = Workload.Find("mixed")!;
        byte[] flat = w.Build(300, KernelFileFormat.Flat);
        Assert.Equal(KernelFormat.AddressFields, MultibootImage.Parse(flat).Format);
        var (debug, _, result) = Run(flat);
        Assert.Equal(w.ExpectedOutput(300, MixedModel(300)), debug);
        Assert.Equal(1, result.GuestExitCode);
    }

    [Fact]
    public void AKernelTooBigForTheMemoryReportsItAndExitsWithFailure()
    {
        // With 2 MiB of RAM the memory workload's bss (up to about 2.8 MiB) does not fit, and the loader refuses it.
        // The kernel's own check is reached by clearing the information structure's memory flag before it runs.
        var w = Workload.Find("memory")!;
        Assert.Throws<KernelLoadException>(() => Run(w.Build(1), memory: 2 << 20));
        var (debug, _, result) = Run(w.Build(1), patch: m => m.Memory.Write32(MultibootLoader.InfoAddress, 0));
        Assert.Contains("error: the Multiboot information has no memory size", debug);
        Assert.Equal(3, result.GuestExitCode);
    }

    [Fact]
    public void EveryWorkloadHasAUniqueNameAndBuildsAsElf()
    {
        Assert.Equal(Workload.All.Count, Workload.All.Select(w => w.Name).Distinct().Count());
        foreach (var w in Workload.All)
        {
            var image = MultibootImage.Parse(w.Build(1));
            Assert.Equal(KernelFormat.Elf, image.Format);
            Assert.Equal(KernelBuilder.EntryAddress, image.Entry);
        }
    }

    static (string Debug, string Serial, RunResult Result) Run(byte[] kernel, uint memory = 16 << 20, Action<Machine>? patch = null)
    {
        var debug = new StringBuilder();
        var serial = new StringBuilder();
        var m = new Machine(new MachineConfig
        {
            MemoryBytes = memory,
            Kernel = new KernelImage(kernel),
            DebugConsole = b => debug.Append((char)b),
            Serial = b => serial.Append((char)b),
            MaxSeconds = 60,
        });
        patch?.Invoke(m);
        var result = m.Run();
        return (debug.ToString(), serial.ToString(), result);
    }

    // ---- the models: straight C# from each workload's specification (see the remarks on the workload classes) ----

    static uint IntegerLoopModel(int n)
    {
        uint a = IntegerLoop.A0, b = IntegerLoop.B0, c = IntegerLoop.C0, d = IntegerLoop.D0;
        for (int i = 0; i < n; i++)
        {
            ulong s = (ulong)a + b;
            a = (uint)s;
            d += (uint)(s >> 32);
            b ^= a;
            b = RotateLeft(b, 7);
            c += a * 4 + 0x11;
            d -= c;
            a *= 0x2F;
            a ^= d >> 3;
            if (c < d) c += 0x5BD1E995;
            if ((a & 0x10) != 0) d = 0u - d;
        }
        return a ^ RotateLeft(b, 8) ^ RotateLeft(c, 16) ^ RotateLeft(d, 24);
    }

    static uint MemoryModel(int rounds)
    {
        const int n = MemoryWorkload.Count, rev = MemoryWorkload.ReverseBytes;
        uint total = 0;
        var arr = new uint[n];
        var bytes = new byte[n * 4];
        var reversed = new byte[rev];
        for (int r = 0; r < rounds; r++)
        {
            uint x = MemoryWorkload.SeedBase + (uint)r * MemoryWorkload.SeedStep;
            for (int i = 0; i < n; i++)
            {
                x = x * 1664525 + 1013904223;
                arr[i] = x ^ (x >> 16);
            }
            for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * i), arr[i]);
            for (int j = 0; j < rev; j++) reversed[j] = bytes[rev - 1 - j];
            Array.Sort(arr);
            uint s = 0;
            for (int i = 0; i < n; i++) s += arr[i] * (uint)(i + 1);
            uint t = 0;
            for (int j = 0; j < rev / 4; j++) t += BinaryPrimitives.ReadUInt32LittleEndian(reversed.AsSpan(4 * j)) ^ (uint)j;
            total = RotateLeft(total, 5) ^ s ^ RotateLeft(t, 11);
        }
        return total;
    }

    static uint CallHeavyModel(int rounds)
    {
        uint calls = 0, total = 0;
        uint Fib(uint n)
        {
            calls++;
            return n < 2 ? n : Fib(n - 1) + Fib(n - 2);
        }
        uint Ack(uint m, uint n)
        {
            calls++;
            return m == 0 ? n + 1 : n == 0 ? Ack(m - 1, 1) : Ack(m - 1, Ack(m, n - 1));
        }
        int Tak(int x, int y, int z)
        {
            calls++;
            return y < x ? Tak(Tak(x - 1, y, z), Tak(y - 1, z, x), Tak(z - 1, x, y)) : z;
        }
        for (uint r = 0; r < rounds; r++)
        {
            uint f = Fib(15 + (r & 7));
            uint k = Ack(3, 3 + r % 3);
            uint t = (uint)Tak(18, 12, 6 + (int)(r & 1));
            uint v = (r * 0x01000193) ^ 0xABCDEF;
            for (int j = 0; j < CallHeavy.IndirectCalls; j++)
            {
                calls++;
                v = (v & 3) switch
                {
                    0 => 3 * v + 1,
                    1 => RotateLeft(v ^ 0x55AA55AA, 3),
                    2 => v - 0x1234567,
                    _ => ~v + 17,
                };
            }
            total = RotateLeft(total, 7) ^ (f + 3 * k + 5 * t) ^ v;
        }
        return total ^ calls;
    }

    static uint SelfModifyingModel(int iterations)
    {
        uint a = SelfModifying.A0, d = SelfModifying.D0, x = SelfModifying.SeedA, y = SelfModifying.SeedB, acc = 0;
        for (int it = 0; it < iterations; it++)
        {
            for (int p = 0; p < SelfModifying.Patches; p++)
            {
                x = x * 1103515245 + 12345;
                uint i1 = x, i2 = ((x >> 8) & 31) | 1, i3 = (x >> 4) | 1;
                for (int j = 0; j < SelfModifying.LoopRuns; j++)
                {
                    a += i1;
                    d ^= a;
                    d = RotateLeft(d, (int)i2);
                    a *= i3;
                    a -= d;
                }
            }
            uint Next() => y = y * 1664525 + 1013904223;
            uint k0 = Next() | 1, k1 = Next(), k2 = Next(), s1 = Next() & 31, s2 = Next() & 31;
            uint[] args = [k0, k1, k2, s1, s2];
            for (uint v = 0; v < SelfModifying.Calls; v++)
            {
                // The program, interpreted as a stack machine.
                var stack = new Stack<uint>();
                foreach (var (op, arg) in SelfModifying.Program)
                {
                    uint Arg() => args[-arg - 1];
                    switch (op)
                    {
                        case SelfModifying.Op.PushX: stack.Push(v); break;
                        case SelfModifying.Op.PushK: stack.Push(Arg()); break;
                        case SelfModifying.Op.Add: { uint r = stack.Pop(); stack.Push(stack.Pop() + r); break; }
                        case SelfModifying.Op.Sub: { uint r = stack.Pop(); stack.Push(stack.Pop() - r); break; }
                        case SelfModifying.Op.Mul: { uint r = stack.Pop(); stack.Push(stack.Pop() * r); break; }
                        case SelfModifying.Op.Xor: { uint r = stack.Pop(); stack.Push(stack.Pop() ^ r); break; }
                        case SelfModifying.Op.Shl: stack.Push(stack.Pop() << (int)Arg()); break;
                        case SelfModifying.Op.Ror: stack.Push(RotateRight(stack.Pop(), (int)Arg())); break;
                        case SelfModifying.Op.Ret: break;
                    }
                }
                acc = RotateLeft(acc, 3) + stack.Pop();
            }
        }
        return a ^ RotateLeft(d, 13) ^ acc;
    }

    sealed class Rec
    {
        public bool NextIsB;           // A.next always names B in this program; kept to copy it faithfully
        public uint Kind, Value, Count;
        public byte[] Name = new byte[32];
        public void CopyFrom(Rec o)
        {
            NextIsB = o.NextIsB;
            Kind = o.Kind;
            Value = o.Value;
            Count = o.Count;
            o.Name.CopyTo(Name, 0);
        }
    }

    static uint MixedModel(int n)
    {
        byte[] s1 = Encoding.ASCII.GetBytes(Mixed.S1 + "\0"), s2 = Encoding.ASCII.GetBytes(Mixed.S2 + "\0");
        var str1 = new byte[36];
        var str2 = new byte[36];
        s1.CopyTo(str1, 0);
        var A = new Rec { NextIsB = true, Kind = 2, Value = 40 };
        var B = new Rec();
        s1.AsSpan(0, 32).CopyTo(A.Name);
        const int size = Mixed.ArraySize;
        var arr1 = new uint[size];
        var arr2 = new uint[size * size];
        uint acc = 0;

        static int StrCmp(byte[] x, byte[] y)
        {
            for (int i = 0; ; i++)
            {
                if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
                if (x[i] == 0) return 0;
            }
        }
        static uint Add3(uint x, uint y) => x + y + 2;
        static uint Classify(uint k, uint i) => k switch
        {
            0 => 1 + (i & 1),
            1 => (i & 4) != 0 ? 3u : 0u,
            2 => 4,
            3 => i % 3,
            _ => 2,
        };

        for (uint i = 1; i <= n; i++)
        {
            s2.CopyTo(str2, 0);
            str2[5 + (i & 15)] = (byte)('A' + i % 26);
            uint flag = StrCmp(str1, str2) > 0 ? 1u : 0u;
            uint int1 = 2 + (i & 3), int2 = int1 + 3, int3;
            do
            {
                int3 = Add3(int1, 5 * int1 - int2);
                int1++;
            } while ((int)int1 < (int)int2);
            uint loc = int1 + 5;
            arr1[loc] = int3;
            arr1[loc + 1] = arr1[loc];
            arr1[loc + 30] = loc;
            arr2[loc * size + loc] = loc;
            arr2[loc * size + loc + 1] = loc;
            arr2[loc * size + loc - 1] += 1;
            arr2[(loc + 20) * size + loc] = arr1[loc];

            A.Count++;
            B.CopyFrom(A);
            A.Value = 5 + (i & 7);
            B.Value = A.Value;
            if (B.Kind == 2)
            {
                B.Value = 6;
                B.Kind = Classify(A.Kind, i);
                B.Value = Add3(B.Value, 10);
            }
            else A.CopyFrom(B);
            A.Kind = (A.Kind + B.Kind + i) % 5;

            for (uint ch = 'A'; ch <= 'A' + (i & 3); ch++)
                if (ch == 'C') int2 += ch;
            int2 *= int1;
            int1 = int2 / int3;
            int2 = 7 * (int2 - int3) - int1;
            int1 = (int)int1 > 20 ? int1 - (i & 7) : int1 + 3;
            acc = RotateLeft(acc, 1) ^ (int1 + 3 * int2 + 7 * int3 + flag + A.Value + 11 * B.Value + 13 * B.Kind + 17 * A.Kind + A.Count);
        }
        uint h = acc;
        foreach (uint v in arr1) h = h * 31 + v;
        foreach (uint v in arr2) h = h * 31 + v;
        foreach (byte b in B.Name) h = h * 31 + b;
        return h;
    }
}
