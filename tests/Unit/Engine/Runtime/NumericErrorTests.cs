using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// A model whose weights hold NaN or infinity raises <see cref="ModelNumericException"/> naming the layer, instead of
/// returning token 0 (greedy) or end-of-sequence (sampling) as if the answer were empty.
/// </summary>
public sealed class NumericErrorTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Theory]
    [InlineData(float.NaN, 0)]
    [InlineData(float.PositiveInfinity, 5)]
    [InlineData(float.NaN, 7)]
    public void ANonFiniteWeightIsNamedByItsLayer(float bad, int layer)
    {
        using var broken = TransformedModel.Create(fixture.Model, row => row, poison: (layer, bad));
        using var session = new InferenceSession(broken, WorkerPool.Shared);
        var error = Assert.Throws<ModelNumericException>(() => session.Prefill(broken.Tokenizer.Encode("Mr. Darcy", addBos: true)));
        Assert.Equal(layer, error.Layer);
        Assert.Contains($"Layer {layer}", error.Message);

        var generator = new TextGenerator(broken);
        Assert.Throws<ModelNumericException>(() => generator.Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 4, Sampling = SamplingOptions.Greedy }));
        Assert.Throws<ModelNumericException>(() => generator.Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 4 }));
    }
}
