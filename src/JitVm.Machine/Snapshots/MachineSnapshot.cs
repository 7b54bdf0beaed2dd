using System.Buffers.Binary;
using System.Security.Cryptography;
using JitVm.Core.State;
using JitVm.Core.Storage;
using JitVm.Machine.Firmware;

namespace JitVm.Machine.Snapshots;

/// <summary>What a snapshot's header says about the machine it was taken on (see <see cref="MachineSnapshot.Inspect"/>).</summary>
/// <param name="FormatVersion">The file format version.</param>
/// <param name="Instructions">Guest instructions retired when it was taken.</param>
/// <param name="GuestTimeNs">Guest time, in nanoseconds since power-on, when it was taken.</param>
/// <param name="MemoryBytes">RAM size.</param>
/// <param name="CpuModel">The CPU model (name, generation, bus width, FPU, CPUID signature and features).</param>
/// <param name="Disks">One line per drive slot with an image: slot, size, the image's type, format and path as known then.</param>
public sealed record SnapshotInfo(uint FormatVersion, long Instructions, long GuestTimeNs, uint MemoryBytes, string CpuModel, IReadOnlyList<string> Disks);

/// <summary>
/// Machine snapshots: the complete state of a <see cref="Machine"/> (CPU with its x87, RAM and ROM contents and the
/// memory map, the virtual clock and its timers, every device) written to a stream, and read back into a machine built
/// from the same <see cref="MachineConfig"/> (in this process or another), after which it runs exactly as the machine it
/// was taken from would have. Disk contents are not included: the snapshot records which images the drives held (size
/// and a SHA-256 of their first 64 KiB) and refuses a machine whose disks differ. The translation caches are rebuilt,
/// not saved. See docs/decisions/0014-snapshots.md for the file format and the choices behind it.
/// </summary>
/// <remarks>
/// Call both methods on the machine's thread between slices (not while <see cref="Machine.Run"/> is executing
/// guest code), e.g. after <see cref="Machine.Run"/> returned, from <see cref="Machine.SliceEnded"/>, or while a
/// debugger or monitor holds the machine.
/// </remarks>
public static class MachineSnapshot
{
    /// <summary>The file format version this build writes and the only one it reads.</summary>
    public const uint FormatVersion = 1;

    /// <summary>The first eight bytes of every snapshot file.</summary>
    public static ReadOnlySpan<byte> Magic => "JITVMSS\x1A"u8;

    const int HeaderSize = 24;          // magic, version, flags, payload length
    const int DigestSize = 32;          // SHA-256 of header and payload, after the payload
    const int DiskFingerprintBytes = 64 * 1024;
    const string Creator = "JitVm";

