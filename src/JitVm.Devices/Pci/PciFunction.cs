using System.Buffers.Binary;

namespace JitVm.Devices.Pci;

/// <summary>
/// One PCI function's 256-byte configuration space (type 0 header, PCI Local Bus spec 2.1 §6.1–6.2), with a
/// per-bit writable mask, per-bit write-one-to-clear mask and a power-on image that <see cref="Reset"/> restores.
/// </summary>
/// <remarks>
/// <para>Guest writes reach a byte as <c>new = (old &amp; ~writable) | (value &amp; writable)</c>, then bits that are
/// write-one-to-clear and written as 1 are cleared; everything else keeps its value (read-only).</para>
/// <para>The constructor sets up the standard header: vendor/device/revision/class/header type read-only; the
/// command register writable in bits 0, 1, 2, 6 and 8 (I/O, memory, bus master, parity, SERR#); the status register's
/// error bits 15–11 and 8 write-one-to-clear; cache line size, latency timer and interrupt line read/write. Devices
/// narrow or widen this with <see cref="DefineRegister"/>. Unimplemented registers read 0 (spec §6.1).</para>
/// <para>BARs (<see cref="DefineBar"/>) implement the sizing protocol of §6.2.5.1 through the writable mask: the
/// address bits below the region size are read-only 0, so writing all ones reads back the size mask; bit 0 is the
/// read-only I/O indicator.</para>
/// </remarks>
public class PciFunction
{
    /// <summary>Offsets of the standard header registers.</summary>
    public const int VendorIdOffset = 0x00, DeviceIdOffset = 0x02, CommandOffset = 0x04, StatusOffset = 0x06,
        RevisionOffset = 0x08, ClassOffset = 0x09, CacheLineOffset = 0x0C, LatencyOffset = 0x0D,
        HeaderTypeOffset = 0x0E, Bar0Offset = 0x10, InterruptLineOffset = 0x3C, InterruptPinOffset = 0x3D;

    /// <summary>Command register bits: I/O space enable (bit 0), memory space enable (bit 1), bus master (bit 2).</summary>
    public const ushort CommandIo = 1, CommandMemory = 2, CommandBusMaster = 4;

    /// <summary>Number of BARs in a type 0 header.</summary>
    public const int BarCount = 6;

    readonly byte[] config = new byte[256];
    readonly byte[] powerOn = new byte[256];
    readonly byte[] writable = new byte[256];
    readonly byte[] clearOnOne = new byte[256];
    readonly uint[] barSize = new uint[BarCount];
    readonly bool[] barIsIo = new bool[BarCount];

    /// <summary>Creates a function with the given identity; all other registers start as described in the remarks.</summary>
    /// <param name="classCode">Base class, sub-class and programming interface as 0xBBSSPP (config bytes 0x0B, 0x0A, 0x09).</param>
    /// <param name="headerType">Byte 0x0E: 0x00 for a single-function device, bit 7 set on function 0 of a multi-function device.</param>
    public PciFunction(ushort vendorId, ushort deviceId, byte revision, uint classCode, byte headerType = 0)
    {
        DefineRegister(VendorIdOffset, 2, vendorId);
        DefineRegister(DeviceIdOffset, 2, deviceId);
        DefineRegister(CommandOffset, 2, 0, writableMask: 0x0147);
        DefineRegister(StatusOffset, 2, 0, writeOneToClearMask: 0xF900);
        DefineRegister(RevisionOffset, 1, revision);
        DefineRegister(ClassOffset, 3, classCode & 0xFFFFFF);
        DefineRegister(CacheLineOffset, 1, 0, writableMask: 0xFF);
        DefineRegister(LatencyOffset, 1, 0, writableMask: 0xFF);
        DefineRegister(HeaderTypeOffset, 1, headerType);
        DefineRegister(InterruptLineOffset, 1, 0, writableMask: 0xFF);
    }

