using JitVm.Storage;

// Usage: JitVm.Storage.CrashWriter <image> <journal> <seed> [max-size]
//
// Opens the image read-write (any supported format) and, until killed, writes random data of random lengths at random
// sector offsets, flushing now and then and (qcow2) growing the disk now and then up to max-size. Every guest write is
// recorded in the journal before ("B index offset length") and after ("E index") it is issued, resizes as
// "R size" / "E"; the data of write i is new Random(seed * 7919 + i).NextBytes, so the test can recompute what every
// acknowledged write left on the disk. Prints "ready" once the image is open.
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: JitVm.Storage.CrashWriter <image> <journal> <seed> [max-size]");
    return 2;
}
string imagePath = args[0];
int seed = int.Parse(args[2]);
long maxSize = args.Length > 3 ? long.Parse(args[3]) : 0;

using var image = DiskImages.Open(imagePath);
using var journal = new StreamWriter(args[1], append: false) { AutoFlush = true }; // one write(2) per line
var rnd = new Random(seed);
var buf = new byte[256 * 1024];
Console.Out.WriteLine("ready");
Console.Out.Flush();
for (long i = 0; ; i++)
{
    if (maxSize > image.Length && image.Format == "qcow2" && rnd.Next(200) == 0)
    {
        long newSize = Math.Min(maxSize, image.Length + 512L * rnd.Next(1, 16384));
        journal.WriteLine($"R {newSize}");
        image.Resize(newSize);
        journal.WriteLine("E");
        continue;
    }
    int sectors = rnd.Next(4) == 0 ? rnd.Next(1, 512) : rnd.Next(1, 9);
    int length = (int)Math.Min(sectors * 512L, image.Length);
    long offset = rnd.NextInt64((image.Length - length) / 512 + 1) * 512;
    var data = buf.AsSpan(0, length);
    new Random(unchecked(seed * 7919 + (int)i)).NextBytes(data);
    journal.WriteLine($"B {i} {offset} {length}");
    image.Write(offset, data);
    journal.WriteLine($"E {i}");
    if (rnd.Next(64) == 0) image.Flush();
}