    /// <summary>
    /// Writes a snapshot of <paramref name="machine"/> to <paramref name="destination"/>. The machine is not changed.
    /// The same state always gives the same bytes.
    /// </summary>
    /// <exception cref="IOException">Writing the stream failed.</exception>
    /// <exception cref="BlockDeviceException">A disk could not be read for its fingerprint.</exception>
    public static void Save(Machine machine, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(destination);
        var w = new StateWriter();
        WriteFacts(machine, w);
        WriteComponents(machine, w);
        var payload = w.WrittenSpan;
        Span<byte> header = stackalloc byte[HeaderSize];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], payload.Length);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(header);
        sha.AppendData(payload);
        destination.Write(header);
        destination.Write(payload);
        destination.Write(sha.GetHashAndReset());
    }

    /// <summary>
    /// Replaces the state of <paramref name="machine"/> with the snapshot read from <paramref name="source"/>. The
    /// machine must have been built from the same configuration as the one the snapshot was taken on: the same RAM size,
    /// CPU model, firmware (and kernel, for direct boots), firmware configuration items and devices, and drives holding
    /// the same images. The file's checksum and these facts are checked before anything changes; if the snapshot still
    /// turns out to be unusable while it is loaded, the machine is put back as it was. Either way the machine is
    /// unchanged when this throws. Its execution engine's caches are dropped and rebuilt as the guest runs.
    /// </summary>
    /// <exception cref="SnapshotFormatException">The data is not a snapshot, is truncated or corrupt, has an unsupported
    /// version, holds an invalid value, or was taken on a differently configured machine; the message says which.</exception>
    /// <exception cref="IOException">Reading the stream failed.</exception>
    /// <exception cref="BlockDeviceException">A disk could not be read to compare its fingerprint.</exception>
    public static void Restore(Machine machine, Stream source)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(source);
        var payload = ReadVerified(source, out _);
        var r = new StateReader(payload);
        CheckFacts(machine, r);
        var backup = new StateWriter();
        WriteComponents(machine, backup);
        try
        {
            ReadComponents(machine, r);
        }
        catch
        {
            ReadComponents(machine, new StateReader(backup.ToArray()));
            throw;
        }
    }

    /// <summary>Writes a snapshot of <paramref name="machine"/> to the file <paramref name="path"/> (replaced whole: written beside it, then renamed).</summary>
    public static void SaveFile(Machine machine, string path)
    {
        string temp = path + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Save(machine, f);
            f.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Restores <paramref name="machine"/> from the snapshot file <paramref name="path"/> (see <see cref="Restore"/>).</summary>
    public static void RestoreFile(Machine machine, string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Restore(machine, f);
    }

    /// <summary>Reads a snapshot's header facts without restoring it (the checksum is verified).</summary>
    /// <exception cref="SnapshotFormatException">Not a snapshot, truncated, corrupt or of an unsupported version.</exception>
    public static SnapshotInfo Inspect(Stream source)
    {
        var payload = ReadVerified(source, out uint version);
        var r = new StateReader(payload);
        var facts = ReadFacts(r);
        return new SnapshotInfo(version, facts.Instructions, facts.GuestTimeNs, facts.MemoryBytes, facts.CpuModel,
            facts.Disks.Where(d => d.Present).Select(d => $"{d.Slot}: {d.Length} bytes, {d.Description}").ToList());
    }

    // ---------------------------------------------------------------- the file

    static byte[] ReadVerified(Stream source, out uint version)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        int got = source.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
        if (got < HeaderSize) throw new SnapshotFormatException($"snapshot truncated: {got} bytes, the header alone is {HeaderSize}");
        if (!header[..8].SequenceEqual(Magic)) throw new SnapshotFormatException("not a JitVm machine snapshot (bad magic in the first 8 bytes)");
        version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version != FormatVersion)
            throw new SnapshotFormatException($"snapshot file format version {version} is not supported: this build reads version {FormatVersion}");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        if (flags != 0) throw new SnapshotFormatException($"snapshot header flags {flags:X8}: no flags are defined in version {FormatVersion}");
        long length = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        if (length <= 0 || length > Array.MaxLength - DigestSize)
            throw new SnapshotFormatException($"snapshot header: payload length {length} is out of range");
        var data = GC.AllocateUninitializedArray<byte>((int)length + DigestSize);
        got = source.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (got < data.Length) throw new SnapshotFormatException($"snapshot truncated: the header announces {length + DigestSize} more bytes, the data has {got}");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(header);
        sha.AppendData(data, 0, (int)length);
        if (!sha.GetHashAndReset().AsSpan().SequenceEqual(data.AsSpan((int)length, DigestSize)))
            throw new SnapshotFormatException("snapshot checksum mismatch: the file is corrupt");
        return data[..(int)length];
    }

    // ---------------------------------------------------------------- facts: what the machine must match

    sealed record DiskFact(string Slot, bool Present, long Length, string Description, byte[] Fingerprint);

    sealed record Facts(long Instructions, long GuestTimeNs, uint MemoryBytes, string CpuModel, byte[] RomDigest, byte[] KernelDigest, List<DiskFact> Disks);

    static IEnumerable<(string Slot, IBlockDevice? Disk)> DiskSlots(MachineConfig c)
    {
        for (int i = 0; i < 4; i++) yield return ($"hd{(char)('a' + i)}", i < c.HardDisks.Count ? c.HardDisks[i] : null);
        yield return ("cdrom", c.CdRom);
        for (int i = 0; i < 2; i++) yield return ($"fd{(char)('a' + i)}", i < c.Floppies.Count ? c.Floppies[i] : null);
    }

    static void WriteFacts(Machine m, StateWriter w)
    {
        w.BeginSection("HDR ", 1);
        w.WriteString(Creator);
        w.WriteInt64(m.Cpu.InstructionCount);
        w.WriteInt64(m.Clock.Now);
        w.WriteUInt32(m.Memory.RamSize);
        w.WriteString(m.Cpu.ModelFingerprint);
        w.WriteBytes(RomDigest(m.Config));
        w.WriteBytes(KernelDigest(m.Config));
        w.EndSection();
        w.BeginSection("DISK", 1);
        var slots = DiskSlots(m.Config).ToList();
        w.WriteInt32(slots.Count);
        foreach (var (slot, disk) in slots)
        {
            w.WriteString(slot);
            w.WriteBool(disk is not null);
            if (disk is null) continue;
            w.WriteInt64(disk.Length);
            w.WriteString(Describe(disk));
            w.WriteBytes(Fingerprint(disk));
        }
        w.EndSection();
    }

    static Facts ReadFacts(StateReader r)
    {
        r.BeginSection("HDR ", 1);
        string creator = r.ReadString("creator", 64);
        if (creator != Creator) throw r.Invalid("creator", $"'{creator}' is not {Creator}");
        long instructions = r.ReadInt64("instruction count", 0, long.MaxValue);
        long now = r.ReadInt64("guest time", 0, long.MaxValue);
        uint memory = r.ReadUInt32("memory size");
        string cpu = r.ReadString("cpu model", 256);
        var rom = new byte[32];
        r.ReadBytes("firmware digest", rom);
        var kernel = new byte[32];
        r.ReadBytes("kernel digest", kernel);
        r.EndSection();
        r.BeginSection("DISK", 1);
        int n = r.ReadInt32("drive slots", 0, 16);
        var disks = new List<DiskFact>();
        for (int i = 0; i < n; i++)
        {
            string slot = r.ReadString("slot", 16);
            bool present = r.ReadBool(slot + " present");
            if (!present)
            {
                disks.Add(new DiskFact(slot, false, 0, "", []));
                continue;
            }
            long length = r.ReadInt64(slot + " size", 0, long.MaxValue);
            string description = r.ReadString(slot + " description", 4096);
            var fingerprint = new byte[32];
            r.ReadBytes(slot + " fingerprint", fingerprint);
            disks.Add(new DiskFact(slot, true, length, description, fingerprint));
        }
        r.EndSection();
        return new Facts(instructions, now, memory, cpu, rom, kernel, disks);
    }

    /// <summary>Reads the facts and refuses a machine that differs from the one the snapshot was taken on.</summary>
    static void CheckFacts(Machine m, StateReader r)
    {
        var f = ReadFacts(r);
        if (f.MemoryBytes != m.Memory.RamSize)
            throw new SnapshotFormatException($"snapshot taken on a machine with {f.MemoryBytes >> 20} MiB of RAM ({f.MemoryBytes} bytes); this one has {m.Memory.RamSize >> 20} MiB");
        if (f.CpuModel != m.Cpu.ModelFingerprint)
            throw new SnapshotFormatException($"snapshot taken on CPU model '{f.CpuModel}'; this machine has '{m.Cpu.ModelFingerprint}'");
        if (!f.RomDigest.AsSpan().SequenceEqual(RomDigest(m.Config)))
            throw new SnapshotFormatException("snapshot taken with another firmware image (--bios) than this machine's");
        if (!f.KernelDigest.AsSpan().SequenceEqual(KernelDigest(m.Config)))
            throw new SnapshotFormatException("snapshot taken with another directly booted kernel (--kernel, --initrd, --append) than this machine's, or with none");
        var here = DiskSlots(m.Config).ToList();
        if (f.Disks.Count != here.Count || f.Disks.Select(d => d.Slot).Where((s, i) => s != here[i].Slot).Any())
            throw new SnapshotFormatException($"snapshot lists drive slots {string.Join(",", f.Disks.Select(d => d.Slot))}; this build has {string.Join(",", here.Select(h => h.Slot))}");
        for (int i = 0; i < here.Count; i++)
        {
            var saved = f.Disks[i];
            var (slot, disk) = here[i];
            if (saved.Present != disk is not null)
                throw new SnapshotFormatException($"snapshot drive {slot}: {(saved.Present ? $"the snapshot's machine had an image there ({saved.Description}), this one has none" : "this machine has an image there, the snapshot's had none")}");
            if (disk is null) continue;
            if (saved.Length != disk.Length)
                throw new SnapshotFormatException($"snapshot drive {slot}: the snapshot's image has {saved.Length} bytes ({saved.Description}), this machine's {disk.Length} ({Describe(disk)})");
            if (!saved.Fingerprint.AsSpan().SequenceEqual(Fingerprint(disk)))
                throw new SnapshotFormatException($"snapshot drive {slot}: the image's first {DiskFingerprintBytes / 1024} KiB differ from the snapshot's ({saved.Description}; this machine: {Describe(disk)}) — another disk, or one written to since the snapshot");
        }
    }

    static byte[] RomDigest(MachineConfig c) => SHA256.HashData(c.Rom ?? DemoRom.Build());

    static byte[] KernelDigest(MachineConfig c)
    {
        if (c.Kernel is not { } k) return new byte[32];
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var w = new StateWriter();
        w.WriteBlob(k.Image);
        w.WriteString(k.CommandLine);
        w.WriteInt32(k.Modules?.Count ?? 0);
        foreach (var mod in k.Modules ?? [])
        {
            w.WriteBlob(mod.Data);
            w.WriteString(mod.CommandLine);
        }
        return SHA256.HashData(w.WrittenSpan);
    }

    /// <summary>The image's type, and its format and path where the device has them (the storage layer's images do).</summary>
    static string Describe(IBlockDevice disk)
    {
        var t = disk.GetType();
        string? format = t.GetProperty("Format")?.GetValue(disk) as string;
        string? path = t.GetProperty("Path")?.GetValue(disk) as string;
        return t.Name + (format is null ? "" : " " + format) + (path is null ? "" : " " + path);
    }

    /// <summary>SHA-256 of the image's size and its first 64 KiB (where partition tables, boot sectors and file-system headers are).</summary>
    static byte[] Fingerprint(IBlockDevice disk)
    {
        int n = (int)Math.Min(DiskFingerprintBytes, disk.Length);
        var head = new byte[8 + n];
        BinaryPrimitives.WriteInt64LittleEndian(head, disk.Length);
        if (n > 0) disk.Read(0, head.AsSpan(8, n));
        return SHA256.HashData(head);
    }

    // ---------------------------------------------------------------- the components

    /// <summary>
    /// Every stateful part of the machine in snapshot order, each with its save and its load: one list, so the order
    /// written is the order read.
    /// </summary>
    static (Action<StateWriter> Save, Action<StateReader> Load)[] Components(Machine m) =>
    [
        (m.SaveBoardState, m.LoadBoardState),
        (m.Clock.SaveState, m.Clock.LoadState),
        (m.Cpu.SaveState, m.Cpu.LoadState),
        (m.Memory.SaveState, m.Memory.LoadState),
        (m.Pic.SaveState, m.Pic.LoadState),
        (m.Pit.SaveState, m.Pit.LoadState),
        (m.PortB.SaveState, m.PortB.LoadState),
        (m.Cmos.SaveState, m.Cmos.LoadState),
        (m.Keyboard.SaveState, m.Keyboard.LoadState),
        (m.Dma.SaveState, m.Dma.LoadState),
        (m.Floppy.SaveState, m.Floppy.LoadState),
        (m.Pci.SaveState, m.Pci.LoadState),
        (m.FwCfg.SaveState, m.FwCfg.LoadState),
        (m.Vga.SaveState, m.Vga.LoadState),
        (m.Ide[0].SaveState, m.Ide[0].LoadState),
        (m.Ide[1].SaveState, m.Ide[1].LoadState),
        (m.Serial.SaveState, m.Serial.LoadState),
        (m.Serial2.SaveState, m.Serial2.LoadState),
        (m.ResetControl.SaveState, m.ResetControl.LoadState),
        (m.CoprocessorError.SaveState, m.CoprocessorError.LoadState),
        (m.Exit.SaveState, m.Exit.LoadState),
        (m.Post.SaveState, m.Post.LoadState),
        (m.ControlPortA.SaveState, m.ControlPortA.LoadState),
        (m.Acpi.SaveState, m.Acpi.LoadState),
    ];

    static void WriteComponents(Machine m, StateWriter w)
    {
        foreach (var (save, _) in Components(m)) save(w);
    }

    static void ReadComponents(Machine m, StateReader r)
    {
        // Removable media the host took out are put back first: the snapshot references the configured images, and
        // each drive's section says whether its medium is in (a drive whose medium is out cannot take one back).
        var c = m.Config;
        if (c.CdRom is { } disc) m.Ide[1].Cdrom(0)?.InsertMedia(disc);
        for (int i = 0; i < c.Floppies.Count && i < 2; i++)
            if (c.Floppies[i] is { } floppy) m.Floppy.InsertDisk(i, floppy);
        foreach (var (_, load) in Components(m)) load(r);
        if (r.Remaining != 0) throw r.Invalid("end", $"{r.Remaining} bytes after the last section");
    }
}
