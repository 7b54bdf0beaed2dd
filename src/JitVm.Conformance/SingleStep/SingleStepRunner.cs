using System.Text;
using JitVm.Core;
using JitVm.Cpu;

namespace JitVm.Conformance.SingleStep;

/// <summary>Outcome of one MOO file.</summary>
public sealed record FileResult(string File, string Opcode, int Passed, int Failed, int AllowListed, int Revoked, IReadOnlyList<string> Failures)
{
    /// <summary>The first failure outside the allow-list, with its register/memory diff.</summary>
    public string? FirstFailure => Failures.Count > 0 ? Failures[0] : null;

    /// <summary>Failures not covered by the allow-list.</summary>
    public int Unexpected => Failed - AllowListed;
}

/// <summary>
/// Runs SingleStepTests vectors: for each test, loads the initial registers and memory into a fresh real-mode
/// CPU, executes until the HLT after the instruction completes, and compares every register and listed byte
/// with the hardware's final state, with undefined flags masked as the vector set's metadata says.
/// </summary>
public sealed class SingleStepRunner
{
    /// <summary>Guest RAM for the vectors: 16 MiB covers the 286's 24-bit space and the 386EX captures.</summary>
    const uint RamBytes = 16 << 20;
    const long InstructionBudget = 1000;

    readonly CpuModel model;
    readonly Func<Processor, IExecutionEngine> engineFactory;
    readonly AllowList allow;

    public SingleStepRunner(CpuModel model, Func<Processor, IExecutionEngine> engineFactory, AllowList? allowList = null)
    {
        this.model = model;
        this.engineFactory = engineFactory;
        allow = allowList ?? AllowList.Empty;
    }

    /// <summary>The opcode key of a file name: "F6.7.MOO.gz" → "F6.7".</summary>
    public static string OpcodeKey(string path)
    {
        string name = Path.GetFileName(path);
        int i = name.IndexOf(".MOO", StringComparison.OrdinalIgnoreCase);
        return i > 0 ? name[..i] : name;
    }

