namespace JitVm.Cpu;

/// <summary>Where an interrupt came from (affects what EIP is pushed and privilege checks in protected mode).</summary>
public enum InterruptSource
{
    /// <summary>A fault or trap raised by the processor.</summary>
    Exception,
    /// <summary>INT n, INT3, INTO.</summary>
    Software,
    /// <summary>INTR/NMI from outside.</summary>
    External,
}

public sealed partial class Processor
{
    /// <summary>Exceptions delivered so far, per vector (statistics and tests).</summary>
    public readonly long[] ExceptionCounts = new long[32];

    static bool IsContributory(int v) => v is CpuVectors.DE or CpuVectors.TS or CpuVectors.NP or CpuVectors.SS or CpuVectors.GP;

    /// <summary>
    /// Delivers an interrupt or exception. <see cref="Eip"/> must already hold the return address (the faulting
    /// instruction for faults, the next one for traps and INT n). An exception raised while delivering is
    /// combined per the double-fault rules (SDM vol. 3, table 6-5); a fault while delivering #DF shuts down.
    /// </summary>
    public void Interrupt(int vector, InterruptSource source, bool hasError = false, uint errorCode = 0)
    {
        uint savedEsp = Gpr[4];
        for (int attempt = 0; attempt < 4; attempt++)
        {
            try
            {
                if (source == InterruptSource.Exception && vector < ExceptionCounts.Length) ExceptionCounts[vector]++;
                DeliverOnce(vector, hasError, errorCode);
                Halted = false;
                return;
            }
            catch (CpuFault f)
            {
                Gpr[4] = savedEsp;
                if (vector == CpuVectors.DF)
                {
                    Shutdown = true;
                    return;
                }
                bool doubleFault = (IsContributory(vector) && IsContributory(f.Vector)) ||
                                   (vector == CpuVectors.PF && (IsContributory(f.Vector) || f.Vector == CpuVectors.PF));
                source = InterruptSource.Exception;
                if (doubleFault)
                {
                    vector = CpuVectors.DF;
                    hasError = true;
                    errorCode = 0;
                }
                else
                {
                    vector = f.Vector;
                    hasError = f.HasErrorCode;
                    errorCode = f.ErrorCode;
                }
            }
        }
        Shutdown = true;
    }

    void DeliverOnce(int vector, bool hasError, uint errorCode)
    {
        if (ProtectedMode) throw new EmulationStopException($"protected-mode interrupt delivery (vector {vector}) is not implemented yet");
        // Real mode: the IVT entry is a far pointer (offset, segment) at IDTR.base + 4·vector.
        uint entry = (uint)vector * 4;
        if (entry + 3 > Idtr.Limit) Fault(CpuVectors.GP, entry * 2 + 2);
        uint target = ReadSys32(Idtr.Base + entry);
        uint flags = GetEflags();
        Push16(flags);
        Push16(Seg[SegReg.CS].Selector);
        Push16(Eip);
        Flags = GetEflags() & ~(FlagIF | FlagTF | FlagAC | FlagRF);
        LazyOp = FlagOp.None;
        LoadSegmentReal(SegReg.CS, (ushort)(target >> 16));
        Eip = target & 0xFFFF;
    }

    /// <summary>Real-mode (and V86) segment load: base = selector · 16; the cached limit and attributes stay.</summary>
    public void LoadSegmentReal(int seg, ushort selector)
    {
        ref Segment s = ref Seg[seg];
        s.Selector = selector;
        s.Base = (uint)selector << 4;
    }
}

public sealed partial class Processor
{
    /// <summary>
    /// Loads a data or stack segment register the way MOV/POP/LDS do in the current mode. CS is loaded only by
    /// far transfers (<see cref="LoadCodeSegmentFar"/>).
    /// </summary>
    public void LoadSegment(int seg, ushort selector)
    {
        if (!ProtectedMode || V86Mode)
        {
            LoadSegmentReal(seg, selector);
            return;
        }
        throw new EmulationStopException("protected-mode segment loads are not implemented yet");
    }

    /// <summary>Far JMP/CALL/RET target: loads CS:EIP (real mode: no checks beyond the new EIP against the CS limit).</summary>
    public void LoadCodeSegmentFar(ushort selector, uint eip)
    {
        if (!ProtectedMode || V86Mode)
        {
            if (eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, 0);
            LoadSegmentReal(SegReg.CS, selector);
            Eip = eip;
            return;
        }
        throw new EmulationStopException("protected-mode far transfers are not implemented yet");
    }

    /// <summary>Sets EIP for a near transfer, checking the new value against the CS limit.</summary>
    public void NearJump(uint eip)
    {
        if (eip > Seg[SegReg.CS].Limit) Fault(CpuVectors.GP, 0);
        Eip = eip;
    }
}
