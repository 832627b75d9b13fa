using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

/// <summary>The query/key row order llama.cpp's converter produces: permute(w, heads) = w.reshape(heads, 2, headDim/2, in).swapaxes(1, 2).</summary>
public sealed class LlamaRotaryRowOrderTests
{
    [Fact]
    public void EachHeadInterleavesItsTwoHalves() =>
        Assert.Equal(new[] { 0, 2, 1, 3, 4, 6, 5, 7 }, Enumerable.Range(0, 8).Select(r => LlamaRotaryRowOrder.SourceRow(r, 8, 2)));

    [Theory]
    [InlineData(256, 8)]
    [InlineData(64, 2)]
    [InlineData(12, 3)]
    public void MatchesTheReshapeAndSwapOfTheConverter(int rows, int heads)
    {
        int half = rows / heads / 2;
        // Result index [h, i, j] (shape heads x half x 2) holds source index [h, j, i] (shape heads x 2 x half).
        var expected = new int[rows];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                    expected[(h * half + i) * 2 + j] = (h * 2 + j) * half + i;
        Assert.Equal(expected, Enumerable.Range(0, rows).Select(r => LlamaRotaryRowOrder.SourceRow(r, rows, heads)));
        Assert.Equal(Enumerable.Range(0, rows), expected.Order());
    }

    [Fact]
    public void HeadsThatDoNotSplitEvenlyAreRefused()
    {
        Assert.Throws<ArgumentException>(() => LlamaRotaryRowOrder.SourceRow(0, 12, 5));
        Assert.Throws<ArgumentException>(() => LlamaRotaryRowOrder.SourceRow(0, 6, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => LlamaRotaryRowOrder.SourceRow(8, 8, 2));
    }
}
