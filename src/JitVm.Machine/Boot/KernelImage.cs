namespace JitVm.Machine.Boot;

/// <summary>A Multiboot module (QEMU's <c>-initrd</c> for Multiboot kernels): its bytes and its string.</summary>
/// <param name="Data">The module's contents, loaded page-aligned above the kernel.</param>
/// <param name="CommandLine">The module's string in the information structure (by convention its file name and arguments).</param>
public sealed record BootModule(byte[] Data, string CommandLine);

/// <summary>What <c>jitvm run --kernel</c> boots: a Multiboot v1 image, its command line and modules.</summary>
/// <param name="Image">The kernel file (ELF32, or any format with the Multiboot address fields).</param>
/// <param name="CommandLine">The kernel command line (<c>--append</c>).</param>
/// <param name="Modules">Boot modules (<c>--initrd</c>), in order.</param>
public sealed record KernelImage(byte[] Image, string CommandLine = "", IReadOnlyList<BootModule>? Modules = null);
