using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Reflection.Emit;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;

namespace JitVm.Jit.Translation;

/// <summary>
/// The typed emitter context one block is translated with. Every helper leaves the IL evaluation stack as it
/// found it, except those documented to push a value (Load*, Ea, Read, Condition...). It owns:
/// <list type="bullet">
/// <item>the guest registers as IL locals (all eight loaded in the prologue, written back at every exit and
/// around interpreted instructions);</item>
/// <item>the compile-time <see cref="FlagState"/> and the flag locals it refers to;</item>
/// <item>inline memory access: segment limit compare, TLB tag compare, direct host-array access, with a helper
/// call for everything else;</item>
/// <item>exits: each exit branches to a stub emitted after the body that commits registers, flags, EIP and the
/// instruction count; fault paths likewise restore the state as it was before the faulting instruction.</item>
/// </list>
/// </summary>
internal sealed class EmitContext
{
    public readonly ILGenerator IL;
    public readonly DecodedBlock Block;
    public readonly Region Region;
    public readonly Insn[] Insns;
    readonly int[] offsets;
    readonly Label[] memberLabels;
    /// <summary>Per member: the flags are read before being overwritten from its first instruction on.</summary>
    readonly bool[] flagsLiveIn;
    /// <summary>
    /// Per member: reached by exactly one edge of the region, from a member emitted before it (and not the entry,
    /// which the dispatcher enters too). Such an edge hands its compile-time flag state over instead of storing it.
    /// </summary>
    readonly bool[] singleEdge;
    readonly FlagState?[] handedOver;
    /// <summary>Member being emitted, and the index of its first instruction.</summary>
    int member, memberStart;

    readonly LocalBuilder[] regs = new LocalBuilder[8];
    /// <summary>Registers the body reads (loaded by the prologue) and writes (stored by the epilogues).</summary>
    uint usedRegs, writtenRegs;
    readonly Label loadRegisters;
    readonly LocalBuilder eip0, icount, state, tlbRef, exitEip, lin, entryRef;
    /// <summary>Guest RAM's fixed host address and length (the array is pinned and kept alive by the translation).</summary>
    readonly long backingAddress;
    readonly int backingLength;
    readonly Members.StateLayout L;
    readonly LocalBuilder fDst, fSrc, fRes, fCarry;
    /// <summary>With fDst, fSrc, fRes and fCarry, the flags of <see cref="FlagState.InLocals"/>: the lazy operation and sign bit.</summary>
    readonly LocalBuilder fOpDyn, fSignDyn;
    /// <summary>Used only inside one memory access (never a <see cref="Temp"/>: those belong to the emitters).</summary>
    readonly LocalBuilder hostIndex;
    /// <summary>A slow-path store of the current instruction ended the running block (zero otherwise; an exit follows when set).</summary>
    readonly LocalBuilder leaveAfter;
    readonly List<LocalBuilder> temps = new();
    readonly LocalBuilder exitRetired, exitStatus;
    readonly Dictionary<FlagState, Label> epilogues = new();
    readonly Dictionary<int, (Label Label, FlagState Flags)> faultStubs = new();
    FlagState instructionStartFlags = FlagState.InCpu;
    /// <summary>Segments assumed flat (see TranslationJob.FlatSegments), and those an access used that way (checked on entry).</summary>
    readonly int flatSegments;
    int flatUsed;
    /// <summary>Reads below this linear address (from TranslationJob.DirectReadStart) load RAM directly (0: none do), and whether one did (checked on entry).</summary>
    readonly uint directReadEnd;
    bool directUsed;

    public EmitContext(ILGenerator il, Region region, bool[] flagsLiveIn, bool[] singleEdge, bool stack32, byte[] backing, int flatSegments = 0, uint directReadEnd = 0)
    {
        this.flatSegments = flatSegments;
        // Never beyond the array (the end comes from the memory map, which only maps RAM pages inside it).
        this.directReadEnd = directReadEnd <= backing.Length && directReadEnd > TranslationJob.DirectReadStart + 4 ? directReadEnd : 0;
        IL = il;
        Region = region;
        Block = region.Entry;
        Insns = region.Insns;
        offsets = region.Offsets;
        this.flagsLiveIn = flagsLiveIn;
        this.singleEdge = singleEdge;
        handedOver = new FlagState?[region.Count];
        Stack32 = stack32;
        for (int r = 0; r < 8; r++) regs[r] = il.DeclareLocal(typeof(uint));
        eip0 = il.DeclareLocal(typeof(uint));
        icount = il.DeclareLocal(typeof(long));
        // One byref to the processor's register file; every other processor field is addressed from it by a fixed
        // offset (see Members.StateLayout), the TLB and guest RAM through byrefs to their first elements.
        state = il.DeclareLocal(typeof(byte).MakeByRefType());
        tlbRef = il.DeclareLocal(typeof(byte).MakeByRefType());
        unsafe
        {
            backingAddress = (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(backing));
        }
        backingLength = backing.Length;
        L = Members.Current;
        exitEip = il.DeclareLocal(typeof(uint));
        exitRetired = il.DeclareLocal(typeof(int));
        exitStatus = il.DeclareLocal(typeof(int));
        loadRegisters = il.DefineLabel();
        lin = il.DeclareLocal(typeof(uint));
        entryRef = il.DeclareLocal(typeof(byte).MakeByRefType());
        fDst = il.DeclareLocal(typeof(uint));
        fSrc = il.DeclareLocal(typeof(uint));
        fRes = il.DeclareLocal(typeof(uint));
        fCarry = il.DeclareLocal(typeof(uint));
        fOpDyn = il.DeclareLocal(typeof(int));
        fSignDyn = il.DeclareLocal(typeof(uint));
        hostIndex = il.DeclareLocal(typeof(int));
        leaveAfter = il.DeclareLocal(typeof(int));
        LoopHead = il.DefineLabel();
        memberLabels = new Label[region.Count];
        memberLabels[0] = LoopHead;
        for (int m = 1; m < region.Count; m++) memberLabels[m] = il.DefineLabel();
    }

    /// <summary>Starts member <paramref name="m"/> of the region: its label, and flags held by the processor (several edges may arrive).</summary>
    public void BeginMember(int m)
    {
        member = m;
        memberStart = Region.FirstInsn[m];
        if (m != 0) IL.MarkLabel(memberLabels[m]);
        // A member whose flags are read and which is not handed a state by its one edge gets them in the dynamic
        // flag locals: every edge into it (and, for the entry, the prologue) stores its own flags there.
        Flags = handedOver[m] ?? (flagsLiveIn[m] ? FlagState.InLocals : FlagState.InCpu);
    }

    /// <summary>Instructions of the current member retired once <paramref name="flatCount"/> instructions of the region's list are.</summary>
    int Local(int flatCount) => flatCount - memberStart;

    /// <summary>Index of the instruction being emitted.</summary>
    public int Index { get; private set; }

    public ref Insn Current => ref Insns[Index];

    /// <summary>What is known about the flags at this point of the body.</summary>
    public FlagState Flags { get; set; } = FlagState.InCpu;

    /// <summary>Whether the flags produced by the current instruction are read before being overwritten.</summary>
    public bool FlagsNeeded { get; set; } = true;

    /// <summary>The entry's first instruction, where the body starts.</summary>
    public Label LoopHead { get; }

    /// <summary>The block's stack segment is 32-bit (checked on entry; see <see cref="EmitPrologue"/>).</summary>
    public bool Stack32 { get; }

