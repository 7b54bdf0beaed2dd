using JitVm.Core;
using JitVm.Core.Storage;
using JitVm.Storage;
using System.CommandLine;
using System.Text;
using JitVm.Cpu;
using JitVm.Machine;
using JitVm.Machine.Boot;
using Serilog;

namespace JitVm.Cli.Commands;

/// <summary><c>jitvm run</c>: boots a guest (the built-in demo ROM unless firmware is given) and prints an exit summary.</summary>
internal static class RunCommand
{
    public static Command Build()
    {
        var cmd = new Command("run", "Run a guest (default: the built-in demo ROM; --bios firmware; --kernel a Multiboot kernel)");
        var engine = new Option<string>("--engine") { Description = "Execution engine: interp, jit or auto", DefaultValueFactory = _ => "auto" };
        engine.AcceptOnlyFromAmong(Engines.Names);
        var cpu = GlobalOptions.CpuOption("pentium", "CPU model (default: p6 with --bios or --kernel, pentium for the built-in demo ROM)");
        var memory = new Option<string>("--memory") { Description = "Guest RAM, e.g. 16M, 64M, 1G", DefaultValueFactory = _ => "16M" };
        var rom = new Option<FileInfo?>("--bios") { Description = "Firmware image of 64, 128 or 256 KiB, mapped to end at 1 MiB and at 4 GiB (default: the built-in demo ROM)" };
        var kernel = new Option<FileInfo?>("--kernel") { Description = "Boot a Linux bzImage (32-bit boot protocol) or a Multiboot v1 kernel (ELF32, or with the header's address fields) directly, as QEMU's -kernel does" };
        var append = new Option<string>("--append") { Description = "Kernel command line (with --kernel)", DefaultValueFactory = _ => "" };
        var initrd = new Option<string?>("--initrd") { Description = "With --kernel: a Linux kernel's initial ramdisk FILE, or Multiboot modules \"FILE [ARGS][,FILE [ARGS]...]\" as QEMU's -initrd (,, is a literal comma)" };
        var serial = new Option<string>("--serial") { Description = "COM1 output: stdio, file:PATH or none", DefaultValueFactory = _ => "stdio" };
        var serial2 = new Option<string>("--serial2") { Description = "COM2 output: stdio, file:PATH or none", DefaultValueFactory = _ => "none" };
        var exitOnHalt = new Option<bool?>("--exit-on-halt") { Description = "HLT with interrupts disabled ends the run (default: on for the built-in ROM, off with --bios)" };
        var noReboot = new Option<bool>("--no-reboot") { Description = "Stop on a triple fault or a guest reboot instead of resetting the machine (as QEMU's -no-reboot)" };
        var debugcon = new Option<string>("--debugcon") { Description = "Port 0xE9 output: stdio, file:PATH or none", DefaultValueFactory = _ => "stdio" };
        var maxSeconds = new Option<double?>("--max-seconds") { Description = "Stop after this much wall-clock time" };
        var maxInstructions = new Option<long?>("--max-instructions") { Description = "Stop after this many guest instructions" };
        var stats = new Option<bool>("--stats") { Description = "Print execution statistics at the end" };
        var clock = new Option<string>("--clock")
        {
            Description = "Guest time: realtime (follows the host clock) or deterministic (from the instruction count: the same guest gives the same run, in every engine)",
            DefaultValueFactory = _ => "realtime",
        };
        clock.AcceptOnlyFromAmong("realtime", "deterministic");
        var disks = new[] { "hda", "hdb", "hdc", "hdd" }
            .Select(n => new Option<FileInfo?>("--" + n) { Description = $"Disk image (raw, qcow2 or VHD) as IDE {(n[2] < 'c' ? "primary" : "secondary")} {(n[2] is 'a' or 'c' ? "master" : "slave")}" }).ToArray();
        var floppies = new[] { "fda", "fdb" }
            .Select(n => new Option<FileInfo?>("--" + n) { Description = $"Floppy image (720K, 1.2M, 1.44M or 2.88M; raw, qcow2 or VHD) in drive {(n == "fda" ? "A:" : "B:")}" }).ToArray();
        var cdrom = new Option<FileInfo?>("--cdrom") { Description = "CD-ROM image (ISO, 2048-byte sectors) in an ATAPI drive on the secondary master (boot it with --boot d)" };
        var vgaBios = new Option<FileInfo?>("--vga-bios") { Description = "VGA BIOS image for the firmware to run (e.g. /usr/share/seabios/vgabios-isavga.bin)" };
        var display = new Option<string>("--display") { Description = "none, or text: draw the VGA text screen in the terminal and send keys to the PS/2 keyboard", DefaultValueFactory = _ => "none" };
        display.AcceptOnlyFromAmong("none", "text");
        var snapshot = new Option<bool>("--snapshot") { Description = "Open every disk read-only under a temporary qcow2 overlay (deleted at exit): guest writes never reach the images" };
        var gdb = new Option<string?>("--gdb") { Description = "Wait for GDB on tcp:HOST:PORT (tcp::PORT: 127.0.0.1) with the machine stopped at its first instruction, as QEMU's -gdb with -S" };
        var monitor = new Option<string?>("--monitor") { Description = "The human monitor on a Unix socket: unix:PATH (the console's Ctrl-A c opens it too)" };
        var qmp = new Option<string?>("--qmp") { Description = "The JSON management API on unix:PATH or tcp:HOST:PORT (TCP needs the token of --qmp-token-file)" };
        var qmpToken = new Option<string?>("--qmp-token-file") { Description = "With --qmp tcp:...: the token file (read, or made with a random token; default jitvm-qmp.token)" };
        var loadvm = new Option<FileInfo?>("--loadvm") { Description = "Restore the machine from a snapshot file before running (the other options must build the same machine: memory, CPU, firmware, disks)" };
        var savevm = new Option<FileInfo?>("--savevm") { Description = "Write a snapshot of the machine to FILE when the run ends (with --max-instructions N: after exactly N instructions)" };
        var boot = new Option<string>("--boot") { Description = "Firmware boot order: a (floppy), c (hard disk), d (CD-ROM), e.g. ca", DefaultValueFactory = _ => "ca" };
        var trace = new Option<string?>("--trace")
        {
            Description = "Record events, a comma-separated list: " +
                          string.Join("; ", Machine.Tracing.TraceOptions.Names.Select(n => $"{n.Name} ({n.Description})")),
        };
        var traceFile = new Option<FileInfo?>("--trace-file") { Description = "With --trace: write the trace to FILE (default: stderr)" };
        var traceLimit = new Option<long?>("--trace-limit") { Description = "With --trace: stop tracing after N lines" };
        foreach (var o in new Option[] { engine, cpu, memory, rom, kernel, append, initrd, serial, debugcon, exitOnHalt, noReboot, maxSeconds, maxInstructions, stats, clock, vgaBios, boot, display, serial2, cdrom, snapshot, gdb, monitor, qmp, qmpToken, loadvm, savevm }.Concat(disks).Concat(floppies)) cmd.Options.Add(o);
        foreach (var o in new Option[] { trace, traceFile, traceLimit }) cmd.Options.Add(o);

        cmd.SetAction(r =>
        {
            // The opcode and decoder tables are built on the other core while this thread reads the options and images.
            JitVm.Cpu.Decoding.Warmup.Start();
            GlobalOptions.ConfigureLogging(r);
            if (Engines.Resolve(r.GetValue(engine)!, out string? engineError) is not { } eng)
            {
                Console.Error.WriteLine($"error: {engineError}");
                return 2;
            }
            if (!TryParseSize(r.GetValue(memory)!, out uint ramBytes))
            {
                Console.Error.WriteLine($"error: invalid --memory '{r.GetValue(memory)}' (use e.g. 16M, between 1M and {JitVm.Core.PhysicalMemory.MaxRamBytes >> 20}M)");
                return 2;
            }
            System.Net.IPEndPoint? gdbEndpoint = null;
            if (r.GetValue(gdb) is { } gdbSpec && !Machine.Debugging.GdbStub.TryParseEndpoint(gdbSpec, out gdbEndpoint, out string? gdbError))
            {
                Console.Error.WriteLine($"error: {gdbError}");
                return 2;
            }
            var traceEvents = Machine.Tracing.TraceEvents.None;
            if (r.GetValue(trace) is { } traceSpec && !Machine.Tracing.TraceOptions.TryParse(traceSpec, out traceEvents, out string? traceError))
            {
                Console.Error.WriteLine($"error: --trace: {traceError}");
                return 2;
            }
            if (traceEvents == Machine.Tracing.TraceEvents.None && (r.GetValue(traceFile) is not null || r.GetValue(traceLimit) is not null))
            {
                Console.Error.WriteLine("error: --trace-file and --trace-limit need --trace");
                return 2;
            }
            if (r.GetValue(traceLimit) is < 1)
            {
                Console.Error.WriteLine("error: --trace-limit must be at least 1");
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
            if (romImage is not null && romImage.Length is not (64 << 10 or 128 << 10 or 256 << 10))
            {
                Console.Error.WriteLine($"error: --bios image must be 64, 128 or 256 KiB (got {romImage.Length} bytes)");
                return 2;
            }
            KernelImage? kernelImage = null;
            if (r.GetValue(kernel) is { } kernelFile)
            {
                if (!TryReadKernel(kernelFile.FullName, r.GetValue(append)!, r.GetValue(initrd), out kernelImage)) return 2;
            }
            else if (r.GetValue(initrd) is not null || r.GetValue(append) != "")
            {
                Console.Error.WriteLine("error: --append and --initrd need --kernel");
                return 2;
            }
            var stdout = Console.OpenStandardOutput();
            var files = new List<Stream>();
            if (!TryOpenSink(r.GetValue(debugcon)!, "--debugcon", stdout, files, out var debugSink) ||
                !TryOpenSink(r.GetValue(serial)!, "--serial", stdout, files, out var serialSink) ||
                !TryOpenSink(r.GetValue(serial2)!, "--serial2", stdout, files, out var serial2Sink))
            {
                foreach (var f in files) f.Dispose();
                return 2;
            }

            var opened = new List<DiskImage>();
            bool snapshotMode = r.GetValue(snapshot);
            IBlockDevice?[] OpenAll(Option<FileInfo?>[] options, bool readOnlyMedia = false)
            {
                var list = new IBlockDevice?[options.Length];
                for (int i = 0; i < options.Length; i++)
                    if (r.GetValue(options[i]) is { } f)
                    {
                        // --snapshot: writable disks get a throw-away overlay; a CD is never written, so it is just opened read-only.
                        DiskImage d = !snapshotMode ? DiskImages.Open(f.FullName)
                            : readOnlyMedia ? DiskImages.Open(f.FullName, readOnly: true)
                            : SnapshotOverlay.Create(f.FullName);
                        opened.Add(d);
                        list[i] = d;
                    }
                return list;
            }
            IBlockDevice?[] hardDisks, floppyImages;
            IBlockDevice? cdImage;
            byte[]? vgaImage = null;
            try
            {
                hardDisks = OpenAll(disks);
                floppyImages = OpenAll(floppies);
                cdImage = OpenAll([cdrom], readOnlyMedia: true)[0];
                if (r.GetValue(vgaBios) is { } vf) vgaImage = File.ReadAllBytes(vf.FullName);
            }
            catch (Exception e) when (e is ImageFormatException or BlockDeviceException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                foreach (var d in opened) d.Dispose();
                foreach (var f in files) f.Dispose();
                return 2;
            }

            // Full-system runs (firmware or a kernel) get a P6 unless --cpu says otherwise; the built-in demo ROM keeps
            // the Pentium its expected output was written for.
            var cpuModel = r.GetResult(cpu) is { Implicit: false } || (romImage is null && kernelImage is null) ? r.GetValue(cpu)! : CpuModel.P6;
            // --serial stdio takes stdin for COM1 (unless the text display reads the keyboard from it); created below,
            // once the machine's UART exists.
            Terminal.SerialConsole? serialIn = null;
            bool text = r.GetValue(display) == "text";
            bool stdioSerial = r.GetValue(serial) == "stdio" && !text;
            // Who can still wake an idle guest with input: a terminal on COM1 or the text display and a monitor for as
            // long as the run lasts; piped stdin on COM1 until it ends (a script may write its commands at any time).
            Func<bool>? waitForInput =
                (!Console.IsInputRedirected && (r.GetValue(serial) == "stdio" || text))
                || r.GetValue(monitor) is not null || r.GetValue(qmp) is not null ? () => true
                : stdioSerial ? () => serialIn is not { InputEnded: true }
                : null;
            Machine.Machine machine;
            try
            {
                machine = new Machine.Machine(new MachineConfig
                {
                    Cpu = cpuModel,
                    MemoryBytes = ramBytes,
                    Rom = romImage,
                    DebugConsole = debugSink,
                    Serial = serialSink,
                    Serial2 = serial2Sink,
                    Kernel = kernelImage,
                    ExitOnHalt = r.GetValue(exitOnHalt) ?? (romImage is null || kernelImage is not null),
                    WaitForInput = waitForInput,
                    NoReboot = r.GetValue(noReboot),
                    MaxSeconds = r.GetValue(maxSeconds),
                    MaxInstructions = r.GetValue(maxInstructions),
                    EngineFactory = eng.Factory,
                    EngineName = eng.Name,
                    Clock = r.GetValue(clock) == "deterministic" ? ClockMode.Deterministic : ClockMode.Realtime,
                    HardDisks = hardDisks,
                    Floppies = floppyImages,
                    CdRom = cdImage,
                    VgaBios = vgaImage,
                    BootOrder = r.GetValue(boot)!,
                });
            }
            catch (KernelLoadException e)
            {
                Console.Error.WriteLine($"error: kernel {r.GetValue(kernel)!.Name}: {e.Message}");
                foreach (var f in files) f.Dispose();
                return 2;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                foreach (var d in opened) d.Dispose();
                foreach (var f in files) f.Dispose();
                return 2;
            }
            if (r.GetValue(loadvm) is { } loadFile)
            {
                try { Machine.Snapshots.MachineSnapshot.RestoreFile(machine, loadFile.FullName); }
                catch (Exception e) when (e is JitVm.Core.State.SnapshotFormatException or IOException or UnauthorizedAccessException or BlockDeviceException)
                {
                    Console.Error.WriteLine($"error: --loadvm {loadFile.Name}: {e.Message}");
                    foreach (var d in opened) d.Dispose();
                    foreach (var f in files) f.Dispose();
                    return 2;
                }
            }
            // --trace: lines go through a buffer of their own (flushed after every slice), to a file or to stderr.
            TextWriter? traceWriter = null;
            Machine.Tracing.MachineTracer? tracer = null;
            if (traceEvents != Machine.Tracing.TraceEvents.None)
            {
                try
                {
                    var traceStream = r.GetValue(traceFile) is { } tf ? File.Create(tf.FullName) : Console.OpenStandardError();
                    traceWriter = new StreamWriter(traceStream, new UTF8Encoding(false), 1 << 16);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
                {
                    Console.Error.WriteLine($"error: --trace-file: {e.Message}");
                    foreach (var d in opened) d.Dispose();
                    foreach (var f in files) f.Dispose();
                    return 2;
                }
                tracer = Machine.Tracing.MachineTracer.Attach(machine, new Machine.Tracing.TraceOptions(traceEvents, traceWriter, r.GetValue(traceLimit)));
                machine.SliceEnded += traceWriter.Flush;
            }
            Log.Information("starting guest: cpu={Cpu} memory={Memory} engine={Engine}", cpuModel.Name, ramBytes, eng.Name);
            if (text)
            {
                var console = new Display.TextConsole(machine.Vga, machine.Keyboard, Console.Out, readKeys: true);
                machine.SliceEnded += console.Update;
                Console.Out.Write("\x1b[2J");
            }
            if (stdioSerial)
            {
                serialIn = new Terminal.SerialConsole(machine.Serial.Receive, machine.RequestStop, Console.Error,
                    interactive: !Console.IsInputRedirected);
                serialIn.Start();
            }
            Machine.Debugging.GdbStub? gdbStub = null;
            if (gdbEndpoint is not null)
            {
                try { gdbStub = Machine.Debugging.GdbStub.Start(machine, gdbEndpoint); }
                catch (System.Net.Sockets.SocketException e)
                {
                    Console.Error.WriteLine($"error: --gdb: cannot listen on {gdbEndpoint}: {e.Message}");
                    serialIn?.Dispose();
                    traceWriter?.Dispose();
                    foreach (var d in opened) d.Dispose();
                    foreach (var f in files) f.Dispose();
                    return 2;
                }
                Console.Error.WriteLine($"gdb: waiting for a connection on tcp:{gdbStub.Endpoint} (the machine is stopped at its first instruction)");
            }
            // The monitor and the management API hold the machine between slices as the GDB stub does: not both.
            RunManagement? management = null;
            if (gdbStub is null)
            {
                management = RunManagement.Create(machine, consoleMonitor: serialIn is not null && !Console.IsInputRedirected,
                    r.GetValue(monitor), r.GetValue(qmp), r.GetValue(qmpToken), out string? managementError);
                if (managementError is not null)
                {
                    Console.Error.WriteLine($"error: {managementError}");
                    serialIn?.Dispose();
                    traceWriter?.Dispose();
                    foreach (var d in opened) d.Dispose();
                    foreach (var f in files) f.Dispose();
                    return 2;
                }
                if (serialIn is not null && management is not null)
                {
                    var interpreter = management.NewMonitor();
                    serialIn.Monitor = new Terminal.MonitorConsole(interpreter.Execute, Console.Error);
                }
            }
            else if (r.GetValue(monitor) is not null || r.GetValue(qmp) is not null)
                Console.Error.WriteLine("warning: --monitor and --qmp are ignored with --gdb");
            Machine.RunResult result;
            try
            {
                result = management?.Run() ?? machine.Run();
            }
            finally
            {
                management?.Dispose();
                gdbStub?.Dispose();
                serialIn?.Dispose();
                tracer?.Dispose();
                traceWriter?.Dispose();
            }
            if (text) Console.Out.Write("\x1b[0m\x1b[?25h\r\n");
            int saveFailed = 0;
            if (r.GetValue(savevm) is { } saveFile)
            {
                try { Machine.Snapshots.MachineSnapshot.SaveFile(machine, saveFile.FullName); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or BlockDeviceException)
                {
                    Console.Error.WriteLine($"error: --savevm {saveFile.Name}: {e.Message}");
                    saveFailed = 2;
                }
            }
            stdout.Flush();
            foreach (var f in files) f.Dispose();
            foreach (var d in opened) d.Dispose();              // writes the images' buffered data out
            if (r.GetValue(stats)) PrintStats(machine, result);
            Console.Error.WriteLine(result.Summary);
            if (saveFailed != 0) return saveFailed;
            return result.Reason switch
            {
                ExitReason.DebugExit => result.GuestExitCode ?? 1,
                ExitReason.Shutdown or ExitReason.Unsupported => 1,
                _ => 0,
            };
        });
        return cmd;
    }

    /// <summary>Reads the kernel and its modules; reports unreadable files on stderr.</summary>
    internal static bool TryReadKernel(string path, string commandLine, string? initrd, out KernelImage? image)
    {
        image = null;
        var modules = new List<BootModule>();
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            // A Linux kernel takes one initrd file (QEMU's -initrd FILE); a Multiboot kernel a list of modules.
            if (JitVm.Machine.Boot.LinuxImage.Probe(bytes))
            {
                if (!string.IsNullOrEmpty(initrd)) modules.Add(new BootModule(File.ReadAllBytes(initrd), initrd));
            }
            else
                foreach (string entry in SplitModules(initrd))
                {
                    string file = entry.Split(' ', 2)[0];
                    modules.Add(new BootModule(File.ReadAllBytes(file), entry));
                }
            image = new KernelImage(bytes, commandLine, modules);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"error: cannot read kernel or module: {e.Message}");
            return false;
        }
    }

