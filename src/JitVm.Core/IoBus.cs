namespace JitVm.Core;

/// <summary>A device that answers on one or more I/O ports.</summary>
public interface IIoDevice
{
    /// <summary>Reads <paramref name="size"/> bytes (1, 2 or 4) from <paramref name="port"/>.</summary>
    uint In(ushort port, int size);

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="value"/> to <paramref name="port"/>.</summary>
    void Out(ushort port, int size, uint value);
}

/// <summary>
/// The 64 KiB x86 I/O space. Ports without a device read as all ones (a floating ISA bus) and ignore writes.
/// Word and dword accesses go to the device registered at the first port; a device that only claims byte ports
/// sees a wide access split into byte accesses, as the ISA bus would.
/// </summary>
public sealed class IoBus
{
    readonly IIoDevice?[] ports = new IIoDevice?[65536];
    readonly bool[] wide = new bool[65536];

    /// <summary>Registers <paramref name="device"/> on ports [first, first+count).</summary>
    /// <param name="acceptsWide">The device handles 16/32-bit accesses itself instead of having them split.</param>
    public void Register(ushort first, int count, IIoDevice device, bool acceptsWide = false)
    {
        if (count <= 0 || first + count > 65536) throw new ArgumentOutOfRangeException(nameof(count));
        for (int i = 0; i < count; i++)
        {
            ports[first + i] = device;
            wide[first + i] = acceptsWide;
        }
    }

    public IIoDevice? DeviceAt(ushort port) => ports[port];

    public uint In(ushort port, int size)
    {
        var dev = ports[port];
        if (size == 1 || (dev is not null && wide[port]))
            return dev is null ? (size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1) : dev.In(port, size);
        uint v = 0;
        for (int i = 0; i < size; i++)
        {
            ushort p = (ushort)(port + i);
            var d = ports[p];
            v |= (d is null ? 0xFFu : d.In(p, 1) & 0xFF) << (8 * i);
        }
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        var dev = ports[port];
        if (size == 1 || (dev is not null && wide[port]))
        {
            dev?.Out(port, size, value);
            return;
        }
        for (int i = 0; i < size; i++)
        {
            ushort p = (ushort)(port + i);
            ports[p]?.Out(p, 1, (value >> (8 * i)) & 0xFF);
        }
    }
}
