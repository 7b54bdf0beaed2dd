using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// The PC/AT pair of Intel 8237A DMA controllers with their 74LS612 page registers: controller 1 (8-bit channels
/// 0–3, ports 0x00–0x0F) and controller 2 (16-bit channels 4–7, ports 0xC0–0xDF, registers at even addresses),
/// page registers at 0x87/0x83/0x81/0x82 (channels 0–3) and 0x8F/0x8B/0x89/0x8A (channels 4–7).
/// Devices move data with <see cref="WriteToMemory(int, ReadOnlySpan{byte})"/> (device → memory, the 8237's
/// "write" transfer) and <see cref="ReadFromMemory(int, Span{byte})"/> (memory → device, the "read" transfer).
/// </summary>
/// <remarks>
/// <para>Modelling choices:</para>
/// <list type="bullet">
/// <item>Transfers happen synchronously when a device calls in; there is no DREQ timing, so the demand/single/block
/// modes behave alike and the status register's request bits show only software requests (register 0x09).</item>
/// <item>A channel transfers count+1 units (bytes on 0–3, words on 5–7). Terminal count is reached when the current
/// count rolls from 0 to 0xFFFF: the channel's status TC bit is set, and the transfer stops there because EOP
/// ends the device's transfer. With auto-initialize the current address and count are reloaded from the base
/// registers; without it the channel's mask bit is set (8237A datasheet, "Mask Register").</item>
/// <item>The address counter is 16 bits and does not carry into the page register: 8-bit channels wrap within
/// their 64 KiB page, 16-bit channels (address shifted left by one, page bit 0 ignored) within their 128 KiB page.</item>
/// <item>Verify transfers advance address and count without touching memory. A transfer whose direction
/// disagrees with the channel's mode is carried out as the mode says: memory is not written, and a device
/// reading memory receives 0xFF (floating bus) bytes.</item>
/// <item>Channels in cascade mode (channel 4 in a PC) and channels of a controller disabled through its command
/// register bit 2 move nothing. Controller 1 is not required to be cascaded through channel 4, so software that
/// never programs controller 2 (a direct kernel boot) still gets 8-bit DMA.</item>
/// <item>Controller 2 ignores A0 as on the AT bus, so odd ports 0xC1–0xDF alias the even register below them.
/// Port 0x0F/0xDE (write all mask bits) reads back the mask in bits 0–3 (as later chipsets allow); other
/// write-only registers read as 0xFF. The temporary register (memory-to-memory only) reads as 0.</item>
/// </list>
/// </remarks>
public sealed class Dma8237 : IIoDevice
{
    /// <summary>First port of controller 1 (channels 0–3).</summary>
    public const ushort Controller1Base = 0x00;

    /// <summary>First port of controller 2 (channels 4–7).</summary>
    public const ushort Controller2Base = 0xC0;

    // Mode register fields.
    const int TransferVerify = 0, TransferWrite = 1, TransferRead = 2;
    const byte ModeAutoInit = 0x10, ModeDecrement = 0x20, ModeCascade = 0xC0;

    // Page register port for each channel, 0–7.
    static readonly ushort[] PagePorts = [0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A];

    sealed class Channel
    {
        public ushort BaseAddress, CurrentAddress, BaseCount, CurrentCount;
        public byte Mode, Page;
    }

    sealed class Controller
    {
        public readonly Channel[] Channels = [new(), new(), new(), new()];
        public byte Command, Status, Request, Mask = 0x0F;
        public bool FlipFlop;       // false: next byte access is the low byte
    }

    readonly PhysicalMemory memory;
    readonly Controller[] controllers = [new(), new()];

    /// <param name="memory">Guest physical memory that transfers read and write.</param>
    public Dma8237(PhysicalMemory memory)
    {
        this.memory = memory;
        Reset();
    }

    /// <summary>Registers controller 1 (0x00–0x0F), controller 2 (0xC0–0xDF) and the eight channel page registers.</summary>
    public void Attach(IoBus io)
    {
        io.Register(Controller1Base, 16, this);
        io.Register(Controller2Base, 32, this);
        foreach (var p in PagePorts) io.Register(p, 1, this);
    }

