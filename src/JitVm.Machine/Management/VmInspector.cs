using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Machine.Debugging;

namespace JitVm.Machine.Management;

/// <summary>
/// What the monitor and the API show of a machine: registers, the TLBs, the I/O map, the engine's counters, disks,
/// memory. Every method must be called with the machine between slices (<see cref="VmInstance.OnMachine{T}"/>).
/// Each view comes as JSON (the API) and as text (the monitor, in the layout of QEMU's HMP where it has one).
/// </summary>
public static class VmInspector
{
    static string Hex8(uint v) => v.ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>A JSON number of any stored CLR type, as a long.</summary>
    static long Num(JsonNode? n) => long.Parse(n!.ToJsonString(), CultureInfo.InvariantCulture);

    // ------------------------------------------------------------------ registers

    public static JsonObject Registers(Machine m)
    {
        var c = m.Cpu;
        var o = new JsonObject();
        string[] gpr = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
        for (int i = 0; i < 8; i++) o[gpr[i]] = c.Gpr[i];
        o["eip"] = c.Eip;
        o["eflags"] = c.GetEflags();
        for (int s = 0; s < 6; s++)
        {
            var seg = c.Seg[s];
            o[SegReg.Names[s]] = new JsonObject { ["selector"] = seg.Selector, ["base"] = seg.Base, ["limit"] = seg.Limit, ["attributes"] = seg.Attributes };
        }
        o["ldtr"] = new JsonObject { ["selector"] = c.Ldtr.Selector, ["base"] = c.Ldtr.Base, ["limit"] = c.Ldtr.Limit };
        o["tr"] = new JsonObject { ["selector"] = c.Tr.Selector, ["base"] = c.Tr.Base, ["limit"] = c.Tr.Limit };
        o["gdt"] = new JsonObject { ["base"] = c.Gdtr.Base, ["limit"] = c.Gdtr.Limit };
        o["idt"] = new JsonObject { ["base"] = c.Idtr.Base, ["limit"] = c.Idtr.Limit };
        o["cr0"] = c.Cr0;
        o["cr2"] = c.Cr2;
        o["cr3"] = c.Cr3;
        o["cr4"] = c.Cr4;
        o["cpl"] = c.Cpl;
        o["halted"] = c.Halted;
        o["a20"] = c.A20Enabled;
        o["instructions"] = c.InstructionCount;
        return o;
    }

    /// <summary>QEMU's <c>info registers</c> layout (i386).</summary>
    public static string RegistersText(Machine m)
    {
        var c = m.Cpu;
        var sb = new StringBuilder();
        uint fl = c.GetEflags();
        sb.Append($"EAX={Hex8(c.Eax)} EBX={Hex8(c.Ebx)} ECX={Hex8(c.Ecx)} EDX={Hex8(c.Edx)}\n");
        sb.Append($"ESI={Hex8(c.Esi)} EDI={Hex8(c.Edi)} EBP={Hex8(c.Ebp)} ESP={Hex8(c.Esp)}\n");
        string flags = new([(fl & 0x800) != 0 ? 'O' : '-', (fl & 0x400) != 0 ? 'D' : '-', (fl & 0x80) != 0 ? 'S' : '-', (fl & 0x40) != 0 ? 'Z' : '-',
            (fl & 0x10) != 0 ? 'A' : '-', (fl & 0x4) != 0 ? 'P' : '-', (fl & 0x1) != 0 ? 'C' : '-']);
        sb.Append($"EIP={Hex8(c.Eip)} EFL={Hex8(fl)} [{flags}] CPL={c.Cpl} II={(c.InterruptShadow ? 1 : 0)} A20={(c.A20Enabled ? 1 : 0)} SMM=0 HLT={(c.Halted ? 1 : 0)}\n");
        int[] order = [SegReg.ES, SegReg.CS, SegReg.SS, SegReg.DS, SegReg.FS, SegReg.GS];
        foreach (int s in order)
        {
            var seg = c.Seg[s];
            sb.Append($"{SegReg.Names[s].ToUpperInvariant()} ={seg.Selector:x4} {Hex8(seg.Base)} {Hex8(seg.Limit)} {Hex8((uint)seg.Attributes << 8)}\n");
        }
        sb.Append($"LDT={c.Ldtr.Selector:x4} {Hex8(c.Ldtr.Base)} {Hex8(c.Ldtr.Limit)} {Hex8((uint)c.Ldtr.Attributes << 8)}\n");
        sb.Append($"TR ={c.Tr.Selector:x4} {Hex8(c.Tr.Base)} {Hex8(c.Tr.Limit)} {Hex8((uint)c.Tr.Attributes << 8)}\n");
        sb.Append($"GDT=     {Hex8(c.Gdtr.Base)} {Hex8(c.Gdtr.Limit)}\n");
        sb.Append($"IDT=     {Hex8(c.Idtr.Base)} {Hex8(c.Idtr.Limit)}\n");
        sb.Append($"CR0={Hex8(c.Cr0)} CR2={Hex8(c.Cr2)} CR3={Hex8(c.Cr3)} CR4={Hex8(c.Cr4)}\n");
        sb.Append($"instructions={c.InstructionCount}\n");
        return sb.ToString();
    }

