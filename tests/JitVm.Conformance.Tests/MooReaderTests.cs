using System.IO.Compression;
using JitVm.Conformance.SingleStep;

namespace JitVm.Conformance.Tests;

public class MooReaderTests
{
    // REGS bit numbers: ax=0 ... ip=12 flags=13.
    static byte[] SampleFile(int? announced = null) => new MooBuilder()
        .AddTest(0, "add al,bl", [0x00, 0xD8, 0xF4],
            [.. MooBuilder.Regs((0, 0x0001), (1, 0x0002), (4, 0x1000), (12, 0x0100), (13, 0x0002)), .. MooBuilder.Ram((0x10100, 0x00), (0x10101, 0xD8), (0x10102, 0xF4))],
            [.. MooBuilder.Regs((0, 0x0003), (12, 0x0103), (13, 0x0006)), .. MooBuilder.Ram()],
            MooBuilder.Chunk("GMET", [1, 2, 3]))
        .Build(announced);

    [Fact]
    public void ParsesHeaderTestsRegistersAndRam()
    {
        var f = MooReader.Parse(SampleFile());
        Assert.Equal("C286", f.Header.CpuId);
        Assert.Equal("add", f.Header.Mnemonic);
        var t = Assert.Single(f.Tests);
        Assert.Equal("add al,bl", t.Name);
        Assert.Equal(new byte[] { 0x00, 0xD8, 0xF4 }, t.Bytes);
        Assert.True(t.Initial.Registers!.TryGet("bx", out uint bx));
        Assert.Equal(2u, bx);
        Assert.False(t.Final.Registers!.TryGet("bx", out _));          // unchanged registers are absent
        Assert.True(t.Final.Registers.TryGet("flags", out uint fl));
        Assert.Equal(6u, fl);
        Assert.Equal(3, t.Initial.Ram.Count);
        Assert.Equal((0x10101u, (byte)0xD8), t.Initial.Ram[1]);
        Assert.Null(t.Exception);
    }

    [Fact]
    public void ReadsGzipFiles()
    {
        string path = Path.Combine(Path.GetTempPath(), $"moo-{Guid.NewGuid():N}.MOO.gz");
        try
        {
            using (var fs = File.Create(path))
            using (var gz = new GZipStream(fs, CompressionLevel.Fastest)) gz.Write(SampleFile());
            Assert.Single(MooReader.Load(path).Tests);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TruncatedFileGivesAClearError()
    {
        var data = SampleFile();
        for (int cut = 1; cut < data.Length; cut += 7)
        {
            var e = Assert.Throws<MooFormatException>(() => MooReader.Parse(data.AsSpan(0, data.Length - cut)));
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
    }

    [Fact]
    public void ChunkLengthPastTheEndIsRejected()
    {
        var data = SampleFile();
        // Inflate the TEST chunk's length field so it claims more bytes than the file has.
        int testAt = IndexOf(data, "TEST"u8.ToArray());
        data[testAt + 7] = 0x7F;
        var e = Assert.Throws<MooFormatException>(() => MooReader.Parse(data));
        Assert.Contains("runs past", e.Message);
    }

    [Fact]
    public void TestCountMismatchIsReported()
    {
        var e = Assert.Throws<MooFormatException>(() => MooReader.Parse(SampleFile(announced: 5)));
        Assert.Contains("5 tests", e.Message);
    }

    [Fact]
    public void CorruptGzipIsAFormatErrorNotACrash()
    {
        string path = Path.Combine(Path.GetTempPath(), $"moo-{Guid.NewGuid():N}.MOO.gz");
        try
        {
            File.WriteAllBytes(path, [0x1F, 0x8B, 0x08, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x00, 0x12, 0x34]);
            Assert.Throws<MooFormatException>(() => MooReader.Load(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RandomGarbageNeverEscapesAsAnotherException()
    {
        var rng = new Random(1234);
        var sample = SampleFile();
        for (int i = 0; i < 2000; i++)
        {
            var data = (byte[])sample.Clone();
            for (int k = 0; k < 4; k++) data[rng.Next(data.Length)] = (byte)rng.Next(256);
            try { MooReader.Parse(data); }
            catch (MooFormatException) { }
        }
    }

    [Fact]
    public void AllowListRequiresAReason()
    {
        var list = AllowList.Parse("# comment\nabc123  the capture bench had a device on this port\nF6.7 reason two\n", "test");
        Assert.NotNull(list.Reason("ABC123", "00"));
        Assert.NotNull(list.Reason("zzz", "F6.7"));
        Assert.Null(list.Reason("zzz", "F6.6"));
        Assert.Throws<FormatException>(() => AllowList.Parse("deadbeef\n", "test"));
    }

    static int IndexOf(byte[] data, byte[] pattern)
    {
        for (int i = 0; i <= data.Length - pattern.Length; i++)
            if (data.AsSpan(i, pattern.Length).SequenceEqual(pattern)) return i;
        return -1;
    }
}
