using LlmCpu.KernelCheck;

namespace LlmCpu.Tests.Kernels.MatMul;

/// <summary>
/// FP32 and FP16 weight matrices against a double-precision reference, on odd shapes and several tokens, in this
/// process (the child-process tests run the same table with instruction sets switched off).
/// </summary>
public sealed class FloatMatrixTests
{
    [Fact]
    public void Float32AndFloat16MatchTheReference()
    {
        var results = FloatMatrixConformance.Run().ToList();
        var shapes = FloatMatrixConformance.Shapes.Select(s => s.Tokens).Concat(FloatMatrixConformance.HugeActivationShapes.Select(s => s.Tokens)).ToList();
        Assert.Equal(2 * shapes.Count + shapes.Count(tokens => tokens > 1) + 3, results.Count);
        var failures = results.Where(r => !r.Passed).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {results.Count} cases differ, first: {failures.FirstOrDefault()}");
    }
}