    /// <summary>A register by its monitor name ($eax, $eip, $esp, $cr3, ...) for address expressions.</summary>
    public static bool TryGetRegister(Machine m, string name, out uint value)
    {
        var c = m.Cpu;
        uint? v = name.ToLowerInvariant() switch
        {
            "eax" => c.Eax, "ecx" => c.Ecx, "edx" => c.Edx, "ebx" => c.Ebx,
            "esp" => c.Esp, "ebp" => c.Ebp, "esi" => c.Esi, "edi" => c.Edi,
            "eip" => c.Eip, "pc" => c.Seg[SegReg.CS].Base + c.Eip, "eflags" => c.GetEflags(),
            "cr0" => c.Cr0, "cr2" => c.Cr2, "cr3" => c.Cr3, "cr4" => c.Cr4,
            "cs" => c.Seg[SegReg.CS].Selector, "ds" => c.Seg[SegReg.DS].Selector, "ss" => c.Seg[SegReg.SS].Selector,
            "es" => c.Seg[SegReg.ES].Selector, "fs" => c.Seg[SegReg.FS].Selector, "gs" => c.Seg[SegReg.GS].Selector,
            _ => null,
        };
        value = v ?? 0;
        return v is not null;
    }

    // ------------------------------------------------------------------ TLB

    /// <summary>The valid entries of the supervisor and user TLBs.</summary>
    public static JsonArray Tlb(Machine m)
    {
        var list = new JsonArray();
        foreach (var (kind, table) in new[] { ("supervisor", m.Cpu.SupervisorTlb), ("user", m.Cpu.UserTlb) })
            for (int i = 0; i < table.Length; i++)
            {
                var e = table[i];
                bool read = (e.ReadTag & 1) == 0, write = (e.WriteTag & 1) == 0;
                if (!read && !write) continue;
                list.Add(new JsonObject
                {
                    ["tlb"] = kind,
                    ["linear"] = read ? e.ReadTag : e.WriteTag,
                    ["physical"] = e.Phys & ~PhysicalMemory.PageMask,
                    ["read"] = read,
                    ["write"] = write,
                    ["global"] = (e.Phys & Processor.TlbGlobal) != 0,
                    ["large"] = (e.Phys & Processor.TlbLarge) != 0,
                });
            }
        return list;
    }

