using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Benchmarks;

/// <summary>
/// A CPU-bound guest: an integer ALU/memory loop (load, add, xor, store, pointer step and wrap, counter,
/// conditional branch) over a 4 KiB buffer, nine instructions per iteration, ending in HLT. By default it runs
/// in real mode; <c>paged</c> runs the same loop as 32-bit flat protected-mode code with paging on (code and data
/// on 4 KiB pages mapped elsewhere), which measures the paged TLB and fetch path.
/// </summary>
public sealed class GuestLoop
{
    public const ushort CodeSegment = 0x1000;
    public Processor Cpu { get; }
    public IExecutionEngine Engine { get; }
    readonly uint iterations;

    readonly bool paged;

    // Paged layout: page directory and table in low memory, the code at linear 400000h (frame 30000h), the
    // buffer at linear 500000h (frame 20000h).
    const uint PageDirectory = 0x8000, PageTable = 0x9000, PagedCode = 0x0040_0000, PagedData = 0x0050_0000;

    public GuestLoop(uint iterations, Func<Processor, IExecutionEngine>? engine = null, bool paged = false)
    {
        this.iterations = iterations;
        this.paged = paged;
        var memory = new PhysicalMemory(1 << 20);
        Cpu = new Processor(CpuModel.I486, memory, new IoBus());
        Engine = (engine ?? (c => new Interpreter(c)))(Cpu);
        var a = new Assembler(paged ? 32 : 16);
        var top = a.CreateLabel();
        a.mov(ecx, iterations);
        if (paged) a.xor(esi, esi); else a.xor(si, si);
        a.mov(ebx, 0x12345678);
        a.Label(ref top);
        if (paged)
        {
            a.mov(eax, __dword_ptr[esi + PagedData]);
            a.add(eax, ebx);
            a.xor(edx, eax);
            a.mov(__dword_ptr[esi + PagedData + 4], edx);
            a.add(esi, 8);
            a.and(esi, 0x0FF8);
        }
        else
        {
            a.mov(eax, __dword_ptr[si]);
            a.add(eax, ebx);
            a.xor(edx, eax);
            a.mov(__dword_ptr[si + 4], edx);
            a.add(si, 8);
            a.and(si, 0x0FF8);
        }
        a.inc(ebx);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
        var w = new Writer();
        a.Assemble(w, paged ? PagedCode : 0);
        memory.Poke(paged ? 0x30000u : (uint)CodeSegment << 4, w.Bytes.ToArray());
        if (paged)
        {
            memory.Poke(PageDirectory + (PagedCode >> 22) * 4, BitConverter.GetBytes(PageTable | 7));
            memory.Poke(PageTable + ((PagedCode >> 12) & 0x3FF) * 4, BitConverter.GetBytes(0x30000u | 7));
            memory.Poke(PageTable + ((PagedData >> 12) & 0x3FF) * 4, BitConverter.GetBytes(0x20000u | 7));
            Cpu.Cr3 = PageDirectory;
            Cpu.WriteCr0(Cpu.Cr0 | Processor.Cr0PE | Processor.Cr0PG);
        }
    }

    /// <summary>Guest instructions one <see cref="Run"/> retires.</summary>
    public long InstructionsPerRun => 3 + 9L * iterations + 1;

    /// <summary>Runs the loop from the start to its HLT; returns the instructions retired.</summary>
    public long Run()
    {
        if (paged)
        {
            const ushort code = Segment.AttrPresent | Segment.AttrS | Segment.AttrCode | Segment.AttrWritable | Segment.AttrDb | Segment.AttrG;
            const ushort data = Segment.AttrPresent | Segment.AttrS | Segment.AttrWritable | Segment.AttrDb | Segment.AttrG;
            Cpu.LoadRealModeSegmentFull(SegReg.CS, 0x08, 0, 0xFFFFFFFF, code);
            Cpu.LoadRealModeSegmentFull(SegReg.DS, 0x10, 0, 0xFFFFFFFF, data);
            Cpu.Eip = PagedCode;
        }
        else
        {
            Cpu.LoadRealModeSegmentFull(SegReg.CS, CodeSegment, (uint)CodeSegment << 4, 0xFFFF, Segment.RealModeCode);
            Cpu.LoadRealModeSegmentFull(SegReg.DS, 0x2000, 0x20000, 0xFFFF, Segment.RealModeData);
            Cpu.Eip = 0;
        }
        Cpu.Halted = false;
        long before = Cpu.InstructionCount;
        while (Engine.Run(long.MaxValue / 4) != StopReason.Halted) { }
        return Cpu.InstructionCount - before;
    }

    sealed class Writer : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
