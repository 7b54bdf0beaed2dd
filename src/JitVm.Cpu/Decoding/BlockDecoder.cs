using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu.Instructions;

namespace JitVm.Cpu.Decoding;

/// <summary>
/// Decodes a guest basic block starting at CS:EIP with Iced and turns each instruction into an
/// <see cref="Insn"/>: handler chosen from the <see cref="HandlerTable"/> (register or memory form), operands
/// reduced to register byte offsets, effective-address parts and immediates. Model rules that Iced does not
/// know (the 286's missing prefixes, FS/GS and 10-byte limit, generation- and CPUID-feature-specific opcodes,
/// the legacy meaning of the VEX/EVEX/XOP escape bytes, reserved x87 escape encodings) are applied here,
/// mostly by substituting a handler that raises the architected exception.
/// </summary>
public sealed unsafe class BlockDecoder
{
    /// <summary>Upper bound on instructions per block (the translator caps traces separately).</summary>
    public const int MaxInstructions = 48;

    /// <summary>Iced never reads more than this many bytes for one instruction.</summary>
    const int IcedMaxLength = 15;

    readonly Processor cpu;
    readonly HandlerTable table;
    readonly FetchReader reader;
    readonly Decoder decoder16, decoder32;
    readonly Insn[] scratch = new Insn[MaxInstructions];
    /// <summary>CPUID.1:EDX of the model (0 without CPUID): instructions gated on a feature bit need it.</summary>
    readonly uint features;
    /// <summary>
    /// The model decodes VEX (AVX, CPUID.1:ECX bit 28). No model here does, nor EVEX or XOP; without them
    /// C4/C5/62/8F keep their legacy meaning (see <see cref="FetchReader.LegacyEscapeLength"/>).
    /// </summary>
    readonly bool hasVex;

