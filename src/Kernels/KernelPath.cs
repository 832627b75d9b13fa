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
    /// <summary>The best path this machine supports (honours DOTNET_EnableAVX512F=0 and friends).</summary>
    public static KernelPath Best { get; } = Detect();

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

    /// <summary>A line for diagnostics, for example "Avx512 (supported: Avx512, Avx2Vnni, Avx2, Vector128, Scalar)".</summary>
    public static string Description => $"{Best} (supported: {string.Join(", ", Supported)})";

    private static KernelPath Detect()
    {
        // LLMCPU_KERNEL_PATH can only lower the path, never raise it past what the hardware has.
        var best = Enum.GetValues<KernelPath>().Where(IsSupported).Max();
        string? requested = Environment.GetEnvironmentVariable("LLMCPU_KERNEL_PATH");
        if (requested != null && Enum.TryParse<KernelPath>(requested, ignoreCase: true, out var path) && path < best && IsSupported(path)) return path;
        return best;
    }
}
