using LlmCpu.KernelCheck;
using LlmCpu.Kernels;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// Every INT4 kernel path against the scalar reference, in this process. Paths this processor lacks are reported
/// as skipped; the child-process tests force the lower paths by switching instruction sets off.
/// </summary>
public sealed class Int4KernelPathTests
{
    public static IEnumerable<object[]> Paths() => Enum.GetValues<KernelPath>().Where(p => p != KernelPath.Scalar).Select(p => new object[] { p });

    [SkippableTheory]
    [MemberData(nameof(Paths))]
    public void PathMatchesTheScalarReference(KernelPath path)
    {
        Skip.IfNot(KernelDispatch.IsSupported(path), $"{path} is not supported by this processor or runtime; its kernels were not run.");
        var results = KernelConformance.Run([path]).Concat(GgmlBlockConformance.Run([path])).ToList();
        Assert.NotEmpty(results);
        var failures = results.Where(r => !r.Passed).ToList();
        Assert.True(failures.Count == 0,
            $"{failures.Count} of {results.Count} cases differ, first: {failures.FirstOrDefault()}");
    }
}
