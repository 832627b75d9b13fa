using System.Diagnostics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using LlmCpu.Kernels;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Kernels;

/// <summary>
/// Each instruction-set path forced on this machine: the kernel checker runs in a child process with higher
/// instruction sets switched off through DOTNET_Enable* variables. The test asserts which path the child chose
/// (not only that its results match) and that all its comparisons with the scalar reference passed.
/// </summary>
public sealed class IsaChildProcessTests
{
    public static IEnumerable<object[]> Cases() =>
    [
        [KernelPath.Avx512, new string[0]],
        [KernelPath.Avx2Vnni, new[] { "DOTNET_EnableAVX512=0" }],
        [KernelPath.Avx2, new[] { "DOTNET_EnableAVX512=0", "DOTNET_EnableAVXVNNI=0" }],
        [KernelPath.Vector128, new[] { "DOTNET_EnableAVX2=0" }],
        [KernelPath.Scalar, new[] { "DOTNET_EnableHWIntrinsic=0" }],
    ];

    private static bool HardwareHas(KernelPath path) => path switch
    {
        KernelPath.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported,
        KernelPath.Avx2Vnni => AvxVnni.IsSupported && Avx2.IsSupported,
        _ => KernelDispatch.IsSupported(path),
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ForcedPathIsChosenAndMatchesTheReference(KernelPath path, string[] environment)
    {
        Skip.IfNot(HardwareHas(path), $"{path}: this processor lacks the instruction set, so that path cannot be forced here; its kernels were not run.");
        RunKernelCheck(path, environment).Dispose();
    }

    /// <summary>
    /// The AVX-512 kernels reduce pairs of 16-bit sums in one of two orders, chosen by the processor's vendor; each is
    /// forced here, so both are compared with the reference whichever vendor runs the tests.
    /// </summary>
    [SkippableTheory]
    [InlineData("Words")]
    [InlineData("Dwords")]
    public void EachPairReductionMatchesTheReference(string reduction)
    {
        Skip.IfNot(HardwareHas(KernelPath.Avx512), "Avx512: this processor lacks AVX-512 F/BW, whose kernels alone reduce pairs this way; they were not run.");
        using var flags = RunKernelCheck(KernelPath.Avx512, [$"LLMCPU_PAIR_REDUCTION={reduction}"]);
        Assert.Equal(reduction, flags.RootElement.GetProperty("pairReduction").GetString());
    }

    /// <summary>Runs the kernel checker under <paramref name="environment"/>; asserts its path and its comparisons; returns its first line (what it saw).</summary>
    private static JsonDocument RunKernelCheck(KernelPath path, string[] environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "LlmCpu.KernelCheck.dll"));
        foreach (string variable in environment)
        {
            var parts = variable.Split('=');
            start.Environment[parts[0]] = parts[1];
        }
        using var process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(300_000), "the kernel checker did not finish");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var flags = JsonDocument.Parse(lines[0]);
        Assert.Equal(path.ToString(), flags.RootElement.GetProperty("best").GetString());
        Assert.True(process.ExitCode == 0, $"comparisons failed under {string.Join(' ', environment)}:\n{stdout}\n{stderr}");
        using var summary = JsonDocument.Parse(lines[^1]);
        Assert.True(summary.RootElement.GetProperty("cases").GetInt32() > 0 || path == KernelPath.Scalar);
        if (path != KernelPath.Scalar)
            Assert.True(summary.RootElement.GetProperty("perPath").GetProperty(path.ToString()).GetInt32() > 0, $"no case ran on {path}");
        return flags;
    }
}
