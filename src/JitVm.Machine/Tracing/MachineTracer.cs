using System.Text;
using Iced.Intel;
using JitVm.Core;
using JitVm.Cpu;
using JitVm.Cpu.Decoding;
using JitVm.Devices.Vga;
using Decoder = Iced.Intel.Decoder;
using Serilog;

namespace JitVm.Machine.Tracing;

/// <summary>
/// <c>run --trace</c>: writes one line per traced event of a machine (formats in docs/decisions/0018-tracing.md).
/// It hooks where the events happen: <see cref="Processor.SetTracer"/> for interrupt deliveries and instructions,
/// <see cref="IoBus.Tracer"/> for port I/O, and a wrapper around the VGA window for MMIO. Every line starts with the
/// kind, the instruction count and CS:EIP, so a line of one kind can be matched with the instruction that caused it.
/// Attach it between runs, on the machine's thread; <see cref="Dispose"/> (also between runs) takes it off again.
/// </summary>
public sealed class MachineTracer : ICpuTracer, IIoTracer, IDisposable
{
    readonly Machine machine;
    readonly Processor cpu;
    readonly TextWriter output;
    readonly TraceEvents events;
    readonly long limit;
    readonly StringBuilder line = new(192);
    readonly TracedMmio? mmio;
    bool active = true;

    // Disassembly without an allocation per instruction: one decoder per code size over a reusable buffer, and a
    // formatter writing straight into the line. MASM syntax: Intel (XED) syntax writes a far pointer offset first.
    readonly ByteReader reader = new();
    readonly Decoder decoder16, decoder32;
    readonly MasmFormatter formatter = new();
    readonly LineOutput formatted;

    MachineTracer(Machine machine, TraceOptions options)
    {
        if (options.Limit is < 1) throw new ArgumentOutOfRangeException(nameof(options), "the trace limit must be at least 1 line");
        this.machine = machine;
        cpu = machine.Cpu;
        output = options.Output;
        events = options.Events;
        limit = options.Limit ?? long.MaxValue;
        decoder16 = Decoder.Create(16, reader, DecoderOptions.None);
        decoder32 = Decoder.Create(32, reader, DecoderOptions.None);
        formatted = new LineOutput(line);
        if ((events & TraceEvents.Mmio) != 0) mmio = new TracedMmio(machine.Vga, this);
    }

    /// <summary>Lines written so far.</summary>
    public long Lines { get; private set; }

    /// <summary>The trace stopped at its line limit (or because its output failed): nothing more is recorded.</summary>
    public bool Stopped => !active;

    /// <summary>Starts tracing <paramref name="machine"/> as <paramref name="options"/> say.</summary>
    public static MachineTracer Attach(Machine machine, TraceOptions options)
    {
        var t = new MachineTracer(machine, options);
        var e = options.Events;
        if ((e & (TraceEvents.Interrupts | TraceEvents.Instructions | TraceEvents.Mmio)) != 0)
            machine.Cpu.SetTracer(t, instructions: (e & TraceEvents.Instructions) != 0, interpret: (e & TraceEvents.Mmio) != 0);
        if ((e & TraceEvents.Io) != 0) machine.Io.Tracer = t;
        if (t.mmio is not null) machine.Memory.MapMmio(VgaDevice.WindowBase, VgaDevice.WindowLength, t.mmio);
        return t;
    }

    /// <summary>Takes the tracer off the machine (the engine goes back to full speed). The writer stays open.</summary>
    public void Dispose()
    {
        Stop();
        if (mmio is not null) machine.Memory.MapMmio(VgaDevice.WindowBase, VgaDevice.WindowLength, machine.Vga);
    }

    /// <summary>No more lines: the CPU and the bus drop their hooks now; the MMIO wrapper (remapped only by <see cref="Dispose"/>) goes quiet.</summary>
    void Stop()
    {
        if (!active) return;
        active = false;
        if (ReferenceEquals(cpu.Tracer, this)) cpu.SetTracer(null);
        if (ReferenceEquals(machine.Io.Tracer, this)) machine.Io.Tracer = null;
    }

    // ------------------------------------------------------------------ records

    void ICpuTracer.Interrupt(Processor c, int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        if (!active || (events & TraceEvents.Interrupts) == 0) return;
        Begin("int");
        line.Append("vector=0x");
        Hex((uint)vector, 2);
        line.Append(source switch
        {
            InterruptSource.Exception => " kind=exception",
            InterruptSource.External => " kind=external",
            _ => " kind=software",
        });
        if (hasErrorCode)
        {
            line.Append(" error=0x");
            Hex(errorCode, 8);
        }
        else line.Append(" error=-");
        line.Append(" cpl=").Append(c.Cpl);
        End();
    }

