using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Iced.Intel;
using JitVm.Cli;
using JitVm.Cli.Commands;
using JitVm.Cpu;
using JitVm.Jit;
using JitVm.Machine.Boot;
using JitVm.Machine.Debugging;
using JitVm.Machine.Tests.Boot;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests;

/// <summary>
/// The GDB stub: Debian's gdb against a small Multiboot kernel on each engine, the packet codec, hostile input over
/// a raw socket, Ctrl-C, paging, and host breakpoints inside translated code.
/// </summary>
public class GdbStubTests(ITestOutputHelper output)
{
    const uint CodeBase = 0x100000, DataBase = 0x102000;
    static readonly uint[] InitialData = [0x11111111, 0x22222222, 0x33333333, 0];

    /// <summary>
    /// The test kernel: EAX = 12345678h, then a loop adding 1..<paramref name="iterations"/> into data word 3
    /// (EBX counts), then at Target a 5-byte MOV ECX, CAFEBABEh, a load, a store and the debug exit.
    /// Data (four words) is a second segment at <see cref="DataBase"/>.
    /// </summary>
    sealed record Kernel(byte[] Image, uint Entry, uint Loop, uint Add, uint Target, uint Spin);

    static Kernel BuildKernel(int iterations = 100)
    {
        var a = new Assembler(32);
        Label start = a.CreateLabel(), loop = a.CreateLabel(), add = a.CreateLabel(), target = a.CreateLabel(), spin = a.CreateLabel();
        TestElf.Header(a, 3);
        a.Label(ref start);
        a.mov(eax, 0x12345678);
        a.mov(esi, DataBase);
        a.xor(ebx, ebx);
        a.Label(ref loop);
        a.inc(ebx);
        a.Label(ref add);
        a.add(__dword_ptr[esi + 12], ebx);
        a.cmp(ebx, iterations);
        a.jne(loop);
        a.Label(ref target);
        a.mov(ecx, 0xCAFEBABE);
        a.mov(edx, __dword_ptr[esi]);
        a.mov(__dword_ptr[esi + 4], ecx);
        a.mov(al, 0);
        a.@out(0xF4, al);
        a.hlt();
        // Not reached from the entry: a loop that never ends, for the tests that interrupt a running guest.
        a.Label(ref spin);
        a.inc(eax);
        a.jmp(spin);
        var writer = new ByteWriter();
        var result = a.Assemble(writer, CodeBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        var data = new byte[16];
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4 * i), InitialData[i]);
        uint Rip(Label l) => (uint)result.GetLabelRIP(l);
        var elf = new TestElf { Entry = Rip(start) };
        elf.Segments.Add(new TestElf.Seg(CodeBase, writer.Bytes.ToArray(), (uint)writer.Bytes.Count));
        elf.Segments.Add(new TestElf.Seg(DataBase, data, 16));
        return new Kernel(elf.Build(), Rip(start), Rip(loop), Rip(add), Rip(target), Rip(spin));
    }

    sealed class ByteWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    /// <summary>A machine's run on its own thread, as the CLI runs it while the stub serves the debugger.</summary>
    sealed class RunningMachine
    {
        readonly Thread thread;
        RunResult? result;
        Exception? error;

        public RunningMachine(Machine m)
        {
            thread = new Thread(() =>
            {
                try { result = m.Run(); }
                catch (Exception e) { error = e; }
            }) { IsBackground = true, Name = "guest" };
            thread.Start();
        }

        public RunResult Wait()
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "the run did not end");
            if (error is not null) throw new InvalidOperationException("the run failed", error);
            return result!;
        }
    }

    static Machine NewMachine(Kernel kernel, string engine = "interp")
    {
        var choice = Engines.Resolve(engine, out _)!;
        return new Machine(new MachineConfig
        {
            Cpu = CpuModel.P6,
            MemoryBytes = 16 << 20,
            Kernel = new KernelImage(kernel.Image, "", null),
            EngineFactory = choice.Factory,
            EngineName = choice.Name,
            NoReboot = true,
        });
    }

    // ------------------------------------------------------------------ Debian's gdb

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    [InlineData("auto")]
    public void GdbStopsAtBreakpointsStepsAndReadsAndWritesRegistersAndMemory(string engine)
    {
        var k = BuildKernel();
        var m = NewMachine(k, engine);
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        string[] commands =
        [
            "set architecture i386",
            $"target remote 127.0.0.1:{stub.Endpoint.Port}",
            "p/x $eip",
            $"hbreak *0x{k.Loop:x}",
            "continue",
            "p/x $ebx",
            "delete",
            $"break *0x{k.Target:x}",
            "continue",
            "info registers",
            "stepi",
            "p/x $eip",
            "p/x $ecx",
            $"x/4xw 0x{DataBase:x}",
            "set var $edi = 0x5a5a",
            $"set {{int}}0x{DataBase + 8:x} = 0x77",
            $"x/1xw 0x{DataBase + 8:x}",
            "kill",
        ];
        var (exit, stdout, stderr) = RunGdb(commands);
        output.WriteLine("$ gdb -batch -nx " + string.Join(" ", commands.Select(c => $"-ex '{c}'")));
        output.WriteLine(stdout);
        output.WriteLine("--- stderr ---");
        output.WriteLine(stderr);
        var result = run.Wait();
        Assert.Equal(0, exit);

        // Stopped before the first instruction, at the kernel's entry.
        Assert.Matches($@"\$1 = 0x{k.Entry:x}\b", stdout);
        // The hardware breakpoint at the loop head stops its first iteration (EBX still 0).
        Assert.Matches($@"Hardware assisted breakpoint 1 at 0x{k.Loop:x}\s+Breakpoint 1, 0x{k.Loop:x8} in \?\? \(\)", stdout);
        Assert.Contains("$2 = 0x0", stdout);
        // The software breakpoint after the loop: 100 iterations, EAX as set, EIP on the breakpoint.
        Assert.Matches($@"Breakpoint 2, 0x{k.Target:x8} in \?\? \(\)", stdout);
        Assert.Matches(@"eax\s+0x12345678\s+305419896", stdout);
        Assert.Matches(@"ebx\s+0x64\s+100", stdout);
        Assert.Matches($@"esi\s+0x{DataBase:x}\s", stdout);
        Assert.Matches($@"eip\s+0x{k.Target:x}\s+0x{k.Target:x}", stdout);
        Assert.Matches(@"eflags\s+0x46\s+\[ PF ZF \]", stdout);
        Assert.Matches(@"cs\s+0x8\s+8", stdout);
        Assert.Matches(@"ss\s+0x10\s+16", stdout);
        // stepi ran the 5-byte MOV ECX and nothing else.
        Assert.Contains($"$3 = 0x{k.Target + 5:x}", stdout);
        Assert.Contains("$4 = 0xcafebabe", stdout);
        Assert.Matches($@"0x{DataBase:x}:\s+0x11111111\s+0x22222222\s+0x33333333\s+0x000013ba", stdout);
        Assert.Matches($@"0x{DataBase + 8:x}:\s+0x00000077", stdout);
        Assert.Contains("[Inferior 1 (Remote target) killed]", stdout);

        // The machine agrees: killed, exactly 3 + 4·100 + 1 instructions run, the writes landed.
        Assert.Equal(ExitReason.Quit, result.Reason);
        Assert.Equal(3 + 4 * 100 + 1, m.Cpu.InstructionCount);
        Assert.Equal(0x5A5Au, m.Cpu.Edi);
        Assert.Equal(0xCAFEBABEu, m.Cpu.Ecx);
        Assert.Equal(0x77u, m.Memory.Read32(DataBase + 8));
        Assert.Equal(0, m.Cpu.HostBreakpointCount);
    }

    static (int Exit, string Stdout, string Stderr) RunGdb(string[] commands)
    {
        var psi = new ProcessStartInfo("/usr/bin/gdb")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["-batch", "-nx"]) psi.ArgumentList.Add(a);
        foreach (string c in commands)
        {
            psi.ArgumentList.Add("-ex");
            psi.ArgumentList.Add(c);
        }
        using var gdb = Process.Start(psi)!;
        gdb.StandardInput.Close();
        var stdout = gdb.StandardOutput.ReadToEndAsync();
        var stderr = gdb.StandardError.ReadToEndAsync();
        if (!gdb.WaitForExit(TimeSpan.FromSeconds(15)))
        {
            gdb.Kill(entireProcessTree: true);
            throw new TimeoutException("gdb did not finish: " + stdout.Result + stderr.Result);
        }
        return (gdb.ExitCode, stdout.Result, stderr.Result);
    }

    // ------------------------------------------------------------------ packet codec

    [Fact]
    public void FramesCarryTheModulo256SumAndEscapeTheFramingCharacters()
    {
        Assert.Equal("$OK#9a", Encoding.ASCII.GetString(GdbPacketCodec.Frame("OK")));
        Assert.Equal("$#00", Encoding.ASCII.GetString(GdbPacketCodec.Frame("")));
        Assert.Equal("$T05thread:01;#07", Encoding.ASCII.GetString(GdbPacketCodec.Frame("T05thread:01;")));
        // '$' '#' '}' '*' become '}' and the byte XOR 20h; the checksum covers what is sent.
        byte[] framed = GdbPacketCodec.Frame([(byte)'a', (byte)'$', (byte)'#', (byte)'}', (byte)'*', 0]);
        Assert.Equal("$a}\u0004}\u0003}]}\u000a\0#", Encoding.Latin1.GetString(framed, 0, framed.Length - 2));
        byte sum = GdbPacketCodec.Checksum(framed.AsSpan(1, framed.Length - 4));
        Assert.Equal(sum.ToString("x2"), Encoding.ASCII.GetString(framed, framed.Length - 2, 2));
        Assert.True(GdbPacketCodec.TryUnescape(framed.AsSpan(1, framed.Length - 4), out var back));
        Assert.Equal(new byte[] { (byte)'a', (byte)'$', (byte)'#', (byte)'}', (byte)'*', 0 }, back);
        Assert.False(GdbPacketCodec.TryUnescape("ab}"u8, out _));
    }

    [Fact]
    public void TheDecoderSplitsAStreamIntoPacketsAcksAndInterrupts()
    {
        var codec = new GdbPacketCodec();
        var inputs = new List<GdbInput>();
        // Noise, an ack, a good packet (fed in two parts), a nack, Ctrl-C, a bad checksum, a non-hex checksum,
        // a packet restarted by '$', and a packet with escaped binary data.
        codec.Feed("xx+$m1000"u8, inputs);
        codec.Feed(",4#8e-\u0003$g#00$g#zz$garbage$qC#b4$X0,1:}]#"u8, inputs);
        codec.Feed(Encoding.Latin1.GetBytes(GdbPacketCodec.Checksum("X0,1:}]"u8).ToString("X2")), inputs);
        Assert.Equal(
            [GdbInputKind.Ack, GdbInputKind.Packet, GdbInputKind.Nack, GdbInputKind.Interrupt, GdbInputKind.BadChecksum,
             GdbInputKind.BadChecksum, GdbInputKind.Packet, GdbInputKind.Packet],
            inputs.Select(i => i.Kind));
        Assert.Equal("m1000,4", Encoding.ASCII.GetString(inputs[1].Payload!));
        Assert.Equal("qC", Encoding.ASCII.GetString(inputs[6].Payload!));
        Assert.Equal("X0,1:}]", Encoding.ASCII.GetString(inputs[7].Payload!));
        Assert.Equal(2, codec.IgnoredBytes);

        // A packet longer than the limit is read to its end, not stored, and reported as an overflow.
        inputs.Clear();
        codec.Feed(Encoding.ASCII.GetBytes("$" + new string('A', GdbPacketCodec.MaxPayload * 4) + "#00$?#3f"), inputs);
        Assert.Equal([GdbInputKind.Overflow, GdbInputKind.Packet], inputs.Select(i => i.Kind));
    }

    [Fact]
    public void HexHelpersRejectWhatIsNotHex()
    {
        Assert.True(GdbPacketCodec.TryParseHex("DeadBeef", out uint v));
        Assert.Equal(0xDEADBEEFu, v);
        Assert.False(GdbPacketCodec.TryParseHex("", out _));
        Assert.False(GdbPacketCodec.TryParseHex("123456789", out _));
        Assert.False(GdbPacketCodec.TryParseHex("12g4", out _));
        Assert.False(GdbPacketCodec.TryParseHex("-1", out _));
        Assert.True(GdbPacketCodec.TryDecodeHex("00ff7f", out var bytes));
        Assert.Equal(new byte[] { 0, 0xFF, 0x7F }, bytes);
        Assert.False(GdbPacketCodec.TryDecodeHex("abc", out _));
        Assert.False(GdbPacketCodec.TryDecodeHex("zz", out _));
        Assert.False(GdbPacketCodec.TryDecodeHex("é1", out _));
    }

    [Theory]
    [InlineData("tcp::1234", "127.0.0.1", 1234)]
    [InlineData("tcp:127.0.0.1:5000", "127.0.0.1", 5000)]
    [InlineData("tcp:localhost:0", "127.0.0.1", 0)]
    [InlineData("tcp:0.0.0.0:1", "0.0.0.0", 1)]
    [InlineData("tcp:[::1]:77", "::1", 77)]
    public void EndpointsFollowQemusSyntax(string spec, string address, int port)
    {
        Assert.True(GdbStub.TryParseEndpoint(spec, out var ep, out _));
        Assert.Equal(IPAddress.Parse(address), ep!.Address);
        Assert.Equal(port, ep.Port);
    }

    [Theory]
    [InlineData("1234")]
    [InlineData("tcp:")]
    [InlineData("tcp::")]
    [InlineData("tcp::65536")]
    [InlineData("tcp::-1")]
    [InlineData("tcp:example.org:1234")]
    [InlineData("udp::1234")]
    public void BadEndpointsAreRefusedWithAMessage(string spec)
    {
        Assert.False(GdbStub.TryParseEndpoint(spec, out _, out string? error));
        Assert.Contains(spec, error);
    }

    [Fact]
    public void TheRunCommandRefusesABadGdbOption() => Assert.Equal(2, Program.Main(["run", "--gdb", "tcp:nowhere", "--debugcon", "none"]));

    // ------------------------------------------------------------------ raw protocol

    /// <summary>A minimal protocol client: sends framed packets, reads replies, acknowledges them.</summary>
    sealed class RawClient : IDisposable
    {
        readonly TcpClient tcp;
        readonly NetworkStream stream;
        readonly GdbPacketCodec codec = new();
        readonly Queue<GdbInput> inputs = new();

        public RawClient(int port)
        {
            tcp = new TcpClient();
            tcp.Connect(IPAddress.Loopback, port);
            tcp.ReceiveTimeout = 10_000;
            stream = tcp.GetStream();
        }

        public void SendRaw(ReadOnlySpan<byte> bytes) => stream.Write(bytes);
        public void Send(string packet) => SendRaw(GdbPacketCodec.Frame(packet));

        public GdbInput Next()
        {
            var buffer = new byte[65536];
            var list = new List<GdbInput>();
            while (inputs.Count == 0)
            {
                int n = stream.Read(buffer);
                if (n <= 0) throw new IOException("connection closed");
                list.Clear();
                codec.Feed(buffer.AsSpan(0, n), list);
                foreach (var i in list) inputs.Enqueue(i);
            }
            return inputs.Dequeue();
        }

        /// <summary>The next reply packet (after the ack of the request).</summary>
        public string Reply()
        {
            Assert.Equal(GdbInputKind.Ack, Next().Kind);
            var reply = Next();
            Assert.Equal(GdbInputKind.Packet, reply.Kind);
            SendRaw("+"u8);
            return Encoding.Latin1.GetString(reply.Payload!);
        }

        public string Ask(string packet)
        {
            Send(packet);
            return Reply();
        }

        public void Dispose() => tcp.Dispose();
    }

    [Fact]
    public void MalformedInputGetsErrorRepliesAndTheSessionGoesOn()
    {
        var k = BuildKernel();
        var m = NewMachine(k);
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        using (var c = new RawClient(stub.Endpoint.Port))
        {
            c.SendRaw([0, 0xFF, (byte)'x', (byte)'#', 0x7F]);                  // noise outside packets
            c.SendRaw("$m100000,4#00"u8);                                      // wrong checksum
            Assert.Equal(GdbInputKind.Nack, c.Next().Kind);
            c.SendRaw("$?#zz"u8);                                              // checksum not hex
            Assert.Equal(GdbInputKind.Nack, c.Next().Kind);
            c.SendRaw(Encoding.ASCII.GetBytes("$" + new string('9', 100_000) + "#00"));
            Assert.Equal("E01", c.Reply());                                     // over PacketSize
            foreach (string bad in (string[])
                     [
                         "m100000", "mzz,4", "m100000,ffffffff", "m100000,123456789", "m,4", "M100000,4:zz", "M100000,2:aabbcc",
                         "M100000,2", "X100000,4:ab", "Xzz,1:a", "P99=00000000", "P8=00", "P=00", "p", "p20", "pxyz",
                         "G00", "G" + new string('0', 10), "Z9,100000,1", "Z0,100000", "Z0,,1", "z0,200000,1", "Zx,1,1", "vCont;x",
                         "vCont;c:5", "vCont;", "cxyz", "C", "Sxx;1", "Tx", "gg", "qXfer:features:read:target.xml:0,fffffff",
                     ])
                Assert.True(c.Ask(bad) is var reply && reply == "E01", $"{bad}: {reply}");
            // Binary data ending in a lone escape character (sent as is: Frame would escape it).
            byte[] lone = "X100000,1:}"u8.ToArray();
            c.SendRaw([(byte)'$', .. lone, (byte)'#', .. Encoding.ASCII.GetBytes(GdbPacketCodec.Checksum(lone).ToString("x2"))]);
            Assert.Equal("E01", c.Reply());
            Assert.Equal("E00", c.Ask("qXfer:features:read:bogus.xml:0,100"));
            Assert.Equal("", c.Ask("jfoo"));
            Assert.Equal("", c.Ask("\0\0\u00ff"));
            Assert.Equal("", c.Ask("Z2,100000,4"));                             // watchpoints: not supported
            // The session is intact, the guest untouched and still stopped at its entry.
            Assert.Equal($"T0508:{Le(k.Entry)};04:", c.Ask("?")[..18]);
            Assert.Equal("02b0ad1b", c.Ask($"m{CodeBase:x},4"));
            Assert.Equal(0, m.Cpu.InstructionCount);
            c.Send("k");
        }
        Assert.Equal(ExitReason.Quit, run.Wait().Reason);
        Assert.Equal(0, m.Cpu.InstructionCount);
    }

    [Fact]
    public void CtrlCStopsARunningGuestWithSigint()
    {
        var k = BuildKernel();
        var m = NewMachine(k, "jit");
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        using (var c = new RawClient(stub.Endpoint.Port))
        {
            Assert.StartsWith("PacketSize=4000;qXfer:features:read+", c.Ask("qSupported:multiprocess+;swbreak+"));
            Assert.Equal("OK", c.Ask("QStartNoAckMode"));
            Assert.Equal("vCont;c;C;s;S", Ask(c, "vCont?"));
            Assert.Equal("1", Ask(c, "qAttached"));
            Assert.Equal("QC01", Ask(c, "qC"));
            Assert.Equal("m01", Ask(c, "qfThreadInfo"));
            Assert.Equal("l", Ask(c, "qsThreadInfo"));
            Assert.Equal("OK", Ask(c, "Hg0"));
            // Jump into the endless loop and let it run.
            Assert.Equal("OK", Ask(c, $"P8={Le(k.Spin)}"));
            c.Send("vCont;c");
            Thread.Sleep(100);
            c.SendRaw([0x03]);
            string stop = Packet(c);
            Assert.StartsWith("T02", stop);
            uint eip = FromLe(Regex.Match(stop, "08:([0-9a-f]{8});").Groups[1].Value);
            Assert.True(eip == k.Spin || eip == k.Spin + 1, $"stopped at {eip:x}");
            long ran = m.Cpu.InstructionCount;
            Assert.True(ran > 1000, $"only {ran} instructions ran");
            // Stopped means stopped: nothing runs until the next resume.
            Thread.Sleep(50);
            Assert.Equal(ran, m.Cpu.InstructionCount);
            // EAX counts the INCs run since the entry (the loader's magic number to start with).
            uint eax = FromLe(Ask(c, "p0"));
            Assert.Equal(MultibootLoader.BootMagic + (uint)((ran + 1) / 2), eax);
            // One step from here is one instruction.
            c.Send("vCont;s:1;c");
            Assert.StartsWith("T05", Packet(c));
            Assert.Equal(ran + 1, m.Cpu.InstructionCount);
            c.Send("k");
        }
        Assert.Equal(ExitReason.Quit, run.Wait().Reason);

        static string Ask(RawClient c, string packet)
        {
            c.Send(packet);
            return Packet(c);
        }

        static string Packet(RawClient c)
        {
            var p = c.Next();
            Assert.Equal(GdbInputKind.Packet, p.Kind);
            return Encoding.Latin1.GetString(p.Payload!);
        }
    }

    [Fact]
    public void MemoryAddressesAreLinearThroughTheGuestsPageTables()
    {
        var k = BuildKernel();
        var m = NewMachine(k);
        // Page directory at 2 MiB: 0-4 MiB identity through a page table that leaves page 103000h out, and
        // 4-8 MiB a 4 MiB page onto physical 0. Nothing else is present.
        const uint Pd = 0x200000, Pt = 0x201000;
        m.Memory.Write32(Pd, Pt | 3);
        m.Memory.Write32(Pd + 4, 0x00000083);
        for (uint page = 0; page < 1024; page++)
            if (page != 0x103) m.Memory.Write32(Pt + 4 * page, page << 12 | 3);
        m.Cpu.Cr3 = Pd;
        m.Cpu.Cr4 |= Processor.Cr4PSE;
        m.Cpu.WriteCr0(m.Cpu.Cr0 | Processor.Cr0PG);
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        using (var c = new RawClient(stub.Endpoint.Port))
        {
            Assert.Equal("11111111", c.Ask($"m{DataBase:x},4"));
            Assert.Equal("11111111", c.Ask($"m{0x400000 + DataBase:x},4"));   // the 4 MiB page
            Assert.Equal("E14", c.Ask("m103000,4"));
            Assert.Equal("E14", c.Ask("m800000,1"));
            Assert.Equal("00000000", c.Ask("m102ffc,8"));                         // a read stops at the hole
            Assert.Equal("E14", c.Ask("M102ffe,4:01020304"));                     // a write that would cross it does nothing
            Assert.Equal(0u, m.Memory.Read32(0x102FFC));
            Assert.Equal("OK", c.Ask($"M{0x400000 + DataBase + 4:x},4:efbeadde"));
            Assert.Equal(0xDEADBEEFu, m.Memory.Read32(DataBase + 4));
            // X carries escaped binary: '}' '#' '$' '*' in the data.
            byte[] data = [(byte)'}', (byte)'#', (byte)'$', (byte)'*'];
            c.SendRaw(GdbPacketCodec.Frame([.. Encoding.ASCII.GetBytes($"X{DataBase + 8:x},4:"), .. data]));      // Frame escapes them
            Assert.Equal("OK", c.Reply());
            Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(data), m.Memory.Read32(DataBase + 8));
            Assert.Equal("E14", c.Ask("X103000,1:a"));
            Assert.Equal("OK", c.Ask("X103000,0:"));                             // the support probe
            // The walk set no accessed bits and filled nothing the guest could see.
            Assert.Equal(Pt | 3, m.Memory.Read32(Pd));
            Assert.Equal(DataBase | 3, m.Memory.Read32(Pt + 4 * 0x102));
            c.Send("k");
        }
        run.Wait();
    }

    [Fact]
    public void RegistersFollowTheTargetDescription()
    {
        var k = BuildKernel();
        var m = NewMachine(k);
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        using (var c = new RawClient(stub.Endpoint.Port))
        {
            // The description is read in pieces: 'm' while more follows, 'l' for the last.
            var xml = new StringBuilder();
            for (int offset = 0; ; offset += 100)
            {
                string piece = c.Ask($"qXfer:features:read:target.xml:{offset:x},64");
                xml.Append(piece[1..]);
                if (piece[0] == 'l') break;
                Assert.Equal('m', piece[0]);
                Assert.Equal(101, piece.Length);
            }
            Assert.Equal(GdbTarget.TargetXml, xml.ToString());
            Assert.Contains("<architecture>i386</architecture>", GdbTarget.TargetXml);
            Assert.Equal(32, Regex.Matches(GdbTarget.TargetXml, "<reg ").Count);

            string g = c.Ask("g");
            Assert.Equal(2 * (16 * 4 + 8 * 10 + 8 * 4), g.Length);
            Assert.Equal(Le(MultibootLoader.BootMagic), g[..8]);                  // EAX
            Assert.Equal(Le(k.Entry), g[64..72]);                                 // EIP
            Assert.Equal(Le(MultibootLoader.CodeSelector), g[80..88]);            // CS
            Assert.Equal(Le(0x40), g[288..296]);                                  // FCTRL at power-on: 0040h
            Assert.Equal(Le(0x5555), g[304..312]);                                // FTAG: every register zero

            Assert.Equal("OK", c.Ask("P3=78563412"));
            Assert.Equal(0x12345678u, m.Cpu.Ebx);
            Assert.Equal("OK", c.Ask("P10=00000000000000c0ff3f"));               // ST0 = 1.5
            Assert.Equal("00000000000000c0ff3f", c.Ask("p10"));
            Assert.Equal("E01", c.Ask($"P a={Le(0x23)}"));
            Assert.Equal("E01", c.Ask($"Pa={Le(0x23)}"));                         // CS in protected mode needs a far transfer
            Assert.Equal("OK", c.Ask($"Pc={Le(MultibootLoader.DataSelector)}"));  // DS: the same selector loads
            Assert.Equal("E01", c.Ask($"Pc={Le(0x1234)}"));                       // a selector past the GDT does not

            // G writes everything back; a changed EAX shows, the unchanged segments are left alone.
            string changed = "efbeadde" + g[8..];
            Assert.Equal("OK", c.Ask("G" + changed));
            Assert.Equal(0xDEADBEEFu, m.Cpu.Eax);
            Assert.Equal(MultibootLoader.CodeSelector, m.Cpu.Seg[SegReg.CS].Selector);
            c.Send("k");
        }
        run.Wait();
    }

    [Fact]
    public void TheRunEndingIsReportedAsAnExitAndDetachLetsTheGuestFinish()
    {
        var k = BuildKernel();
        var m = NewMachine(k);
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        using (var c = new RawClient(stub.Endpoint.Port))
        {
            // Continue to the end: the guest's debug exit (status 0) is reported as W00.
            Assert.Equal("OK", c.Ask($"Z0,{k.Target:x},1"));
            c.Send("c");
            Assert.Equal(GdbInputKind.Ack, c.Next().Kind);
            Assert.StartsWith($"T0508:{Le(k.Target)};", PacketAfterAck(c));
            Assert.Equal("OK", c.Ask($"z0,{k.Target:x},1"));
            Assert.Equal("E01", c.Ask($"z0,{k.Target:x},1"));
            c.Send("c");
            Assert.Equal(GdbInputKind.Ack, c.Next().Kind);
            Assert.Equal("W01", PacketAfterAck(c));
            Assert.Equal("W01", c.Ask("?"));
        }
        Assert.Equal(ExitReason.DebugExit, run.Wait().Reason);

        // A second machine: detach with a breakpoint set; it is dropped and the guest runs to its end.
        var m2 = NewMachine(k);
        using var stub2 = GdbStub.Start(m2, new IPEndPoint(IPAddress.Loopback, 0));
        var run2 = new RunningMachine(m2);
        using (var c = new RawClient(stub2.Endpoint.Port))
        {
            Assert.Equal("OK", c.Ask($"Z1,{k.Add:x},1"));
            Assert.Equal("OK", c.Ask("D"));
            Assert.Equal(ExitReason.DebugExit, run2.Wait().Reason);
        }
        Assert.Equal(0, m2.Cpu.HostBreakpointCount);
        Assert.Equal(0xCAFEBABEu, m2.Memory.Read32(DataBase + 4));
    }

    [Fact]
    public void AStepHoldsOffAPendingInterruptWhichTheNextContinueTakes()
    {
        var k = BuildKernel();
        var m = NewMachine(k);
        // An interrupt is pending with IF set; the kernel has no IDT, so taking it shuts the machine down.
        m.Cpu.SetEflags(m.Cpu.GetEflags() | Processor.FlagIF);
        m.Cpu.IrqLine = true;
        using var stub = GdbStub.Start(m, new IPEndPoint(IPAddress.Loopback, 0));
        var run = new RunningMachine(m);
        using (var c = new RawClient(stub.Endpoint.Port))
        {
            c.Send("s");
            Assert.Equal(GdbInputKind.Ack, c.Next().Kind);
            Assert.StartsWith($"T0508:{Le(k.Entry + 5)};", PacketAfterAck(c));   // MOV EAX, imm32 ran, nothing else
            Assert.Equal(1, m.Cpu.InstructionCount);
            c.Send("c");
            Assert.Equal(GdbInputKind.Ack, c.Next().Kind);
            Assert.Equal("W00", PacketAfterAck(c));
        }
        Assert.Equal(ExitReason.Shutdown, run.Wait().Reason);
        Assert.Equal(1, m.Cpu.InstructionCount);
    }

    static string PacketAfterAck(RawClient c)
    {
        var p = c.Next();
        Assert.Equal(GdbInputKind.Packet, p.Kind);
        c.SendRaw("+"u8);
        return Encoding.Latin1.GetString(p.Payload!);
    }

    // ------------------------------------------------------------------ host breakpoints in the engines

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    public void AHostBreakpointInsideTranslatedCodeStopsBeforeItsInstruction(string engine)
    {
        const int Iterations = 1000;
        var k = BuildKernel(Iterations);
        var m = NewMachine(k, engine);
        var cpu = m.Cpu;
        // Run into the loop without breakpoints: on the jit its region (loop head, body, exit) is translated.
        Assert.Equal(StopReason.Budget, m.Engine.Run(3 + 4 * 20));
        if (m.Engine is JitEngine jit) Assert.True(jit.Interpreter.TranslatedInstructions > 40, $"{jit.Interpreter.TranslatedInstructions} translated");

        // A breakpoint on the loop's second instruction, in the middle of the translated region.
        cpu.AddHostBreakpoint(k.Add);
        Assert.Equal(StopReason.Breakpoint, m.Engine.Run(1_000_000));
        Assert.Equal(k.Add, cpu.Eip);
        Assert.Equal(21u, cpu.Ebx);
        Assert.Equal(3 + 4 * 20 + 1, cpu.InstructionCount);
        Assert.Equal(20u * 21 / 2, m.Memory.Read32(DataBase + 12));          // the ADD has not run

        // Resuming runs it, then stops at it one iteration later (four instructions on).
        cpu.ResumeFromHostBreakpoint(k.Add);
        Assert.Equal(StopReason.Breakpoint, m.Engine.Run(1_000_000));
        Assert.Equal(k.Add, cpu.Eip);
        Assert.Equal(22u, cpu.Ebx);
        Assert.Equal(3 + 4 * 21 + 1, cpu.InstructionCount);

        // With a breakpoint armed a budget is still exact: one instruction is one step.
        cpu.ResumeFromHostBreakpoint(k.Add);
        Assert.Equal(StopReason.Budget, m.Engine.Run(1));
        Assert.Equal(3 + 4 * 21 + 2, cpu.InstructionCount);
        Assert.Equal(StopReason.Budget, m.Engine.Run(2));
        Assert.Equal(k.Loop, cpu.Eip);

        // A guest DR7 write keeps the host's breakpoints; removing the last one disarms the careful path.
        cpu.Dr[7] = 0;
        cpu.UpdateBreakpoints();
        Assert.NotEqual(0u, cpu.CodeBreakpoints & Processor.HostBreakpointsArmed);
        Assert.True(cpu.RemoveHostBreakpoint(k.Add));
        Assert.Equal(0u, cpu.CodeBreakpoints);
        var before = (m.Engine as JitEngine)?.Interpreter.TranslatedInstructions ?? 0;
        while (m.Engine.Run(100_000) == StopReason.Budget) { }
        Assert.Equal((uint)(Iterations * (Iterations + 1) / 2), m.Memory.Read32(DataBase + 12));
        Assert.Equal(3 + 4 * Iterations + 5, cpu.InstructionCount);
        if (m.Engine is JitEngine j) Assert.True(j.Interpreter.TranslatedInstructions - before > 3000);
    }

    static string Le(uint v) => GdbPacketCodec.HexLe32(v);

    static uint FromLe(string hex)
    {
        Assert.True(GdbPacketCodec.TryDecodeHex(hex, out var b));
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }
}
