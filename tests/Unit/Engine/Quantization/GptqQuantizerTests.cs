using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class GptqQuantizerTests
{
    [Theory]
    [InlineData(32, true)]
    [InlineData(128, true)]
    [InlineData(32, false)]
    [InlineData(128, false)]
    public void WithAnIdentityHessianItIsRoundToNearest(int groupSize, bool asymmetric)
    {
        const int rows = 24, columns = 256;
        var w = RandomLayer.RandomWeights(rows, columns, groupSize);
        var h = new double[columns * columns];
        for (int i = 0; i < columns; i++) h[i * columns + i] = 1;
        var format = new Int4Format(groupSize, asymmetric);
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ScaleRule = Int4Recipe.RoundToNearest });
        // Nothing spreads, so each value is the nearest point of round-to-nearest's grid (the same scale and zero
        // point). With zero points that is round-to-nearest's own rule; the symmetric rule (ggml's Q4_0) rounds with
        // the FP32 scale before it is stored as FP16, so a value within the FP16 rounding of a midpoint can differ there.
        var expected = new float[rows * columns];
        var codes = new byte[groupSize];
        for (int r = 0; r < rows; r++)
            for (int g0 = 0; g0 < columns; g0 += groupSize)
            {
                var group = w.AsSpan(r * columns + g0, groupSize);
                var (scale, zero) = asymmetric ? Int4Quantizer.QuantizeAsymmetric(group, codes) : (Int4Quantizer.QuantizeSymmetric(group, codes), (byte)8);
                for (int k = 0; k < groupSize; k++)
                    expected[r * columns + g0 + k] = (Math.Clamp((int)MathF.Round(group[k] * (1f / scale)) + zero, 0, 15) - zero) * scale;
            }
        Assert.Equal(expected, RandomLayer.Dequantized(gptq));
        if (asymmetric)
        {
            using var rtn = Int4Matrix.Quantize(w, rows, columns, format);
            Assert.Equal(RandomLayer.Dequantized(rtn), RandomLayer.Dequantized(gptq));
        }
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, true)]
    [InlineData(128, false)]
    public void OnCorrelatedInputsItsOutputErrorIsBelowRoundToNearests(int groupSize, bool asymmetric)
    {
        const int rows = 32, columns = 256, tokens = 1024;
        var w = RandomLayer.RandomWeights(rows, columns, 7);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 8);
        var format = new Int4Format(groupSize, asymmetric);
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, RandomLayer.HessianOf(x, tokens, columns), format, ActivationMode.Int8, WorkerPool.Shared);
        using var rtn = Int4Matrix.Quantize(w, rows, columns, format);
        using var mse = Int4Matrix.Quantize(w, rows, columns, format with { Recipe = Int4Recipe.MinimizeError });
        double gptqError = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(gptq), x, rows, columns, tokens);
        double rtnError = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(rtn), x, rows, columns, tokens);
        double mseError = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(mse), x, rows, columns, tokens);
        Assert.True(gptqError < 0.8 * rtnError, $"GPTQ {gptqError}, round-to-nearest {rtnError}");
        Assert.True(gptqError < 0.8 * mseError, $"GPTQ {gptqError}, minimize-error {mseError}");
    }

    [Theory]
    [InlineData(32, false, Int4Recipe.RoundToNearest)]
    [InlineData(64, true, Int4Recipe.MinimizeError)]
    public void ItMatchesAStraightforwardGptqFromThePaper(int groupSize, bool asymmetric, Int4Recipe scaleRule)
    {
        const int rows = 16, columns = 128, tokens = 512;
        var w = RandomLayer.RandomWeights(rows, columns, 11);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 12);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, h, new Int4Format(groupSize, asymmetric), ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ScaleRule = scaleRule, BlockSize = 32 });
        var ours = RandomLayer.Dequantized(gptq);
        var naive = NaiveGptq.Quantize(w, rows, columns, h, groupSize, asymmetric, scaleRule);
        // Float against double: a value that lands near a rounding boundary may round the other way and change what
        // follows in its row, so most (not all) values agree, and the output errors agree closely.
        int same = ours.Zip(naive).Count(p => p.First == p.Second);
        Assert.True(same >= 0.95 * ours.Length, $"{same} of {ours.Length} values agree");
        double oursError = LinearAlgebraReference.OutputError(w, ours, x, rows, columns, tokens);
        double naiveError = LinearAlgebraReference.OutputError(w, naive, x, rows, columns, tokens);
        Assert.True(Math.Abs(oursError - naiveError) <= 0.02 * naiveError, $"ours {oursError}, naive {naiveError}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(256)]
    public void TheLazyBlockSizeDoesNotChangeTheResult(int blockSize)
    {
        // 80 columns: the last group of 32 is partial and padded; 13 rows: the last tile is partial.
        const int rows = 13, columns = 80, tokens = 300;
        var w = RandomLayer.RandomWeights(rows, columns, 21);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 22);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        var format = new Int4Format(32, false);
        using var reference = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared, new GptqOptions { BlockSize = 128 });
        using var blocked = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared, new GptqOptions { BlockSize = blockSize });
        Assert.Equal(RandomLayer.Dequantized(reference), RandomLayer.Dequantized(blocked));
    }

    [Fact]
    public void AColumnNoInputTouchedIsQuantizedAsZero()
    {
        const int rows = 8, columns = 64, tokens = 200;
        var w = RandomLayer.RandomWeights(rows, columns, 31);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 32);
        for (int t = 0; t < tokens; t++) x[t * columns + 5] = 0;
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, RandomLayer.HessianOf(x, tokens, columns), new Int4Format(32, true), ActivationMode.Int8, WorkerPool.Shared);
        var values = RandomLayer.Dequantized(gptq);
        for (int r = 0; r < rows; r++) Assert.Equal(0, values[r * columns + 5]);
    }

    [Fact]
    public void ARankDeficientHessianIsDampenedNotRefused()
    {
        // Fewer tokens than columns: XᵀX is singular; the dampening makes it invertible.
        const int rows = 8, columns = 64, tokens = 10;
        var w = RandomLayer.RandomWeights(rows, columns, 41);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 42);
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, RandomLayer.HessianOf(x, tokens, columns), new Int4Format(32, false), ActivationMode.Int8, WorkerPool.Shared);
        Assert.All(RandomLayer.Dequantized(gptq), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void InActivationOrderWithNothingToSpreadEachColumnRoundsOnItsOwnGroupsGrid()
    {
        // A diagonal Hessian with unequal entries: the order is scrambled, but no column's error reaches another, so
        // every value must be its own group's static grid point; a column put back in the wrong place would not be.
        const int rows = 9, columns = 96, groupSize = 32;
        var w = RandomLayer.RandomWeights(rows, columns, 51);
        var random = new Random(52);
        var h = new double[columns * columns];
        for (int i = 0; i < columns; i++) h[i * columns + i] = 0.1 + random.NextDouble();
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, h, new Int4Format(groupSize, true), ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ScaleRule = Int4Recipe.RoundToNearest, ActivationOrder = true });
        using var rtn = Int4Matrix.Quantize(w, rows, columns, new Int4Format(groupSize, true));
        Assert.Equal(RandomLayer.Dequantized(rtn), RandomLayer.Dequantized(gptq));
    }

    [Theory]
    [InlineData(32, false, Int4Recipe.RoundToNearest)]
    [InlineData(64, true, Int4Recipe.MinimizeError)]
    public void InActivationOrderItMatchesTheStraightforwardGptqAndBeatsRoundToNearest(int groupSize, bool asymmetric, Int4Recipe scaleRule)
    {
        const int rows = 16, columns = 128, tokens = 512;
        var w = RandomLayer.RandomWeights(rows, columns, 61);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 62);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        var format = new Int4Format(groupSize, asymmetric);
        using var gptq = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ScaleRule = scaleRule, BlockSize = 32, ActivationOrder = true });
        var ours = RandomLayer.Dequantized(gptq);
        var naive = NaiveGptq.Quantize(w, rows, columns, h, groupSize, asymmetric, scaleRule, activationOrder: true);
        int same = ours.Zip(naive).Count(p => p.First == p.Second);
        Assert.True(same >= 0.95 * ours.Length, $"{same} of {ours.Length} values agree");
        double oursError = LinearAlgebraReference.OutputError(w, ours, x, rows, columns, tokens);
        double naiveError = LinearAlgebraReference.OutputError(w, naive, x, rows, columns, tokens);
        Assert.True(Math.Abs(oursError - naiveError) <= 0.02 * naiveError, $"ours {oursError}, naive {naiveError}");
        using var rtn = Int4Matrix.Quantize(w, rows, columns, format with { Recipe = scaleRule });
        Assert.True(oursError < 0.8 * LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(rtn), x, rows, columns, tokens));
    }

    [Fact]
    public void InActivationOrderTheLazyBlockSizeDoesNotChangeTheResult()
    {
        const int rows = 13, columns = 80, tokens = 300;
        var w = RandomLayer.RandomWeights(rows, columns, 71);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 72);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        var format = new Int4Format(32, false);
        using var a = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared, new GptqOptions { BlockSize = 1, ActivationOrder = true });
        using var b = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared, new GptqOptions { BlockSize = 64, ActivationOrder = true });
        Assert.Equal(RandomLayer.Dequantized(a), RandomLayer.Dequantized(b));
    }
}
