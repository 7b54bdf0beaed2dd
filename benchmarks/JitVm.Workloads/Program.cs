using JitVm.Workloads;

// jitvm-workloads: writes every guest benchmark as a Multiboot v1 kernel (<name>.elf) for `jitvm run --kernel`,
// `jitvm bench --kernels DIR` and `qemu-system-i386 -kernel`.
return WorkloadsTool.Run(args);

namespace JitVm.Workloads
{
    internal static class WorkloadsTool
    {
        const string Usage =
            "usage: jitvm-workloads OUTDIR [--scale F] [--iterations NAME=N ...] [--flat]\n" +
            "  writes <name>.elf for every workload (default iteration counts make the interpreter take a few seconds);\n" +
            "  --scale multiplies every default count, --iterations sets one workload's count, --flat writes\n" +
            "  <name>.bin images with the Multiboot address fields instead of ELF";

        public static int Run(string[] args)
        {
            string? outDir = null;
            double scale = 1;
            bool flat = false;
            var counts = new Dictionary<string, int>();
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "-h" or "--help":
                        Console.WriteLine(Usage);
                        return 0;
                    case "--scale" when i + 1 < args.Length && double.TryParse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture, out scale) && scale > 0:
                        i++;
                        break;
                    case "--iterations" when i + 1 < args.Length:
                    {
                        string[] kv = args[++i].Split('=', 2);
                        if (kv.Length != 2 || Workload.Find(kv[0]) is null || !int.TryParse(kv[1], out int n) || n < 1)
                            return Error($"bad --iterations '{args[i]}' (NAME=N with NAME one of {string.Join(", ", Workload.All.Select(w => w.Name))})");
                        counts[kv[0]] = n;
                        break;
                    }
                    case "--flat":
                        flat = true;
                        break;
                    default:
                        if (args[i].StartsWith('-') || outDir is not null) return Error($"unexpected argument '{args[i]}'\n{Usage}");
                        outDir = args[i];
                        break;
                }
            }
            if (outDir is null) return Error(Usage);
            try
            {
                Directory.CreateDirectory(outDir);
                foreach (var w in Workload.All)
                {
                    int n = counts.TryGetValue(w.Name, out int c) ? c : Scaled(w.DefaultIterations, scale);
                    string path = Path.Combine(outDir, w.Name + (flat ? ".bin" : ".elf"));
                    File.WriteAllBytes(path, w.Build(n, flat ? KernelFileFormat.Flat : KernelFileFormat.Elf));
                    Console.WriteLine($"{path}  iterations={n}  {w.Description}");
                }
                return 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Error(e.Message);
            }
        }

        /// <summary>A default count times a scale factor, at least 1.</summary>
        public static int Scaled(int count, double scale) => (int)Math.Clamp(Math.Round(count * scale), 1, int.MaxValue);

        static int Error(string message)
        {
            Console.Error.WriteLine($"error: {message}");
            return 2;
        }
    }
}
