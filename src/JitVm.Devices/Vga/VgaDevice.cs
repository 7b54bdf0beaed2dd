using JitVm.Core;

namespace JitVm.Devices.Vga;

/// <summary>
/// An IBM VGA: the register set a VGA BIOS programs (miscellaneous output, sequencer, CRT controller, graphics
/// controller, attribute controller, DAC, input status, feature control, video subsystem enable) on ports
/// 0x3B0–0x3DF, and 256 KiB of video memory in four 64 KiB planes behind the legacy window 0xA0000–0xBFFFF
/// (<see cref="ReadMemory"/>/<see cref="WriteMemory"/>, offsets from 0xA0000).
/// </summary>
/// <remarks>
/// <para>Memory: the graphics controller's memory map select (misc bits 2–3) picks the window; accesses outside it
/// read 0xFF and writes are dropped, as are all accesses while miscellaneous output bit 1 (RAM enable) is 0.
/// Chain-4 (sequencer memory mode bit 3) selects the plane with address bits 0–1 and addresses it at A &amp; ~3;
/// odd/even (writes: sequencer memory mode bit 2 = 0; reads: graphics mode bit 4 = 1) selects planes 0/2 for
/// even and 1/3 for odd addresses and addresses them at A &amp; ~1, so the CRTC's word mode (MA &lt;&lt; 1) and doubleword
/// mode (MA &lt;&lt; 2) find what the CPU wrote. The odd/even page bit (misc output bit 5) and the graphics
/// controller's chain odd/even bit (misc bit 1) are stored but do not alter addresses. Plane addresses wrap at
/// 64 KiB.</para>
/// <para>Write modes 0–3 are exact per the IBM reference: every read loads the four latches; mode 0 rotates the
/// byte, substitutes set/reset for planes enabled in enable set/reset, applies the function (replace/AND/OR/XOR with
/// the latch) and the bit mask (masked-out bits come from the latch); mode 1 writes the latches; mode 2 expands
/// data bits 0–3 to whole planes, then function and bit mask; mode 3 writes set/reset through the function with
/// (rotated data AND bit mask) as the bit mask. The map mask (and odd/even or chain-4 plane selection) gates which
/// planes are written. Read mode 0 returns a latch (read map select, or the plane chain-4/odd-even selects); read
/// mode 1 returns the color compare result honoring color don't care.</para>
/// <para>Input status 1 (0x3DA/0x3BA): without a clock, each read advances a counter through a 16-read "frame":
/// reads 0–13 are active display with display-enable (bit 0) alternating per read, reads 14–15 are vertical retrace
/// (bits 3 and 0 set). So a BIOS loop waiting for either edge of either bit ends within 16 reads. With a
/// <see cref="VirtualClock"/>, the bits follow the standard 70 Hz timing (449 lines of 31.778 µs, 400 active
/// lines, 640/800 of each line active, vertical retrace on lines 412–413) from <see cref="VirtualClock.Now"/>,
/// independent of the CRTC timing registers.</para>
/// <para>Not modelled: pixel output (graphics rendering, fonts), the line compare split screen, CRTC count-by-2/4,
/// vertical retrace interrupt, and the DAC sense comparator (input status 0 reads switch sense = 1).</para>
/// </remarks>
public sealed class VgaDevice : IIoDevice, IMmioHandler
{
    /// <summary>First port the device claims (0x3B0).</summary>
    public const ushort FirstPort = 0x3B0;
    /// <summary>Number of ports claimed (0x3B0–0x3DF).</summary>
    public const int PortCount = 0x30;

