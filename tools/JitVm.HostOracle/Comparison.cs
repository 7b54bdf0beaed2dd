using System.Text;
using JitVm.Cpu;

namespace JitVm.HostOracle;

/// <summary>Compares the interpreter's result for a vector with the host's, ignoring what the SDM leaves undefined.</summary>
public static class Comparison
{
    static readonly string[] RegNames = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

    /// <summary>True when the interpreter's result matches on every defined bit; otherwise <paramref name="report"/> describes the difference.</summary>
    public static bool Matches(OracleForm form, in VectorRecord r, in GuestResult actual, out string? report) =>
        Matches(form, r, actual, out report, out _);

    /// <summary>As above; <paramref name="undefinedDiffers"/> tells whether a masked (undefined) bit differs.</summary>
    public static bool Matches(OracleForm form, in VectorRecord r, in GuestResult actual, out string? report, out bool undefinedDiffers)
    {
        report = null;
        undefinedDiffers = false;
        var mask = UndefinedBehaviour.For(form, r);
        bool ok;
        if (r.Status == VectorStatus.DivideError)
        {
            // A fault commits nothing: every register (but ESP, which took the exception frame), the flags and memory stay.
            ok = actual.Exception == CpuVectors.DE && RegistersEqual(r.InRegs, actual.Regs, default) &&
                 ((r.InFlags ^ actual.Flags) & Processor.ArithFlags) == 0 && MemoryEqual(r.InMem, actual.Mem, 0);
        }
        else
        {
            ok = actual.Exception < 0 && RegistersEqual(r.OutRegs, actual.Regs, mask.Registers) &&
                 ((r.OutFlags ^ actual.Flags) & Processor.ArithFlags & ~mask.Flags) == 0 && MemoryEqual(r.OutMem, actual.Mem, mask.MemoryBytes);
        }
        if (!ok) report = Describe(form, r, actual, mask);
        else if (r.Status == VectorStatus.Executed)
            undefinedDiffers = ((r.OutFlags ^ actual.Flags) & Processor.ArithFlags) != 0 ||
                               !RegistersEqual(r.OutRegs, actual.Regs, default) || !MemoryEqual(r.OutMem, actual.Mem, 0);
        return ok;
    }

    static bool RegistersEqual(in RegisterSet expected, in RegisterSet actual, in RegisterSet undefined)
    {
        for (int i = 0; i < 8; i++)
            if (i != 4 && ((expected[i] ^ actual[i]) & ~undefined[i]) != 0) return false;
        return true;
    }

    static bool MemoryEqual(in MemoryWindow expected, in MemoryWindow actual, uint undefinedBytes)
    {
        for (int i = 0; i < 16; i++)
            if ((undefinedBytes & (1u << i)) == 0 && expected[i] != actual[i]) return false;
        return true;
    }

    /// <summary>A multi-line report: instruction and encodings, inputs, expected (host) and actual (interpreter) outputs, the mask.</summary>
    public static string Describe(OracleForm form, in VectorRecord r, in GuestResult actual, in UndefinedMask mask)
    {
        var sb = new StringBuilder();
        sb.Append($"{form.Name}  (guest {Convert.ToHexString(form.GuestBytes)}, host {NativeExecutor.NativeBytes(form)})\n");
        sb.Append("  in:       ").Append(Regs(r.InRegs)).Append($" flags {UndefinedBehaviour.FlagNames(r.InFlags & Processor.ArithFlags)} [{r.InFlags & Processor.ArithFlags:X3}]");
        sb.Append($" mem {Mem(r.InMem)}\n");
        if (r.Status == VectorStatus.DivideError)
        {
            sb.Append("  expected: #DE (quotient does not fit or divisor 0), nothing changed\n");
        }
        else
        {
            sb.Append("  expected: ").Append(Regs(r.OutRegs)).Append($" flags {UndefinedBehaviour.FlagNames(r.OutFlags & Processor.ArithFlags)} mem {Mem(r.OutMem)}\n");
        }
        if (actual.Exception >= 0) sb.Append($"  actual:   exception #{actual.Exception}\n");
        else sb.Append("  actual:   ").Append(Regs(actual.Regs)).Append($" flags {UndefinedBehaviour.FlagNames(actual.Flags & Processor.ArithFlags)} mem {Mem(actual.Mem)}\n");
        var exp = r.Status == VectorStatus.DivideError ? r.InRegs : r.OutRegs;
        uint expFlags = r.Status == VectorStatus.DivideError ? r.InFlags : r.OutFlags;
        var diffs = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            if (i == 4) continue;
            uint d = (exp[i] ^ actual.Regs[i]) & ~mask.Registers[i];
            if (d != 0) diffs.Add($"{RegNames[i]} {exp[i]:X8} != {actual.Regs[i]:X8}");
        }
        uint fd = (expFlags ^ actual.Flags) & Processor.ArithFlags & ~mask.Flags;
        if (fd != 0) diffs.Add($"flags {UndefinedBehaviour.FlagNames(fd)}");
        var expMem = r.Status == VectorStatus.DivideError ? r.InMem : r.OutMem;
        for (int i = 0; i < 16; i++)
            if ((mask.MemoryBytes & (1u << i)) == 0 && expMem[i] != actual.Mem[i]) { diffs.Add("memory"); break; }
        sb.Append($"  differs:  {(diffs.Count == 0 ? "(exception)" : string.Join(", ", diffs))}; undefined (masked): flags {UndefinedBehaviour.FlagNames(mask.Flags)}");
        for (int i = 0; i < 8; i++)
            if (mask.Registers[i] != 0) sb.Append($", {RegNames[i]} bits {mask.Registers[i]:X8}");
        if (mask.MemoryBytes != 0) sb.Append($", memory bytes {mask.MemoryBytes:X4}");
        return sb.ToString();
    }

    static string Regs(in RegisterSet r)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 8; i++)
        {
            if (i == 4) continue;
            if (sb.Length > 0) sb.Append(' ');
            sb.Append($"{RegNames[i]}={r[i]:X8}");
        }
        return sb.ToString();
    }

    static string Mem(in MemoryWindow m)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 16; i++)
        {
            if (i == VectorRecord.OperandOffset) sb.Append('|');
            sb.Append($"{m[i]:X2}");
        }
        return sb.ToString();
    }
}
