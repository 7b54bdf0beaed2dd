using System.Reflection;
using JitVm.Cpu;

namespace JitVm.Conformance.SingleStep;

/// <summary>The project's allow-lists, embedded from src/JitVm.Conformance/AllowLists/*.txt.</summary>
public static class DefaultAllowLists
{
    /// <summary>The allow-list for vectors captured on <paramref name="model"/>.</summary>
    public static AllowList For(CpuModel model)
    {
        string name = $"singlestep-{model.Name}.txt";
        var asm = Assembly.GetExecutingAssembly();
        string? res = asm.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(name, StringComparison.Ordinal));
        if (res is null) return AllowList.Empty;
        using var s = asm.GetManifestResourceStream(res)!;
        using var r = new StreamReader(s);
        return AllowList.Parse(r.ReadToEnd(), name);
    }
}
