using System.Buffers.Binary;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Fpu;

namespace JitVm.Machine.Debugging;

/// <summary>
/// The guest as GDB sees it: the i386 register file in GDB's numbering, memory by linear address, and breakpoints.
/// Every member is called with the machine stopped (<see cref="RunControl.Access"/>), so it reads and writes the
/// processor's plain fields directly.
/// </summary>
/// <remarks>
/// Registers follow GDB's "org.gnu.gdb.i386.core" feature, which GDB requires whole (it rejects an i386 description
/// whose core feature lacks the x87 registers): 0-7 EAX ECX EDX EBX ESP EBP ESI EDI, 8 EIP, 9 EFLAGS, 10-15 CS SS
/// DS ES FS GS (32 bits each), 16-23 ST0-ST7 (80 bits, ST(i) relative to TOP), 24-31 FCTRL FSTAT FTAG FISEG FIOFF
/// FOSEG FOOFF FOP (32 bits each). Memory addresses are linear; with paging on they are translated by a walk of the
/// guest's page tables that neither fills the TLB nor sets accessed or dirty bits, and an address with no present
/// mapping is an error (E14, EFAULT).
/// </remarks>
internal sealed class GdbTarget
{
    readonly Machine machine;
    readonly Processor cpu;
    readonly PhysicalMemory memory;

    /// <summary>Software (Z0) and hardware (Z1) breakpoints by linear address, counted; the CPU holds their union.</summary>
    readonly Dictionary<uint, int> breakpoints = new(), hardwareBreakpoints = new();

    public GdbTarget(Machine machine)
    {
        this.machine = machine;
        cpu = machine.Cpu;
        memory = machine.Memory;
    }

    public const int RegisterCount = 32;
    public const int EipRegister = 8, EspRegister = 4, EbpRegister = 5;

    /// <summary>GDB's segment register order (CS SS DS ES FS GS) as our segment file's indices.</summary>
    static readonly int[] SegmentOrder = [SegReg.CS, SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS];

    /// <summary>Size in bytes of register <paramref name="n"/> in the 'g' packet.</summary>
    public static int RegisterSize(int n) => n is >= 16 and <= 23 ? 10 : 4;

    /// <summary>Bytes of all registers in the 'g' packet.</summary>
    public static int RegisterBlockSize => 16 * 4 + 8 * 10 + 8 * 4;

    /// <summary>The linear address of the next instruction (CS base + EIP), where breakpoints are matched.</summary>
    public uint LinearPc => cpu.Seg[SegReg.CS].Base + cpu.Eip;

    public uint Eip => cpu.Eip;

