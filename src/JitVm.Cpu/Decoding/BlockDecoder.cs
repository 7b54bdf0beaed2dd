using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu.Instructions;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// Decodes a guest basic block starting at CS:EIP with Iced and turns each instruction into an
/// <see cref="Insn"/>: handler chosen from the <see cref="HandlerTable"/> (register or memory form), operands
/// reduced to register byte offsets, effective-address parts and immediates. Model rules that Iced does not
/// know (the 286's missing prefixes and 10-byte limit, generation-specific opcodes) are applied here by
/// substituting a handler that raises the architected exception.
/// </summary>
public sealed unsafe class BlockDecoder
{
    /// <summary>Upper bound on instructions per block (the translator caps traces separately).</summary>
    public const int MaxInstructions = 48;

    readonly Processor cpu;
    readonly HandlerTable table;
    readonly FetchReader reader;
    readonly Decoder decoder16, decoder32;
    readonly Insn[] scratch = new Insn[MaxInstructions];

    public BlockDecoder(Processor cpu, HandlerTable table)
    {
        this.cpu = cpu;
        this.table = table;
        reader = new FetchReader(cpu);
        var options = cpu.Model.Is286
            ? DecoderOptions.NoInvalidCheck | DecoderOptions.Loadall286
            : DecoderOptions.NoMPFX_0FBC | DecoderOptions.NoMPFX_0FBD | DecoderOptions.NoWbnoinvd;
        decoder16 = Decoder.Create(16, reader, 0, options);
        decoder32 = Decoder.Create(32, reader, 0, options);
    }

    /// <summary>Decodes the block at the current CS:EIP, whose first byte is at physical <paramref name="phys"/>.</summary>
    public DecodedBlock Decode(uint phys, uint mode)
    {
        uint eip = cpu.Eip;
        ref Segment cs = ref cpu.Seg[SegReg.CS];
        reader.Reset(cs.Base, eip, cs.Limit, phys);
        var decoder = (mode & BlockCache.ModeCode32) != 0 ? decoder32 : decoder16;
        decoder.IP = eip;

        int count = 0;
        uint offset = 0;
        bool endsInBranch = false;
        uint lastPhys = phys;
        while (count < MaxInstructions)
        {
            reader.BeginInstruction();
            decoder.Decode(out Instruction ins);
            ref Insn d = ref scratch[count];
            d = default;
            d.Offset = (ushort)offset;

            if (ins.IsInvalid)
            {
                if (reader.Failed && reader.InstructionBytes < cpu.Model.MaxInstructionLength)
                {
                    // Ran into the segment limit or an unreadable page part-way: a later block retries from here.
                    if (count > 0) break;
                    SetFault(ref d, reader.FaultVector, reader.FaultError, reader.FaultHasError);
                }
                else if (reader.InstructionBytes >= cpu.Model.MaxInstructionLength && decoder.LastError == DecoderError.NoMoreBytes)
                {
                    SetFault(ref d, CpuVectors.GP, 0, true);                      // longer than the CPU allows
                }
                else
                {
                    SetFault(ref d, CpuVectors.UD, 0, false);
                }
                d.Length = (byte)Math.Max(1, reader.InstructionBytes);
                count++;
                endsInBranch = true;
                lastPhys = reader.LastPhys;
                break;
            }

            ref readonly HandlerTable.Entry entry = ref table[ins.Code];
            Fill(ref d, in ins);
            bool raises = true;
            if (ins.Length > cpu.Model.MaxInstructionLength)
                SetFault(ref d, CpuVectors.GP, 0, true);
            else if (!entry.IsDefined || entry.MinGeneration > cpu.Model.Generation || (cpu.Model.Is286 && reader.Has386Prefix()))
                SetFault(ref d, CpuVectors.UD, 0, false);
            else
            {
                d.Handler = HasMemoryOperand(in ins) ? entry.Mem : entry.Reg;
                raises = false;
            }

            count++;
            offset += (uint)ins.Length;
            lastPhys = reader.LastPhys;
            if (raises || (entry.Flags & HandlerFlags.Branch) != 0)
            {
                endsInBranch = true;
                break;
            }
            if ((entry.Flags & HandlerFlags.EndsBlock) != 0) break;
            // Stop at the end of the first page (a straddling instruction is the last one).
            if (((phys + offset) >> PhysicalMemory.PageShift) != (phys >> PhysicalMemory.PageShift) || reader.CrossedPage) break;
        }

        var insns = scratch.AsSpan(0, count).ToArray();
        int byteLength = count == 0 ? 1 : insns[count - 1].Offset + insns[count - 1].Length;
        return new DecodedBlock(phys, mode, insns, byteLength, endsInBranch, lastPhys);
    }

