using JitVm.Core;
using JitVm.Core.State;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu.Tests.Snapshots;

/// <summary>
/// The snapshot serialisation: what <see cref="StateWriter"/> writes <see cref="StateReader"/> reads back, and every
/// malformed input is one <see cref="SnapshotFormatException"/> naming the section path and the field. Also the
/// processor's, physical memory's and the clock's own sections.
/// </summary>
public class StateFormatTests
{
    static byte[] Sample()
    {
        var w = new StateWriter();
        w.BeginSection("OUTR", 2);
        w.WriteBool(true);
        w.WriteByte(0xAB);
        w.WriteUInt16(0xBEEF);
        w.BeginSection("INNR", 1);
        w.WriteInt32(-5);
        w.WriteUInt32(0xDEADBEEF);
        w.WriteInt64(long.MinValue);
        w.WriteUInt64(ulong.MaxValue);
        w.EndSection();
        w.WriteBlob([1, 2, 3]);
        w.WriteString("Grüße");
        w.WriteCompressed(new byte[5000]);
        w.WriteByte((byte)CpuGeneration.I486);
        w.EndSection();
        return w.ToArray();
    }

    static SnapshotFormatException Fails(byte[] data, Action<StateReader> read) =>
        Assert.Throws<SnapshotFormatException>(() => read(new StateReader(data)));

    static void ReadSample(StateReader r)
    {
        r.BeginSection("OUTR", 2);
        Assert.True(r.ReadBool("flag"));
        Assert.Equal(0xAB, r.ReadByte("byte"));
        Assert.Equal(0xBEEF, r.ReadUInt16("word"));
        Assert.Equal(1, r.BeginSection("INNR", 1));
        Assert.Equal(-5, r.ReadInt32("int", -10, 10));
        Assert.Equal(0xDEADBEEF, r.ReadUInt32("uint"));
        Assert.Equal(long.MinValue, r.ReadInt64("long"));
        Assert.Equal(ulong.MaxValue, r.ReadUInt64("ulong"));
        r.EndSection();
        Assert.Equal([1, 2, 3], r.ReadBlob("blob", 3));
        Assert.Equal("Grüße", r.ReadString("text", 64));
        var big = new byte[5000];
        big[7] = 9;
        r.ReadCompressed("zeros", big);
        Assert.Equal(0, big[7]);
        Assert.Equal(CpuGeneration.I486, r.ReadEnum<CpuGeneration>("enum"));
        r.EndSection();
    }

    [Fact]
    public void WhatIsWrittenReadsBack()
    {
        var data = Sample();
        var r = new StateReader(data);
        ReadSample(r);
        Assert.Equal(0, r.Remaining);
        Assert.Equal(data.Length, r.Position);
    }

    [Fact]
    public void EveryTruncationIsReportedAsSuch()
    {
        var data = Sample();
        for (int n = 0; n < data.Length; n++)
        {
            var e = Fails(data[..n], ReadSample);
            Assert.Contains("truncated", e.Message);
        }
    }

    [Fact]
    public void ProblemsNameTheSectionPathAndTheField()
    {
        var data = Sample();
        var e = Fails(data, r => r.BeginSection("CPU ", 1));
        Assert.Contains("expected section 'CPU ', found 'OUTR'", e.Message);
        e = Fails(data, r => r.BeginSection("OUTR", 1));
        Assert.Contains("version 2 is not supported (this build reads 1 to 1)", e.Message);
        e = Fails(data, r =>
        {
            r.BeginSection("OUTR", 2);
            r.ReadBool("flag");
            r.ReadByte("byte");
            r.ReadUInt16("word");
            r.BeginSection("INNR", 1);
            r.ReadInt32("small", 0, 3);
        });
        Assert.Contains("section OUTR/INNR, field 'small'", e.Message);
        Assert.Contains("value -5 is outside 0..3", e.Message);
        e = Fails(data, r =>
        {
            r.BeginSection("OUTR", 2);
            r.ReadBool("flag");
            r.EndSection();
        });
        Assert.Contains("bytes left unread", e.Message);
        var bad = (byte[])data.Clone();
        bad[14] = 2;                                                         // the boolean
        Assert.Contains("boolean is 2", Fails(bad, ReadSample).Message);
        bad = (byte[])data.Clone();
        bad[^1] = 200;                                                       // the enum
        Assert.Contains("200 is not a valid CpuGeneration", Fails(bad, ReadSample).Message);
        bad = (byte[])data.Clone();
        BitConverter.GetBytes(long.MaxValue).CopyTo(bad, 6);                 // the outer section's length
        Assert.Contains("runs past the end", Fails(bad, ReadSample).Message);
    }

