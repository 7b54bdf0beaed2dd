using JitVm.Core;

namespace JitVm.Devices.Pci;

/// <summary>
/// PCI bus 0 behind the host bridge's configuration mechanism #1 (PCI Local Bus spec 2.1 §3.7.4.1):
/// CONFIG_ADDRESS at 0xCF8 and CONFIG_DATA at 0xCFC–0xCFF.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>CONFIG_ADDRESS is latched only by full dword writes to 0xCF8 and returned only by dword reads; as the spec
/// says, other accesses there are ordinary I/O cycles, so byte/word accesses to 0xCF8 are ignored (read all ones) and
/// 0xCF9–0xCFB are left unclaimed (the PIIX3 reset control register at 0xCF9 belongs elsewhere).
/// Bits 30:24 (reserved) and 1:0 read as 0.</item>
/// <item>CONFIG_DATA: an access at 0xCFC+n reaches configuration offset (CONFIG_ADDRESS[7:2] &lt;&lt; 2) + n, so byte
/// and word accesses at 0xCFD–0xCFF select bytes within the dword. Bytes of an access that run past 0xCFF read all
/// ones and are not written.</item>
/// <item>With the enable bit (31) clear no configuration cycle happens: CONFIG_DATA reads all ones and ignores
/// writes. Only bus 0 exists (no PCI-to-PCI bridges); functions not added, or on another bus, are absent: reads
/// return all ones (master abort) and writes are dropped.</item>
/// </list>
/// </remarks>
public sealed class PciBus : IIoDevice
{
    /// <summary>CONFIG_ADDRESS port.</summary>
    public const ushort ConfigAddressPort = 0xCF8;

    /// <summary>First CONFIG_DATA port (0xCFC–0xCFF).</summary>
    public const ushort ConfigDataPort = 0xCFC;

    const uint EnableBit = 0x8000_0000;
    const uint AddressMask = 0x80FF_FFFC;    // reserved bits 30:24 and bits 1:0 read as 0

    readonly PciFunction?[] functions = new PciFunction?[32 * 8];
    uint address;

    /// <summary>The current CONFIG_ADDRESS value.</summary>
    public uint ConfigAddress => address;

    /// <summary>Registers CONFIG_ADDRESS (0xCF8) and CONFIG_DATA (0xCFC–0xCFF), handling wide accesses itself.</summary>
    public void Attach(IoBus io)
    {
        io.Register(ConfigAddressPort, 1, this, acceptsWide: true);
        io.Register(ConfigDataPort, 4, this, acceptsWide: true);
    }

    /// <summary>Places <paramref name="f"/> at bus 0, <paramref name="device"/> (0–31), <paramref name="function"/> (0–7).</summary>
    public void Add(int device, int function, PciFunction f)
    {
        if (device is < 0 or > 31) throw new ArgumentOutOfRangeException(nameof(device));
        if (function is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(function));
        ArgumentNullException.ThrowIfNull(f);
        ref var slot = ref functions[device * 8 + function];
        if (slot is not null) throw new InvalidOperationException($"PCI 00:{device:X2}.{function} is already populated");
        slot = f;
    }

    /// <summary>The function at bus 0, <paramref name="device"/>, <paramref name="function"/>, or null.</summary>
    public PciFunction? Get(int device, int function) =>
        device is >= 0 and <= 31 && function is >= 0 and <= 7 ? functions[device * 8 + function] : null;

    /// <summary>Clears CONFIG_ADDRESS and resets every function to its power-on configuration.</summary>
    public void Reset()
    {
        address = 0;
        foreach (var f in functions) f?.Reset();
    }

    /// <summary>The function CONFIG_ADDRESS selects for a configuration cycle, or null (disabled, other bus, absent).</summary>
    PciFunction? Target()
    {
        if ((address & EnableBit) == 0) return null;
        if (((address >> 16) & 0xFF) != 0) return null;
        return functions[(address >> 8) & 0xFF];    // device (15:11) and function (10:8) form the slot index
    }

    public uint In(ushort port, int size)
    {
        if (port == ConfigAddressPort) return size == 4 ? address : AllOnes(size);
        int n = port - ConfigDataPort;
        if (n is < 0 or > 3) return AllOnes(size);
        var f = Target();
        if (f is null) return AllOnes(size);
        int inside = Math.Min(size, 4 - n);
        uint v = f.ReadConfig((int)(address & 0xFC) + n, inside);
        for (int i = inside; i < size; i++) v |= 0xFFu << (8 * i);
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port == ConfigAddressPort)
        {
            if (size == 4) address = value & AddressMask;
            return;
        }
        int n = port - ConfigDataPort;
        if (n is < 0 or > 3) return;
        var f = Target();
        if (f is null) return;
        int inside = Math.Min(size, 4 - n);
        f.WriteConfig((int)(address & 0xFC) + n, inside, value);
    }

    static uint AllOnes(int size) => size >= 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;

    /// <summary>Writes section "PCI ": CONFIG_ADDRESS and, per populated slot, its number and configuration space.</summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("PCI ", 1);
        w.WriteUInt32(address);
        w.WriteInt32(functions.Count(f => f is not null));
        for (int i = 0; i < functions.Length; i++)
        {
            if (functions[i] is not { } f) continue;
            w.WriteInt32(i);
            f.SaveState(w);
        }
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote; the same slots must be populated.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("PCI ", 1);
        uint a = r.ReadUInt32("config address");
        if ((a & ~AddressMask) != 0) throw r.Invalid("config address", "reserved bits set");
        int present = functions.Count(f => f is not null);
        r.ReadInt32("function count", present, present);
        int last = -1;
        for (int k = 0; k < present; k++)
        {
            int slot = r.ReadInt32("slot", last + 1, functions.Length - 1);
            if (functions[slot] is not { } f) throw r.Invalid("slot", $"00:{slot >> 3:X2}.{slot & 7} is populated in the snapshot but not on this machine");
            f.LoadState(r);
            last = slot;
        }
        address = a;
        r.EndSection();
    }
}
