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

    /// <summary>
    /// Called the first time the guest touches each port no device claims (with whether it was a write), e.g. to
    /// log it; such reads return all ones and writes are dropped either way.
    /// </summary>
    public Action<ushort, bool>? UnhandledAccess { get; set; }

    readonly bool[] reported = new bool[65536];

    void Unhandled(ushort port, bool write)
    {
        if (reported[port] || UnhandledAccess is not { } report) return;
        reported[port] = true;
        report(port, write);
    }

    /// <summary>
    /// Sees every IN and OUT as the CPU makes it (port, size, value), before the split into byte accesses (run
    /// --trace io). Null, the default, costs one test per access.
    /// </summary>
    public IIoTracer? Tracer { get; set; }

    public uint In(ushort port, int size)
    {
        uint value = Read(port, size);
        Tracer?.In(port, size, value);
        return value;
    }

    public void Out(ushort port, int size, uint value)
    {
        // Reported before the device acts, so the record comes ahead of whatever the write sets off.
        Tracer?.Out(port, size, value);
        Write(port, size, value);
    }

    uint Read(ushort port, int size)
    {
        var dev = ports[port];
        if (size == 1 || (dev is not null && wide[port]))
        {
            if (dev is not null) return dev.In(port, size);
            Unhandled(port, false);
            return size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
        }
        uint v = 0;
        for (int i = 0; i < size; i++)
        {
            ushort p = (ushort)(port + i);
            var d = ports[p];
            if (d is null) Unhandled(p, false);
            v |= (d is null ? 0xFFu : d.In(p, 1) & 0xFF) << (8 * i);
        }
        return v;
    }

    void Write(ushort port, int size, uint value)
    {
        var dev = ports[port];
        if (size == 1 || (dev is not null && wide[port]))
        {
            if (dev is null) Unhandled(port, true);
            else dev.Out(port, size, value);
            return;
        }
        for (int i = 0; i < size; i++)
        {
            ushort p = (ushort)(port + i);
            if (ports[p] is { } d) d.Out(p, 1, (value >> (8 * i)) & 0xFF);
            else Unhandled(p, true);
        }
    }
}

/// <summary>Receives the port accesses of an <see cref="IoBus"/> (<see cref="IoBus.Tracer"/>).</summary>
public interface IIoTracer
{
    /// <summary>An IN of <paramref name="size"/> bytes from <paramref name="port"/> returned <paramref name="value"/>.</summary>
    void In(ushort port, int size, uint value);

    /// <summary>An OUT of the low <paramref name="size"/> bytes of <paramref name="value"/> to <paramref name="port"/> is about to happen.</summary>
    void Out(ushort port, int size, uint value);
}
