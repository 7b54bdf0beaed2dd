using JitVm.TestRoms;

// Writes every test ROM as a raw 64 KiB image (<name>.bin) into the given directory, for `jitvm run --bios`.
if (args.Length != 1 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: jitvm-testroms OUTDIR    (writes <name>.bin for every test ROM)");
    return 2;
}
try
{
    Directory.CreateDirectory(args[0]);
    foreach (var rom in TestRom.All)
    {
        string path = Path.Combine(args[0], rom.Name + ".bin");
        File.WriteAllBytes(path, rom.Build());
        Console.WriteLine($"{path}  cpu={rom.Model.Name}  final-post=0x{rom.FinalPost:X2}  {rom.Description}");
    }
    return 0;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