    static void SetFault(ref Insn d, int vector, uint error, bool hasError)
    {
        d.Handler = &Families.RaiseFault;
        d.Imm = (uint)vector;
        d.Imm2 = error;
        d.R0 = hasError ? (byte)1 : (byte)0;
    }

    static bool HasMemoryOperand(in Instruction ins)
    {
        for (int k = 0; k < ins.OpCount; k++)
            if (ins.GetOpKind(k) == OpKind.Memory) return true;
        return false;
    }

    /// <summary>Copies the operands of an Iced instruction into the interpreter's compact form.</summary>
    internal static void Fill(ref Insn d, in Instruction ins)
    {
        d.Code = (ushort)ins.Code;
        d.Length = (byte)ins.Length;
        d.Base = d.Index = Processor.ZeroReg;
        d.Seg = SegReg.DS;
        d.EaMask = 0xFFFF;
        if (ins.HasRepePrefix) d.Prefixes |= InsnPrefix.Rep;
        if (ins.HasRepnePrefix) d.Prefixes |= InsnPrefix.Repne;
        if (ins.HasLockPrefix) d.Prefixes |= InsnPrefix.Lock;
        if (ins.SegmentPrefix != Register.None) d.Prefixes |= InsnPrefix.SegmentOverride;
        if (ins.ConditionCode != ConditionCode.None) d.Cond = (byte)(ins.ConditionCode - 1);

        for (int k = 0; k < ins.OpCount; k++)
        {
            switch (ins.GetOpKind(k))
            {
                case OpKind.Register:
                    var reg = ins.GetOpRegister(k);
                    byte code = RegisterCode(reg);
                    if (k == 0) d.R0 = code; else if (k == 1) d.R1 = code; else d.R2 = code;
                    if (d.OpSize == 0 && reg.IsGPR()) d.OpSize = (byte)reg.GetSize();
                    break;
                case OpKind.Memory:
                    d.Base = ins.MemoryBase == Register.None ? (byte)Processor.ZeroReg : RegisterCode(ins.MemoryBase);
                    d.Index = ins.MemoryIndex == Register.None ? (byte)Processor.ZeroReg : RegisterCode(ins.MemoryIndex);
                    d.Scale = (byte)(ins.MemoryIndexScale switch { 2 => 1, 4 => 2, 8 => 3, _ => 0 });
                    d.Disp = ins.MemoryDisplacement32;
                    d.Seg = (byte)(ins.MemorySegment - Register.ES);
                    bool addr16 = ins.MemoryBase.IsGPR16() || ins.MemoryIndex.IsGPR16() ||
                        (ins.MemoryBase == Register.None && ins.MemoryIndex == Register.None && ins.MemoryDisplSize == 2);
                    d.EaMask = addr16 ? 0xFFFFu : 0xFFFFFFFFu;
                    if (d.OpSize == 0) d.OpSize = (byte)ins.MemorySize.GetSize();
                    break;
                case OpKind.Immediate8:
                case OpKind.Immediate16:
                case OpKind.Immediate32:
                case OpKind.Immediate8to16:
                case OpKind.Immediate8to32:
                    d.Imm = (uint)ins.GetImmediate(k);
                    break;
                case OpKind.Immediate8_2nd:
                    d.Imm2 = ins.Immediate8_2nd;
                    break;
                case OpKind.NearBranch16:
                case OpKind.NearBranch32:
                    d.Imm = (uint)(ins.NearBranchTarget - ins.NextIP);
                    break;
                case OpKind.FarBranch16:
                    d.Imm = ins.FarBranch16;
                    d.Imm2 = ins.FarBranchSelector;
                    break;
                case OpKind.FarBranch32:
                    d.Imm = ins.FarBranch32;
                    d.Imm2 = ins.FarBranchSelector;
                    break;
                case OpKind.MemorySegSI:
                case OpKind.MemorySegDI:
                    d.Seg = (byte)(ins.MemorySegment - Register.ES);
                    d.EaMask = 0xFFFF;
                    break;
                case OpKind.MemorySegESI:
                case OpKind.MemorySegEDI:
                    d.Seg = (byte)(ins.MemorySegment - Register.ES);
                    d.EaMask = 0xFFFFFFFF;
                    break;
                case OpKind.MemoryESDI:
                    d.EaMask = 0xFFFF;
                    break;
                case OpKind.MemoryESEDI:
                    d.EaMask = 0xFFFFFFFF;
                    break;
            }
        }
        if (d.OpSize == 0) d.OpSize = (byte)ins.MemorySize.GetSize();
    }