    /// <summary>
    /// Power-on state: a master clear of both controllers (command, status, request and flip-flop cleared, every
    /// channel masked) with address, count, mode and page registers zeroed.
    /// </summary>
    public void Reset()
    {
        foreach (var c in controllers)
        {
            MasterClear(c);
            foreach (var ch in c.Channels)
            {
                ch.BaseAddress = ch.CurrentAddress = ch.BaseCount = ch.CurrentCount = 0;
                ch.Mode = 0;
                ch.Page = 0;
            }
        }
    }

    static void MasterClear(Controller c)
    {
        c.Command = 0;
        c.Status = 0;
        c.Request = 0;
        c.FlipFlop = false;
        c.Mask = 0x0F;
    }

    /// <summary>True when channel <paramref name="ch"/> (0–7) is masked and will not transfer.</summary>
    public bool IsMasked(int ch) => (controllers[ch >> 2].Mask & (1 << (ch & 3))) != 0;

    /// <summary>
    /// Moves <paramref name="data"/> from a device into guest memory through channel <paramref name="channel"/>
    /// (the 8237 "write" transfer). Returns the bytes consumed, which is less than the span when the channel is
    /// masked, disabled, or reaches terminal count.
    /// </summary>
    public int WriteToMemory(int channel, ReadOnlySpan<byte> data) => WriteToMemory(channel, data, out _);

    /// <inheritdoc cref="WriteToMemory(int, ReadOnlySpan{byte})"/>
    /// <param name="terminalCount">Set when the last byte consumed ended the transfer with terminal count (EOP).</param>
    public int WriteToMemory(int channel, ReadOnlySpan<byte> data, out bool terminalCount)
        => Run(channel, data, Span<byte>.Empty, toMemory: true, out terminalCount);

    /// <summary>
    /// Fills <paramref name="data"/> from guest memory through channel <paramref name="channel"/> (the 8237 "read"
    /// transfer). Returns the bytes produced; bytes beyond that are left untouched.
    /// </summary>
    public int ReadFromMemory(int channel, Span<byte> data) => ReadFromMemory(channel, data, out _);

    /// <inheritdoc cref="ReadFromMemory(int, Span{byte})"/>
    /// <param name="terminalCount">Set when the last byte produced ended the transfer with terminal count (EOP).</param>
    public int ReadFromMemory(int channel, Span<byte> data, out bool terminalCount) =>
        Run(channel, ReadOnlySpan<byte>.Empty, data, toMemory: false, out terminalCount);

    int Run(int channel, ReadOnlySpan<byte> source, Span<byte> dest, bool toMemory, out bool terminalCount)
    {
        terminalCount = false;
        if ((uint)channel > 7) return 0;
        var c = controllers[channel >> 2];
        var ch = c.Channels[channel & 3];
        int bit = 1 << (channel & 3);
        if ((c.Mask & bit) != 0 || (c.Command & 0x04) != 0 || (ch.Mode & 0xC0) == ModeCascade) return 0;

        bool wide = channel >= 4;
        int unit = wide ? 2 : 1;
        int type = (ch.Mode >> 2) & 3;
        int length = toMemory ? source.Length : dest.Length;
        int done = 0;
        while (done + unit <= length)
        {
            uint phys = wide
                ? ((uint)(ch.Page & 0xFE) << 16) | ((uint)ch.CurrentAddress << 1)
                : ((uint)ch.Page << 16) | ch.CurrentAddress;
            for (int i = 0; i < unit; i++)
            {
                if (toMemory)
                {
                    if (type == TransferWrite) memory.Write8(phys + (uint)i, source[done + i]);
                }
                else
                {
                    dest[done + i] = type == TransferRead ? memory.Read8(phys + (uint)i) : (byte)0xFF;
                }
            }
            done += unit;
            ch.CurrentAddress = (ushort)((ch.Mode & ModeDecrement) != 0 ? ch.CurrentAddress - 1 : ch.CurrentAddress + 1);
            ch.CurrentCount--;
            if (ch.CurrentCount == 0xFFFF)
            {
                terminalCount = true;
                c.Status |= (byte)bit;
                c.Request &= (byte)~bit;
                if ((ch.Mode & ModeAutoInit) != 0)
                {
                    ch.CurrentAddress = ch.BaseAddress;
                    ch.CurrentCount = ch.BaseCount;
                }
                else c.Mask |= (byte)bit;
                break;
            }
        }
        return done;
    }

