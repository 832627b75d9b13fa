using LlmCpu.Kernels;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels;

/// <summary>Start-up selection of the kernel path: the self-check against the scalar reference, and the fall-back.</summary>
public sealed class KernelDispatchTests
{
    [Fact]
    public void EverySupportedPathPassesTheStartUpCheckAndTheBestIsChosen()
    {
        foreach (var path in KernelDispatch.Supported) Assert.True(Int4SelfCheck.Passes(path), $"{path} disagrees with the scalar reference");
        Assert.Empty(KernelDispatch.FailedSelfCheck);
        Assert.DoesNotContain("failed", KernelDispatch.Description);
    }

    [Fact]
    public void APathThatFailsTheCheckGivesWayToTheNextAndIsNamed()
    {
        var best = KernelDispatch.Supported[0];
        var (chosen, failed) = KernelDispatch.Select(best, path => path != best);
        if (best == KernelPath.Scalar)
        {
            Assert.Equal(KernelPath.Scalar, chosen);
            return;
        }
        Assert.Equal(KernelDispatch.Supported[1], chosen);
        Assert.Equal([best], failed);
    }

    [Fact]
    public void WhenEveryPathFailsTheScalarReferenceRemains()
    {
        var (chosen, failed) = KernelDispatch.Select(KernelDispatch.Supported[0], _ => false);
        Assert.Equal(KernelPath.Scalar, chosen);
        Assert.Equal(KernelDispatch.Supported.Count, failed.Length);
    }
}
