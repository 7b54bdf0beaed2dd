namespace JitVm.Conformance.Tests;

/// <summary>Finds the hardware vector sets: $JITVM_SINGLESTEP_DIR, or shared/data/singlestep beside a parent of the repository.</summary>
internal static class VectorSets
{
    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("JITVM_SINGLESTEP_DIR");
            if (!string.IsNullOrEmpty(env)) return env;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "data", "singlestep");
                if (Directory.Exists(candidate)) return candidate;
            }
            throw new DirectoryNotFoundException(
                "SingleStepTests vectors not found: set JITVM_SINGLESTEP_DIR or place them at ../shared/data/singlestep relative to the repository");
        }
    }
}
