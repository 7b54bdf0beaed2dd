using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using JitVm.Cpu.Decoding;

namespace JitVm.Cpu.Instructions;

/// <summary>One element of a string instruction: reads/writes it, steps the pointers it uses.</summary>
/// <remarks>
/// An element does all its memory and port accesses before it changes a register, so a fault leaves the
/// registers as they were before the element (the state a REP resumes from).
/// </remarks>
internal interface IStringOp
{
    /// <summary>CMPS/SCAS: the REPE/REPNE prefixes also stop on ZF.</summary>
    static abstract bool Compares { get; }

    /// <summary>Runs one element; returns the comparison result for CMPS/SCAS (zero when equal).</summary>
    /// <param name="mask">Address-size mask: 0xFFFF (SI/DI) or 0xFFFFFFFF (ESI/EDI).</param>
    /// <param name="delta">Pointer step: ± the element size by DF.</param>
    static abstract uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize;

    /// <summary>
    /// 80286 only: turns the registers left by a faulting element (those before it) into what the 286 leaves.
    /// See <see cref="Strings"/> for the rule; <paramref name="count"/> is the REP count before the element
    /// (0 without a REP prefix).
    /// </summary>
    static abstract void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize;

    /// <summary>
    /// Runs up to <paramref name="max"/> elements of a repeated instruction going up (DF clear) at once, when they
    /// cannot fault or touch anything but plain memory: every access inside its segment's limit and inside one page
    /// whose TLB entry serves it without the slow path (so no MMIO, no page holding code), source and destination
    /// not overlapping. Commits the pointers and returns the elements done (0: take the element-by-element path).
    /// </summary>
    static virtual uint Bulk<S>(Processor c, ref Insn i, uint mask, uint max) where S : IOperandSize => 0;
}

/// <summary>MOVS: [ES:DI] = [seg:SI].</summary>
internal struct MovsOp : IStringOp
{
    public static bool Compares => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        uint si = c.Esi, di = c.Edi;
        S.Write(c, SegReg.ES, di & mask, S.Read(c, i.Seg, si & mask));
        c.Esi = Strings.Step(si, mask, delta);
        c.Edi = Strings.Step(di, mask, delta);
        return 0;
    }

    public static uint Bulk<S>(Processor c, ref Insn i, uint mask, uint max) where S : IOperandSize
    {
        uint si = c.Esi & mask, di = c.Edi & mask;
        uint run = Strings.RunLength<S>(c, i.Seg, si, mask, max);
        run = Math.Min(run, Strings.RunLength<S>(c, SegReg.ES, di, mask, max));
        if (run == 0) return 0;
        int bytes = (int)run * S.Bytes;
        int src = c.FastRange(i.Seg, si, bytes, write: false);
        int dst = c.FastRange(SegReg.ES, di, bytes, write: true);
        if (src < 0 || dst < 0 || (src < dst + bytes && dst < src + bytes)) return 0;
        c.Backing.AsSpan(src, bytes).CopyTo(c.Backing.AsSpan(dst, bytes));
        c.Esi = Strings.Step(c.Esi, mask, (uint)bytes);
        c.Edi = Strings.Step(c.Edi, mask, (uint)bytes);
        return run;
    }

    // Source first: a faulting source steps SI only; a faulting destination steps both and is a write.
    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        bool source = Strings.Faults(c, i.Seg, c.Esi & mask, S.Bytes, false);
        c.Esi = Strings.Step(c.Esi, mask, delta);
        if (!source) c.Edi = Strings.Step(c.Edi, mask, delta);
        Strings.Count286(c, mask, count, source ? Strings.ReadFault : Strings.WriteFault);
    }
}

/// <summary>CMPS: flags of [seg:SI] - [ES:DI].</summary>
internal struct CmpsOp : IStringOp
{
    public static bool Compares => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        uint si = c.Esi, di = c.Edi;
        uint a = S.Read(c, i.Seg, si & mask);
        uint b = S.Read(c, SegReg.ES, di & mask);
        uint r = (a - b) & S.Mask;
        c.Esi = Strings.Step(si, mask, delta);
        c.Edi = Strings.Step(di, mask, delta);
        c.SetLazy(FlagOp.Sub, a, b, r, S.Sign);
        return r;
    }

    // The 286 reads ES:DI first: a faulting destination steps DI only, a faulting source both.
    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        bool dest = Strings.Faults(c, SegReg.ES, c.Edi & mask, S.Bytes, false);
        c.Edi = Strings.Step(c.Edi, mask, delta);
        if (!dest) c.Esi = Strings.Step(c.Esi, mask, delta);
        Strings.Count286(c, mask, count, Strings.CompareFault);
    }
}