    public static string TlbText(Machine m)
    {
        var sb = new StringBuilder();
        var entries = Tlb(m);
        sb.Append($"paging {(m.Cpu.PagingEnabled ? "on" : "off")}, CR3={Hex8(m.Cpu.Cr3)}, {entries.Count} valid entries\n");
        foreach (var n in entries)
        {
            var e = n!.AsObject();
            sb.Append($"{(string)e["tlb"]!,-10} {Hex8((uint)Num(e["linear"]))}: {Hex8((uint)Num(e["physical"]))} {((bool)e["read"]! ? 'R' : '-')}{((bool)e["write"]! ? 'W' : '-')}" +
                      $"{((bool)e["global"]! ? 'G' : '-')}{((bool)e["large"]! ? 'L' : '-')}\n");
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ devices

    /// <summary>The I/O port map (contiguous ranges per device) and the memory-mapped windows.</summary>
    public static JsonArray Devices(Machine m)
    {
        var list = new JsonArray();
        IIoDevice? current = null;
        int first = 0;
        for (int port = 0; port <= 0x10000; port++)
        {
            IIoDevice? d = port < 0x10000 ? m.Io.DeviceAt((ushort)port) : null;
            if (ReferenceEquals(d, current)) continue;
            if (current is not null)
                list.Add(new JsonObject { ["device"] = DeviceName(current), ["kind"] = "io", ["first"] = first, ["last"] = port - 1 });
            current = d;
            first = port;
        }
        const uint vgaBase = JitVm.Devices.Vga.VgaDevice.WindowBase, vgaLength = JitVm.Devices.Vga.VgaDevice.WindowLength;
        list.Add(new JsonObject { ["device"] = DeviceName(m.Vga), ["kind"] = "mmio", ["first"] = vgaBase, ["last"] = vgaBase + vgaLength - 1 });
        return list;
    }

    static string DeviceName(object d) => d.GetType().Name;

    public static string DevicesText(Machine m)
    {
        var sb = new StringBuilder();
        foreach (var n in Devices(m))
        {
            var e = n!.AsObject();
            long f = Num(e["first"]), l = Num(e["last"]);
            if ((string)e["kind"]! == "io") sb.Append($"  io   {f:x4}-{l:x4}  {(string)e["device"]!}\n");
            else sb.Append($"  mmio {f:x8}-{l:x8}  {(string)e["device"]!}\n");
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ engine

    public static JsonObject Jit(Machine m)
    {
        var o = new JsonObject { ["engine"] = m.Engine.GetType().Name, ["instructions"] = m.Cpu.InstructionCount };
        if (m.Engine is IEngineStatistics e)
        {
            var s = e.GetStatistics();
            o["interpreted-instructions"] = s.InterpretedInstructions;
            o["translated-instructions"] = s.TranslatedInstructions;
            o["blocks-decoded"] = s.BlocksDecoded;
            o["live-blocks"] = s.LiveBlocks;
            o["blocks-compiled"] = s.BlocksCompiled;
            o["blocks-translated"] = s.BlocksTranslated;
            o["compile-failures"] = s.CompileFailures;
            o["compile-time-ms"] = s.CompileTime?.TotalMilliseconds;
            o["cache-lookups"] = s.CacheLookups;
            o["cache-hits"] = s.CacheHits;
            o["linked-dispatches"] = s.LinkedDispatches;
            o["invalidations"] = s.Invalidations;
            o["evictions"] = s.Evictions;
            o["cache-flushes"] = s.CacheFlushes;
        }
        return o;
    }

    public static string JitText(Machine m)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in Jit(m)) sb.Append($"{k}: {(v is null ? "-" : v.ToJsonString().Trim('"'))}\n");
        return sb.ToString();
    }

    // ------------------------------------------------------------------ block devices

    public static JsonArray Block(VmInstance vm)
    {
        var list = new JsonArray();
        foreach (var d in vm.Disks)
            list.Add(new JsonObject
            {
                ["device"] = d.Device,
                ["file"] = d.File,
                ["size"] = d.Length,
                ["read-only"] = d.ReadOnly,
                ["reads"] = d.Reads,
                ["writes"] = d.Writes,
                ["errors"] = d.Errors,
            });
        return list;
    }

    public static string BlockText(VmInstance vm)
    {
        if (vm.Disks.Count == 0) return "no block devices\n";
        var sb = new StringBuilder();
        foreach (var d in vm.Disks)
            sb.Append($"{d.Device}: {d.File} (size {d.Length}{(d.ReadOnly ? ", read-only" : "")}) reads={d.Reads} writes={d.Writes} errors={d.Errors}\n");
        return sb.ToString();
    }

    // ------------------------------------------------------------------ memory

    /// <summary>
    /// Reads guest memory: physical addresses as the bus sees them, or linear ones through a side-effect-free walk of
    /// the guest's page tables (stopping at the first unmapped byte; null when the first one is).
    /// </summary>
    public static byte[]? ReadMemory(Machine m, uint address, int length, bool physical)
    {
        if (length is < 0 or > 1 << 20) throw new VmCommandException("at most 1 MiB can be read at a time");
        if (!physical) return new GdbTarget(m).ReadMemory(address, length);
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = m.Memory.Read8(address + (uint)i);
        return data;
    }

    /// <summary>
    /// QEMU's <c>x</c>/<c>xp</c> output: <paramref name="count"/> units of <paramref name="size"/> bytes in
    /// <paramref name="format"/> (x hex, d signed, u unsigned, o octal, c characters, i instructions).
    /// </summary>
    public static string Dump(Machine m, uint address, int count, char format, int size, bool physical)
    {
        if (count is < 1 or > 4096) throw new VmCommandException("count must be between 1 and 4096");
        if (format == 'i') return Disassemble(m, address, count, physical);
        if (format == 'c') size = 1;
        int bytes = count * size;
        var data = ReadMemory(m, address, bytes, physical);
        if (data is null || data.Length < bytes)
            throw new VmCommandException($"cannot access memory at {(physical ? "physical" : "linear")} address {Hex8(address + (uint)(data?.Length ?? 0))}");
        int perLine = format == 'c' ? 16 : size switch { 1 => 8, 2 => 8, 4 => 4, _ => 2 };
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            if (i % perLine == 0)
            {
                if (i > 0) sb.Append('\n');
                sb.Append(Hex8(address + (uint)(i * size))).Append(':');
            }
            ulong v = 0;
            for (int b = size - 1; b >= 0; b--) v = v << 8 | data[i * size + b];
            sb.Append(' ');
            switch (format)
            {
                case 'c':
                    byte ch = (byte)v;
                    sb.Append(ch is >= 0x20 and < 0x7F ? ((char)ch).ToString() : $"\\x{ch:x2}");
                    break;
                case 'd':
                    long signed = size switch { 1 => (sbyte)v, 2 => (short)v, 4 => (int)v, _ => (long)v };
                    sb.Append(signed.ToString(CultureInfo.InvariantCulture));
                    break;
                case 'u': sb.Append(v.ToString(CultureInfo.InvariantCulture)); break;
                case 'o': sb.Append('0').Append(Convert.ToString((long)v, 8)); break;
                default: sb.Append("0x").Append(v.ToString("x" + size * 2, CultureInfo.InvariantCulture)); break;
            }
        }
        return sb.Append('\n').ToString();
    }

    static string Disassemble(Machine m, uint address, int count, bool physical)
    {
        var data = ReadMemory(m, address, count * 15, physical) ?? throw new VmCommandException($"cannot access memory at {Hex8(address)}");
        int bitness = m.Cpu.Code32 ? 32 : 16;
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(data), address, DecoderOptions.None);
        var formatter = new IntelFormatter();
        var output = new StringOutput();
        var sb = new StringBuilder();
        for (int i = 0; i < count && decoder.IP < address + (ulong)data.Length; i++)
        {
            decoder.Decode(out var insn);
            formatter.Format(insn, output);
            sb.Append($"0x{Hex8((uint)insn.IP)}:  {output.ToStringAndReset()}\n");
        }
        return sb.ToString();
    }
}
