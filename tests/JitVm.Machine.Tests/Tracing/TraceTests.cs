using System.Text;
using System.Text.RegularExpressions;
using Iced.Intel;
using JitVm.Cli;
using JitVm.Cpu;
using JitVm.Jit;
using JitVm.Machine.Boot;
using JitVm.Machine.Tracing;
using JitVm.TestRoms;
using JitVm.Workloads;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Machine.Tests.Tracing;

/// <summary>
/// run --trace: the line formats of each record kind, exactly the instructions a small program runs, traces that
/// are the same on every engine with the deterministic clock, the line limit, file output through the CLI, and that
/// a tracer leaves nothing armed once it is off.
/// </summary>
public class TraceTests
{
    static readonly (string Name, Func<Processor, IExecutionEngine> Factory)[] Engines =
    [
        ("interp", c => new Interpreter(c)),
        ("jit", c => new JitEngine(c, threshold: 0)),
        ("auto", c => new JitEngine(c, background: true)),
    ];

    static Func<Processor, IExecutionEngine> Engine(string name) => Engines.Single(e => e.Name == name).Factory;

    /// <summary>Where the small program starts: F000:0100 (the reset vector jumps there).</summary>
    const ushort Start = 0x100;

    /// <summary>
    /// A real-mode program: sets up a stack and the INT 3 vector, writes 41h to port E9h, reads a word from
    /// port 1234h (no device: FFFFh), writes 42h to the VGA text window, INT 3 to a handler that IRETs, HLT.
    /// </summary>
    static byte[] SmallRom()
    {
        var a = new Assembler(16);
        var handler = a.CreateLabel();
        a.cli();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7000);
        a.mov(__word_ptr[0x0C], 0x0130);                  // IVT[3] = F000:0130
        a.mov(__word_ptr[0x0E], 0xF000);
        a.mov(al, 0x41);
        a.@out(0xE9, al);
        a.mov(dx, 0x1234);
        a.@in(ax, dx);
        a.mov(bx, 0xB800);
        a.mov(es, bx);
        a.mov(__byte_ptr.es[0], 0x42);
        a.int3();
        a.hlt();
        for (int i = 0; i < 5; i++) a.nop();            // pads the handler to 0130 (checked below)
        a.Label(ref handler);
        a.iret();
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), 0xF0000 + Start);
        byte[] code = stream.ToArray();
        var rom = new byte[64 << 10];
        code.CopyTo(rom, Start);
        new byte[] { 0xEA, Start & 0xFF, Start >> 8, 0x00, 0xF0 }.CopyTo(rom, 0xFFF0);   // jmp far F000:0100
        Assert.Equal(0xCF, rom[0x130]);                   // IRET where IVT[3] points
        return rom;
    }

    static (string Trace, MachineTracer Tracer, Machine Machine, RunResult Result) Run(MachineConfig config, TraceEvents events, long? limit = null)
    {
        var m = new Machine(config);
        var text = new StringWriter { NewLine = "\n" };
        var tracer = MachineTracer.Attach(m, new TraceOptions(events, text, limit));
        var result = m.Run();
        return (text.ToString(), tracer, m, result);
    }

    static MachineConfig SmallConfig(string engine) => new() { Rom = SmallRom(), EngineFactory = Engine(engine), EngineName = engine, MaxInstructions = 1000 };

    static string[] Lines(string trace) => trace.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    // ------------------------------------------------------------------ instructions

    [Theory]
    [InlineData("interp")]
    [InlineData("jit")]
    [InlineData("auto")]
    public void AnInstructionTraceListsExactlyTheInstructionsTheProgramRuns(string engine)
    {
        var (trace, _, m, result) = Run(SmallConfig(engine), TraceEvents.Instructions);
        string[] expected =
        [
            "insn 0 f000:0000fff0 jmp far ptr 0F000h:0100h",
            "insn 1 f000:00000100 cli",
            "insn 2 f000:00000101 xor ax,ax",
            "insn 3 f000:00000103 mov ds,ax",
            "insn 4 f000:00000105 mov ss,ax",
            "insn 5 f000:00000107 mov sp,7000h",
            "insn 6 f000:0000010a mov word ptr ds:[0Ch],130h",
            "insn 7 f000:00000110 mov word ptr ds:[0Eh],0F000h",
            "insn 8 f000:00000116 mov al,41h",
            "insn 9 f000:00000118 out 0E9h,al",
            "insn 10 f000:0000011a mov dx,1234h",
            "insn 11 f000:0000011d in ax,dx",
            "insn 12 f000:0000011e mov bx,0B800h",
            "insn 13 f000:00000121 mov es,bx",
            "insn 14 f000:00000123 mov byte ptr es:[0],42h",
            "insn 15 f000:00000129 int 3",
            "insn 16 f000:00000130 iret",
            "insn 17 f000:0000012a hlt",
        ];
        Assert.Equal(expected, Lines(trace));
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.Equal(18, result.Instructions);
        // Nothing ran translated, even on the engine that compiles every block before its first run.
        if (m.Engine is JitEngine jit) Assert.Equal(0, jit.Interpreter.TranslatedInstructions);
    }

    [Fact]
    public void RegistersFollowEachInstructionAsTheyWereBeforeIt()
    {
        var (trace, _, _, _) = Run(SmallConfig("interp"), TraceEvents.Instructions | TraceEvents.Registers);
        string[] lines = Lines(trace);
        Assert.Equal(18, lines.Length);
        // Before "mov sp,7000h" SP is still 0; before "mov al,41h" it is 7000h. EDX holds the reset signature until "mov dx".
        Assert.Matches(@"^insn 5 f000:00000107 mov sp,7000h +eax=00000000 ebx=00000000 ecx=00000000 edx=[0-9a-f]{8} esi=00000000 edi=00000000 ebp=00000000 esp=00000000 eflags=00000046$", lines[5]);
        Assert.Matches(@"^insn 8 f000:00000116 mov al,41h +eax=00000000 .* esp=00007000 eflags=00000046$", lines[8]);
        Assert.Contains(" eax=0000ffff ", lines[12]);             // after IN AX,DX from a port nobody claims
        Assert.Equal(lines[5].IndexOf("eax=", StringComparison.Ordinal), lines[8].IndexOf("eax=", StringComparison.Ordinal));   // registers in one column
    }

    // ------------------------------------------------------------------ interrupts, I/O, MMIO

    [Fact]
    public void EachRecordKindHasItsFormat()
    {
        var (trace, _, _, _) = Run(SmallConfig("interp"), TraceEvents.Interrupts | TraceEvents.Io | TraceEvents.Mmio);
        Assert.Equal(
        [
            "io 9 f000:00000118 out port=0x00e9 size=1 value=0x41",
            "io 11 f000:0000011d in port=0x1234 size=2 value=0xffff",
            "mmio 14 f000:00000123 write addr=0x000b8000 value=0x42",
            "int 15 f000:0000012a vector=0x03 kind=software error=- cpl=0",
        ], Lines(trace));
    }

    [Fact]
    public void ProtectedModeExceptionsShowTheirErrorCodesAndExternalInterruptsTheirKind()
    {
        var faults = TestRom.All.Single(r => r.Name == "pm-faults");
        var (trace, _, _, _) = Run(new MachineConfig { Cpu = faults.Model, Rom = faults.Build(), MaxSeconds = 60 }, TraceEvents.Interrupts);
        var lines = Lines(trace);
        Assert.All(lines, l => Assert.Matches(@"^int \d+ [0-9a-f]{4}:[0-9a-f]{8} vector=0x[0-9a-f]{2} kind=(exception|software|external) error=(-|0x[0-9a-f]{8}) cpl=[0-3]$", l));
        // #NP for the not-present segment (selector 40h) and #SS with selector 48h, as the ROM's log reports them.
        Assert.Contains(lines, l => l.EndsWith(" vector=0x0b kind=exception error=0x00000040 cpl=0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" vector=0x0c kind=exception error=0x00000048 cpl=0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" vector=0x00 kind=exception error=- cpl=0", StringComparison.Ordinal));

        var x87 = TestRom.All.Single(r => r.Name == "x87");
        var (x87Trace, _, _, _) = Run(new MachineConfig { Cpu = x87.Model, Rom = x87.Build(), MaxSeconds = 60 }, TraceEvents.Interrupts);
        // FERR# through IRQ 13 reaches the CPU as an external interrupt.
        Assert.Contains(Lines(x87Trace), l => Regex.IsMatch(l, @"^int \d+ 0008:[0-9a-f]{8} vector=0x[0-9a-f]{2} kind=external error=- cpl=0$"));

        var privilege = TestRom.All.Single(r => r.Name == "pm-privilege");
        var (ring3, _, _, _) = Run(new MachineConfig { Cpu = privilege.Model, Rom = privilege.Build(), MaxSeconds = 60 }, TraceEvents.Interrupts);
        Assert.Contains(Lines(ring3), l => l.EndsWith(" cpl=3", StringComparison.Ordinal));
    }

    // ------------------------------------------------------------------ the same on every engine

    public static TheoryData<string> Roms() => ["pm-faults", "pm-privilege", "paging", "v86", "x87"];

    [Theory]
    [MemberData(nameof(Roms))]
    public void InterruptAndIoTracesOfATestRomAreTheSameOnEveryEngine(string name)
    {
        var rom = TestRom.All.Single(r => r.Name == name);
        string? reference = null;
        foreach (var (engine, factory) in Engines)
        {
            var (trace, _, _, result) = Run(new MachineConfig { Cpu = rom.Model, Rom = rom.Build(), EngineFactory = factory, EngineName = engine, MaxSeconds = 60 },
                TraceEvents.Interrupts | TraceEvents.Io);
            Assert.Equal(ExitReason.Halt, result.Reason);
            Assert.Contains("\nint ", trace);
            Assert.Contains("\nio ", trace);
            reference ??= trace;
            Assert.Equal(reference, trace);
        }
    }

    [Theory]
    [InlineData("mixed", 300)]
    [InlineData("self-modifying", 20)]
    public void InterruptAndIoTracesOfAWorkloadAreTheSameOnEveryEngine(string name, int iterations)
    {
        byte[] kernel = Workload.Find(name)!.Build(iterations);
        string? reference = null;
        foreach (var (engine, factory) in Engines)
        {
            var (trace, _, _, result) = Run(new MachineConfig { Kernel = new KernelImage(kernel), EngineFactory = factory, EngineName = engine, MaxSeconds = 60 },
                TraceEvents.Interrupts | TraceEvents.Io);
            Assert.Equal(ExitReason.DebugExit, result.Reason);
            Assert.EndsWith(" out port=0x00f4 size=1 value=0x00\n", trace);     // the exit through port F4h is the last record
            reference ??= trace;
            Assert.Equal(reference, trace);
        }
    }

    [Fact]
    public void TracingInstructionsChangesNothingTheGuestDoes()
    {
        // The careful path the instruction trace sends everything through must run the guest exactly as before: the
        // interrupt and I/O records are the same with it (on the engine that would otherwise translate everything).
        var rom = TestRom.All.Single(r => r.Name == "pm-faults");
        MachineConfig Config() => new() { Cpu = rom.Model, Rom = rom.Build(), EngineFactory = Engine("jit"), EngineName = "jit", MaxSeconds = 60 };
        var (plain, _, _, plainResult) = Run(Config(), TraceEvents.Interrupts | TraceEvents.Io);
        var (full, _, _, fullResult) = Run(Config(), TraceEvents.Instructions | TraceEvents.Interrupts | TraceEvents.Io);
        string[] fullLines = Lines(full);
        Assert.Equal(Lines(plain), fullLines.Where(l => !l.StartsWith("insn ", StringComparison.Ordinal)));
        Assert.Equal(plainResult.Instructions, fullResult.Instructions);
        // One line per instruction started: every count from 0 on, once, and again only after a fault (a faulting
        // instruction does not retire, so the handler's first instruction has its count).
        long next = 0;
        for (int i = 0; i < fullLines.Length; i++)
        {
            if (!fullLines[i].StartsWith("insn ", StringComparison.Ordinal)) continue;
            long count = long.Parse(fullLines[i].Split(' ')[1]);
            if (count == next - 1)
                Assert.Matches(@$"^int {count} .* kind=exception ", fullLines[i - 1]);
            else Assert.Equal(next, count);
            next = count + 1;
        }
        Assert.Equal(fullResult.Instructions, next);
    }

    // ------------------------------------------------------------------ limit, off, file

    [Fact]
    public void TheLimitStopsTheTraceAfterThatManyLinesAndDisarmsIt()
    {
        var (trace, tracer, m, result) = Run(SmallConfig("jit"), TraceEvents.Instructions | TraceEvents.Io | TraceEvents.Interrupts, limit: 5);
        Assert.Equal(
        [
            "insn 0 f000:0000fff0 jmp far ptr 0F000h:0100h",
            "insn 1 f000:00000100 cli",
            "insn 2 f000:00000101 xor ax,ax",
            "insn 3 f000:00000103 mov ds,ax",
            "insn 4 f000:00000105 mov ss,ax",
        ], Lines(trace));
        Assert.Equal(5, tracer.Lines);
        Assert.True(tracer.Stopped);
        // The rest ran untraced, at full speed: the careful-path bit and the hooks are gone.
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.Equal(18, result.Instructions);
        Assert.Null(m.Cpu.Tracer);
        Assert.Null(m.Io.Tracer);
        Assert.Equal(0u, m.Cpu.CodeBreakpoints & Processor.TracerArmed);
        Assert.True(((JitEngine)m.Engine).Interpreter.TranslatedInstructions > 0);
    }

    [Fact]
    public void NothingIsArmedWithoutATracerOrAfterOne()
    {
        var m = new Machine(SmallConfig("interp"));
        Assert.Null(m.Cpu.Tracer);
        Assert.Null(m.Io.Tracer);
        Assert.Equal(0u, m.Cpu.CodeBreakpoints);
        var text = new StringWriter();
        var tracer = MachineTracer.Attach(m, new TraceOptions(TraceEvents.Instructions | TraceEvents.Interrupts | TraceEvents.Io | TraceEvents.Mmio, text));
        Assert.Same(tracer, m.Cpu.Tracer);
        Assert.Same(tracer, m.Io.Tracer);
        Assert.NotEqual(0u, m.Cpu.CodeBreakpoints & Processor.TracerArmed);
        // A guest DR7 write recomputes the breakpoint mask: the tracer's bit stays.
        m.Cpu.Dr[7] = 0x401;
        m.Cpu.UpdateBreakpoints();
        Assert.NotEqual(0u, m.Cpu.CodeBreakpoints & Processor.TracerArmed);
        m.Cpu.Dr[7] = 0x400;
        m.Cpu.UpdateBreakpoints();
        tracer.Dispose();
        Assert.Null(m.Cpu.Tracer);
        Assert.Null(m.Io.Tracer);
        Assert.Equal(0u, m.Cpu.CodeBreakpoints);
        var result = m.Run();
        Assert.Equal(ExitReason.Halt, result.Reason);
        Assert.Equal("", text.ToString());
    }

    [Fact]
    public void OnlyTheAskedKindsAreRecorded()
    {
        var (io, _, _, _) = Run(SmallConfig("interp"), TraceEvents.Io);
        Assert.All(Lines(io), l => Assert.StartsWith("io ", l));
        Assert.Equal(2, Lines(io).Length);
        var (ints, _, m, _) = Run(SmallConfig("auto"), TraceEvents.Interrupts);
        Assert.Equal(["int 15 f000:0000012a vector=0x03 kind=software error=- cpl=0"], Lines(ints));
        // Interrupt tracing alone does not slow the engine down: nothing sends it to the careful path.
        Assert.Equal(0u, m.Cpu.CodeBreakpoints & Processor.TracerArmed);
        Assert.False(m.Cpu.TraceInstructions);
    }

    [Theory]
    [InlineData("insn,int,io", TraceEvents.Instructions | TraceEvents.Interrupts | TraceEvents.Io)]
    [InlineData("regs", TraceEvents.Instructions | TraceEvents.Registers)]
    [InlineData(" mmio , INT", TraceEvents.Mmio | TraceEvents.Interrupts)]
    public void EventListsParse(string spec, TraceEvents expected)
    {
        Assert.True(TraceOptions.TryParse(spec, out var events, out string? error));
        Assert.Null(error);
        Assert.Equal(expected, events);
    }

    [Theory]
    [InlineData("insn,bogus", "bogus")]
    [InlineData("", "''")]
    [InlineData("int,,io", "''")]
    public void UnknownEventNamesAreRefusedByName(string spec, string named)
    {
        Assert.False(TraceOptions.TryParse(spec, out var events, out string? error));
        Assert.Equal(TraceEvents.None, events);
        Assert.Contains(named, error);
        Assert.Contains("insn, regs, int, io, mmio", error);
    }

    [Fact]
    public void TheCliWritesTheTraceToAFileAndItMatchesTheDebugConsole()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"trace-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string log = Path.Combine(dir, "debugcon.txt"), traceFile = Path.Combine(dir, "trace.txt");
            Assert.Equal(0, Program.Main(["run", "--debugcon", "file:" + log, "--serial", "none", "--clock", "deterministic", "--trace", "io", "--trace-file", traceFile]));
            string[] lines = File.ReadAllLines(traceFile);
            Assert.NotEmpty(lines);
            Assert.All(lines, l => Assert.Matches(@"^io \d+ f000:[0-9a-f]{8} (in|out) port=0x[0-9a-f]{4} size=[124] value=0x[0-9a-f]+$", l));
            // What the demo ROM printed is exactly the bytes the trace saw going out to port E9h.
            var printed = new StringBuilder();
            foreach (string l in lines.Where(l => l.Contains(" out port=0x00e9 size=1 ", StringComparison.Ordinal)))
                printed.Append((char)Convert.ToByte(l[^2..], 16));
            Assert.Equal(File.ReadAllText(log), printed.ToString());

            string limited = Path.Combine(dir, "limited.txt");
            Assert.Equal(0, Program.Main(["run", "--debugcon", "none", "--serial", "none", "--trace", "insn", "--trace-limit", "7", "--trace-file", limited]));
            Assert.Equal(7, File.ReadAllLines(limited).Length);
            Assert.StartsWith("insn 0 f000:0000fff0 ", File.ReadAllLines(limited)[0]);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("run --trace cpu")]
    [InlineData("run --trace-file /tmp/never-written.txt")]
    [InlineData("run --trace io --trace-limit 0")]
    [InlineData("run --trace io --trace-file /nonexistent/dir/trace.txt --debugcon none")]
    public void BadTraceOptionsAreErrors(string args)
    {
        Assert.Equal(2, Program.Main(args.Split(' ')));
        Assert.False(File.Exists("/tmp/never-written.txt"));
    }
}