    public BlockDecoder(Processor cpu, HandlerTable table)
    {
        this.cpu = cpu;
        this.table = table;
        features = cpu.Model.Cpuid?.FeaturesEdx ?? 0;
        hasVex = ((cpu.Model.Cpuid?.FeaturesEcx ?? 0) & (1u << 28)) != 0;
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
        bool endsInBranch = false, fetchFault = false;
        uint lastPhys = phys;
        while (count < MaxInstructions)
        {
            reader.BeginInstruction();
            ulong ip = decoder.IP;
            decoder.Decode(out Instruction ins);
            ref Insn d = ref scratch[count];
            d = default;
            d.Offset = (ushort)offset;

            // Iced reads C4/C5 (and 62, 8F) followed by certain bytes as VEX (EVEX, XOP) prefixes, which do not
            // exist on these models: there the bytes are LES/LDS/BOUND with a register operand, or an undefined
            // member of the POP r/m group, all #UD once the ModRM byte is fetched. Iced may have read further (or
            // faulted further on), so the instruction is rebuilt here from the bytes themselves.
            int legacyLength = hasVex ? 0 : reader.LegacyEscapeLength();
            if (legacyLength > 0)
            {
                if (legacyLength > cpu.Model.MaxInstructionLength) SetFault(ref d, CpuVectors.GP, 0, true);
                else SetFault(ref d, CpuVectors.UD, 0, false);
                d.Length = (byte)legacyLength;
                count++;
                endsInBranch = true;
                lastPhys = reader.PhysOf(legacyLength - 1);
                break;
            }

            // Every D8-DF byte pair is an x87 escape to the CPU (the coprocessor decides what it means), but Iced
            // rejects the encodings that no FPU defines (D9 /1 m, D9 D1, DD F0...). Decode those again as D8 with
            // the same ModRM, which has the same length and memory operand, and run the generic escape handler.
            bool reservedEscape = false;
            int esc = ins.IsInvalid ? reader.EscapeOpcodeIndex() : -1;
            if (esc >= 0)
            {
                reader.Rewind(esc, 0xD8);
                decoder.IP = ip;
                decoder.Decode(out ins);
                reservedEscape = !ins.IsInvalid;
            }

            if (ins.IsInvalid)
            {
                if (reader.Failed && reader.InstructionBytes < cpu.Model.MaxInstructionLength)
                {
                    // Ran into the segment limit or an unreadable page part-way: a later block retries from here.
                    if (count > 0) break;
                    SetFault(ref d, reader.FaultVector, reader.FaultError, reader.FaultHasError);
                    d.Disp = reader.FaultAddress;
                    fetchFault = true;
                }
                else if (reader.InstructionBytes > cpu.Model.MaxInstructionLength || reader.InstructionBytes >= IcedMaxLength)
                {
                    // Longer than the CPU allows. Iced stops at 15 bytes and reports an invalid instruction, so an
                    // undecodable 15-byte sequence counts as over-long (a real 15-byte invalid opcode would be #UD;
                    // only prefix padding reaches that length).
                    SetFault(ref d, CpuVectors.GP, 0, true);
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
            else if (reservedEscape)
            {
                // Code INVALID tells an x87 implementation this is not the D8 instruction it was decoded as.
                d.Code = (ushort)Code.INVALID;
                d.Handler = HasMemoryOperand(in ins) ? &X87Escape.EscapeMemory : &X87Escape.EscapeRegister;
                raises = false;
            }
            else if (!entry.IsDefined || entry.MinGeneration > cpu.Model.Generation || (entry.RequiredFeatures & ~features) != 0 ||
                     (cpu.Model.Is286 && (reader.Has386Prefix() || HasFsGsOperand(in ins))))
                SetFault(ref d, CpuVectors.UD, 0, false);
            else
            {
                d.HasMemory = HasMemoryOperand(in ins);
                d.Handler = d.HasMemory ? entry.Mem : entry.Reg;
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
        return new DecodedBlock(phys, mode, insns, byteLength, endsInBranch, lastPhys, cacheable: !fetchFault);
    }

    static void SetFault(ref Insn d, int vector, uint error, bool hasError)
    {
        // The instruction's only effect is the exception: no emitter may treat it as the decoded opcode.
        d.Code = (ushort)Code.INVALID;
        d.Handler = &Families.RaiseFault;
        d.Imm = (uint)vector;
        d.Imm2 = error;
        d.R0 = hasError ? (byte)1 : (byte)0;
    }

    /// <summary>
    /// MOV to or from FS/GS (8C/8E with ModRM.reg 4 or 5). The 286 has no FS or GS: the hardware vectors show
    /// it raising #UD for those reg values, as for 6 and 7 (it does not alias them to another register).
    /// </summary>
    static bool HasFsGsOperand(in Instruction ins)
    {
        for (int k = 0; k < ins.OpCount; k++)
            if (ins.GetOpKind(k) == OpKind.Register && ins.GetOpRegister(k) is Register.FS or Register.GS) return true;
        return false;
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
        /// <summary>Physical address of each byte in <see cref="bytes"/>.</summary>
        readonly uint[] physOf = new uint[16];
        int insnBytes;
        uint firstPage;
        // Reader state at the start of the current instruction (for Rewind), and a byte to substitute.
        uint startEip, startLinPage, startPhysPage, startLastPhys;
        bool startCrossed;
        int patchIndex = -1;
        byte patchByte;

        public FetchReader(Processor cpu) => this.cpu = cpu;

        public bool Failed { get; private set; }
        public int FaultVector { get; private set; }
        public uint FaultError { get; private set; }
        public bool FaultHasError { get; private set; }
        /// <summary>The linear address of a fetch page fault (for CR2).</summary>
        public uint FaultAddress { get; private set; }
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

        public void BeginInstruction()
        {
            insnBytes = 0;
            patchIndex = -1;
            startEip = eip;
            startLinPage = linPage;
            startPhysPage = physPage;
            startLastPhys = LastPhys;
            startCrossed = CrossedPage;
        }

        /// <summary>
        /// Restarts the current instruction from its first byte, handing the decoder <paramref name="value"/>
        /// instead of the byte at <paramref name="index"/> (which is still fetched, with its checks).
        /// </summary>
        public void Rewind(int index, byte value)
        {
            eip = startEip;
            linPage = startLinPage;
            physPage = startPhysPage;
            LastPhys = startLastPhys;
            CrossedPage = startCrossed;
            Failed = false;
            insnBytes = 0;
            patchIndex = index;
            patchByte = value;
        }

        /// <summary>Physical address of byte <paramref name="index"/> of the current instruction (already read).</summary>
        public uint PhysOf(int index) => physOf[Math.Min(index, physOf.Length - 1)];

        /// <summary>Index of the first byte after the legacy prefixes among the bytes read, or -1.</summary>
        int OpcodeIndex()
        {
            int n = Math.Min(insnBytes, bytes.Length);
            for (int i = 0; i < n; i++)
                if (bytes[i] is not (0x26 or 0x2E or 0x36 or 0x3E or 0x64 or 0x65 or 0x66 or 0x67 or 0xF0 or 0xF2 or 0xF3)) return i;
            return -1;
        }

        /// <summary>
        /// When the instruction read is C4/C5/62 with a register ModRM (mod = 3), or 8F with ModRM.reg not 0 -
        /// the encodings Iced takes for VEX, EVEX and XOP - the length of its legacy form up to the ModRM byte
        /// (prefixes, opcode, ModRM); otherwise 0.
        /// </summary>
        public int LegacyEscapeLength()
        {
            int p = OpcodeIndex();
            if (p < 0 || p + 1 >= Math.Min(insnBytes, bytes.Length)) return 0;
            byte op = bytes[p], modrm = bytes[p + 1];
            bool legacyUd = op is 0xC4 or 0xC5 or 0x62 ? modrm >= 0xC0 : op == 0x8F && (modrm & 0x38) != 0;
            return legacyUd ? p + 2 : 0;
        }

        /// <summary>Index of an x87 escape opcode (D8-DF) whose ModRM byte was read, or -1.</summary>
        public int EscapeOpcodeIndex()
        {
            int p = OpcodeIndex();
            return p >= 0 && p + 1 < Math.Min(insnBytes, bytes.Length) && bytes[p] is >= 0xD8 and <= 0xDF ? p : -1;
        }

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
                // The next page, translated as the fetch reaches it; a page fault is remembered, not raised (CR2
                // must not change unless the instruction is really reached).
                if (!cpu.TryTranslateFetch(lin, out uint p, out uint error))
                {
                    Fail(CpuVectors.PF, error, true);
                    FaultAddress = lin;
                    return -1;
                }
                physPage = p & ~PhysicalMemory.PageMask;
                linPage = lin & ~PhysicalMemory.PageMask;
                if (physPage != firstPage) CrossedPage = true;
            }
            uint phys = physPage | (lin & PhysicalMemory.PageMask);
            LastPhys = phys;
            byte b = cpu.Memory.Read8(phys);
            if (insnBytes == patchIndex) b = patchByte;
            eip++;
            if (insnBytes < bytes.Length)
            {
                bytes[insnBytes] = b;
                physOf[insnBytes] = phys;
            }
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