    /// <summary>Attribute controller index/data write port (index read).</summary>
    public const ushort AttributePort = 0x3C0;
    /// <summary>Attribute controller data read port.</summary>
    public const ushort AttributeDataReadPort = 0x3C1;
    /// <summary>Miscellaneous output write / input status 0 read.</summary>
    public const ushort MiscOutputWritePort = 0x3C2;
    /// <summary>Video subsystem enable (bit 0).</summary>
    public const ushort VideoEnablePort = 0x3C3;
    /// <summary>Sequencer index.</summary>
    public const ushort SequencerIndexPort = 0x3C4;
    /// <summary>Sequencer data.</summary>
    public const ushort SequencerDataPort = 0x3C5;
    /// <summary>DAC pel mask.</summary>
    public const ushort DacMaskPort = 0x3C6;
    /// <summary>DAC read index (write) / DAC state (read).</summary>
    public const ushort DacReadIndexPort = 0x3C7;
    /// <summary>DAC write index.</summary>
    public const ushort DacWriteIndexPort = 0x3C8;
    /// <summary>DAC data (three 6-bit components per entry).</summary>
    public const ushort DacDataPort = 0x3C9;
    /// <summary>Feature control read.</summary>
    public const ushort FeatureControlReadPort = 0x3CA;
    /// <summary>Miscellaneous output read.</summary>
    public const ushort MiscOutputReadPort = 0x3CC;
    /// <summary>Graphics controller index.</summary>
    public const ushort GraphicsIndexPort = 0x3CE;
    /// <summary>Graphics controller data.</summary>
    public const ushort GraphicsDataPort = 0x3CF;
    /// <summary>CRTC index in color mode (misc output bit 0 = 1); mono is 0x3B4.</summary>
    public const ushort CrtcIndexColorPort = 0x3D4;
    /// <summary>CRTC data in color mode; mono is 0x3B5.</summary>
    public const ushort CrtcDataColorPort = 0x3D5;
    /// <summary>Input status 1 read / feature control write in color mode; mono is 0x3BA.</summary>
    public const ushort InputStatus1ColorPort = 0x3DA;

    /// <summary>Size of one plane.</summary>
    public const int PlaneSize = 0x10000;

    internal readonly byte[][] Planes = [new byte[PlaneSize], new byte[PlaneSize], new byte[PlaneSize], new byte[PlaneSize]];
    internal readonly byte[] Seq = new byte[5];
    internal readonly byte[] Crtc = new byte[25];
    internal readonly byte[] Gc = new byte[9];
    internal readonly byte[] Attr = new byte[21];
    internal byte Misc;
    readonly byte[] dac = new byte[256 * 3];
    readonly byte[] latch = new byte[4];
    readonly VirtualClock? clock;

    byte seqIndex, crtcIndex, gcIndex, attrIndex, featureControl, videoEnable, pelMask;
    bool attrDataNext;
    byte dacReadIndex, dacWriteIndex, dacReadComponent, dacWriteComponent;
    bool dacReadMode;
    readonly byte[] dacWriteBuffer = new byte[3];
    long statusReads;

    /// <param name="clock">Optional: derive input status 1's retrace bits from guest time instead of a read counter.</param>
    public VgaDevice(VirtualClock? clock = null)
    {
        this.clock = clock;
        Reset();
    }

    /// <summary>Incremented on every change that can affect the displayed screen (video memory, register values).</summary>
    public long Generation { get; private set; }

    /// <summary>Registers ports 0x3B0–0x3DF (byte-wide; the bus splits wider accesses).</summary>
    public void Attach(IoBus io) => io.Register(FirstPort, PortCount, this, acceptsWide: false);