    void ICpuTracer.Instruction(Processor c, DecodedBlock block)
    {
        if (!active) return;
        Begin("insn");
        int start = line.Length;
        ref Insn insn = ref block.Insns[0];
        if (!block.Cacheable) line.Append("(fetch fault)");     // a block that only raises the fault of fetching its first byte
        else
        {
            // The instruction's bytes as the decoder fetched them: from the block's page, or the next one if it straddles.
            uint first = block.Phys + insn.Offset;
            int length = insn.Length;
            for (int k = 0; k < length; k++)
            {
                uint phys = first + (uint)k;
                if (((phys ^ block.Phys) & ~PhysicalMemory.PageMask) != 0)
                    phys = (block.LastPhys & ~PhysicalMemory.PageMask) | (phys & PhysicalMemory.PageMask);
                reader.Buffer[k] = c.Memory.Read8(phys);
            }
            reader.Reset(length);
            var decoder = c.Code32 ? decoder32 : decoder16;
            decoder.IP = c.Eip;
            decoder.Decode(out var instruction);
            formatter.Format(instruction, formatted);
        }
        if ((events & TraceEvents.Registers) != 0)
        {
            line.Append(' ', Math.Max(1, 40 - (line.Length - start)));
            line.Append("eax=");
            Hex(c.Eax, 8);
            line.Append(" ebx=");
            Hex(c.Ebx, 8);
            line.Append(" ecx=");
            Hex(c.Ecx, 8);
            line.Append(" edx=");
            Hex(c.Edx, 8);
            line.Append(" esi=");
            Hex(c.Esi, 8);
            line.Append(" edi=");
            Hex(c.Edi, 8);
            line.Append(" ebp=");
            Hex(c.Ebp, 8);
            line.Append(" esp=");
            Hex(c.Esp, 8);
            line.Append(" eflags=");
            Hex(c.GetEflags(), 8);
        }
        End();
    }

    void IIoTracer.In(ushort port, int size, uint value) => Io("in", port, size, value);

    void IIoTracer.Out(ushort port, int size, uint value) => Io("out", port, size, value);

    void Io(string direction, ushort port, int size, uint value)
    {
        if (!active) return;
        Begin("io");
        line.Append(direction).Append(" port=0x");
        Hex(port, 4);
        line.Append(" size=").Append(size).Append(" value=0x");
        Hex(value, 2 * size);
        End();
    }

    void Mmio(bool write, uint phys, byte value)
    {
        if (!active) return;
        Begin("mmio");
        line.Append(write ? "write" : "read").Append(" addr=0x");
        Hex(phys, 8);
        line.Append(" value=0x");
        Hex(value, 2);
        End();
    }

    // ------------------------------------------------------------------ line assembly

    /// <summary>"KIND COUNT CS:EIP " — the count is the number of instructions retired before this event.</summary>
    void Begin(string kind)
    {
        line.Clear();
        line.Append(kind).Append(' ').Append(cpu.InstructionCount).Append(' ');
        Hex(cpu.Seg[SegReg.CS].Selector, 4);
        line.Append(':');
        Hex(cpu.Eip, 8);
        line.Append(' ');
    }

    void End()
    {
        line.Append('\n');
        try
        {
            output.Write(line);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            Log.Warning("trace output failed ({Message}): tracing stops", e.Message);
            Stop();
            return;
        }
        if (++Lines >= limit) Stop();
    }

    void Hex(uint value, int digits)
    {
        for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) line.Append("0123456789abcdef"[(int)(value >> shift) & 0xF]);
    }

    /// <summary>Iced reads the instruction from here: the bytes copied out of guest memory.</summary>
    sealed class ByteReader : CodeReader
    {
        public readonly byte[] Buffer = new byte[16];
        int position, length;

        public void Reset(int count)
        {
            position = 0;
            length = count;
        }

        public override int ReadByte() => position < length ? Buffer[position++] : -1;
    }

    /// <summary>The formatter's output appended to the line being built.</summary>
    sealed class LineOutput(StringBuilder line) : FormatterOutput
    {
        public override void Write(string text, FormatterTextKind kind) => line.Append(text);
    }

    /// <summary>The VGA window seen through the tracer: each byte the bus reads or writes there is recorded.</summary>
    sealed class TracedMmio(IMmioHandler device, MachineTracer tracer) : IMmioHandler
    {
        public byte Read8(uint phys)
        {
            byte value = device.Read8(phys);
            tracer.Mmio(false, phys, value);
            return value;
        }

        public void Write8(uint phys, byte value)
        {
            tracer.Mmio(true, phys, value);
            device.Write8(phys, value);
        }
    }
}