/// <summary>STOS: [ES:DI] = accumulator.</summary>
internal struct StosOp : IStringOp
{
    public static bool Compares => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        uint di = c.Edi;
        S.Write(c, SegReg.ES, di & mask, S.GetReg(c, Processor.EAX));
        c.Edi = Strings.Step(di, mask, delta);
        return 0;
    }

    public static uint Bulk<S>(Processor c, ref Insn i, uint mask, uint max) where S : IOperandSize
    {
        uint di = c.Edi & mask;
        uint run = Strings.RunLength<S>(c, SegReg.ES, di, mask, max);
        if (run == 0) return 0;
        int bytes = (int)run * S.Bytes;
        int dst = c.FastRange(SegReg.ES, di, bytes, write: true);
        if (dst < 0) return 0;
        var span = c.Backing.AsSpan(dst, bytes);
        uint v = S.GetReg(c, Processor.EAX);
        switch (S.Bytes)
        {
            case 1: span.Fill((byte)v); break;
            case 2: MemoryMarshal.Cast<byte, ushort>(span).Fill((ushort)v); break;
            default: MemoryMarshal.Cast<byte, uint>(span).Fill(v); break;
        }
        c.Edi = Strings.Step(c.Edi, mask, (uint)bytes);
        return run;
    }

    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        c.Edi = Strings.Step(c.Edi, mask, delta);
        Strings.Count286(c, mask, count, Strings.WriteFault);
    }
}

/// <summary>LODS: accumulator = [seg:SI].</summary>
internal struct LodsOp : IStringOp
{
    public static bool Compares => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        uint si = c.Esi;
        uint v = S.Read(c, i.Seg, si & mask);
        S.SetReg(c, Processor.EAX, v);
        c.Esi = Strings.Step(si, mask, delta);
        return 0;
    }

    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        c.Esi = Strings.Step(c.Esi, mask, delta);
        Strings.Count286(c, mask, count, Strings.ReadFault);
    }
}

/// <summary>SCAS: flags of accumulator - [ES:DI].</summary>
internal struct ScasOp : IStringOp
{
    public static bool Compares => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        uint di = c.Edi;
        uint a = S.GetReg(c, Processor.EAX);
        uint b = S.Read(c, SegReg.ES, di & mask);
        uint r = (a - b) & S.Mask;
        c.Edi = Strings.Step(di, mask, delta);
        c.SetLazy(FlagOp.Sub, a, b, r, S.Sign);
        return r;
    }

    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        c.Edi = Strings.Step(c.Edi, mask, delta);
        Strings.Count286(c, mask, count, Strings.CompareFault);
    }
}

/// <summary>INS: [ES:DI] = port DX.</summary>
internal struct InsOp : IStringOp
{
    public static bool Compares => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        c.CheckIoPermission((ushort)c.Edx, S.Bytes);
        uint di = c.Edi, off = di & mask;
        // Check the destination (segment and page) before the port read, so a faulting INS does not consume
        // device data. The 286 reads the port first.
        if (!c.Model.Is286) c.CheckWritable(SegReg.ES, off, S.Bytes);
        uint v = c.Io.In((ushort)c.Edx, S.Bytes);
        S.Write(c, SegReg.ES, off, v);
        c.Edi = Strings.Step(di, mask, delta);
        return 0;
    }

    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        c.Edi = Strings.Step(c.Edi, mask, delta);
        Strings.Count286(c, mask, count, Strings.WriteFault);
    }
}

/// <summary>OUTS: port DX = [seg:SI].</summary>
internal struct OutsOp : IStringOp
{
    public static bool Compares => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Element<S>(Processor c, ref Insn i, uint mask, uint delta) where S : IOperandSize
    {
        c.CheckIoPermission((ushort)c.Edx, S.Bytes);
        uint si = c.Esi;
        uint v = S.Read(c, i.Seg, si & mask);
        c.Io.Out((ushort)c.Edx, S.Bytes, v);
        c.Esi = Strings.Step(si, mask, delta);
        return 0;
    }