    [Fact]
    public void CorruptCompressedDataAndBadTextAreFormatErrors()
    {
        var w = new StateWriter();
        w.WriteCompressed(new byte[100]);
        var ok = w.ToArray();
        Assert.Contains("compressed data corrupt or of the wrong size", Fails(ok, r => r.ReadCompressed("x", new byte[101])).Message);
        Assert.Contains("inflates to more than 99 bytes", Fails(ok, r => r.ReadCompressed("x", new byte[99])).Message);
        var bad = (byte[])ok.Clone();
        for (int i = 4; i < bad.Length; i++) bad[i] = 0xFF;
        Fails(bad, r => r.ReadCompressed("x", new byte[100]));
        var s = new StateWriter();
        s.WriteBlob([0xC3, 0x28]);
        Assert.Contains("not valid UTF-8", Fails(s.ToArray(), r => r.ReadString("name", 10)).Message);
    }

    static Processor Cpu(CpuModel model, out PhysicalMemory memory)
    {
        memory = new PhysicalMemory(1 << 20);
        return new Processor(model, memory, new IoBus());
    }

    static byte[] SaveCpu(Processor cpu)
    {
        var w = new StateWriter();
        cpu.SaveState(w);
        return w.ToArray();
    }

    [Fact]
    public void ProcessorStateRoundTripsWithItsFpuAndRefusesAnotherModel()
    {
        var cpu = Cpu(CpuModel.P6, out _);
        for (int i = 0; i < 8; i++) cpu.Gpr[i] = 0x11111111u * (uint)(i + 1);
        cpu.Eip = 0x1234;
        cpu.SetLazy(FlagOp.Sub, 5, 7, unchecked(5u - 7u), 0x80000000);   // CF, SF set lazily
        cpu.WriteCr0(cpu.Cr0 | Processor.Cr0PE);
        cpu.Cr3 = 0x5000;
        cpu.Dr[0] = 0x400;
        cpu.Dr[7] = 0x3;                                                   // an enabled instruction breakpoint
        cpu.UpdateBreakpoints();
        cpu.A20Enabled = false;
        cpu.InstructionCount = 123456;
        cpu.Halted = true;
        cpu.FpuInit();
        cpu.Fpu.R[3] = new Float80(0x3FFF, 0xC000000000000000);
        cpu.Fpu.Top = 5;
        cpu.Fpu.Valid = 0x28;
        cpu.SetFpuControlWord(0x0272);
        cpu.TryWriteMsr(Processor.MsrSysenterEip, 0xC0DE);
        byte[] saved = SaveCpu(cpu);

        var copy = Cpu(CpuModel.P6, out _);
        copy.LoadState(new StateReader(saved));
        Assert.Equal(saved, SaveCpu(copy));
        Assert.Equal(cpu.GetEflags(), copy.GetEflags());
        Assert.Equal(0x88888888u, copy.Gpr[7]);
        Assert.True(copy.ProtectedMode);
        Assert.False(copy.A20Enabled);
        Assert.Equal(1u, copy.CodeBreakpoints);                             // recomputed from DR7
        Assert.Equal(new Float80(0x3FFF, 0xC000000000000000), copy.Fpu.R[3]);
        Assert.Equal(5, copy.Fpu.Top);
        Assert.Equal(0xC0DEu, copy.SysenterEip);
        Assert.True(copy.Halted);

        var other = Cpu(CpuModel.Pentium, out _);
        var e = Assert.Throws<SnapshotFormatException>(() => other.LoadState(new StateReader(saved)));
        Assert.Contains("CPU model", e.Message);
    }