    /// <summary>The code segment is 32-bit (part of the cache key).</summary>
    public bool Code32 => (Block.Mode & BlockCache.ModeCode32) != 0;

    // ------------------------------------------------------------------ prologue

    /// <summary>
    /// Loads the registers and per-block facts. Called with a null processor the method returns at once, which
    /// lets the translator force RyuJIT to compile it before first use. A changed stack size bails out.
    /// </summary>
    public void EmitPrologue()
    {
        var go = IL.DefineLabel();
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Brtrue, go);
        IL.Emit(OpCodes.Ldc_I4_0);
        IL.Emit(OpCodes.Ret);
        IL.MarkLabel(go);
        Cpu();
        IL.Emit(OpCodes.Ldflda, Members.Gpr);
        IL.Emit(OpCodes.Stloc, state);

        var ok = IL.DefineLabel();
        SegmentField(SegReg.SS, Members.SegAttributesOffset);
        IL.Emit(OpCodes.Ldind_U2);
        IL.Emit(OpCodes.Ldc_I4, (int)Segment.AttrDb);
        IL.Emit(OpCodes.And);
        IL.Emit(Stack32 ? OpCodes.Brtrue : OpCodes.Brfalse, ok);
        IL.Emit(OpCodes.Ldc_I4, TranslatedExit.Bail);
        IL.Emit(OpCodes.Ret);
        IL.MarkLabel(ok);