    /// <summary>QEMU's Multiboot -initrd syntax: entries separated by ",", where ",," stands for a comma inside an entry.</summary>
    internal static List<string> SplitModules(string? spec)
    {
        var list = new List<string>();
        if (string.IsNullOrEmpty(spec)) return list;
        var current = new StringBuilder();
        for (int i = 0; i < spec.Length; i++)
        {
            if (spec[i] != ',') current.Append(spec[i]);
            else if (i + 1 < spec.Length && spec[i + 1] == ',') { current.Append(','); i++; }
            else { list.Add(current.ToString().Trim()); current.Clear(); }
        }
        list.Add(current.ToString().Trim());
        list.RemoveAll(e => e.Length == 0);
        return list;
    }

    /// <summary>Opens a byte sink for "stdio", "none" or "file:PATH"; reports bad values on stderr.</summary>
    static bool TryOpenSink(string spec, string option, Stream stdout, List<Stream> files, out Action<byte>? sink)
    {
        sink = null;
        if (spec == "none") return true;
        if (spec == "stdio")
        {
            sink = stdout.WriteByte;
            return true;
        }
        if (spec.StartsWith("file:", StringComparison.Ordinal) && spec.Length > 5)
        {
            try
            {
                var f = File.Create(spec[5..]);
                files.Add(f);
                sink = f.WriteByte;
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {option}: cannot open {spec[5..]}: {e.Message}");
                return false;
            }
        }
        Console.Error.WriteLine($"error: invalid {option} '{spec}' (stdio, file:PATH or none)");
        return false;
    }