    /// <summary>
    /// Resets to the state a VGA BIOS leaves after setting mode 3 (80×25 color text at 0xB8000, EGA-compatible DAC
    /// colors in entries 0–63, attribute PAS set). The chip's own power-on register contents are undefined; this
    /// choice lets firmware-less guests (Multiboot kernels writing to 0xB8000) display text. Video memory is cleared.
    /// </summary>
    public void Reset()
    {
        foreach (var p in Planes) Array.Clear(p);
        Misc = 0x67;
        ReadOnlySpan<byte> seq = [0x03, 0x00, 0x03, 0x00, 0x02];
        ReadOnlySpan<byte> crtc = [0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00,
            0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF];
        ReadOnlySpan<byte> gc = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF];
        ReadOnlySpan<byte> attr = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D,
            0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00];
        seq.CopyTo(Seq);
        crtc.CopyTo(Crtc);
        gc.CopyTo(Gc);
        attr.CopyTo(Attr);
        seqIndex = crtcIndex = gcIndex = 0;
        attrIndex = 0x20;
        attrDataNext = false;
        featureControl = 0;
        videoEnable = 1;
        pelMask = 0xFF;
        Array.Clear(dac);
        for (int i = 0; i < 64; i++)
        {
            // EGA color bits: 0 B, 1 G, 2 R (2/3 intensity), 3 b, 4 g, 5 r (1/3 intensity).
            dac[i * 3] = (byte)(((i >> 2) & 1) * 0x2A + ((i >> 5) & 1) * 0x15);
            dac[i * 3 + 1] = (byte)(((i >> 1) & 1) * 0x2A + ((i >> 4) & 1) * 0x15);
            dac[i * 3 + 2] = (byte)((i & 1) * 0x2A + ((i >> 3) & 1) * 0x15);
        }
        dacReadIndex = dacWriteIndex = dacReadComponent = dacWriteComponent = 0;
        dacReadMode = false;
        Array.Clear(latch);
        statusReads = 0;
        Generation++;
    }

    /// <summary>The current text screen (see <see cref="VgaTextRenderer"/>).</summary>
    public TextScreen GetTextScreen() => VgaTextRenderer.Render(this);

    /// <summary>The current text screen as Unicode rows joined by '\n' (see <see cref="TextScreen.ToText"/>).</summary>
    public string ToText() => GetTextScreen().ToText();

    /// <summary>The attribute index's palette address source bit (bit 5): the palette drives the display.</summary>
    internal bool AttributePaletteSource => (attrIndex & 0x20) != 0;

    /// <summary>True when the CRTC and input status 1 answer at 0x3Dx (misc output bit 0), else at 0x3Bx.</summary>
    public bool ColorAddressing => (Misc & 1) != 0;

    /// <summary>A DAC entry's 6-bit red, green and blue components.</summary>
    public (byte R, byte G, byte B) GetDacEntry(int index)
    {
        int i = (index & 0xFF) * 3;
        return (dac[i], dac[i + 1], dac[i + 2]);
    }

    // ---------------------------------------------------------------- I/O ports

    /// <inheritdoc />
    public uint In(ushort port, int size)
    {
        if (size <= 1) return ReadPort(port);
        uint v = 0;
        for (int i = 0; i < size && i < 4; i++) v |= (uint)ReadPort((ushort)(port + i)) << (8 * i);
        return v;
    }

    /// <inheritdoc />
    public void Out(ushort port, int size, uint value)
    {
        if (size <= 1) { WritePort(port, (byte)value); return; }
        for (int i = 0; i < size && i < 4; i++) WritePort((ushort)(port + i), (byte)(value >> (8 * i)));
    }

    byte ReadPort(ushort port)
    {
        ushort crtcBase = ColorAddressing ? (ushort)0x3D0 : (ushort)0x3B0;
        switch (port)
        {
            case AttributePort: return attrIndex;
            case AttributeDataReadPort: return (attrIndex & 0x1F) < Attr.Length ? Attr[attrIndex & 0x1F] : (byte)0;
            case MiscOutputWritePort: return 0x10;                 // input status 0: switch sense 1, no CRT interrupt
            case VideoEnablePort: return videoEnable;
            case SequencerIndexPort: return seqIndex;
            case SequencerDataPort: return seqIndex < Seq.Length ? Seq[seqIndex] : (byte)0xFF;
            case DacMaskPort: return pelMask;
            case DacReadIndexPort: return dacReadMode ? (byte)0x03 : (byte)0x00;   // DAC state
            case DacWriteIndexPort: return dacWriteIndex;
            case DacDataPort: return ReadDac();
            case FeatureControlReadPort: return featureControl;
            case MiscOutputReadPort: return Misc;
            case GraphicsIndexPort: return gcIndex;
            case GraphicsDataPort: return gcIndex < Gc.Length ? Gc[gcIndex] : (byte)0xFF;
        }
        if (port == crtcBase + 4) return crtcIndex;
        if (port == crtcBase + 5) return crtcIndex < Crtc.Length ? Crtc[crtcIndex] : (byte)0xFF;
        if (port == crtcBase + 0xA) return ReadInputStatus1();
        return 0xFF;                                              // not decoded (includes the other CRTC address set)
    }

    void WritePort(ushort port, byte value)
    {
        ushort crtcBase = ColorAddressing ? (ushort)0x3D0 : (ushort)0x3B0;
        switch (port)
        {
            case AttributePort: WriteAttribute(value); return;
            case MiscOutputWritePort: Set(ref Misc, value); return;
            case VideoEnablePort: videoEnable = (byte)(value & 1); return;
            case SequencerIndexPort: seqIndex = (byte)(value & 0x07); return;
            case SequencerDataPort:
                if (seqIndex < Seq.Length) Set(ref Seq[seqIndex], (byte)(value & SeqMask[seqIndex]));
                return;
            case DacMaskPort: pelMask = value; return;
            case DacReadIndexPort:
                dacReadIndex = value;
                dacReadComponent = 0;
                dacReadMode = true;
                return;
            case DacWriteIndexPort:
                dacWriteIndex = value;
                dacWriteComponent = 0;
                dacReadMode = false;
                return;
            case DacDataPort: WriteDac(value); return;
            case GraphicsIndexPort: gcIndex = (byte)(value & 0x0F); return;
            case GraphicsDataPort:
                if (gcIndex < Gc.Length) Set(ref Gc[gcIndex], (byte)(value & GcMask[gcIndex]));
                return;
        }
        if (port == crtcBase + 4) { crtcIndex = (byte)(value & 0x1F); return; }
        if (port == crtcBase + 5) { WriteCrtc(value); return; }
        if (port == crtcBase + 0xA) { featureControl = (byte)(value & 0x03); return; }
        // Everything else in 0x3B0–0x3DF is not decoded by the VGA: ignored.
    }

    static ReadOnlySpan<byte> SeqMask => [0x03, 0x3D, 0x0F, 0x3F, 0x0E];
    static ReadOnlySpan<byte> GcMask => [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF];
    static ReadOnlySpan<byte> AttrMask => [0xEF, 0xFF, 0x3F, 0x0F, 0x0F];   // 0x10–0x14

    void Set(ref byte register, byte value)
    {
        if (register == value) return;
        register = value;
        Generation++;
    }

    void WriteCrtc(byte value)
    {
        if (crtcIndex >= Crtc.Length) return;
        // CRTC 0x11 bit 7 write-protects registers 0–7, except the line compare bit 8 (bit 4) of the overflow register 7.
        if (crtcIndex <= 7 && (Crtc[0x11] & 0x80) != 0)
        {
            if (crtcIndex == 7) Set(ref Crtc[7], (byte)((Crtc[7] & ~0x10) | (value & 0x10)));
            return;
        }
        Set(ref Crtc[crtcIndex], value);
    }

    void WriteAttribute(byte value)
    {
        if (!attrDataNext)
        {
            byte old = attrIndex;
            attrIndex = (byte)(value & 0x3F);
            attrDataNext = true;
            if (((old ^ attrIndex) & 0x20) != 0) Generation++;  // PAS blanks/unblanks the display
            return;
        }
        attrDataNext = false;
        int index = attrIndex & 0x1F;
        if (index < 0x10)
        {
            // Palette registers are loaded only while PAS = 0 (while the palette is in use they are read-only).
            if ((attrIndex & 0x20) == 0) Set(ref Attr[index], (byte)(value & 0x3F));
        }
        else if (index < Attr.Length) Set(ref Attr[index], (byte)(value & AttrMask[index - 0x10]));
    }

    byte ReadInputStatus1()
    {
        attrDataNext = false;                                      // reading input status 1 resets the attribute flip-flop
        bool retrace, blank;
        if (clock is null)
        {
            long n = statusReads++ & 15;
            retrace = n >= 14;
            blank = retrace || (n & 1) != 0;
        }
        else
        {
            const long lineNs = 31_778, frameLines = 449;
            long t = clock.Now % (lineNs * frameLines);
            long line = t / lineNs, inLine = t % lineNs;
            retrace = line is 412 or 413;
            blank = line >= 400 || inLine >= lineNs * 640 / 800;
        }
        return (byte)((retrace ? 0x08 : 0) | (blank ? 0x01 : 0));
    }

    byte ReadDac()
    {
        byte v = dac[dacReadIndex * 3 + dacReadComponent];
        if (++dacReadComponent == 3)
        {
            dacReadComponent = 0;
            dacReadIndex++;
        }
        return v;
    }

    void WriteDac(byte value)
    {
        dacWriteBuffer[dacWriteComponent] = (byte)(value & 0x3F);
        if (++dacWriteComponent < 3) return;
        dacWriteComponent = 0;
        dacWriteBuffer.CopyTo(dac, dacWriteIndex * 3);           // the entry is updated once all three components arrive
        dacWriteIndex++;
        Generation++;
    }

    // ---------------------------------------------------------------- video memory

    /// <summary>Maps a window offset (from 0xA0000) to an offset inside the selected memory map, or -1.</summary>
    int WindowOffset(uint offset)
    {
        if ((Misc & 0x02) == 0 || offset >= 0x20000) return -1;
        switch ((Gc[6] >> 2) & 3)
        {
            case 0: return (int)offset;                                        // A0000–BFFFF, 128 KiB
            case 1: return offset < 0x10000 ? (int)offset : -1;                // A0000–AFFFF, 64 KiB
            case 2: return offset is >= 0x10000 and < 0x18000 ? (int)(offset - 0x10000) : -1;   // B0000–B7FFF
            default: return offset >= 0x18000 ? (int)(offset - 0x18000) : -1;  // B8000–BFFFF
        }
    }

    /// <summary>Reads a byte of the legacy window at <paramref name="offset"/> from 0xA0000 (0xFF outside the selected map).</summary>
    /// <summary>Physical address of the legacy video window (<see cref="WindowLength"/> bytes, mapped with <see cref="PhysicalMemory.MapMmio"/>).</summary>
    public const uint WindowBase = 0xA0000, WindowLength = 0x20000;

    byte IMmioHandler.Read8(uint phys) => ReadMemory(phys - WindowBase);

    void IMmioHandler.Write8(uint phys, byte value) => WriteMemory(phys - WindowBase, value);

    public byte ReadMemory(uint offset)
    {
        int a = WindowOffset(offset);
        if (a < 0) return 0xFF;
        int plane;
        int pa;
        if ((Seq[4] & 0x08) != 0) { plane = a & 3; pa = a & ~3; }
        else if ((Gc[5] & 0x10) != 0) { plane = (Gc[4] & 2) | (a & 1); pa = a & ~1; }
        else { plane = Gc[4] & 3; pa = a; }
        pa &= PlaneSize - 1;
        for (int i = 0; i < 4; i++) latch[i] = Planes[i][pa];
        if ((Gc[5] & 0x08) == 0) return latch[plane];
        // Read mode 1: a bit is 1 where every plane enabled in color don't care matches color compare.
        int diff = 0;
        for (int i = 0; i < 4; i++)
        {
            if ((Gc[7] & (1 << i)) == 0) continue;
            byte want = (Gc[2] & (1 << i)) != 0 ? (byte)0xFF : (byte)0x00;
            diff |= latch[i] ^ want;
        }
        return (byte)~diff;
    }

    /// <summary>Writes a byte of the legacy window at <paramref name="offset"/> from 0xA0000 through the graphics controller's write mode.</summary>
    public void WriteMemory(uint offset, byte value)
    {
        int a = WindowOffset(offset);
        if (a < 0) return;
        int planes = Seq[2] & 0x0F;
        int pa;
        if ((Seq[4] & 0x08) != 0) { planes &= 1 << (a & 3); pa = a & ~3; }
        else if ((Seq[4] & 0x04) == 0) { planes &= (a & 1) != 0 ? 0b1010 : 0b0101; pa = a & ~1; }
        else pa = a;
        if (planes == 0) return;
        pa &= PlaneSize - 1;

        int mode = Gc[5] & 3;
        int rotate = Gc[3] & 7;
        byte rotated = (byte)((value >> rotate) | (value << (8 - rotate)));
        byte bitMask = Gc[8];
        bool changed = false;
        for (int i = 0; i < 4; i++)
        {
            if ((planes & (1 << i)) == 0) continue;
            byte data;
            switch (mode)
            {
                case 0:
                    data = (Gc[1] & (1 << i)) != 0 ? ((Gc[0] & (1 << i)) != 0 ? (byte)0xFF : (byte)0) : rotated;
                    data = Combine(data, latch[i], bitMask);
                    break;
                case 1:
                    data = latch[i];
                    break;
                case 2:
                    data = Combine((value & (1 << i)) != 0 ? (byte)0xFF : (byte)0, latch[i], bitMask);
                    break;
                default:
                    data = Combine((Gc[0] & (1 << i)) != 0 ? (byte)0xFF : (byte)0, latch[i], (byte)(rotated & bitMask));
                    break;
            }
            if (Planes[i][pa] != data)
            {
                Planes[i][pa] = data;
                changed = true;
            }
        }
        if (changed) Generation++;
    }

    /// <summary>The data rotate register's function (replace/AND/OR/XOR with the latch), then the bit mask.</summary>
    byte Combine(byte data, byte latched, byte mask)
    {
        data = ((Gc[3] >> 3) & 3) switch
        {
            0 => data,
            1 => (byte)(data & latched),
            2 => (byte)(data | latched),
            _ => (byte)(data ^ latched),
        };
        return (byte)((data & mask) | (latched & ~mask));
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "VGA ": the four planes, every register file (sequencer, CRTC, graphics, attribute,
    /// miscellaneous), the DAC with its read/write state, the latches, the index registers and flip-flops, the status
    /// read counter and the display generation.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("VGA ", 1);
        foreach (var p in Planes) w.WriteCompressed(p);
        w.WriteBytes(Seq);
        w.WriteBytes(Crtc);
        w.WriteBytes(Gc);
        w.WriteBytes(Attr);
        w.WriteByte(Misc);
        w.WriteBytes(dac);
        w.WriteBytes(latch);
        foreach (byte b in (ReadOnlySpan<byte>)[seqIndex, crtcIndex, gcIndex, attrIndex, featureControl, videoEnable, pelMask]) w.WriteByte(b);
        w.WriteBool(attrDataNext);
        foreach (byte b in (ReadOnlySpan<byte>)[dacReadIndex, dacWriteIndex, dacReadComponent, dacWriteComponent]) w.WriteByte(b);
        w.WriteBool(dacReadMode);
        w.WriteBytes(dacWriteBuffer);
        w.WriteInt64(statusReads);
        w.WriteInt64(Generation);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote; index registers are checked against the widths the ports keep.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("VGA ", 1);
        for (int i = 0; i < Planes.Length; i++) r.ReadCompressed("plane " + i, Planes[i]);
        r.ReadBytes("sequencer registers", Seq);
        r.ReadBytes("crtc registers", Crtc);
        r.ReadBytes("graphics registers", Gc);
        r.ReadBytes("attribute registers", Attr);
        Misc = r.ReadByte("miscellaneous output");
        r.ReadBytes("dac", dac);
        r.ReadBytes("latches", latch);
        seqIndex = r.ReadByte("sequencer index", 0, 0x07);
        crtcIndex = r.ReadByte("crtc index", 0, 0x1F);
        gcIndex = r.ReadByte("graphics index", 0, 0x0F);
        attrIndex = r.ReadByte("attribute index", 0, 0x3F);
        featureControl = r.ReadByte("feature control");
        videoEnable = r.ReadByte("video enable");
        pelMask = r.ReadByte("pel mask");
        attrDataNext = r.ReadBool("attribute flip-flop");
        dacReadIndex = r.ReadByte("dac read index");
        dacWriteIndex = r.ReadByte("dac write index");
        dacReadComponent = r.ReadByte("dac read component", 0, 2);
        dacWriteComponent = r.ReadByte("dac write component", 0, 2);
        dacReadMode = r.ReadBool("dac read mode");
        r.ReadBytes("dac write buffer", dacWriteBuffer);
        statusReads = r.ReadInt64("status reads", 0, long.MaxValue);
        Generation = r.ReadInt64("generation", 0, long.MaxValue);
        r.EndSection();
    }
}
