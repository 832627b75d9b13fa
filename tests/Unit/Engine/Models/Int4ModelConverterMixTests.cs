using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Group sizes per kind of layer matrix (<see cref="Int4ConversionOptions.MatrixGroupSizes"/>, and Auto's mixes) and
/// the number of calibration tokens (<see cref="Int4ConversionOptions.CalibrationTokens"/>), end to end on the bundled model.
/// </summary>
public sealed class Int4ModelConverterMixTests(ITestOutputHelper output) : IDisposable
{
    private static string HeldOut => TestTexts.HeldOut;

    private static CalibrationText Short => TestTexts.ShortCalibration;

    /// <summary>The built-in sample twice over: about 38,000 tokens, more than any count these tests ask for.</summary>
    private static readonly CalibrationText Long = new("sample x2", CalibrationText.BuiltIn.Text + "\n" + CalibrationText.BuiltIn.Text);

    /// <summary>Down in groups of 32, Q/K/V and attention output in 64, gate/up in 128: 4.25 bits per weight on Llama shapes.</summary>
    private static readonly MatrixGroupSizes Mix = new(64, 64, 128, 32);

    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-mix-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertLayers(LanguageModel model, MatrixGroupSizes sizes, bool asymmetric)
    {
        foreach (var layer in model.Weights.Layers)
        {
            WeightMatrix[] matrices = [layer.QueryKeyValue, layer.AttentionOutput, layer.GateUp, layer.Down];
            for (int k = 0; k < 4; k++)
            {
                var q = Assert.IsType<Int4Matrix>(matrices[k]);
                Assert.Equal(sizes[MatrixGroupSizes.Kinds[k]], q.GroupSize);
                Assert.Equal(asymmetric, q.Int4Format.Asymmetric);
            }
        }
    }

    [Fact]
    public void AMixIsWrittenPerMatrixAndReadBackFromTheFile()
    {
        string destination = Path.Combine(_dir, "mix.llmc");
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, destination, new Int4Format(128, false),
            new Int4ConversionOptions { MatrixGroupSizes = Mix, OutputProjection = OutputPrecision.Int8 });
        Assert.Equal(Mix, result.MatrixGroupSizes);
        Assert.Equal(4.25, result.BitsPerWeight, 12);
        Assert.Equal("Q4 g128 sym (QueryKeyValue g64, AttentionOutput g64, GateUp g128, Down g32)", result.Format);

        using var file = ModelLoader.Load(destination);
        AssertLayers(file, Mix, asymmetric: false);
        Assert.Equal(Mix, file.Quantization!.MatrixGroupSizes);
        Assert.Equal(128, file.Quantization.GroupSize);
        Assert.Equal(result.Format, file.Quantization.Format);
        // Each matrix is round-to-nearest of the float weights in its own group size, not a requantized g128 matrix.
        using var source = ModelLoader.Load(RepoPaths.FixtureModel);
        for (int l = 0; l < source.Weights.Layers.Count; l += 7)
        {
            var floatLayer = source.Weights.Layers[l];
            var fileLayer = file.Weights.Layers[l];
            WeightMatrix[] expected = [floatLayer.QueryKeyValue, floatLayer.Down];
            WeightMatrix[] actual = [fileLayer.QueryKeyValue, fileLayer.Down];
            for (int m = 0; m < 2; m++)
            {
                var rows = new float[expected[m].Columns];
                var reference = new Int4Matrix(1, rows.Length, ((Int4Matrix)actual[m]).Int4Format);
                var want = new float[rows.Length];
                var got = new float[rows.Length];
                for (int r = 0; r < expected[m].Rows; r += 31)
                {
                    expected[m].DequantizeRow(r, rows);
                    reference.QuantizeRow(0, rows);
                    reference.DequantizeRow(0, want);
                    actual[m].DequantizeRow(r, got);
                    Assert.Equal(want, got);
                }
                reference.Dispose();
            }
        }
    }

    [Fact]
    public void AUniformMixIsThePlainFormat()
    {
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, "u.llmc"), new Int4Format(128, false),
            new Int4ConversionOptions { MatrixGroupSizes = MatrixGroupSizes.Uniform(64) });
        Assert.Equal("Q4 g64 sym", result.Format);
        Assert.Equal(MatrixGroupSizes.Uniform(64), result.MatrixGroupSizes);
    }

    [Fact]
    public void GptqRunsTheMixAndEveryCalibrationTokenAskedFor()
    {
        var log = new RecordingLog();
        string destination = Path.Combine(_dir, "gptq-mix.llmc");
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, destination, new Int4Format(128, true, Int4Recipe.Gptq), new Int4ConversionOptions
        {
            MatrixGroupSizes = Mix, Calibration = Long, CalibrationTokens = 8192, OutputProjection = OutputPrecision.Int8, Log = log,
        });
        // 8,192 tokens are 32 windows of 256, half the default's 64: the layers are calibrated on those 32 only.
        Assert.Contains(log.Progress, p => p.StartsWith("Quantizing (Gptq, calibrated on 32 windows of 256 tokens of sample x2)"));
        Assert.Equal(8192, result.CalibrationTokens);
        Assert.Empty(log.Warnings);
        Assert.Equal(Mix.BitsPerWeight(LoadConfig(), asymmetric: true), result.BitsPerWeight, 12);
        using var file = ModelLoader.Load(destination);
        AssertLayers(file, Mix, asymmetric: true);
        Assert.Equal(8192, file.Quantization!.CalibrationTokens);
        Assert.Equal(Mix, file.Quantization.MatrixGroupSizes);
    }

    private static ModelConfig LoadConfig()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        return model.Config;
    }

    [Fact]
    public void ATextShorterThanTheTokensAskedForIsUsedWholeWithAWarning()
    {
        var log = new RecordingLog();
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, "short.llmc"), new Int4Format(128, false, Int4Recipe.Gptq),
            new Int4ConversionOptions { Calibration = Short, CalibrationTokens = 16384, Log = log });
        var warning = Assert.Single(log.Warnings);
        Assert.Contains("fewer than the 16384 asked for", warning);
        Assert.InRange(result.CalibrationTokens!.Value, 512, 4096);
        Assert.Equal(0, result.CalibrationTokens % 256);
    }

    [Fact]
    public void BadRequestsAreRefusedBeforeAnythingIsWritten()
    {
        string destination = Path.Combine(_dir, "x.llmc");
        var tokens = Assert.Throws<QuantizationArgumentException>(() => Int4ModelConverter.Convert(RepoPaths.FixtureModel, destination,
            new Int4Format(128, false, Int4Recipe.Gptq), new Int4ConversionOptions { CalibrationTokens = 100 }));
        Assert.Equal(QuantizationProblem.CalibrationTokensOutOfRange, tokens.Problem);
        var size = Assert.Throws<QuantizationArgumentException>(() => Int4ModelConverter.Convert(RepoPaths.FixtureModel, destination,
            new Int4Format(128, false), new Int4ConversionOptions { MatrixGroupSizes = new(64, 64, 128, 16) }));
        Assert.Equal(QuantizationProblem.InvalidMatrixGroupSize, size.Problem);
        var auto = Assert.Throws<QuantizationArgumentException>(() => Int4ModelConverter.Convert(RepoPaths.FixtureModel, destination,
            new Int4Format(128, false, Int4Recipe.Auto), new Int4ConversionOptions { MatrixGroupSizes = Mix, EvaluationText = HeldOut }));
        Assert.Equal(QuantizationProblem.InvalidMatrixGroupSize, auto.Problem);
        Assert.Contains("Auto recipe chooses", auto.Message);
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public void AutoAt128TriesTheMixesWithinTheBudgetAndWritesTheOneWithTheLowestKl()
    {
        string destination = Path.Combine(_dir, "auto.llmc");
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, destination, new Int4Format(128, false, Int4Recipe.Auto), new Int4ConversionOptions
        {
            EvaluationText = HeldOut, Calibration = Short, MaxAccuracyLoss = 0.05, AutoGroupSizes = [128], AutoAsymmetric = false,
            OutputProjection = OutputPrecision.Int8,
        });
        foreach (var c in result.Candidates)
            output.WriteLine($"{c.Recipe} {c.MatrixGroupSizes}: {c.BitsPerWeight:F3} bits, {c.PerplexityIncrease:P2}, KL {c.KlDivergence:F5}{(c.Chosen ? " chosen" : "")}");
        using var fixture = ModelLoader.Load(RepoPaths.FixtureModel);
        var mixes = AutoMixSearch.Mixes(fixture.Config, 128, asymmetric: false);
        // The four recipes at g128, then the recipe with the lowest KL of those in each symmetric mix within 4.25 bits.
        Assert.Equal(AutoRecipeSearch.Recipes.Count + mixes.Count, result.Candidates.Count);
        var recipes = result.Candidates.Take(AutoRecipeSearch.Recipes.Count).ToList();
        Assert.All(recipes, c => Assert.Equal(MatrixGroupSizes.Uniform(128), c.MatrixGroupSizes));
        var tried = result.Candidates.Skip(recipes.Count).ToList();
        Assert.Equal(mixes.Select(m => m.GroupSizes), tried.Select(c => c.MatrixGroupSizes));
        Assert.All(tried, c => Assert.Equal(recipes.Where(r => r.WithinBound).MinBy(r => r.KlDivergence)!.Recipe, c.Recipe));
        Assert.All(tried, c => Assert.InRange(c.BitsPerWeight, 4.125, 4.25 + 1e-9));
        var chosen = Assert.Single(result.Candidates, c => c.Chosen);
        Assert.Equal(result.Candidates.Where(c => c.WithinBound).Min(c => c.KlDivergence), chosen.KlDivergence);
        Assert.Equal(chosen.MatrixGroupSizes, result.MatrixGroupSizes);
        Assert.Equal(chosen.BitsPerWeight, result.BitsPerWeight, 12);
        using var file = ModelLoader.Load(destination);
        AssertLayers(file, chosen.MatrixGroupSizes!, asymmetric: false);
        Assert.Equal(chosen.MatrixGroupSizes, file.Quantization!.MatrixGroupSizes);
        Assert.Equal(result.Candidates.Count, file.Quantization.Candidates!.Count);
        Assert.Equal(chosen.MatrixGroupSizes, file.Quantization.Candidates.Single(c => c.Chosen).MatrixGroupSizes);
    }
}
