using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels;

/// <summary>The instruction-set paths a kernel can run on, from most to least capable.</summary>
public enum KernelPath
{
    /// <summary>Plain C#, one element at a time: the reference every other path is tested against.</summary>
    Scalar,

    /// <summary>Portable 128-bit SIMD (SSE on x86, AdvSimd on ARM64).</summary>
    Vector128,

    /// <summary>AVX2 with 256-bit integer multiply-adds (vpmaddubsw + vpmaddwd).</summary>
    Avx2,

    /// <summary>AVX2 with AVX-VNNI's 256-bit vpdpbusd for the int8 dot products.</summary>
    Avx2Vnni,

    /// <summary>AVX-512 F/BW: 512-bit loads, unpacking and multiply-adds.</summary>
    Avx512,
}

/// <summary>Which path this process runs, decided once at start-up from what the processor and runtime support.</summary>
public static class KernelDispatch
{
    /// <summary>The best path this machine supports (honours DOTNET_EnableAVX512=0 and friends; .NET 10 ignores the older DOTNET_EnableAVX512F).</summary>
    public static KernelPath Best => Selection.Value.Best;

    public static bool IsSupported(KernelPath path) => path switch
    {
        KernelPath.Scalar => true,
        KernelPath.Vector128 => Vector128.IsHardwareAccelerated,
        KernelPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelPath.Avx2Vnni => Avx2.IsSupported && Fma.IsSupported && AvxVnni.IsSupported,
        KernelPath.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported,
        _ => false,
    };

    /// <summary>Every path this machine can run, best first.</summary>
    public static IReadOnlyList<KernelPath> Supported { get; } =
        Enum.GetValues<KernelPath>().Where(IsSupported).OrderByDescending(p => p).ToArray();

    /// <summary>Paths the hardware supports that disagreed with the scalar reference at start-up, and so are not used.</summary>
    public static IReadOnlyList<KernelPath> FailedSelfCheck => Selection.Value.Failed;

    /// <summary>
    /// A line for diagnostics, for example "Avx512 (supported: Avx512, Avx2Vnni, Avx2, Vector128, Scalar)", naming
    /// any path that failed its start-up check.
    /// </summary>
    public static string Description => $"{Best} (supported: {string.Join(", ", Supported)})" +
        (FailedSelfCheck.Count > 0 ? $"; failed the start-up check against the scalar reference: {string.Join(", ", FailedSelfCheck)}" : "");

    private static readonly Lazy<(KernelPath Best, KernelPath[] Failed)> Selection = new(() =>
    {
        // Before the start-up check compiles the first kernel, so that the kernels compile the choice as a constant.
        RuntimeHelpers.RunClassConstructor(typeof(Quantization.PairReductionChoice).TypeHandle);
        return Select(Highest(), Quantization.Int4SelfCheck.Passes);
    });

    /// <summary>The best supported path, or a lower one named by LLMCPU_KERNEL_PATH (which can never raise it).</summary>
    private static KernelPath Highest()
    {
        var best = Enum.GetValues<KernelPath>().Where(IsSupported).Max();
        string? requested = Environment.GetEnvironmentVariable("LLMCPU_KERNEL_PATH");
        if (requested != null && Enum.TryParse<KernelPath>(requested, ignoreCase: true, out var path) && path < best && IsSupported(path)) best = path;
        return best;
    }

    /// <summary>
    /// The first supported path at or below <paramref name="highest"/> that passes <paramref name="check"/>, and the
    /// ones that failed. At start-up the check compares a path with the scalar reference on small matrices: a path
    /// that disagrees (an instruction set the tests never ran on, a runtime's code-generation fault) gives way.
    /// </summary>
    internal static (KernelPath Best, KernelPath[] Failed) Select(KernelPath highest, Func<KernelPath, bool> check)
    {
        var failed = new List<KernelPath>();
        foreach (var candidate in Enum.GetValues<KernelPath>().Where(p => p <= highest && IsSupported(p)).OrderByDescending(p => p))
        {
            if (check(candidate)) return (candidate, failed.ToArray());
            failed.Add(candidate);
        }
        return (KernelPath.Scalar, failed.ToArray());
    }
}