    public static void Fault286<S>(Processor c, ref Insn i, uint mask, uint delta, uint count) where S : IOperandSize
    {
        c.Esi = Strings.Step(c.Esi, mask, delta);
        Strings.Count286(c, mask, count, Strings.ReadFault);
    }
}

/// <summary>
/// MOVS CMPS STOS LODS SCAS INS OUTS with their REP/REPE/REPNE forms. The address size (the decoder's EaMask)
/// picks SI/DI/CX or ESI/EDI/ECX; with 16-bit addressing only the low words change and pointers wrap at 64 KiB.
/// </summary>
/// <remarks>
/// <para>
/// A repeated instruction commits each element (memory, then pointers and count) before starting the next, so
/// a fault part-way leaves the registers describing the elements done and EIP on the instruction: it restarts
/// where it stopped. At most <see cref="MaxElementsPerCall"/> elements run per call; with work left the handler
/// asks the dispatcher to run it again (<see cref="Processor.RepeatInstruction"/>), which lets interrupts in
/// between and keeps a huge count from stalling the machine. With TF set it runs one element per call, so the
/// single-step trap comes after each iteration, as on hardware.
/// </para>
/// <para>
/// The 80286 does not restore anything (hardware vectors: word accesses at offset FFFF raise #GP): its
/// microcode steps a pointer as it issues the access and takes the segment fault a few clocks later, so a
/// faulting element leaves stepped the pointer of every access it attempted, the failing one included. MOVS
/// accesses SI then DI; CMPS reads ES:DI first, then SI. Under REP the count is ahead too: the other forms count
/// an element down as it starts, and after a failed write (the last access of an element) the next element
/// has started before the fault is taken: one ahead after a failed read (MOVS source, LODS, OUTS), two (one
/// if that was the last element) after a failed write (MOVS destination, STOS, INS). CMPS/SCAS count down
/// after the comparison and are not ahead. The vectors show MOVS source, OUTS, INS and CMPS destination
/// faults under REP; the other cases follow from the same rule and are not confirmed by hardware data.
/// </para>
/// </remarks>
internal static unsafe class Strings
{
    internal const int MaxElementsPerCall = 4096;

    /// <summary>How far a 286 REP count has run ahead when an element faults (see the class remarks).</summary>
    internal const int ReadFault = 0, WriteFault = 1, CompareFault = 2;

    /// <summary>A pointer moved by <paramref name="delta"/> within the address size; bits above it are kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Step(uint p, uint mask, uint delta) => (p & ~mask) | ((p + delta) & mask);

    /// <summary>
    /// Elements (at most <paramref name="max"/>) from offset <paramref name="off"/> going up that stay inside the
    /// page of the first one and do not wrap the address size.
    /// </summary>
    internal static uint RunLength<S>(Processor c, int seg, uint off, uint mask, uint max) where S : IOperandSize
    {
        uint lin = c.Seg[seg].Base + off;
        ulong room = Math.Min((ulong)PhysicalMemoryPage - (lin & (PhysicalMemoryPage - 1)), (ulong)mask - off + 1);
        return (uint)Math.Min(max, room / (uint)S.Bytes);
    }

    const uint PhysicalMemoryPage = Core.PhysicalMemory.PageSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Delta<S>(Processor c) where S : IOperandSize => (c.Flags & Processor.FlagDF) != 0 ? (uint)-S.Bytes : (uint)S.Bytes;