    /// <summary>
    /// Raised with the BAR index when that BAR's decoding changes: its base address was rewritten, or the command
    /// register's I/O (for I/O BARs) or memory (for memory BARs) enable bit flipped, or the function was reset. The
    /// device owning the BAR then reads <see cref="BarBase"/> and <see cref="IsBarDecoded"/> to move its ports.
    /// During the guest's sizing protocol the base transiently reads as the size mask; handlers must tolerate that.
    /// </summary>
    public event Action<int>? BarChanged;

    /// <summary>Vendor ID (offset 0x00).</summary>
    public ushort VendorId => Get16(VendorIdOffset);

    /// <summary>Device ID (offset 0x02).</summary>
    public ushort DeviceId => Get16(DeviceIdOffset);

    /// <summary>Current command register (offset 0x04).</summary>
    public ushort Command => Get16(CommandOffset);

    /// <summary>
    /// Sets the power-on value and the guest-visible behaviour of a register of <paramref name="size"/> bytes (1–4)
    /// at <paramref name="offset"/>. Bits outside both masks are read-only. Also sets the current value.
    /// </summary>
    public void DefineRegister(int offset, int size, uint resetValue, uint writableMask = 0, uint writeOneToClearMask = 0)
    {
        if (size is < 1 or > 4 || offset < 0 || offset + size > 256) throw new ArgumentOutOfRangeException(nameof(offset));
        for (int i = 0; i < size; i++)
        {
            int o = offset + i, s = 8 * i;
            config[o] = powerOn[o] = (byte)(resetValue >> s);
            writable[o] = (byte)(writableMask >> s);
            clearOnOne[o] = (byte)(writeOneToClearMask >> s);
        }
    }

    /// <summary>
    /// Declares BAR <paramref name="index"/> (0–5) as a 32-bit region of <paramref name="size"/> bytes (a power of
    /// two; at least 4 for I/O, 16 for memory), power-on base 0. I/O BARs read bit 0 as 1 and implement all 32
    /// address bits; memory BARs are 32-bit, non-prefetchable (bits 3:0 = 0).
    /// </summary>
    public void DefineBar(int index, uint size, bool isIo)
    {
        if (index is < 0 or >= BarCount) throw new ArgumentOutOfRangeException(nameof(index));
        if (size == 0 || (size & (size - 1)) != 0 || size < (isIo ? 4u : 16u) || (isIo && size > 0x10000))
            throw new ArgumentOutOfRangeException(nameof(size), "BAR size must be a power of two (4 B-64 KiB for I/O, >= 16 for memory)");
        barSize[index] = size;
        barIsIo[index] = isIo;
        // I/O BARs implement bits 31:16 too (as QEMU's devices do): the spec would allow them to be hardwired 0,
        // but SeaBIOS sizes a BAR as ~(value & mask) + 1 and would then see a 4 GiB I/O region.
        uint mask = ~(size - 1) & (isIo ? 0xFFFFFFFCu : 0xFFFFFFF0u);
        DefineRegister(Bar0Offset + 4 * index, 4, isIo ? 1u : 0u, writableMask: mask);
    }

    /// <summary>Size of BAR <paramref name="index"/> in bytes, 0 when it is not implemented.</summary>
    public uint BarSize(int index) => barSize[index];

    /// <summary>Whether BAR <paramref name="index"/> is an I/O BAR.</summary>
    public bool BarIsIo(int index) => barIsIo[index];

    /// <summary>The base address currently programmed into BAR <paramref name="index"/> (flag bits removed).</summary>
    public uint BarBase(int index)
    {
        if (barSize[index] == 0) return 0;
        uint raw = Get32(Bar0Offset + 4 * index);
        return raw & (barIsIo[index] ? 0xFFFFFFFCu : 0xFFFFFFF0u);
    }

    /// <summary>Whether the function currently decodes BAR <paramref name="index"/>: implemented and its space
    /// (I/O or memory) enabled in the command register.</summary>
    public bool IsBarDecoded(int index) =>
        barSize[index] != 0 && (Command & (barIsIo[index] ? CommandIo : CommandMemory)) != 0;