    /// <summary>Register <paramref name="n"/> in target byte order (little-endian).</summary>
    public byte[] ReadRegister(int n)
    {
        var b = new byte[RegisterSize(n)];
        if (n < 8) Le32(b, cpu.Gpr[n]);
        else if (n == 8) Le32(b, cpu.Eip);
        else if (n == 9) Le32(b, cpu.GetEflags());
        else if (n < 16) Le32(b, cpu.Seg[SegmentOrder[n - 10]].Selector);
        else if (n < 24)
        {
            Float80 v = cpu.Fpu.R[(cpu.Fpu.Top + n - 16) & 7];
            BinaryPrimitives.WriteUInt64LittleEndian(b, v.Significand);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), v.SignExponent);
        }
        else Le32(b, n switch
        {
            24 => cpu.Fpu.Control,
            25 => cpu.FpuStatusWord,
            26 => cpu.FpuTagWord,
            27 => cpu.Fpu.Cs,
            28 => cpu.Fpu.Ip,
            29 => cpu.Fpu.Ds,
            30 => cpu.Fpu.Dp,
            _ => cpu.Fpu.Opcode,
        });
        return b;
    }

    /// <summary>All registers, in order, as the 'g' packet carries them.</summary>
    public byte[] ReadRegisters()
    {
        var all = new byte[RegisterBlockSize];
        int at = 0;
        for (int n = 0; n < RegisterCount; n++)
        {
            byte[] r = ReadRegister(n);
            r.CopyTo(all, at);
            at += r.Length;
        }
        return all;
    }

    /// <summary>
    /// Sets register <paramref name="n"/> from <paramref name="value"/> (exactly its size). A segment register is
    /// loaded as MOV would load it in the current mode; a different CS selector in protected mode (which needs a far
    /// transfer) and a selector the guest could not load are refused.
    /// </summary>
    public bool WriteRegister(int n, ReadOnlySpan<byte> value)
    {
        if (n is < 0 or >= RegisterCount || value.Length != RegisterSize(n)) return false;
        uint v = value.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(value) : 0;
        if (n < 8) cpu.Gpr[n] = v;
        else if (n == 8) cpu.Eip = v;
        else if (n == 9) cpu.SetEflags(v);
        else if (n < 16) return LoadSegment(SegmentOrder[n - 10], v);
        else if (n < 24)
            cpu.Fpu.R[(cpu.Fpu.Top + n - 16) & 7] = new Float80(BinaryPrimitives.ReadUInt16LittleEndian(value[8..]), BinaryPrimitives.ReadUInt64LittleEndian(value));
        else switch (n)
        {
            case 24: cpu.SetFpuControlWord((ushort)v); break;
            case 25: cpu.SetFpuStatusWord((ushort)v); break;
            case 26: cpu.SetFpuTagWord((ushort)v); break;
            case 27: cpu.Fpu.Cs = (ushort)v; break;
            case 28: cpu.Fpu.Ip = v; break;
            case 29: cpu.Fpu.Ds = (ushort)v; break;
            case 30: cpu.Fpu.Dp = v; break;
            default: cpu.Fpu.Opcode = (ushort)(v & 0x7FF); break;
        }
        return true;
    }

    /// <summary>Sets all registers from a 'G' packet's bytes: the whole block, or only the 16 integer registers.</summary>
    public bool WriteRegisters(ReadOnlySpan<byte> block)
    {
        if (block.Length != RegisterBlockSize && block.Length != 16 * 4) return false;
        int at = 0;
        for (int n = 0; n < RegisterCount && at < block.Length; n++)
        {
            int size = RegisterSize(n);
            // Segment registers are loaded only when they change (gdb writes back the ones it read).
            bool unchangedSegment = n is >= 10 and < 16 && BinaryPrimitives.ReadUInt32LittleEndian(block[at..]) == cpu.Seg[SegmentOrder[n - 10]].Selector;
            if (!unchangedSegment && !WriteRegister(n, block.Slice(at, size))) return false;
            at += size;
        }
        return true;
    }

    bool LoadSegment(int seg, uint value)
    {
        if (value > 0xFFFF) return false;
        ushort selector = (ushort)value;
        if (cpu.Seg[seg].Selector == selector) return true;
        if (seg == SegReg.CS && cpu.ProtectedMode && !cpu.V86Mode) return false;
        try
        {
            cpu.LoadSegment(seg, selector);
        }
        catch (CpuFault)
        {
            return false;
        }
        if (seg == SegReg.CS) cpu.UpdateMemoryPrivilege();
        return true;
    }

    /// <summary>
    /// Reads up to <paramref name="length"/> bytes at linear <paramref name="address"/>; stops at the first byte with
    /// no mapping. Null when not even the first byte is mapped.
    /// </summary>
    public byte[]? ReadMemory(uint address, int length)
    {
        var result = new byte[length];
        for (int i = 0; i < length; i++)
        {
            if (!TryTranslate(address + (uint)i, out uint phys)) return i == 0 ? null : result.AsSpan(0, i).ToArray();
            result[i] = memory.Read8(phys);
        }
        return result;
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> at linear <paramref name="address"/> as a debugger does: RAM and ROM alike
    /// (decoded code there is invalidated), device memory through its handler. False, with nothing written, when a
    /// byte has no mapping.
    /// </summary>
    public bool WriteMemory(uint address, ReadOnlySpan<byte> bytes)
    {
        var phys = new uint[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            if (!TryTranslate(address + (uint)i, out phys[i])) return false;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (memory.HostOffset(phys[i]) >= 0) memory.Poke(phys[i], bytes.Slice(i, 1));
            else memory.Write8(phys[i], bytes[i]);
        }
        return true;
    }

    /// <summary>
    /// Linear to physical as the guest's paging would map it, without the walk's side effects or permission checks
    /// (SDM vol. 3, 4.3: 32-bit paging, 4 MiB pages with CR4.PSE).
    /// </summary>
    public bool TryTranslate(uint linear, out uint phys)
    {
        uint mask = cpu.PhysicalAddressMask;
        phys = linear & mask;
        if (!cpu.PagingEnabled) return true;
        uint pde = memory.Read32(((cpu.Cr3 & ~PhysicalMemory.PageMask) | ((linear >> 20) & 0xFFC)) & mask);
        if ((pde & 1) == 0) return false;
        if ((pde & 0x80) != 0 && (cpu.Cr4 & Processor.Cr4PSE) != 0)
        {
            phys = ((pde & 0xFFC00000) | (linear & 0x003FFFFF)) & mask;
            return true;
        }
        uint pte = memory.Read32(((pde & ~PhysicalMemory.PageMask) | ((linear >> 10) & 0xFFC)) & mask);
        if ((pte & 1) == 0) return false;
        phys = ((pte & ~PhysicalMemory.PageMask) | (linear & PhysicalMemory.PageMask)) & mask;
        return true;
    }

    /// <summary>Inserts a software (Z0) or hardware (Z1) breakpoint at linear <paramref name="address"/>; both are host breakpoints.</summary>
    public void InsertBreakpoint(uint address, bool hardware)
    {
        var table = hardware ? hardwareBreakpoints : breakpoints;
        table[address] = table.GetValueOrDefault(address) + 1;
        cpu.AddHostBreakpoint(address);
    }

    /// <summary>Removes one breakpoint of the kind at <paramref name="address"/>; false if there was none.</summary>
    public bool RemoveBreakpoint(uint address, bool hardware)
    {
        var table = hardware ? hardwareBreakpoints : breakpoints;
        if (!table.TryGetValue(address, out int count)) return false;
        if (count > 1) table[address] = count - 1;
        else table.Remove(address);
        if (!breakpoints.ContainsKey(address) && !hardwareBreakpoints.ContainsKey(address)) cpu.RemoveHostBreakpoint(address);
        return true;
    }

    /// <summary>The kind of breakpoint at <paramref name="address"/>: false software, true hardware only, null none.</summary>
    public bool? BreakpointKindAt(uint address) =>
        breakpoints.ContainsKey(address) ? false : hardwareBreakpoints.ContainsKey(address) ? true : null;

    /// <summary>Removes every breakpoint (detach, disconnect).</summary>
    public void ClearBreakpoints()
    {
        breakpoints.Clear();
        hardwareBreakpoints.Clear();
        cpu.ClearHostBreakpoints();
    }

    /// <summary>
    /// Makes the next run execute the instruction at CS:EIP even if a breakpoint is set there. A single step holds
    /// off external interrupts for that instruction (as QEMU's stub does by default), so it steps the code being
    /// debugged rather than entering an interrupt handler; the interrupt is taken after it.
    /// </summary>
    public void PrepareResume(bool step)
    {
        cpu.ResumeFromHostBreakpoint(LinearPc);
        if (step) cpu.InterruptShadow = true;
    }

    /// <summary>Sets EIP (a c or s packet with an address).</summary>
    public void SetEip(uint eip) => cpu.Eip = eip;

    public Machine Machine => machine;

    static void Le32(byte[] b, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b, v);

    /// <summary>
    /// The target description GDB reads through qXfer:features:read:target.xml (GDB manual, "Target Descriptions"
    /// and "i386 Features"): architecture i386 and the core feature with the register numbers above.
    /// </summary>
    public static readonly string TargetXml = BuildTargetXml();

    static string BuildTargetXml()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
        sb.Append("<architecture>i386</architecture>\n<feature name=\"org.gnu.gdb.i386.core\">\n");
        sb.Append("<flags id=\"i386_eflags\" size=\"4\">\n");
        foreach (var (name, bit) in new (string, int)[]
                 {
                     ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9), ("DF", 10), ("OF", 11),
                     ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21),
                 })
            sb.Append($"<field name=\"{name}\" start=\"{bit}\" end=\"{bit}\"/>\n");
        sb.Append("</flags>\n");
        string[] gprs = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
        for (int i = 0; i < 8; i++)
            sb.Append($"<reg name=\"{gprs[i]}\" bitsize=\"32\" type=\"{(i is 4 or 5 ? "data_ptr" : "int32")}\" regnum=\"{i}\"/>\n");
        sb.Append("<reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\" regnum=\"8\"/>\n");
        sb.Append("<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\" regnum=\"9\"/>\n");
        string[] segs = ["cs", "ss", "ds", "es", "fs", "gs"];
        for (int i = 0; i < 6; i++) sb.Append($"<reg name=\"{segs[i]}\" bitsize=\"32\" type=\"int32\" regnum=\"{10 + i}\"/>\n");
        for (int i = 0; i < 8; i++) sb.Append($"<reg name=\"st{i}\" bitsize=\"80\" type=\"i387_ext\" regnum=\"{16 + i}\"/>\n");
        string[] fpu = ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"];
        for (int i = 0; i < 8; i++) sb.Append($"<reg name=\"{fpu[i]}\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"{24 + i}\"/>\n");
        sb.Append("</feature>\n</target>\n");
        return sb.ToString();
    }
}