    /// <summary>Encodes a register operand: byte offset into the GPR file, or the number of a segment/control/debug register.</summary>
    internal static byte RegisterCode(Register r)
    {
        if (r >= Register.AL && r <= Register.BH)
        {
            int i = r - Register.AL;
            return (byte)((i & 3) * 4 + (i >> 2));          // AH..BH are byte 1 of EAX..EBX
        }
        if (r >= Register.AX && r <= Register.DI) return (byte)((r - Register.AX) * 4);
        if (r >= Register.EAX && r <= Register.EDI) return (byte)((r - Register.EAX) * 4);
        if (r >= Register.ES && r <= Register.GS) return (byte)(r - Register.ES);
        if (r >= Register.CR0 && r <= Register.CR15) return (byte)(r - Register.CR0);
        if (r >= Register.DR0 && r <= Register.DR15) return (byte)(r - Register.DR0);
        if (r >= Register.TR0 && r <= Register.TR7) return (byte)(r - Register.TR0);
        if (r >= Register.ST0 && r <= Register.ST7) return (byte)(r - Register.ST0);
        return 0;
    }

    /// <summary>Supplies code bytes to Iced from CS:EIP onwards, enforcing the CS limit and tracking pages.</summary>
    sealed class FetchReader : CodeReader
    {
        readonly Processor cpu;
        uint csBase, limit, eip, linPage, physPage;
        readonly byte[] bytes = new byte[16];
        int insnBytes;
        uint firstPage;

        public FetchReader(Processor cpu) => this.cpu = cpu;

        public bool Failed { get; private set; }
        public int FaultVector { get; private set; }
        public uint FaultError { get; private set; }
        public bool FaultHasError { get; private set; }
        public int InstructionBytes => insnBytes;
        public bool CrossedPage { get; private set; }
        public uint LastPhys { get; private set; }

        public void Reset(uint csBase, uint eip, uint limit, uint phys)
        {
            this.csBase = csBase;
            this.eip = eip;
            this.limit = limit;
            linPage = (csBase + eip) & ~PhysicalMemory.PageMask;
            physPage = phys & ~PhysicalMemory.PageMask;
            firstPage = physPage;
            Failed = false;
            CrossedPage = false;
            LastPhys = phys;
        }

        public void BeginInstruction() => insnBytes = 0;

        /// <summary>The 286 has no operand/address-size or FS/GS prefixes (0x64-0x67).</summary>
        public bool Has386Prefix()
        {
            for (int i = 0; i < Math.Min(insnBytes, bytes.Length); i++)
            {
                byte b = bytes[i];
                if (b is >= 0x64 and <= 0x67) return true;
                if (b is not (0x26 or 0x2E or 0x36 or 0x3E or 0xF0 or 0xF2 or 0xF3)) return false;
            }
            return false;
        }

        public override int ReadByte()
        {
            if (Failed) return -1;
            if (eip > limit)
            {
                Fail(CpuVectors.GP, 0, true);
                return -1;
            }
            uint lin = csBase + eip;
            if ((lin & ~PhysicalMemory.PageMask) != linPage)
            {
                try
                {
                    physPage = cpu.TranslateFetch(lin) & ~PhysicalMemory.PageMask;
                }
                catch (CpuFault f)
                {
                    Fail(f.Vector, f.ErrorCode, f.HasErrorCode);
                    return -1;
                }
                linPage = lin & ~PhysicalMemory.PageMask;
                if (physPage != firstPage) CrossedPage = true;
            }
            uint phys = physPage | (lin & PhysicalMemory.PageMask);
            LastPhys = phys;
            byte b = cpu.Memory.Read8(phys);
            eip++;
            if (insnBytes < bytes.Length) bytes[insnBytes] = b;
            insnBytes++;
            return b;
        }

        void Fail(int vector, uint error, bool hasError)
        {
            Failed = true;
            FaultVector = vector;
            FaultError = error;
            FaultHasError = hasError;
        }
    }
}