    /// <summary>
    /// Guest configuration read of <paramref name="size"/> bytes (1, 2 or 4) at <paramref name="offset"/> (the access
    /// lies within one dword). Override to produce device-specific values on read.
    /// </summary>
    public virtual uint ReadConfig(int offset, int size)
    {
        uint v = 0;
        for (int i = 0; i < size; i++) v |= (uint)config[(offset + i) & 0xFF] << (8 * i);
        return v;
    }

    /// <summary>
    /// Guest configuration write of <paramref name="size"/> bytes at <paramref name="offset"/>: applies the writable
    /// and write-one-to-clear masks, raises <see cref="BarChanged"/> for BARs whose decoding changed, then calls
    /// <see cref="OnConfigWritten"/>.
    /// </summary>
    public virtual void WriteConfig(int offset, int size, uint value)
    {
        Span<uint> oldBases = stackalloc uint[BarCount];
        Span<bool> oldDecoded = stackalloc bool[BarCount];
        for (int b = 0; b < BarCount; b++)
        {
            oldBases[b] = BarBase(b);
            oldDecoded[b] = IsBarDecoded(b);
        }
        for (int i = 0; i < size; i++)
        {
            int o = (offset + i) & 0xFF;
            byte v = (byte)(value >> (8 * i));
            byte n = (byte)((config[o] & ~writable[o]) | (v & writable[o]));
            n &= (byte)~(v & clearOnOne[o]);
            config[o] = n;
        }
        for (int b = 0; b < BarCount; b++)
            if (barSize[b] != 0 && (BarBase(b) != oldBases[b] || IsBarDecoded(b) != oldDecoded[b]))
                BarChanged?.Invoke(b);
        OnConfigWritten(offset, size);
    }

    /// <summary>Restores the power-on configuration space, reports every BAR as changed, then calls <see cref="OnReset"/>.</summary>
    public void Reset()
    {
        powerOn.CopyTo(config, 0);
        for (int b = 0; b < BarCount; b++)
            if (barSize[b] != 0) BarChanged?.Invoke(b);
        OnReset();
    }

    /// <summary>Hook called after a guest write to [<paramref name="offset"/>, +<paramref name="size"/>) was applied.</summary>
    protected virtual void OnConfigWritten(int offset, int size) { }

    /// <summary>Hook called at the end of <see cref="Reset"/>.</summary>
    protected virtual void OnReset() { }

    /// <summary>Whether the guest access [offset, +size) touches byte <paramref name="register"/>.</summary>
    protected static bool Touches(int offset, int size, int register) => register >= offset && register < offset + size;

    /// <summary>Current value of a configuration byte.</summary>
    protected byte Get8(int offset) => config[offset];

    /// <summary>Current value of a little-endian configuration word.</summary>
    protected ushort Get16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(config.AsSpan(offset));

    /// <summary>Current value of a little-endian configuration dword.</summary>
    protected uint Get32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(offset));

    /// <summary>Device-side update of a configuration byte (ignores the guest masks; e.g. setting a status bit).</summary>
    protected void Set8(int offset, byte value) => config[offset] = value;

    /// <summary>Device-side update of a configuration word (ignores the guest masks).</summary>
    protected void Set16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(config.AsSpan(offset), value);

    /// <summary>Writes the configuration space (the masks and power-on image are the device's definition, built again with it).</summary>
    public void SaveState(Core.State.StateWriter w) => w.WriteBytes(config);

    /// <summary>
    /// Reads what <see cref="SaveState"/> wrote, checking that it is the same kind of function (vendor and device ID).
    /// Nothing is notified: what the registers control (BAR decoding, PAM shadowing) is restored on its own side.
    /// </summary>
    public void LoadState(Core.State.StateReader r)
    {
        Span<byte> image = stackalloc byte[256];
        r.ReadBytes("configuration space", image);
        if (BinaryPrimitives.ReadUInt32LittleEndian(image) != BinaryPrimitives.ReadUInt32LittleEndian(powerOn))
            throw r.Invalid("configuration space", $"the snapshot's function is {BinaryPrimitives.ReadUInt16LittleEndian(image):X4}:{BinaryPrimitives.ReadUInt16LittleEndian(image[2..]):X4}, this one {VendorId:X4}:{DeviceId:X4}");
        image.CopyTo(config);
    }
}
