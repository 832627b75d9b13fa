using System.Numerics.Tensors;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Tests.Kernels.Ops;

/// <summary>The max-shifted softmax against a double-precision reference, including scores far past exp's float range.</summary>
public sealed class SoftmaxTests
{
    private static double[] Reference(float[] x)
    {
        double max = x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    public static IEnumerable<object[]> Inputs()
    {
        yield return [new float[] { 100, 0 }];
        yield return [new float[] { 1000, 999, -1000 }];
        yield return [new float[] { -500, -501, -499.5f }];
        yield return [new float[] { 88.8f, 88.7f, 0, -88 }];
        yield return [new float[] { 3.4e38f, 3.4e38f }];
        yield return [new float[] { 7 }];
        var random = new Random(5);
        yield return [Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 300 - 50)).ToArray()];
        yield return [Enumerable.Range(0, 37).Select(_ => (float)(random.NextDouble() * 10 - 5)).ToArray()];
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void MatchesTheDoubleReferenceAndSumsToOne(float[] x)
    {
        var actual = new float[x.Length];
        Softmax.Apply(x, actual);
        var expected = Reference(x);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(float.IsFinite(actual[i]), $"element {i} is {actual[i]}");
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-6 + 1e-5 * expected[i], $"element {i}: {actual[i]} vs {expected[i]}");
        }
        Assert.Equal(1.0, actual.Sum(v => (double)v), 5);
    }

    [Fact]
    public void WorksInPlace()
    {
        float[] x = [100, 0, 50];
        float[] copy = [.. x];
        var expected = new float[3];
        Softmax.Apply(copy, expected);
        Softmax.Apply(x, x);
        Assert.Equal(expected, x);
    }

    [Fact]
    public void TheUnshiftedLibrarySoftmaxOverflowsWhereThisDoesNot()
    {
        // Why this op exists: TensorPrimitives.SoftMax([100, 0]) is [NaN, 0]. If the library ever starts shifting,
        // this test says so and the op can go.
        float[] library = new float[2];
        TensorPrimitives.SoftMax([100f, 0f], library);
        Assert.True(float.IsNaN(library[0]));
        float[] ours = new float[2];
        Softmax.Apply([100f, 0f], ours);
        Assert.Equal(1f, ours[0]);
    }
}