    static void Run<Op, S>(Processor c, ref Insn i) where Op : IStringOp where S : IOperandSize
    {
        try
        {
            Execute<Op, S>(c, ref i);
        }
        catch (CpuFault) when (c.Model.Is286)
        {
            // Fault286 may probe the segment check of the access the 286 makes first; a probe that fails leaves
            // its details in the CPU's one fault object, which is then the fault rethrown: the 286's own.
            uint mask = i.EaMask;
            uint count = (i.Prefixes & (InsnPrefix.Rep | InsnPrefix.Repne)) != 0 ? c.Ecx & mask : 0;
            Op.Fault286<S>(c, ref i, mask, Delta<S>(c), count);
            throw;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Execute<Op, S>(Processor c, ref Insn i) where Op : IStringOp where S : IOperandSize
    {
        uint mask = i.EaMask;
        uint delta = Delta<S>(c);
        if ((i.Prefixes & (InsnPrefix.Rep | InsnPrefix.Repne)) == 0)
        {
            Op.Element<S>(c, ref i, mask, delta);
            return;
        }

        // The count is tested before each element (zero runs nothing); for CMPS/SCAS, ZF after each element:
        // REPE (F3) continues while equal, REPNE (F2) while not equal. Other instructions repeat under either.
        uint count = c.Ecx & mask;
        if (count == 0) return;
        bool whileEqual = (i.Prefixes & InsnPrefix.Rep) != 0;
        // One element per call while single-stepping or watching data, so the trap follows the element that raised it.
        int budget = (c.Flags & Processor.FlagTF) != 0 || c.DataBreakpointsArmed ? 1 : MaxElementsPerCall;
        // Plain copies and fills going up run a page at a time (not on the 286, whose faulting elements follow rules
        // of their own; not while single-stepping or watching data, which run one element per call anyway).
        // After an attempt that could not run (a page end, overlap, a slow page) a few elements go one by one first.
        bool bulk = budget > 1 && delta == (uint)S.Bytes && !c.Model.Is286;
        int wait = 0;
        while (true)
        {
            if (bulk && --wait < 0)
            {
                uint done = Op.Bulk<S>(c, ref i, mask, Math.Min(count, (uint)budget));
                if (done == 0) wait = 8;
                else
                {
                    count -= done;
                    c.Ecx = (c.Ecx & ~mask) | count;
                    if (count == 0) return;
                    budget -= (int)done;
                    if (budget == 0)
                    {
                        c.RepeatInstruction = true;
                        c.ExitBlock = true;
                        return;
                    }
                    continue;
                }
            }
            uint r = Op.Element<S>(c, ref i, mask, delta);
            count--;
            c.Ecx = (c.Ecx & ~mask) | count;
            if (count == 0) return;
            if (Op.Compares && (r == 0) != whileEqual) return;
            if (--budget == 0)
            {
                c.RepeatInstruction = true;
                c.ExitBlock = true;
                return;
            }
        }
    }

    /// <summary>Whether an access would raise a segment fault (probes with the CPU's own check, whose fault object it fills).</summary>
    internal static bool Faults(Processor c, int seg, uint off, int size, bool write)
    {
        try
        {
            c.CheckSegment(seg, off, size, write);
            return false;
        }
        catch (CpuFault)
        {
            return true;
        }
    }

    /// <summary>80286: the REP count after a faulting element (<paramref name="count"/> is 0 without REP).</summary>
    internal static void Count286(Processor c, uint mask, uint count, int kind)
    {
        if (count == 0 || kind == CompareFault) return;
        uint left = kind == WriteFault && count >= 2 ? count - 2 : count - 1;
        c.Ecx = (c.Ecx & ~mask) | left;
    }

    internal static void Register(HandlerTable t)
    {
        t.Add(Code.Movsb_m8_m8, &Run<MovsOp, Size8>);
        t.Add(Code.Movsw_m16_m16, &Run<MovsOp, Size16>);
        t.Add(Code.Movsd_m32_m32, &Run<MovsOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Cmpsb_m8_m8, &Run<CmpsOp, Size8>);
        t.Add(Code.Cmpsw_m16_m16, &Run<CmpsOp, Size16>);
        t.Add(Code.Cmpsd_m32_m32, &Run<CmpsOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Stosb_m8_AL, &Run<StosOp, Size8>);
        t.Add(Code.Stosw_m16_AX, &Run<StosOp, Size16>);
        t.Add(Code.Stosd_m32_EAX, &Run<StosOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Lodsb_AL_m8, &Run<LodsOp, Size8>);
        t.Add(Code.Lodsw_AX_m16, &Run<LodsOp, Size16>);
        t.Add(Code.Lodsd_EAX_m32, &Run<LodsOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Scasb_AL_m8, &Run<ScasOp, Size8>);
        t.Add(Code.Scasw_AX_m16, &Run<ScasOp, Size16>);
        t.Add(Code.Scasd_EAX_m32, &Run<ScasOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Insb_m8_DX, &Run<InsOp, Size8>);
        t.Add(Code.Insw_m16_DX, &Run<InsOp, Size16>);
        t.Add(Code.Insd_m32_DX, &Run<InsOp, Size32>, min: CpuGeneration.I386);
        t.Add(Code.Outsb_DX_m8, &Run<OutsOp, Size8>);
        t.Add(Code.Outsw_DX_m16, &Run<OutsOp, Size16>);
        t.Add(Code.Outsd_DX_m32, &Run<OutsOp, Size32>, min: CpuGeneration.I386);
    }
}