    static void PrintStats(Machine.Machine m, RunResult r)
    {
        Console.Error.Write(FormatStats(m.Engine as IEngineStatistics, r));
    }

    /// <summary>The <c>--stats</c> report: what the engine's statistics interface offers ("-" where it has no such counter).</summary>
    internal static string FormatStats(IEngineStatistics? engine, RunResult r)
    {
        var sb = new StringBuilder();
        if (engine is null)
        {
            sb.AppendLine($"instructions: total={r.Instructions} (engine {r.Engine} reports no statistics)");
        }
        else
        {
            var s = engine.GetStatistics();
            static string Opt(long? v) => v is { } x ? x.ToString() : "-";
            static string Ms(TimeSpan? t) => t is { } x ? $"{x.TotalMilliseconds:F1}ms" : "-";
            sb.AppendLine($"instructions: interpreted={s.InterpretedInstructions} translated={Opt(s.TranslatedInstructions)} total={s.Instructions}");
            static string Us(TimeSpan? t) => t is { } x ? $"{x.TotalMicroseconds:F0}us" : "-";
            string average = s.CompileTime is { } total && s.BlocksCompiled is > 0 ? Us(total / s.BlocksCompiled.Value) : "-";
            sb.AppendLine($"blocks: decoded={s.BlocksDecoded} live={s.LiveBlocks} compiled={Opt(s.BlocksCompiled)} (guest blocks {Opt(s.BlocksTranslated)}) " +
                          $"compile-time={Ms(s.CompileTime)} average={average} median={Us(s.MedianCompileTime)} median-per-block={Us(s.MedianCompileTimePerBlock)}");
            if (s.CompileFailures is > 0) sb.AppendLine($"compile failures: {s.CompileFailures} (those blocks ran interpreted)");
            sb.AppendLine($"cache: lookups={s.CacheLookups} hits={s.CacheHits} misses={s.CacheMisses} linked={Opt(s.LinkedDispatches)} invalidated={s.Invalidations} evicted={Opt(s.Evictions)} flushes={s.CacheFlushes}");
        }
        sb.AppendLine($"speed: {r.Mips:F1} MIPS over {r.Seconds:F3} s");
        return sb.ToString();
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
        if (n > (1UL << 32) || total < (1UL << 20) || total > JitVm.Core.PhysicalMemory.MaxRamBytes) return false;
        bytes = (uint)total;
        return true;
    }
}
