using System.CommandLine;
using System.Text;
using JitVm.Cpu;
using JitVm.Machine;
using Serilog;

namespace JitVm.Cli.Commands;

/// <summary><c>jitvm run</c>: boots a guest (the built-in demo ROM unless firmware is given) and prints an exit summary.</summary>
internal static class RunCommand
{
    public static Command Build()
    {
        var cmd = new Command("run", "Run a guest (default: the built-in demo ROM)");
        var engine = new Option<string>("--engine") { Description = "Execution engine: interp, jit or auto", DefaultValueFactory = _ => "auto" };
        engine.AcceptOnlyFromAmong("interp", "jit", "auto");
        var cpu = GlobalOptions.CpuOption("486", "CPU model");
        var memory = new Option<string>("--memory") { Description = "Guest RAM, e.g. 16M, 64M, 1G", DefaultValueFactory = _ => "16M" };
        var rom = new Option<FileInfo?>("--rom") { Description = "Raw firmware image (ends at 1 MiB; the reset vector is its last 16 bytes)" };
        var debugcon = new Option<string>("--debugcon") { Description = "Port 0xE9 output: stdio, file:PATH or none", DefaultValueFactory = _ => "stdio" };
        var maxSeconds = new Option<double?>("--max-seconds") { Description = "Stop after this much wall-clock time" };
        var maxInstructions = new Option<long?>("--max-instructions") { Description = "Stop after this many guest instructions" };
        var stats = new Option<bool>("--stats") { Description = "Print execution statistics at the end" };
        foreach (var o in new Option[] { engine, cpu, memory, rom, debugcon, maxSeconds, maxInstructions, stats }) cmd.Options.Add(o);

        cmd.SetAction(r =>
        {
            GlobalOptions.ConfigureLogging(r);
            string eng = r.GetValue(engine)!;
            if (eng == "jit")
            {
                Console.Error.WriteLine("error: engine 'jit' is not available yet (the translator has not landed); use --engine interp or auto");
                return 2;
            }
            if (!TryParseSize(r.GetValue(memory)!, out uint ramBytes))
            {
                Console.Error.WriteLine($"error: invalid --memory '{r.GetValue(memory)}' (use e.g. 16M, between 1M and 3G)");
                return 2;
            }
            byte[]? romImage = null;
            if (r.GetValue(rom) is { } romFile)
            {
                try { romImage = File.ReadAllBytes(romFile.FullName); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"error: cannot read ROM: {e.Message}");
                    return 2;
                }
            }
            Stream? debugFile = null;
            Action<byte>? sink;
            string dc = r.GetValue(debugcon)!;
            var stdout = Console.OpenStandardOutput();
            if (dc == "stdio") sink = b => stdout.WriteByte(b);
            else if (dc == "none") sink = null;
            else if (dc.StartsWith("file:", StringComparison.Ordinal))
            {
                try { debugFile = File.Create(dc[5..]); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"error: cannot open debug console file: {e.Message}");
                    return 2;
                }
                sink = b => debugFile.WriteByte(b);
            }
            else
            {
                Console.Error.WriteLine($"error: invalid --debugcon '{dc}' (stdio, file:PATH or none)");
                return 2;
            }

            Machine.Machine machine;
            try
            {
                machine = new Machine.Machine(new MachineConfig
                {
                    Cpu = r.GetValue(cpu)!,
                    MemoryBytes = ramBytes,
                    Rom = romImage,
                    DebugConsole = sink,
                    MaxSeconds = r.GetValue(maxSeconds),
                    MaxInstructions = r.GetValue(maxInstructions),
                });
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            Log.Information("starting guest: cpu={Cpu} memory={Memory} engine={Engine}", r.GetValue(cpu)!.Name, ramBytes, eng);
            var result = machine.Run();
            stdout.Flush();
            debugFile?.Dispose();
            if (r.GetValue(stats)) PrintStats(machine, result);
            Console.Error.WriteLine(result.Summary);
            return result.Reason switch
            {
                ExitReason.DebugExit => result.GuestExitCode ?? 1,
                ExitReason.Shutdown or ExitReason.Unsupported => 1,
                _ => 0,
            };
        });
        return cmd;
    }

    static void PrintStats(Machine.Machine m, RunResult r)
    {
        var sb = new StringBuilder();
        var blocks = ((Interpreter)m.Engine).Blocks;
        sb.AppendLine($"instructions: interp={r.Instructions} jit=0");
        sb.AppendLine($"blocks: decoded={blocks.Decoded} live={blocks.Count} lookups={blocks.Lookups} front-misses={blocks.Misses} invalidated={blocks.InvalidatedBlocks} flushes={blocks.Flushes}");
        sb.AppendLine($"speed: {r.Mips:F1} MIPS over {r.Seconds:F3} s");
        Console.Error.Write(sb.ToString());
    }

    /// <summary>Parses sizes like 16M, 512K, 1G, or plain bytes.</summary>
    internal static bool TryParseSize(string text, out uint bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim().ToUpperInvariant();
        ulong mult = 1;
        char last = text[^1];
        if (last is 'K' or 'M' or 'G')
        {
            mult = last == 'K' ? 1UL << 10 : last == 'M' ? 1UL << 20 : 1UL << 30;
            text = text[..^1];
        }
        if (!ulong.TryParse(text, out ulong n)) return false;
        ulong total = n * mult;
        if (n > (1UL << 32) || total < (1UL << 20) || total > (3UL << 30)) return false;
        bytes = (uint)total;
        return true;
    }
}
