using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class SignRoundTests(ITestOutputHelper output)
{
    private const int Rows = 32, Columns = 256, Tokens = 1024;

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, true)]
    [InlineData(128, false)]
    [InlineData(128, true)]
    [InlineData(Int4Format.PerChannel, false)]
    public void OnCorrelatedInputsItsOutputErrorIsBelowRoundToNearests(int groupSize, bool asymmetric)
    {
        var w = RandomLayer.RandomWeights(Rows, Columns, 17);
        var x = RandomLayer.CorrelatedInputs(Tokens, Columns, 18);
        var h = QuadraticError.ToFloat(RandomLayer.HessianOf(x, Tokens, Columns));
        var format = new Int4Format(groupSize, asymmetric);
        using var signRound = SignRoundQuantizer.Quantize(w, Rows, Columns, h, format, ActivationMode.Int8, WorkerPool.Shared, SignedDescentOptions.SignRound, default);
        using var rtn = Int4Matrix.Quantize(w, Rows, Columns, format);
        double ours = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(signRound), x, Rows, Columns, Tokens);
        double plain = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(rtn), x, Rows, Columns, Tokens);
        output.WriteLine($"{format}: SignRound {ours:G6}, round-to-nearest {plain:G6}");
        Assert.Equal(Int4Recipe.SignRound, signRound.Int4Format.Recipe);
        Assert.True(ours < 0.7 * plain, $"SignRound {ours}, round-to-nearest {plain}");
    }

    [Fact]
    public void WithNoStepsItIsRoundToNearest()
    {
        var w = RandomLayer.RandomWeights(Rows, Columns, 19);
        var x = RandomLayer.CorrelatedInputs(Tokens, Columns, 20);
        var h = QuadraticError.ToFloat(RandomLayer.HessianOf(x, Tokens, Columns));
        var format = new Int4Format(32, true);
        using var signRound = SignRoundQuantizer.Quantize(w, Rows, Columns, h, format, ActivationMode.Int8, WorkerPool.Shared, new SignedDescentOptions { Steps = 0 }, default);
        using var rtn = Int4Matrix.Quantize(w, Rows, Columns, format);
        Assert.Equal(RandomLayer.Dequantized(rtn), RandomLayer.Dequantized(signRound));
    }

    [Fact]
    public void ACancelledRunStops()
    {
        var w = RandomLayer.RandomWeights(Rows, Columns, 21);
        var h = new float[Columns * Columns];
        for (int i = 0; i < Columns; i++) h[i * Columns + i] = 1;
        Assert.ThrowsAny<OperationCanceledException>(() => SignRoundQuantizer.Quantize(w, Rows, Columns, h, new Int4Format(32, false), ActivationMode.Int8,
            WorkerPool.Shared, SignedDescentOptions.SignRound, new CancellationToken(canceled: true)));
    }
}