    public uint In(ushort port, int size)
    {
        if (port >= 0x80 && port <= 0x8F)
        {
            int idx = Array.IndexOf(PagePorts, port);
            return idx < 0 ? 0xFFu : controllers[idx >> 2].Channels[idx & 3].Page;
        }
        var (c, reg) = Decode(port);
        if (reg < 8)
        {
            var ch = c.Channels[reg >> 1];
            ushort v = (reg & 1) == 0 ? ch.CurrentAddress : ch.CurrentCount;
            bool high = c.FlipFlop;
            c.FlipFlop = !c.FlipFlop;
            return high ? (uint)(v >> 8) : (uint)(v & 0xFF);
        }
        switch (reg)
        {
            case 8:
                {
                    // Status: TC bits 0–3 (cleared by this read), request bits 4–7.
                    byte s = (byte)((c.Status & 0x0F) | (c.Request << 4));
                    c.Status = 0;
                    return s;
                }
            case 0xD: return 0;                 // temporary register
            case 0xF: return c.Mask;
            default: return 0xFF;
        }
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port >= 0x80 && port <= 0x8F)
        {
            int idx = Array.IndexOf(PagePorts, port);
            if (idx >= 0) controllers[idx >> 2].Channels[idx & 3].Page = v;
            return;
        }
        var (c, reg) = Decode(port);
        if (reg < 8)
        {
            // Address and count writes load both the base and the current register, low byte first.
            var ch = c.Channels[reg >> 1];
            bool high = c.FlipFlop;
            c.FlipFlop = !c.FlipFlop;
            if ((reg & 1) == 0)
            {
                ch.BaseAddress = high ? (ushort)((ch.BaseAddress & 0x00FF) | v << 8) : (ushort)((ch.BaseAddress & 0xFF00) | v);
                ch.CurrentAddress = ch.BaseAddress;
            }
            else
            {
                ch.BaseCount = high ? (ushort)((ch.BaseCount & 0x00FF) | v << 8) : (ushort)((ch.BaseCount & 0xFF00) | v);
                ch.CurrentCount = ch.BaseCount;
            }
            return;
        }
        switch (reg)
        {
            case 8: c.Command = v; break;
            case 9:
                if ((v & 4) != 0) c.Request |= (byte)(1 << (v & 3));
                else c.Request &= (byte)~(1 << (v & 3));
                break;
            case 0xA:
                if ((v & 4) != 0) c.Mask |= (byte)(1 << (v & 3));
                else c.Mask &= (byte)~(1 << (v & 3));
                break;
            case 0xB: c.Channels[v & 3].Mode = (byte)(v & 0xFC); break;
            case 0xC: c.FlipFlop = false; break;
            case 0xD: MasterClear(c); break;
            case 0xE: c.Mask = 0; break;
            case 0xF: c.Mask = (byte)(v & 0x0F); break;
        }
    }

    (Controller c, int reg) Decode(ushort port) =>
        port < Controller2Base ? (controllers[0], port & 0x0F) : (controllers[1], ((port - Controller2Base) >> 1) & 0x0F);

    // ---------------------------------------------------------------- snapshots

    /// <summary>Writes section "DMA ": both controllers' command, status, request, mask and flip-flop, and every channel's registers.</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("DMA ", 1);
        foreach (var c in controllers)
        {
            w.WriteByte(c.Command);
            w.WriteByte(c.Status);
            w.WriteByte(c.Request);
            w.WriteByte(c.Mask);
            w.WriteBool(c.FlipFlop);
            foreach (var ch in c.Channels)
            {
                w.WriteUInt16(ch.BaseAddress);
                w.WriteUInt16(ch.CurrentAddress);
                w.WriteUInt16(ch.BaseCount);
                w.WriteUInt16(ch.CurrentCount);
                w.WriteByte(ch.Mode);
                w.WriteByte(ch.Page);
            }
        }
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("DMA ", 1);
        foreach (var c in controllers)
        {
            c.Command = r.ReadByte("command");
            c.Status = r.ReadByte("status");
            c.Request = r.ReadByte("request");
            c.Mask = r.ReadByte("mask", 0, 0x0F);
            c.FlipFlop = r.ReadBool("flip-flop");
            foreach (var ch in c.Channels)
            {
                ch.BaseAddress = r.ReadUInt16("base address");
                ch.CurrentAddress = r.ReadUInt16("current address");
                ch.BaseCount = r.ReadUInt16("base count");
                ch.CurrentCount = r.ReadUInt16("current count");
                ch.Mode = r.ReadByte("mode");
                ch.Page = r.ReadByte("page");
            }
        }
        r.EndSection();
    }
}