        StateAddress(L.Eip); IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Stloc, eip0);
        if (Region.Count > 1) CheckExtent();
        StateAddress(L.InstructionCount); IL.Emit(OpCodes.Ldind_I8); IL.Emit(OpCodes.Stloc, icount);
        var fits = IL.DefineLabel();
        BudgetCheck(0, fits);
        IL.Emit(OpCodes.Ldc_I4, TranslatedExit.OutOfBudget);
        IL.Emit(OpCodes.Ret);
        IL.MarkLabel(fits);
        LoadMemoryState();
        // The registers the body uses are only known after it is emitted: they are loaded at the end of the
        // method (EmitStubs), which branches to the body.
        IL.Emit(OpCodes.Br, loadRegisters);
        IL.MarkLabel(LoopHead);
    }

    /// <summary>
    /// A region's other blocks are reached at eip0 + their offset: that must neither wrap nor pass the CS limit
    /// (the dispatcher checked only the entry block). Otherwise the method bails out and the interpreter runs.
    /// </summary>
    void CheckExtent()
    {
        var bail = IL.DefineLabel();
        var ok = IL.DefineLabel();
        if (Region.MinOffset < 0)
        {
            IL.Emit(OpCodes.Ldloc, eip0);
            Const((uint)-Region.MinOffset);
            IL.Emit(OpCodes.Blt_Un, bail);
        }
        // (ulong)eip0 + end - 1 <= min(CS limit, EIP mask)
        IL.Emit(OpCodes.Ldloc, eip0);
        IL.Emit(OpCodes.Conv_U8);
        IL.Emit(OpCodes.Ldc_I8, (long)Region.EndOffset - 1);
        IL.Emit(OpCodes.Add);
        var last = IL.DeclareLocal(typeof(ulong));
        IL.Emit(OpCodes.Stloc, last);
        IL.Emit(OpCodes.Ldloc, last);
        SegmentField(SegReg.CS, Members.SegLimitOffset);
        IL.Emit(OpCodes.Ldind_U4);
        IL.Emit(OpCodes.Conv_U8);
        IL.Emit(OpCodes.Bgt_Un, bail);
        IL.Emit(OpCodes.Ldloc, last);
        IL.Emit(OpCodes.Ldc_I8, Code32 ? 0xFFFFFFFFL : 0xFFFFL);
        IL.Emit(OpCodes.Ble_Un, ok);
        IL.MarkLabel(bail);
        IL.Emit(OpCodes.Ldc_I4, TranslatedExit.Bail);
        IL.Emit(OpCodes.Ret);
        IL.MarkLabel(ok);
    }

    void LoadMemoryState()
    {
        Cpu(); IL.Emit(OpCodes.Call, Members.GetTlb); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ldelema, typeof(TlbEntry)); IL.Emit(OpCodes.Stloc, tlbRef);

    }

    void LoadRegisters(uint mask)
    {
        for (int r = 0; r < 8; r++)
        {
            if ((mask & (1u << r)) == 0) continue;
            GprAddress(r);
            IL.Emit(OpCodes.Ldind_U4);
            IL.Emit(OpCodes.Stloc, regs[r]);
        }
    }

    void StoreRegisters(uint mask)
    {
        for (int r = 0; r < 8; r++)
        {
            if ((mask & (1u << r)) == 0) continue;
            GprAddress(r);
            IL.Emit(OpCodes.Ldloc, regs[r]);
            IL.Emit(OpCodes.Stind_I4);
        }
    }

    /// <summary>Writes the given registers' locals to the processor (before a helper that works on the processor's registers).</summary>
    public void SyncOut(params int[] indices)
    {
        uint m = 0;
        foreach (int r in indices) { Use(r); m |= 1u << r; }
        StoreRegisters(m);
    }

    /// <summary>Reloads the given registers' locals from the processor (after such a helper changed them).</summary>
    public void SyncIn(params int[] indices)
    {
        uint m = 0;
        foreach (int r in indices) { Def(r); m |= 1u << r; }
        LoadRegisters(m);
    }

    /// <summary>The local of register <paramref name="index"/>, noting that the body reads it.</summary>
    LocalBuilder Use(int index)
    {
        usedRegs |= 1u << index;
        return regs[index];
    }

    /// <summary>The local of register <paramref name="index"/>, noting that the body writes it (it is loaded too: partial writes keep bits).</summary>
    LocalBuilder Def(int index)
    {
        usedRegs |= 1u << index;
        writtenRegs |= 1u << index;
        return regs[index];
    }

    public void Cpu() => IL.Emit(OpCodes.Ldarg_1);

    /// <summary>Pushes the address of the processor field at <paramref name="offset"/> from the register file.</summary>
    void StateAddress(int offset)
    {
        IL.Emit(OpCodes.Ldloc, state);
        if (offset != 0)
        {
            IL.Emit(OpCodes.Ldc_I4, offset);
            IL.Emit(OpCodes.Add);
        }
    }

    void GprAddress(int r) => StateAddress(r * 4);

    /// <summary>Pushes the address of field <paramref name="fieldOffset"/> of segment register <paramref name="seg"/>'s cache.</summary>
    void SegmentField(int seg, int fieldOffset) => StateAddress(L.Seg + seg * Members.SegmentSize + fieldOffset);

    // ------------------------------------------------------------------ instructions

    /// <summary>Starts instruction <paramref name="index"/>: records the state a fault in it must restore.</summary>
    public void BeginInstruction(int index, bool flagsNeeded)
    {
        Index = index;
        WroteThroughSlowPath = false;
        FlagsNeeded = flagsNeeded;
        instructionStartFlags = Flags;
    }

    /// <summary>EIP of the current instruction (eip0 + offset) on the stack.</summary>
    public void LoadInstructionEip() => LoadEipPlus(offsets[Index]);

    /// <summary>EIP of the next instruction on the stack (wrapped to 16 bits in 16-bit code).</summary>
    public void LoadNextEip() => LoadEipPlus(offsets[Index] + Current.Length);

    void LoadEipPlus(int delta)
    {
        IL.Emit(OpCodes.Ldloc, eip0);
        if (delta != 0)
        {
            IL.Emit(OpCodes.Ldc_I4, delta);
            IL.Emit(OpCodes.Add);
        }
        if (!Code32) MaskTo(16);
    }

    /// <summary>
    /// A uint temporary; temporaries are reused across instructions, never held across one. By convention the
    /// emitters use 0-3, stack operations 4, branch targets 5, memory reads 6 (their result) and partial register
    /// stores 7.
    /// </summary>
    public LocalBuilder Temp(int k)
    {
        while (temps.Count <= k) temps.Add(IL.DeclareLocal(typeof(uint)));
        return temps[k];
    }

    public void Const(uint v) => IL.Emit(OpCodes.Ldc_I4, unchecked((int)v));

    /// <summary>Masks the value on the stack to <paramref name="bits"/> (no-op for 32).</summary>
    public void MaskTo(int bits)
    {
        if (bits == 8) IL.Emit(OpCodes.Conv_U1);
        else if (bits == 16) IL.Emit(OpCodes.Conv_U2);
    }

    // ------------------------------------------------------------------ registers

    /// <summary>Pushes a register operand given as a byte offset into the register file (AH..BH are offsets 1, 5, 9, 13).</summary>
    public void LoadReg(int off, int bits)
    {
        IL.Emit(OpCodes.Ldloc, Use(off >> 2));
        if (bits == 32) return;
        if (bits == 8 && (off & 1) != 0)
        {
            IL.Emit(OpCodes.Ldc_I4_8);
            IL.Emit(OpCodes.Shr_Un);
        }
        MaskTo(bits);
    }

    /// <summary>Stores the value on the stack into a register operand, keeping the bits the size does not cover.</summary>
    public void StoreReg(int off, int bits)
    {
        var r = Def(off >> 2);
        if (bits == 32)
        {
            IL.Emit(OpCodes.Stloc, r);
            return;
        }
        var t = Temp(7);
        IL.Emit(OpCodes.Stloc, t);
        uint keep;
        int shift = 0;
        if (bits == 16) keep = 0xFFFF0000;
        else if ((off & 1) != 0) { keep = 0xFFFF00FF; shift = 8; }
        else keep = 0xFFFFFF00;
        IL.Emit(OpCodes.Ldloc, r);
        Const(keep);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, t);
        MaskTo(bits);
        if (shift != 0)
        {
            IL.Emit(OpCodes.Ldc_I4, shift);
            IL.Emit(OpCodes.Shl);
        }
        IL.Emit(OpCodes.Or);
        IL.Emit(OpCodes.Stloc, r);
    }


    // ------------------------------------------------------------------ memory

    /// <summary>Pushes the effective address of the current instruction's memory operand.</summary>
    public void Ea()
    {
        ref Insn i = ref Current;
        bool any = false;
        if (i.Base != Processor.ZeroReg)
        {
            IL.Emit(OpCodes.Ldloc, Use(i.Base >> 2));
            any = true;
        }
        if (i.Index != Processor.ZeroReg)
        {
            IL.Emit(OpCodes.Ldloc, Use(i.Index >> 2));
            if (i.Scale != 0)
            {
                IL.Emit(OpCodes.Ldc_I4, (int)i.Scale);
                IL.Emit(OpCodes.Shl);
            }
            if (any) IL.Emit(OpCodes.Add);
            any = true;
        }
        if (!any) Const(i.Disp & i.EaMask);
        else
        {
            if (i.Disp != 0)
            {
                Const(i.Disp);
                IL.Emit(OpCodes.Add);
            }
            if (i.EaMask != 0xFFFFFFFF) MaskTo(16);
        }
    }

    /// <summary>Computes the memory operand's offset into <see cref="Temp"/>(3) (the emitters' offset temporary) and returns it.</summary>
    public LocalBuilder EffectiveAddress()
    {
        var off = Temp(3);
        Ea();
        IL.Emit(OpCodes.Stloc, off);
        return off;
    }

    /// <summary>
    /// Pushes the r/m operand: the memory operand (its offset left in <see cref="Temp"/>(3) for a store back) or
    /// register <paramref name="reg"/>, <paramref name="bits"/> wide.
    /// </summary>
    public void LoadRm(ref Insn i, int reg, int bits)
    {
        if (i.HasMemory) Read(i.Seg, bits / 8, EffectiveAddress());
        else LoadReg(reg, bits);
    }

    /// <summary>
    /// Pushes the <paramref name="bytes"/>-byte value at <paramref name="seg"/>:<paramref name="offset"/>: the
    /// segment's precomputed limit, then the TLB tag of the page of the last byte, then a direct read of the host
    /// array; otherwise the helper, whose fault leaves through this instruction's fault path.
    /// </summary>
    public void Read(int seg, int bytes, LocalBuilder offset)
    {
        var slow = IL.DefineLabel();
        var done = IL.DefineLabel();
        var result = Temp(6);
        LimitCheck(seg, bytes, offset, write: false, slow);
        if (directReadEnd != 0) DirectAddress(bytes, slow);
        else
        {
            TlbCheck(bytes, Members.TlbReadTagOffset, slow);
            HostAddress(bytes, slow);
        }
        switch (bytes)
        {
            case 1: IL.Emit(OpCodes.Ldind_U1); break;
            case 2: IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Ldind_U2); break;
            default: IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Ldind_U4); break;
        }
        IL.Emit(OpCodes.Stloc, result);
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(slow);
        Cpu();
        IL.Emit(OpCodes.Ldc_I4, seg);
        IL.Emit(OpCodes.Ldloc, offset);
        IL.Emit(OpCodes.Call, Members.Helper(bytes == 1 ? nameof(JitHelpers.Read8) : bytes == 2 ? nameof(JitHelpers.Read16) : nameof(JitHelpers.Read32)));
        IL.Emit(OpCodes.Stloc, result);
        FaultCheck();
        IL.MarkLabel(done);
        IL.Emit(OpCodes.Ldloc, result);
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="seg"/>:<paramref name="offset"/> (fast path as for reads, with the write tag).</summary>
    public void Write(int seg, int bytes, LocalBuilder offset, LocalBuilder value)
    {
        var slow = IL.DefineLabel();
        var done = IL.DefineLabel();
        LimitCheck(seg, bytes, offset, write: true, slow);
        TlbCheck(bytes, Members.TlbWriteTagOffset, slow);
        HostAddress(bytes, slow);
        IL.Emit(OpCodes.Ldloc, value);
        switch (bytes)
        {
            case 1: IL.Emit(OpCodes.Stind_I1); break;
            case 2: IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I2); break;
            default: IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I4); break;
        }
        // The instruction's first store clears the local on its fast path too: RyuJIT then sees the constant on that
        // path and threads it past the test in EndInstruction (a later store must not clear what an earlier one set).
        if (!WroteThroughSlowPath)
        {
            IL.Emit(OpCodes.Ldc_I4_0);
            IL.Emit(OpCodes.Stloc, leaveAfter);
        }
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(slow);
        Cpu();
        IL.Emit(OpCodes.Ldc_I4, seg);
        IL.Emit(OpCodes.Ldloc, offset);
        IL.Emit(OpCodes.Ldloc, value);
        IL.Emit(OpCodes.Call, Members.Helper(bytes == 1 ? nameof(JitHelpers.Write8) : bytes == 2 ? nameof(JitHelpers.Write16) : nameof(JitHelpers.Write32)));
        FaultCheck();
        // Only slow-path stores can hit decoded code (pages holding code never get a write TLB entry): such a store
        // notes in a local whether it ended the running block, and the end of the instruction looks at the local
        // (the fast path never touches it, so it costs a register test there).
        StateAddress(L.ExitBlock);
        IL.Emit(OpCodes.Ldind_U1);
        IL.Emit(OpCodes.Stloc, leaveAfter);
        WroteThroughSlowPath = true;
        IL.MarkLabel(done);
    }

    /// <summary>The current instruction emitted a slow-path store (it may have overwritten this block).</summary>
    public bool WroteThroughSlowPath { get; private set; }

    /// <summary>
    /// After an instruction that may have written over decoded code: if the write invalidated the running block
    /// (the processor's ExitBlock), leave with EIP at the next instruction, so the change takes effect there.
    /// </summary>
    public void EndInstruction()
    {
        if (!WroteThroughSlowPath) return;
        WroteThroughSlowPath = false;
        var go = IL.DefineLabel();
        IL.Emit(OpCodes.Ldloc, leaveAfter);
        IL.Emit(OpCodes.Brfalse, go);
        LoadNextEip();
        Exit(Index + 1, 2);
        IL.MarkLabel(go);
    }

    // (long)offset > limit → slow path (which applies the full rules and raises the fault). A flat segment has no
    // limit short of 4 GiB and base 0: the linear address is the offset (an access that wraps past FFFFFFFFh fails
    // the TLB tag compare, whose page is that of the last byte, and the slow path handles it).
    void LimitCheck(int seg, int bytes, LocalBuilder offset, bool write, Label slow)
    {
        if ((flatSegments & (1 << seg)) != 0)
        {
            flatUsed |= 1 << seg;
            IL.Emit(OpCodes.Ldloc, offset);
            IL.Emit(OpCodes.Stloc, lin);
            return;
        }
        IL.Emit(OpCodes.Ldloc, offset);
        IL.Emit(OpCodes.Conv_U8);
        SegmentField(seg, (write ? Members.SegWriteLimitOffset : Members.SegReadLimitOffset)[bytes - 1]);
        IL.Emit(OpCodes.Ldind_I8);
        IL.Emit(OpCodes.Bgt, slow);
        SegmentField(seg, Members.SegBaseOffset);
        IL.Emit(OpCodes.Ldind_U4);
        IL.Emit(OpCodes.Ldloc, offset);
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Stloc, lin);
    }

    // entry = tlb[(lin >> 12) & 1023] (the index is masked to the table size); its tag must equal the page of the
    // access's last byte, which also rejects accesses crossing into the next page.
    void TlbCheck(int bytes, int tagOffset, Label slow)
    {
        IL.Emit(OpCodes.Ldloc, tlbRef);
        IL.Emit(OpCodes.Ldloc, lin);
        if (Members.TlbEntrySize == 16)
        {
            // ((lin >> 12) & (size - 1)) * 16 in one shift and one mask, zero-extended to a native offset.
            IL.Emit(OpCodes.Ldc_I4_8);
            IL.Emit(OpCodes.Shr_Un);
            IL.Emit(OpCodes.Ldc_I4, (Processor.TlbSize - 1) << 4);
            IL.Emit(OpCodes.And);
            IL.Emit(OpCodes.Conv_U);
        }
        else
        {
            IL.Emit(OpCodes.Ldc_I4_S, (sbyte)12);
            IL.Emit(OpCodes.Shr_Un);
            IL.Emit(OpCodes.Ldc_I4, Processor.TlbSize - 1);
            IL.Emit(OpCodes.And);
            IL.Emit(OpCodes.Ldc_I4, Members.TlbEntrySize);
            IL.Emit(OpCodes.Mul);
        }
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Stloc, entryRef);
        IL.Emit(OpCodes.Ldloc, entryRef);
        if (tagOffset != 0)
        {
            IL.Emit(OpCodes.Ldc_I4, tagOffset);
            IL.Emit(OpCodes.Add);
        }
        IL.Emit(OpCodes.Ldind_U4);
        IL.Emit(OpCodes.Ldloc, lin);
        if (bytes > 1)
        {
            IL.Emit(OpCodes.Ldc_I4, bytes - 1);
            IL.Emit(OpCodes.Add);
        }
        Const(~0xFFFu);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Bne_Un, slow);
    }

    // &backing[lin + entry.Addend], with the index checked against the array (a stale or corrupt TLB entry can
    // never reach outside guest RAM; the check costs one compare).
    void HostAddress(int bytes, Label slow)
    {
        var index = hostIndex;
        IL.Emit(OpCodes.Ldloc, entryRef);
        IL.Emit(OpCodes.Ldc_I4, Members.TlbAddendOffset);
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Ldind_I4);
        IL.Emit(OpCodes.Ldloc, lin);
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Stloc, index);
        IL.Emit(OpCodes.Ldloc, index);
        IL.Emit(OpCodes.Ldc_I4, backingLength - bytes);
        IL.Emit(OpCodes.Bgt_Un, slow);
        IL.Emit(OpCodes.Ldc_I8, backingAddress);
        IL.Emit(OpCodes.Conv_I);
        IL.Emit(OpCodes.Ldloc, index);
        IL.Emit(OpCodes.Conv_U);                               // checked non-negative above
        IL.Emit(OpCodes.Add);
    }

    // &backing[lin] when the access lies inside [DirectReadStart, directReadEnd) (paging off: linear = physical, and
    // RAM there sits at its own address in the array); otherwise the slow path. One subtraction and one unsigned
    // compare cover both bounds: below the start the difference wraps to a large value.
    void DirectAddress(int bytes, Label slow)
    {
        directUsed = true;
        IL.Emit(OpCodes.Ldloc, lin);
        Const(TranslationJob.DirectReadStart);
        IL.Emit(OpCodes.Sub);
        Const(directReadEnd - TranslationJob.DirectReadStart - (uint)bytes);
        IL.Emit(OpCodes.Bgt_Un, slow);
        IL.Emit(OpCodes.Ldc_I8, backingAddress);
        IL.Emit(OpCodes.Conv_I);
        IL.Emit(OpCodes.Ldloc, lin);
        IL.Emit(OpCodes.Conv_U);
        IL.Emit(OpCodes.Add);
    }

    // ------------------------------------------------------------------ stack

    /// <summary>Pushes a string instruction's pointer step: -<paramref name="bytes"/> when DF is set, else +<paramref name="bytes"/>.</summary>
    public void LoadStringDelta(int bytes)
    {
        var up = IL.DefineLabel();
        var done = IL.DefineLabel();
        StateAddress(L.Flags);
        IL.Emit(OpCodes.Ldind_U4);
        Const(Processor.FlagDF);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Brfalse, up);
        IL.Emit(OpCodes.Ldc_I4, -bytes);
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(up);
        IL.Emit(OpCodes.Ldc_I4, bytes);
        IL.MarkLabel(done);
    }

    /// <summary>Pushes the stack pointer moved by <paramref name="delta"/> (SP wraps at 64 KiB on a 16-bit stack).</summary>
    public void StackOffset(int delta)
    {
        IL.Emit(OpCodes.Ldloc, Use(4));
        if (delta != 0)
        {
            IL.Emit(OpCodes.Ldc_I4, delta);
            IL.Emit(OpCodes.Add);
        }
        if (!Stack32) MaskTo(16);
    }

    /// <summary>Commits a new stack pointer (only SP's low word on a 16-bit stack).</summary>
    public void SetStackPointer(LocalBuilder offset)
    {
        var sp = Def(4);
        if (Stack32)
        {
            IL.Emit(OpCodes.Ldloc, offset);
            IL.Emit(OpCodes.Stloc, sp);
            return;
        }
        IL.Emit(OpCodes.Ldloc, sp);
        Const(0xFFFF0000);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, offset);
        IL.Emit(OpCodes.Or);
        IL.Emit(OpCodes.Stloc, sp);
    }

    /// <summary>PUSH of <paramref name="value"/>: the store (which may fault) comes before the stack pointer changes.</summary>
    public void Push(int bytes, LocalBuilder value)
    {
        var off = Temp(4);
        StackOffset(-bytes);
        IL.Emit(OpCodes.Stloc, off);
        Write(SegReg.SS, bytes, off, value);
        SetStackPointer(off);
    }

    /// <summary>Reads the top of the stack (at <paramref name="depth"/> bytes below the top) without popping; pushes it.</summary>
    public void Peek(int bytes, int depth = 0)
    {
        var off = Temp(4);
        StackOffset(depth);
        IL.Emit(OpCodes.Stloc, off);
        Read(SegReg.SS, bytes, off);
    }

    /// <summary>Moves the stack pointer by <paramref name="delta"/> bytes.</summary>
    public void AdjustStack(int delta)
    {
        var off = Temp(4);
        StackOffset(delta);
        IL.Emit(OpCodes.Stloc, off);
        SetStackPointer(off);
    }

    // ------------------------------------------------------------------ branches

    /// <summary>
    /// A direct near transfer to <paramref name="targetOffset"/> bytes from the start of the current instruction's
    /// block (truncated to the operand size): a target that starts a member of the region is an IL branch (see
    /// <see cref="Edge"/>); other targets are checked against the CS limit (#GP(0)) and leave the method.
    /// <paramref name="commit"/> emits the instruction's other effects (pushing the return address, updating the
    /// counter) after the check and before the transfer.
    /// </summary>
    public void JumpToOffset(long targetOffset, int operandBits, int status, Action? commit = null)
    {
        long regionTarget = Region.ByteOffsets[member] + targetOffset;
        int target = operandBits >= (Code32 ? 32 : 16) ? Region.MemberAt(regionTarget) : -1;
        if (target >= 0)
        {
            commit?.Invoke();
            Edge(target, status);
            return;
        }
        var t = Temp(5);
        IL.Emit(OpCodes.Ldloc, eip0);
        IL.Emit(OpCodes.Ldc_I4, unchecked((int)regionTarget));
        IL.Emit(OpCodes.Add);
        if (operandBits == 16) MaskTo(16);
        IL.Emit(OpCodes.Stloc, t);
        // Targets inside the block (or, for a region, inside the extent its prologue checked) are within the limit.
        bool checkedExtent = Region.Count > 1
            ? regionTarget >= Region.MinOffset && regionTarget < Region.EndOffset
            : targetOffset >= 0 && targetOffset < Block.ByteLength;
        if (!checkedExtent) CheckNearTarget(t);
        commit?.Invoke();
        IL.Emit(OpCodes.Ldloc, t);
        Exit(Index + 1, status);
    }

    /// <summary>Continues at the instruction after the current one: inside the region when a member starts there, else an exit (status 0).</summary>
    public void ContinueAtNext()
    {
        int target = Region.MemberAt(offsets[Index] + Current.Length);
        if (target >= 0)
        {
            Edge(target, 0);
            return;
        }
        LoadNextEip();
        Exit(Index + 1, 0);
    }

    /// <summary>
    /// A near return to the EIP in <paramref name="target"/> (already checked against the CS limit): to a return
    /// site of a call in this region, an IL branch; anywhere else, an exit (status 2).
    /// </summary>
    public void Return(LocalBuilder target)
    {
        foreach (int site in Region.ReturnSites)
        {
            var other = IL.DefineLabel();
            IL.Emit(OpCodes.Ldloc, target);
            LoadEipPlus(Region.ByteOffsets[site]);
            IL.Emit(OpCodes.Bne_Un, other);
            Edge(site, 2);
            IL.MarkLabel(other);
        }
        IL.Emit(OpCodes.Ldloc, target);
        Exit(Index + 1, 2);
    }

    /// <summary>
    /// An IL branch to member <paramref name="target"/> after the current instruction completed: the flags are
    /// stored if the target reads them, the member's retired instructions are counted, and an edge to a block at
    /// or before the current one (every loop has one) leaves instead when the run's budget is used up.
    /// </summary>
    void Edge(int target, int status)
    {
        // The code after an edge is reached from elsewhere (a Jcc's other way): what is flushed here is not flushed there.
        var before = Flags;
        EdgeBody(target, status);
        Flags = before;
    }

    void EdgeBody(int target, int status)
    {
        if (singleEdge[target] && target > member) handedOver[target] = Flags;
        else if (flagsLiveIn[target]) ToDynamic();
        IL.Emit(OpCodes.Ldloc, icount);
        IL.Emit(OpCodes.Ldc_I8, (long)Local(Index + 1));
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Stloc, icount);
        if (Region.ByteOffsets[target] > Region.ByteOffsets[member])
        {
            IL.Emit(OpCodes.Br, memberLabels[target]);
            return;
        }
        // A backward edge continues only if the longest run it can start before the next backward edge or exit
        // fits in the run's budget (see BudgetCheck); otherwise it leaves, and the dispatcher finishes the slice.
        LoopEmitted = true;
        BudgetCheck(target, memberLabels[target]);
        LoadEipPlus(Region.ByteOffsets[target]);
        ExitRaw(0, status);
    }

    /// <summary>
    /// Branches to <paramref name="fits"/> when the instructions member <paramref name="target"/> can run before
    /// reaching a backward edge or an exit fit in the run's budget (<c>Processor.RunLimit</c>). Forward edges go to
    /// strictly higher offsets, so such a run visits each member at or after the target at most once: their total
    /// length bounds it. With this check at the entry and on backward edges, forward edges need none, and a slice
    /// ends at exactly its budget in every engine (the dispatcher runs what is left of it in the interpreter).
    /// </summary>
    void BudgetCheck(int target, Label fits)
    {
        int bound = 0;
        for (int m = 0; m < Region.Count; m++)
            if (Region.ByteOffsets[m] >= Region.ByteOffsets[target]) bound += Region.EndInsn(m) - Region.FirstInsn[m];
        IL.Emit(OpCodes.Ldloc, icount);
        IL.Emit(OpCodes.Ldc_I8, (long)bound);
        IL.Emit(OpCodes.Add);
        StateAddress(L.RunLimit);
        IL.Emit(OpCodes.Ldind_I8);
        IL.Emit(OpCodes.Ble, fits);
    }

    /// <summary>#GP(0) from the current instruction when the near target in <paramref name="target"/> is beyond the CS limit.</summary>
    public void CheckNearTarget(LocalBuilder target)
    {
        var ok = IL.DefineLabel();
        IL.Emit(OpCodes.Ldloc, target);
        SegmentField(SegReg.CS, Members.SegLimitOffset);
        IL.Emit(OpCodes.Ldind_U4);
        IL.Emit(OpCodes.Ble_Un, ok);
        RaiseFault(CpuVectors.GP, 0, true);
        IL.MarkLabel(ok);
    }

    // ------------------------------------------------------------------ faults and exits

    /// <summary>After a helper call: leave through this instruction's fault path if it recorded a fault.</summary>
    public void FaultCheck()
    {
        StateAddress(L.FaultPending);
        IL.Emit(OpCodes.Ldind_U1);
        IL.Emit(OpCodes.Brtrue, FaultLabel());
    }

    /// <summary>Raises <paramref name="vector"/> from the current instruction (state as before it).</summary>
    public void RaiseFault(int vector, uint error, bool hasError)
    {
        Cpu();
        IL.Emit(OpCodes.Ldc_I4, vector);
        Const(error);
        IL.Emit(hasError ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
        IL.Emit(OpCodes.Call, Members.Helper(nameof(JitHelpers.Fault)));
        IL.Emit(OpCodes.Br, FaultLabel());
    }

    Label FaultLabel()
    {
        if (!faultStubs.TryGetValue(Index, out var stub))
        {
            stub = (IL.DefineLabel(), instructionStartFlags);
            faultStubs[Index] = stub;
        }
        return stub.Label;
    }

    /// <summary>
    /// Leaves the block with the EIP on the stack, after <paramref name="retired"/> instructions of this pass
    /// have completed, returning <paramref name="status"/> (the exit's index). Exits share one epilogue per flag
    /// state, which commits the registers the block writes, the flags, EIP and the instruction count.
    /// </summary>
    public void Exit(int retired, int status) => ExitRaw(Local(retired), status);

    /// <summary><see cref="Exit"/> with the count of the current member's instructions retired.</summary>
    void ExitRaw(int retired, int status)
    {
        IL.Emit(OpCodes.Stloc, exitEip);
        IL.Emit(OpCodes.Ldc_I4, retired);
        IL.Emit(OpCodes.Stloc, exitRetired);
        IL.Emit(OpCodes.Ldc_I4, status);
        IL.Emit(OpCodes.Stloc, exitStatus);
        IL.Emit(OpCodes.Br, Epilogue(Flags));
    }

    Label Epilogue(FlagState flags)
    {
        if (!epilogues.TryGetValue(flags, out var label)) epilogues[flags] = label = IL.DefineLabel();
        return label;
    }

    /// <summary>A branch back to a block at or before its source (a loop) was emitted inside the method.</summary>
    public bool LoopEmitted { get; private set; }

    /// <summary>Emits the fault paths, the shared epilogues and the register-loading prologue tail (after the body).</summary>
    public void EmitStubs()
    {
        // A fault: state as before the instruction, EIP on it, its predecessors retired.
        foreach (var (index, (label, flags)) in faultStubs)
        {
            IL.MarkLabel(label);
            LoadEipPlus(offsets[index]);
            IL.Emit(OpCodes.Stloc, exitEip);
            IL.Emit(OpCodes.Ldc_I4, index - Region.FirstInsn[Region.MemberOf[index]]);
            IL.Emit(OpCodes.Stloc, exitRetired);
            IL.Emit(OpCodes.Ldc_I4, TranslatedExit.Fault);
            IL.Emit(OpCodes.Stloc, exitStatus);
            IL.Emit(OpCodes.Br, Epilogue(flags));
        }
        // One commit sequence for every exit: each flag state first stores its own flags, then joins it (the IL,
        // and with it RyuJIT's time, grows with every copy of the register stores).
        var commit = IL.DefineLabel();
        foreach (var (flags, label) in epilogues)
        {
            IL.MarkLabel(label);
            FlushFlags(flags);
            IL.Emit(OpCodes.Br, commit);
        }
        if (epilogues.Count > 0)
        {
            IL.MarkLabel(commit);
            StoreRegisters(writtenRegs);
            StateAddress(L.Eip); IL.Emit(OpCodes.Ldloc, exitEip); IL.Emit(OpCodes.Stind_I4);
            StateAddress(L.InstructionCount);
            IL.Emit(OpCodes.Ldloc, icount);
            IL.Emit(OpCodes.Ldloc, exitRetired);
            IL.Emit(OpCodes.Conv_I8);
            IL.Emit(OpCodes.Add);
            IL.Emit(OpCodes.Stind_I8);
            IL.Emit(OpCodes.Ldloc, exitStatus);
            IL.Emit(OpCodes.Ret);
        }
        IL.MarkLabel(loadRegisters);
        if (flatUsed != 0 || directUsed)
        {
            var bail = IL.DefineLabel();
            var holds = IL.DefineLabel();
            // The segments the body reaches as flat must still be (Segment.IsFlat): base 0 and a 4 GiB writable limit.
            for (int s = 0; s < 6; s++)
            {
                if ((flatUsed & (1 << s)) == 0) continue;
                SegmentField(s, Members.SegBaseOffset);
                IL.Emit(OpCodes.Ldind_U4);
                IL.Emit(OpCodes.Brtrue, bail);
                SegmentField(s, Members.SegWriteLimitOffset[3]);
                IL.Emit(OpCodes.Ldind_I8);
                IL.Emit(OpCodes.Ldc_I8, Segment.FlatWriteLimit4);
                IL.Emit(OpCodes.Bne_Un, bail);
            }
            if (directUsed)
            {
                // Direct reads need linear = physical: paging still off and the A20 gate still open.
                Cpu();
                IL.Emit(OpCodes.Ldfld, Members.Cr0);
                Const(Processor.Cr0PG);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Brtrue, bail);
                Cpu();
                IL.Emit(OpCodes.Call, Members.GetPhysicalAddressMask);
                IL.Emit(OpCodes.Ldc_I4_M1);
                IL.Emit(OpCodes.Bne_Un, bail);
            }
            IL.Emit(OpCodes.Br, holds);
            IL.MarkLabel(bail);
            IL.Emit(OpCodes.Ldc_I4, TranslatedExit.Bail);
            IL.Emit(OpCodes.Ret);
            IL.MarkLabel(holds);
        }
        LoadRegisters(usedRegs);
        if (flagsLiveIn[0]) LoadDynamicFlags();
        IL.Emit(OpCodes.Br, LoopHead);
    }

    void StoreCount(int retired)
    {
        StateAddress(L.InstructionCount);
        IL.Emit(OpCodes.Ldloc, icount);
        if (retired != 0)
        {
            IL.Emit(OpCodes.Ldc_I8, (long)retired);
            IL.Emit(OpCodes.Add);
        }
        IL.Emit(OpCodes.Stind_I8);
    }

    // ------------------------------------------------------------------ interpreted instructions

    /// <summary>
    /// Runs the current instruction's interpreter handler: registers and flags are written back first and
    /// reloaded after; a fault leaves through the fault path; a handler that sets EIP or asks to end the block
    /// ends it here. Returns true when the emitted code continues with the next instruction.
    /// </summary>
    public void Interpret(bool setsEip, int retiredBefore)
    {
        // The handler may read or write any register.
        usedRegs = writtenRegs = 0xFF;
        StoreRegisters(0xFF);
        FlushFlags();
        StateAddress(L.Eip); LoadInstructionEip(); IL.Emit(OpCodes.Stind_I4);
        // Keep the instruction count exact for handlers that read it (RDTSC).
        StoreCount(Local(retiredBefore));
        Cpu();
        IL.Emit(OpCodes.Ldarg_0);
        IL.Emit(OpCodes.Ldfld, Members.BlockInsns);
        IL.Emit(OpCodes.Ldc_I4, Index);
        IL.Emit(OpCodes.Call, Members.Helper(nameof(JitHelpers.Interpret)));
        // A fault: the handler committed nothing, and registers/flags are already in the processor.
        var noFault = IL.DefineLabel();
        StateAddress(L.FaultPending);
        IL.Emit(OpCodes.Ldind_U1);
        IL.Emit(OpCodes.Brfalse, noFault);
        IL.Emit(OpCodes.Ldc_I4, TranslatedExit.Fault);
        IL.Emit(OpCodes.Ret);
        IL.MarkLabel(noFault);
        LoadMemoryState();
        LoadRegisters(0xFF);
        Flags = FlagState.InCpu;
        if (setsEip)
        {
            StateAddress(L.Eip);
            IL.Emit(OpCodes.Ldind_U4);
            Exit(retiredBefore + 1, 2);
            return;
        }
        var go = IL.DefineLabel();
        StateAddress(L.ExitBlock);
        IL.Emit(OpCodes.Ldind_U1);
        IL.Emit(OpCodes.Brfalse, go);
        // The handler ended the block (self-modification, mode change, unfinished REP): EIP per its request.
        Cpu();
        LoadInstructionEip();
        LoadNextEip();
        IL.Emit(OpCodes.Call, Members.Helper(nameof(JitHelpers.FinishExitBlock)));
        StateAddress(L.Eip);
        IL.Emit(OpCodes.Ldind_U4);
        Exit(retiredBefore + 1, 2);
        IL.MarkLabel(go);
    }

    // ------------------------------------------------------------------ flags

    /// <summary>The current instruction's flags are never read (see <see cref="FlagsNeeded"/>): nothing to record or store.</summary>
    public void FlagsDead() => Flags = new FlagState { Known = true, Flushed = true, Op = FlagOp.Logic, Bits = 32 };

    /// <summary>
    /// Records an inline flag producer (its operands must be in the values passed, already masked; for a shift,
    /// <paramref name="src"/> holds <paramref name="count"/>, 1-31).
    /// </summary>
    public void SetFlags(FlagOp op, int bits, LocalBuilder? dst, LocalBuilder? src, LocalBuilder res, int count = 0)
    {
        if (!FlagsNeeded)
        {
            // Nothing reads these flags before they are overwritten: record no state at all. The processor's
            // fields are not rewritten either, which is fine because they are dead too.
            FlagsDead();
            return;
        }
        if (op is FlagOp.Inc or FlagOp.Dec)
        {
            // INC/DEC keep CF: capture the current CF before the flag locals are overwritten.
            LoadCarry();
            IL.Emit(OpCodes.Stloc, fCarry);
        }
        if (dst is not null) { IL.Emit(OpCodes.Ldloc, dst); IL.Emit(OpCodes.Stloc, fDst); }
        if (src is not null) { IL.Emit(OpCodes.Ldloc, src); IL.Emit(OpCodes.Stloc, fSrc); }
        IL.Emit(OpCodes.Ldloc, res);
        IL.Emit(OpCodes.Stloc, fRes);
        Flags = new FlagState { Known = true, Op = op, Bits = bits, Count = count };
    }

    /// <summary>
    /// Commits six eagerly computed arithmetic flags (the value in <paramref name="arith"/>) to the processor, as
    /// Processor.SetArithFlags does; the flags are then in the processor.
    /// </summary>
    public void CommitArithFlags(LocalBuilder arith)
    {
        StateAddress(L.Flags);
        StateAddress(L.Flags); IL.Emit(OpCodes.Ldind_U4);
        Const(~Processor.ArithFlags);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, arith);
        Const(Processor.ArithFlags);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Or);
        IL.Emit(OpCodes.Stind_I4);
        StateAddress(L.LazyOp); IL.Emit(OpCodes.Ldc_I4, (int)FlagOp.None); IL.Emit(OpCodes.Stind_I1);
        Flags = FlagState.InCpu;
    }

    /// <summary>Writes the known flag state into the processor's lazy fields (here, in the body).</summary>
    public void FlushFlags()
    {
        FlushFlags(Flags);
        if (Flags.Known) Flags = Flags with { Flushed = true };
        else if (Flags.Dynamic) Flags = FlagState.InCpu;
    }

    /// <summary>
    /// Describes the current flags in the dynamic flag locals (an edge into a member that starts with
    /// <see cref="FlagState.InLocals"/>): a known producer stores its operation and sign (its operands are already
    /// in the flag locals); flags held by the processor are loaded from it.
    /// </summary>
    void ToDynamic()
    {
        var s = Flags;
        if (s.Dynamic) return;
        if (!s.Known)
        {
            LoadDynamicFlags();
            return;
        }
        IL.Emit(OpCodes.Ldc_I4, (int)s.Op);
        IL.Emit(OpCodes.Stloc, fOpDyn);
        Const(s.Sign);
        IL.Emit(OpCodes.Stloc, fSignDyn);
        if (s.Op is FlagOp.Inc or FlagOp.Dec)
        {
            IL.Emit(OpCodes.Ldc_I4_1);
            IL.Emit(OpCodes.Stloc, fSrc);
        }
    }

    /// <summary>Loads the processor's lazy flag fields (and CF, which INC/DEC keep in EFLAGS) into the dynamic flag locals.</summary>
    void LoadDynamicFlags()
    {
        StateAddress(L.LazyOp); IL.Emit(OpCodes.Ldind_U1); IL.Emit(OpCodes.Stloc, fOpDyn);
        StateAddress(L.LazyDst); IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Stloc, fDst);
        StateAddress(L.LazySrc); IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Stloc, fSrc);
        StateAddress(L.LazyRes); IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Stloc, fRes);
        StateAddress(L.LazySign); IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Stloc, fSignDyn);
        StateAddress(L.Flags); IL.Emit(OpCodes.Ldind_U4); Const(Processor.FlagCF); IL.Emit(OpCodes.And); IL.Emit(OpCodes.Stloc, fCarry);
    }

    /// <summary>Stores the dynamic flag locals into the processor's lazy fields (and CF when the operation is INC/DEC).</summary>
    void StoreDynamicFlags()
    {
        StateAddress(L.LazyOp); IL.Emit(OpCodes.Ldloc, fOpDyn); IL.Emit(OpCodes.Stind_I1);
        StateAddress(L.LazyDst); IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Stind_I4);
        StateAddress(L.LazySrc); IL.Emit(OpCodes.Ldloc, fSrc); IL.Emit(OpCodes.Stind_I4);
        StateAddress(L.LazyRes); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Stind_I4);
        StateAddress(L.LazySign); IL.Emit(OpCodes.Ldloc, fSignDyn); IL.Emit(OpCodes.Stind_I4);
        var done = IL.DefineLabel();
        IL.Emit(OpCodes.Ldloc, fOpDyn);
        IL.Emit(OpCodes.Ldc_I4, (int)FlagOp.Inc);
        IL.Emit(OpCodes.Sub);
        IL.Emit(OpCodes.Ldc_I4_1);
        IL.Emit(OpCodes.Bgt_Un, done);                        // not INC (Inc) or DEC (Inc + 1)
        StateAddress(L.Flags);
        StateAddress(L.Flags); IL.Emit(OpCodes.Ldind_U4);
        Const(~Processor.FlagCF);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, fCarry);
        IL.Emit(OpCodes.Or);
        IL.Emit(OpCodes.Stind_I4);
        IL.MarkLabel(done);
    }

    void FlushFlags(FlagState s)
    {
        if (s.Dynamic)
        {
            StoreDynamicFlags();
            return;
        }
        if (!s.Known || s.Flushed) return;
        if (s.Op is FlagOp.Inc or FlagOp.Dec)
        {
            StateAddress(L.Flags);
            StateAddress(L.Flags); IL.Emit(OpCodes.Ldind_U4);
            Const(~Processor.FlagCF);
            IL.Emit(OpCodes.And);
            IL.Emit(OpCodes.Ldloc, fCarry);
            IL.Emit(OpCodes.Or);
            IL.Emit(OpCodes.Stind_I4);
        }
        StateAddress(L.LazyOp); IL.Emit(OpCodes.Ldc_I4, (int)s.Op); IL.Emit(OpCodes.Stind_I1);
        if (s.Op != FlagOp.Logic)
        {
            StateAddress(L.LazyDst); IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Stind_I4);
            StateAddress(L.LazySrc);
            if (s.Op is FlagOp.Inc or FlagOp.Dec) IL.Emit(OpCodes.Ldc_I4_1); else IL.Emit(OpCodes.Ldloc, fSrc);
            IL.Emit(OpCodes.Stind_I4);
        }
        StateAddress(L.LazyRes); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Stind_I4);
        StateAddress(L.LazySign); Const(s.Sign); IL.Emit(OpCodes.Stind_I4);
    }

    /// <summary>Pushes CF (0 or 1).</summary>
    public void LoadCarry()
    {
        var s = Flags;
        if (!s.Known || (s.Op is FlagOp.Adc or FlagOp.Sbb))
        {
            FlushFlags();
            Cpu();
            IL.Emit(OpCodes.Call, Members.Helper(nameof(JitHelpers.CarryFlag)));
            return;
        }
        switch (s.Op)
        {
            case FlagOp.Add:                                   // CF = res < dst
                IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Clt_Un);
                break;
            case FlagOp.Sub:                                   // CF = dst < src
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fSrc); IL.Emit(OpCodes.Clt_Un);
                break;
            case FlagOp.Logic:
                IL.Emit(OpCodes.Ldc_I4_0);
                break;
            case FlagOp.Shl:                                   // CF = bit (width - count) of dst: the last bit out of the top (0 past the width)
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Conv_U8);
                IL.Emit(OpCodes.Ldc_I4, s.Count); IL.Emit(OpCodes.Shl);
                IL.Emit(OpCodes.Ldc_I4, s.Bits); IL.Emit(OpCodes.Shr_Un);
                IL.Emit(OpCodes.Conv_U4);
                IL.Emit(OpCodes.Ldc_I4_1); IL.Emit(OpCodes.And);
                break;
            case FlagOp.Shr:                                   // CF = bit (count - 1) of dst: the last bit out of the bottom
            case FlagOp.Sar:
                IL.Emit(OpCodes.Ldloc, fDst);
                if (s.Op == FlagOp.Sar) SignExtendTop(s.Bits);  // past the width the sign comes out
                IL.Emit(OpCodes.Ldc_I4, s.Count - 1);
                IL.Emit(s.Op == FlagOp.Sar ? OpCodes.Shr : OpCodes.Shr_Un);
                IL.Emit(OpCodes.Ldc_I4_1); IL.Emit(OpCodes.And);
                break;
            default:                                           // INC/DEC: the CF captured before them
                IL.Emit(OpCodes.Ldloc, fCarry);
                break;
        }
    }

    /// <summary>Pushes 1 when condition <paramref name="cc"/> (Jcc nibble) holds, else 0.</summary>
    public void Condition(int cc)
    {
        var s = Flags;
        int kind = cc >> 1;
        bool negate = (cc & 1) != 0;
        // A shift's OF (and with it L/LE) has irregular rules: the processor's evaluation computes it.
        if (!s.Known || s.Op is FlagOp.Adc or FlagOp.Sbb || kind == 5 || (s.IsShift && kind is 0 or 6 or 7))
        {
            FlushFlags();
            Cpu();
            IL.Emit(OpCodes.Ldc_I4, cc);
            IL.Emit(OpCodes.Call, Members.Helper(nameof(JitHelpers.Condition)));
            return;
        }
        switch (kind)
        {
            case 0: Overflow(s); break;
            case 1: LoadCarry(); break;
            case 2: Zero(); break;
            case 3:
                if (s.Op == FlagOp.Sub) { IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fSrc); IL.Emit(OpCodes.Cgt_Un); Not(); }
                else { LoadCarry(); Zero(); IL.Emit(OpCodes.Or); }
                break;
            case 4: SignBit(s); break;
            case 6:
                if (s.Op == FlagOp.Sub) SignedLess(s, orEqual: false);
                else { SignBit(s); Overflow(s); IL.Emit(OpCodes.Xor); }
                break;
            default:
                if (s.Op == FlagOp.Sub) SignedLess(s, orEqual: true);
                else { SignBit(s); Overflow(s); IL.Emit(OpCodes.Xor); Zero(); IL.Emit(OpCodes.Or); }
                break;
        }
        if (negate) Not();
    }

    void Not()
    {
        IL.Emit(OpCodes.Ldc_I4_1);
        IL.Emit(OpCodes.Xor);
    }

    void Zero()
    {
        IL.Emit(OpCodes.Ldloc, fRes);
        IL.Emit(OpCodes.Ldc_I4_0);
        IL.Emit(OpCodes.Ceq);
    }

    void SignBit(FlagState s)
    {
        IL.Emit(OpCodes.Ldloc, fRes);
        IL.Emit(OpCodes.Ldc_I4, s.Bits - 1);
        IL.Emit(OpCodes.Shr_Un);
        IL.Emit(OpCodes.Ldc_I4_1);
        IL.Emit(OpCodes.And);
    }

    void Overflow(FlagState s)
    {
        switch (s.Op)
        {
            case FlagOp.Logic:
                IL.Emit(OpCodes.Ldc_I4_0);
                return;
            case FlagOp.Add:                                   // OF = ((dst ^ res) & (src ^ res)) sign bit
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.Ldloc, fSrc); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.And);
                break;
            case FlagOp.Inc:                                   // src = 1
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.Ldc_I4_1); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.And);
                break;
            case FlagOp.Sub:                                   // OF = ((dst ^ src) & (dst ^ res)) sign bit
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fSrc); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.And);
                break;
            default:                                           // DEC: src = 1
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldc_I4_1); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.Ldloc, fDst); IL.Emit(OpCodes.Ldloc, fRes); IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.And);
                break;
        }
        IL.Emit(OpCodes.Ldc_I4, s.Bits - 1);
        IL.Emit(OpCodes.Shr_Un);
        IL.Emit(OpCodes.Ldc_I4_1);
        IL.Emit(OpCodes.And);
    }

    // After CMP: signed dst < src (or <=) on sign-extended operands.
    void SignedLess(FlagState s, bool orEqual)
    {
        IL.Emit(OpCodes.Ldloc, fDst);
        SignExtendTop(s.Bits);
        IL.Emit(OpCodes.Ldloc, fSrc);
        SignExtendTop(s.Bits);
        if (orEqual)
        {
            IL.Emit(OpCodes.Cgt);
            Not();
        }
        else IL.Emit(OpCodes.Clt);
    }

    void SignExtendTop(int bits)
    {
        if (bits == 8) IL.Emit(OpCodes.Conv_I1);
        else if (bits == 16) IL.Emit(OpCodes.Conv_I2);
    }
}