    [Fact]
    public void MemoryKeepsContentsAndShadowMappingAndSkipsZeroPages()
    {
        var mem = new PhysicalMemory(1 << 20);
        var rom = new byte[64 << 10];
        rom.AsSpan().Fill(0xC3);
        mem.MapRom(0xF0000, rom);
        mem.Write32(0x1000, 0xCAFEBABE);
        mem.SetShadow(0xF0000, 0x10000, readRam: false, writeRam: true);   // reads ROM, writes RAM
        mem.Write8(0xF0010, 0x42);
        var w = new StateWriter();
        mem.SaveState(w);
        byte[] saved = w.ToArray();
        Assert.True(saved.Length < 4096, $"{saved.Length} bytes for one non-zero RAM page and a uniform ROM");

        var copy = new PhysicalMemory(1 << 20);
        copy.MapRom(0xF0000, new byte[64 << 10]);
        copy.Write32(0x2000, 1);                                            // gone after the load
        int mapChanges = 0;
        copy.MapChanged += () => mapChanges++;
        copy.LoadState(new StateReader(saved));
        Assert.Equal(1, mapChanges);
        Assert.Equal(0xCAFEBABEu, copy.Read32(0x1000));
        Assert.Equal(0u, copy.Read32(0x2000));
        Assert.Equal(0xC3, copy.Read8(0xF0010));                            // reads still come from the (restored) ROM
        copy.SetShadow(0xF0000, 0x10000, readRam: true, writeRam: true);
        Assert.Equal(0x42, copy.Read8(0xF0010));                            // the write that went to shadow RAM
        var again = new StateWriter();
        mem.SaveState(again);
        Assert.Equal(saved, again.ToArray());

        var smaller = new PhysicalMemory(2 << 20);
        Assert.Contains("RAM", Assert.Throws<SnapshotFormatException>(() => smaller.LoadState(new StateReader(saved))).Message);
    }

    [Fact]
    public void IdenticalPagesAreStoredOnce()
    {
        var mem = new PhysicalMemory(1 << 20);
        var rng = new Random(5);
        var noise = new byte[PhysicalMemory.PageSize];
        rng.NextBytes(noise);
        mem.WriteBytes(0x3000, noise);
        mem.WriteBytes(0x80000, noise);
        // Ten other random pages between them in the stored order, so Deflate's 32 KiB window cannot share the copy.
        var other = new byte[PhysicalMemory.PageSize];
        for (uint p = 0x10000; p < 0x1A000; p += PhysicalMemory.PageSize)
        {
            rng.NextBytes(other);
            mem.WriteBytes(p, other);
        }
        var w = new StateWriter();
        mem.SaveState(w);
        byte[] saved = w.ToArray();
        Assert.InRange(saved.Length, 11 * PhysicalMemory.PageSize, 12 * PhysicalMemory.PageSize - 1);   // 11 pages (random data does not compress), not 12
        var copy = new PhysicalMemory(1 << 20);
        copy.LoadState(new StateReader(saved));
        for (uint a = 0; a < 0x100000; a += 4) Assert.Equal(mem.Read32(a), copy.Read32(a));
    }

    [Fact]
    public void ClockTimersFireAtTheSameGuestTimeAfterALoad()
    {
        long instructions = 1000;
        var clock = new VirtualClock(() => instructions);
        long fired = -1;
        var timer = clock.CreateTimer(t => fired = t);
        instructions = 5000;
        timer.SetIn(1_000_000);
        var w = new StateWriter();
        clock.SaveState(w);

        long other = 5000;
        var copy = new VirtualClock(() => other, ClockMode.Realtime);
        long copyFired = -1;
        var copyTimer = copy.CreateTimer(t => copyFired = t);
        copy.LoadState(new StateReader(w.ToArray()));
        Assert.Equal(timer.Deadline, copyTimer.Deadline);
        Assert.InRange(copy.Now - clock.Now, 0, 50_000_000);                // re-anchored: realtime runs on from the saved time

        long again = 5000;
        var same = new VirtualClock(() => again);
        long sameFired = -1;
        same.CreateTimer(t => sameFired = t);
        same.LoadState(new StateReader(w.ToArray()));
        Assert.Equal(clock.Now, same.Now);
        again = instructions += 100_000;
        clock.RunDue();
        same.RunDue();
        Assert.Equal(fired, sameFired);
        Assert.True(fired > 0);

        var fewer = new VirtualClock(() => 0);
        Assert.Contains("1 device timers, this machine 0", Assert.Throws<SnapshotFormatException>(() => fewer.LoadState(new StateReader(w.ToArray()))).Message);
    }
}
