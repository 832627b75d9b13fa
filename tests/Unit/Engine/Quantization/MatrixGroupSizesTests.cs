using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class MatrixGroupSizesTests
{
    /// <summary>The bundled model's shape: 256 wide, 8 query heads and 2 key-value heads of 32, feed-forward 768.</summary>
    internal static readonly ModelConfig Fixture = new()
    {
        Architecture = "llama", EmbeddingLength = 256, LayerCount = 8, HeadCount = 8, KvHeadCount = 2, FeedForwardLength = 768,
        VocabularySize = 4096, ContextLength = 256, NormEpsilon = 1e-5f,
    };

    [Fact]
    public void NamedKindsTakeTheirSizesAndTheOthersTheRest()
    {
        var sizes = MatrixGroupSizes.Parse([new("Down", 32), new("attention", 64)], 128);
        Assert.Equal(new MatrixGroupSizes(64, 64, 128, 32), sizes);
        Assert.Equal(new MatrixGroupSizes(128, 128, 32, 32), MatrixGroupSizes.Parse([new("FeedForward", 32)], 128));
        Assert.Equal(new MatrixGroupSizes(32, 64, 64, 64), MatrixGroupSizes.Parse([new("QUERYKEYVALUE", 32)], 64));
        Assert.Equal(32, sizes[LinearInput.Down]);
        Assert.Equal(64, sizes[LinearInput.QueryKeyValue]);
        Assert.Equal(128, sizes.Largest);
        Assert.False(sizes.IsUniform);
        Assert.True(MatrixGroupSizes.Parse([], 64).IsUniform);
        Assert.Equal(-1, new MatrixGroupSizes(-1, 32, 32, 32).Largest);
        Assert.Equal("QueryKeyValue g64, AttentionOutput g64, GateUp g128, Down g32", sizes.ToString());
    }

    [Theory]
    [InlineData("Up", 32, "'Up' is not a kind of layer matrix")]
    [InlineData("Down", 48, "The group size of Down is 48")]
    [InlineData("Down", 16, "32, 64, 128 or -1")]
    public void UnknownKindsAndSizesAreRefusedNamingWhatIsAccepted(string name, int size, string message)
    {
        var e = Assert.Throws<QuantizationArgumentException>(() => MatrixGroupSizes.Parse([new(name, size)], 128));
        Assert.Equal(QuantizationProblem.InvalidMatrixGroupSize, e.Problem);
        Assert.Equal("MatrixGroupSize", e.ParamName);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void AKindGivenTwiceIsRefused()
    {
        var e = Assert.Throws<QuantizationArgumentException>(() => MatrixGroupSizes.Parse([new("Attention", 64), new("AttentionOutput", 32)], 128));
        Assert.Contains("AttentionOutput is given twice", e.Message);
    }

    [Fact]
    public void BitsPerWeightWeighEachKindByItsWeights()
    {
        // Per layer: Q/K/V 384 x 256 = 98,304 weights, attention output 65,536, gate/up 1,536 x 256 = 393,216, down
        // 256 x 768 = 196,608; 753,664 in all. Extra bits over 4 per weight: 16 / group (24 / group with zero points).
        const double qkv = 98_304, o = 65_536, gu = 393_216, down = 196_608, all = qkv + o + gu + down;
        var mix = new MatrixGroupSizes(64, 64, 128, 32);
        Assert.Equal(4 + (qkv * 16 / 64 + o * 16 / 64 + gu * 16 / 128 + down * 16 / 32) / all, mix.BitsPerWeight(Fixture, false), 12);
        Assert.Equal(4.25, mix.BitsPerWeight(Fixture, false), 12);
        Assert.Equal(4 + (qkv * 24 / 64 + o * 24 / 64 + gu * 24 / 128 + down * 24 / 32) / all, mix.BitsPerWeight(Fixture, true), 12);
        foreach (int g in new[] { 32, 64, 128 })
            foreach (bool asym in new[] { false, true })
                Assert.Equal(new Int4Format(g, asym).BitsPerWeight(256), MatrixGroupSizes.Uniform(g).BitsPerWeight(Fixture, asym), 12);
        Assert.Equal(qkv, MatrixGroupSizes.WeightsOf(Fixture, LinearInput.QueryKeyValue));
        Assert.Equal(down, MatrixGroupSizes.WeightsOf(Fixture, LinearInput.Down));
    }
}