    /// <summary>Every MOO file under the given paths (files or directories), in name order.</summary>
    public static IEnumerable<string> ExpandPaths(IEnumerable<string> paths)
    {
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
            {
                foreach (var f in Directory.EnumerateFiles(p)
                             .Where(f => f.EndsWith(".MOO", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".MOO.gz", StringComparison.OrdinalIgnoreCase))
                             .Order(StringComparer.Ordinal))
                    yield return f;
            }
            else if (File.Exists(p)) yield return p;
            else throw new FileNotFoundException($"no such file or directory: {p}");
        }
    }

    public FileResult RunFile(string path, VectorSetMetadata metadata)
    {
        var file = MooReader.Load(path);
        string key = OpcodeKey(path);
        uint flagsMask = metadata.FlagsMask(key);

        var memory = new PhysicalMemory(RamBytes);
        var cpu = new Processor(model, memory, new IoBus());
        var engine = engineFactory(cpu);
        int passed = 0, failed = 0, allowed = 0, revoked = 0;
        var failures = new List<string>();
        foreach (var test in file.Tests)
        {
            if (metadata.RevokedHashes.Contains(test.Hash))
            {
                revoked++;
                continue;
            }
            string? diff = RunTest(cpu, engine, memory, file, test, flagsMask);
            if (diff is null)
            {
                passed++;
                continue;
            }
            failed++;
            if (allow.Reason(test.Hash, key) is not null) allowed++;
            else failures.Add($"#{test.Index} {test.Name} [{Convert.ToHexString(test.Bytes)}] {test.Hash}: {diff}");
        }
        return new FileResult(path, key, passed, failed, allowed, revoked, failures);
    }

    /// <summary>Runs one test; returns null when it passes, otherwise a description of the first differences.</summary>
    public string? RunTest(Processor cpu, IExecutionEngine engine, PhysicalMemory memory, MooFile file, MooTest test, uint flagsMask)
    {
        foreach (var (a, _) in test.Initial.Ram)
            if (a >= RamBytes) return $"test touches address {a:X8} beyond the runner's RAM";
        try
        {
            LoadState(cpu, memory, test.Initial);
            StopReason stop;
            try
            {
                stop = engine.Run(InstructionBudget);
            }
            catch (EmulationStopException e)
            {
                return "emulation stopped: " + e.Message;
            }
            if (stop == StopReason.Shutdown) return "CPU shut down (triple fault)";
            if (stop != StopReason.Halted) return "did not reach the HLT";
            return Compare(cpu, memory, file, test, flagsMask);
        }
        finally
        {
            foreach (var (a, _) in test.Initial.Ram) memory.Poke(a, [0]);
            foreach (var (a, _) in test.Final.Ram)
                if (a < RamBytes) memory.Poke(a, [0]);
        }
    }

    /// <summary>Loads a test's initial registers and RAM into a reset processor (also used by lockstep runs).</summary>
    public void LoadState(Processor cpu, PhysicalMemory memory, MooState s)
    {
        cpu.Reset();
        cpu.A20Enabled = true;
        var r = s.Registers ?? throw new MooFormatException("test without initial registers");
        foreach (var (a, v) in s.Ram) memory.Poke(a, [v]);
        if (!r.Is32)
        {
            cpu.Eax = Get(r, "ax"); cpu.Ebx = Get(r, "bx"); cpu.Ecx = Get(r, "cx"); cpu.Edx = Get(r, "dx");
            cpu.Esp = Get(r, "sp"); cpu.Ebp = Get(r, "bp"); cpu.Esi = Get(r, "si"); cpu.Edi = Get(r, "di");
            cpu.Eip = Get(r, "ip");
            for (int seg = 0; seg < 4; seg++) LoadSeg(cpu, seg, Get(r, SegReg.Names[seg]));
            uint flags = Get(r, "flags");
            // The 286 cannot hold IOPL/NT/bit 15 in real mode: drop them before loading (FORMAT.md).
            if (model.Is286) flags &= 0x0FFF;
            cpu.SetEflags(flags);
        }
        else
        {
            cpu.Cr0 = Get(r, "cr0") & ~Processor.Cr0PG & ~Processor.Cr0PE;
            cpu.Cr3 = Get(r, "cr3");
            cpu.Eax = Get(r, "eax"); cpu.Ebx = Get(r, "ebx"); cpu.Ecx = Get(r, "ecx"); cpu.Edx = Get(r, "edx");
            cpu.Esp = Get(r, "esp"); cpu.Ebp = Get(r, "ebp"); cpu.Esi = Get(r, "esi"); cpu.Edi = Get(r, "edi");
            cpu.Eip = Get(r, "eip");
            for (int seg = 0; seg < 6; seg++) LoadSeg(cpu, seg, Get(r, SegReg.Names[seg]) & 0xFFFF);
            cpu.SetEflags(Get(r, "eflags") & Eflags32Mask);
            cpu.Dr[6] = Get(r, "dr6");
            cpu.Dr[7] = Get(r, "dr7");
        }
    }

    /// <summary>386EX captures: bits 18-31 of eflags come from the capture method, not the CPU.</summary>
    const uint Eflags32Mask = 0x0003FFFF;

    static void LoadSeg(Processor cpu, int seg, uint selector) =>
        cpu.LoadRealModeSegmentFull(seg, (ushort)selector, selector << 4, 0xFFFF,
            seg == SegReg.CS ? Segment.RealModeCode : Segment.RealModeData);

    static uint Get(MooRegisters r, string name) => r.TryGet(name, out var v) ? v : 0;

    string? Compare(Processor cpu, PhysicalMemory memory, MooFile file, MooTest test, uint flagsMask)
    {
        var sb = new StringBuilder();
        var init = test.Initial.Registers!;
        var fin = test.Final.Registers;
        string[] names = init.Names;
        for (int bit = 0; bit < names.Length; bit++)
        {
            string name = names[bit];
            if (!init.Has(bit)) continue;
            uint expected = fin is not null && fin.Has(bit) ? fin.Values[bit] : init.Values[bit];
            uint actual = Actual(cpu, name);
            uint mask = init.Is32 ? 0xFFFFFFFF : 0xFFFF;
            if (name is "flags" or "eflags")
            {
                mask &= flagsMask;
                if (init.Is32) mask &= Eflags32Mask;
                if (!(fin is not null && fin.Has(bit))) expected = model.Is286 ? expected & 0x0FFF : expected;
            }
            if (name is "cs" or "ds" or "es" or "fs" or "gs" or "ss") mask &= 0xFFFF;
            mask &= RegisterMask(file.RegisterMask, bit) & RegisterMask(test.Final.RegisterMask, bit);
            if ((expected & mask) != (actual & mask))
                sb.Append($"{name}: expected {expected & mask:X4} got {actual & mask:X4}; ");
        }
        uint flagsImage = test.Exception is { } e ? FlagsImageAddress(init, e.FlagsAddress) : 0;
        foreach (var (addr, value) in test.Final.Ram)
        {
            byte mine = memory.Read8(addr);
            byte want = value;
            if (test.Exception is not null && (addr == flagsImage || addr == flagsImage + 1))
            {
                byte m = (byte)(flagsMask >> (addr == flagsImage ? 0 : 8));
                mine &= m;
                want &= m;
            }
            if (mine != want) sb.Append($"ram[{addr:X5}]: expected {want:X2} got {mine:X2}; ");
        }
        return sb.Length == 0 ? null : sb.ToString().TrimEnd(' ', ';');
    }

    /// <summary>
    /// Where the FLAGS image of a delivered exception really is. The 80286 captures report its address rounded
    /// down to a word boundary: with an odd SP the image starts one byte higher, at SS:SP-2 of the initial state
    /// (a fault leaves SP as it was before pushing). Seen on every odd-SP #DE vector of F6.6/F6.7/F7.6/F7.7, where
    /// the expected bytes at SS:SP-2 are the final flags and the reported address holds the high byte of the
    /// pushed CS. Any other reported address is used as given.
    /// </summary>
    static uint FlagsImageAddress(MooRegisters init, uint reported)
    {
        if (init.Is32 || !init.TryGet("ss", out uint ss) || !init.TryGet("sp", out uint sp)) return reported;
        uint pushed = (ss << 4) + ((sp - 2) & 0xFFFF);
        return (sp & 1) != 0 && pushed == reported + 1 ? pushed : reported;
    }

    static uint RegisterMask(MooRegisters? mask, int bit) => mask is not null && mask.Has(bit) ? mask.Values[bit] : 0xFFFFFFFF;

    static uint Actual(Processor cpu, string name) => name switch
    {
        "ax" or "eax" => cpu.Eax,
        "bx" or "ebx" => cpu.Ebx,
        "cx" or "ecx" => cpu.Ecx,
        "dx" or "edx" => cpu.Edx,
        "sp" or "esp" => cpu.Esp,
        "bp" or "ebp" => cpu.Ebp,
        "si" or "esi" => cpu.Esi,
        "di" or "edi" => cpu.Edi,
        "ip" or "eip" => cpu.Eip,
        "flags" or "eflags" => cpu.GetEflags(),
        "cs" => cpu.Seg[SegReg.CS].Selector,
        "ds" => cpu.Seg[SegReg.DS].Selector,
        "es" => cpu.Seg[SegReg.ES].Selector,
        "ss" => cpu.Seg[SegReg.SS].Selector,
        "fs" => cpu.Seg[SegReg.FS].Selector,
        "gs" => cpu.Seg[SegReg.GS].Selector,
        "cr0" => cpu.Cr0,
        "cr3" => cpu.Cr3,
        "dr6" => cpu.Dr[6],
        "dr7" => cpu.Dr[7],
        _ => 0,
    };
}
