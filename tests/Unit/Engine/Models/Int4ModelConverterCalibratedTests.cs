using LlmCpu.Engine;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Calibrated recipes end to end on the bundled model: calibrated on part of the built-in sample (Pride and
/// Prejudice, in the model's training text), measured on the opening of Persuasion (held out of it).
/// </summary>
public sealed class Int4ModelConverterCalibratedTests(ITestOutputHelper output) : IDisposable
{
    private static string HeldOut => TestTexts.HeldOut;

    private static CalibrationText Calibration => TestTexts.ShortCalibration;

    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-calibrated-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Int4ConversionResult Convert(Int4Format format, string name, IEngineLog? log = null, CancellationToken cancellation = default) =>
        Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, name), format, new Int4ConversionOptions
        {
            EvaluationText = HeldOut, Calibration = Calibration, Log = log ?? NullEngineLog.Instance, Cancellation = cancellation,
        });

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GptqAndAwqAtG128AreNoWorseThanRoundToNearestOnHeldOutText(bool asymmetric)
    {
        var rtn = Convert(new Int4Format(128, asymmetric), "rtn.llmc").Accuracy!;
        var log = new RecordingLog();
        var gptqResult = Convert(new Int4Format(128, asymmetric, Int4Recipe.Gptq), "gptq.llmc", log);
        var gptq = gptqResult.Accuracy!;
        var awq = Convert(new Int4Format(128, asymmetric, Int4Recipe.Awq), "awq.llmc").Accuracy!;
        output.WriteLine($"perplexity: float {rtn.FloatPerplexity:F3}, RTN {rtn.QuantizedPerplexity:F3}, GPTQ {gptq.QuantizedPerplexity:F3}, AWQ {awq.QuantizedPerplexity:F3}");
        output.WriteLine($"KL: RTN {rtn.MeanKlDivergence:F5}, GPTQ {gptq.MeanKlDivergence:F5}, AWQ {awq.MeanKlDivergence:F5}");
        // KL divergence from the float model is what the recipes reduce, and it is measured at every position: both
        // must be clearly closer to the float model than round-to-nearest.
        Assert.True(gptq.MeanKlDivergence < 0.95 * rtn.MeanKlDivergence, $"GPTQ KL {gptq.MeanKlDivergence}, RTN {rtn.MeanKlDivergence}");
        Assert.True(awq.MeanKlDivergence < 0.95 * rtn.MeanKlDivergence, $"AWQ KL {awq.MeanKlDivergence}, RTN {rtn.MeanKlDivergence}");
        // Perplexity on this text scores about 750 positions; with per-token log-probabilities differing by about
        // sqrt(2 KL) = 0.16 nats between two of these models, the standard error of their perplexity ratio is about
        // 0.6%, and round-to-nearest is sometimes below the float model itself. So the bar is "no worse than
        // round-to-nearest beyond 1.5%" (2.5 standard errors), not a strict comparison of noise.
        Assert.True(gptq.QuantizedPerplexity <= 1.015 * rtn.QuantizedPerplexity, $"GPTQ {gptq.QuantizedPerplexity}, RTN {rtn.QuantizedPerplexity}");
        Assert.True(awq.QuantizedPerplexity <= 1.015 * rtn.QuantizedPerplexity, $"AWQ {awq.QuantizedPerplexity}, RTN {rtn.QuantizedPerplexity}");

        // The result and the file say what was done and on what.
        Assert.Equal("Gptq", gptqResult.Recipe);
        Assert.Equal(asymmetric ? 4 + 24.0 / 128 : 4 + 16.0 / 128, gptqResult.BitsPerWeight, 6);
        Assert.Equal(Calibration.Name, gptqResult.CalibrationText);
        Assert.StartsWith($"{HeldOut.Length:N0} characters from", gptqResult.EvaluationText);
        using var file = ModelLoader.Load(Path.Combine(_dir, "gptq.llmc"));
        var report = file.Quantization!;
        Assert.Equal("GPTQ", report.Recipe);
        Assert.Equal(Calibration.Name, report.CalibrationText);
        Assert.Equal(gptq.QuantizedPerplexity, report.Accuracy!.QuantizedPerplexity);
        Assert.Equal(128, Assert.IsType<Int4Matrix>(file.Weights.Layers[3].Down).GroupSize);
        Assert.Empty(log.Warnings);
    }

    [Theory]
    [InlineData(Int4Recipe.SignRound, false)]
    [InlineData(Int4Recipe.Teq, true)]
    public void SignRoundAndTeqAtG128AreCloserToTheFloatModelThanRoundToNearest(Int4Recipe recipe, bool asymmetric)
    {
        var rtn = Convert(new Int4Format(128, asymmetric), "rtn.llmc").Accuracy!;
        var log = new RecordingLog();
        var result = Convert(new Int4Format(128, asymmetric, recipe), "trained.llmc", log);
        var trained = result.Accuracy!;
        output.WriteLine($"{recipe}: perplexity float {rtn.FloatPerplexity:F3}, RTN {rtn.QuantizedPerplexity:F3}, {recipe} {trained.QuantizedPerplexity:F3}; " +
                         $"KL RTN {rtn.MeanKlDivergence:F5}, {recipe} {trained.MeanKlDivergence:F5}; {result.Duration.TotalSeconds:F1} s");
        // SignRound moves every weight's rounding and lands near GPTQ (0.76 of round-to-nearest's KL here, 0.62 on
        // docs/quantization.md's text); TEQ only rescales input channels and, like AWQ, recovers less (0.92 here with
        // zero points; 0.91 with and without on docs/quantization.md's text), so its bar is lower.
        double bar = recipe == Int4Recipe.SignRound ? 0.9 : 0.97;
        Assert.True(trained.MeanKlDivergence < bar * rtn.MeanKlDivergence, $"{recipe} KL {trained.MeanKlDivergence}, RTN {rtn.MeanKlDivergence}");
        // The same bar on perplexity as GPTQ's and AWQ's above, for the same reason.
        Assert.True(trained.QuantizedPerplexity <= 1.015 * rtn.QuantizedPerplexity, $"{recipe} {trained.QuantizedPerplexity}, RTN {rtn.QuantizedPerplexity}");
        Assert.Equal(recipe.ToString(), result.Recipe);
        Assert.Equal(Calibration.Name, result.CalibrationText);
        Assert.Contains(log.Progress, p => p.Contains($"Quantizing ({recipe}") && p.Contains("layer 8 of 8"));
        using var file = ModelLoader.Load(Path.Combine(_dir, "trained.llmc"));
        Assert.Equal(recipe == Int4Recipe.Teq ? "TEQ" : "SignRound", file.Quantization!.Recipe);
        var down = Assert.IsType<Int4Matrix>(file.Weights.Layers[3].Down);
        Assert.Equal((128, asymmetric), (down.GroupSize, down.Int4Format.Asymmetric));
    }

    [Fact]
    public void ACancelledSignRoundConversionStopsAndWritesNothing()
    {
        using var cancellation = new CancellationTokenSource();
        var log = new RecordingLog { OnProgress = p => { if (p.Contains("layer 2 of")) cancellation.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => Convert(new Int4Format(128, false, Int4Recipe.SignRound), "cancelled.llmc", log, cancellation.Token));
        Assert.False(File.Exists(Path.Combine(_dir, "cancelled.llmc")));
    }

    /// <summary>
    /// GPTQ and SignRound read their inputs through the forward pass's hook, so they quantize every family; the folding
    /// of AWQ and TEQ needs Llama's layout and is refused, with the reason, for the others.
    /// </summary>
    [Theory]
    [InlineData("gptneox", "LayerNorms")]
    [InlineData("falcon-40b", "LayerNorms")]
    [InlineData("gptj", "LayerNorms")]
    [InlineData("qwen2", "biases")]
    public void GptqAndSignRoundQuantizeOtherFamiliesAndAwqAndTeqSayWhyTheyCannot(string family, string reason)
    {
        string source = RepoPaths.ArchitectureFixture(family);
        var options = new Int4ConversionOptions { Calibration = Calibration };
        foreach (var recipe in new[] { Int4Recipe.Gptq, Int4Recipe.SignRound })
        {
            string destination = Path.Combine(_dir, $"{family}-{recipe}.llmc");
            var result = Int4ModelConverter.Convert(source, destination, new Int4Format(32, false, recipe), options);
            Assert.Equal(recipe.ToString(), result.Recipe);
            using var model = ModelLoader.Load(destination);
            var generated = new LlmCpu.Engine.Runtime.TextGenerator(model).Generate("It is a truth", new LlmCpu.Engine.Runtime.GenerationOptions
            {
                MaxTokens = 4, StopAtEos = false, Sampling = LlmCpu.Engine.Runtime.SamplingOptions.Greedy,
            });
            Assert.Equal(4, generated.GeneratedTokens);
        }
        foreach (var recipe in new[] { Int4Recipe.Awq, Int4Recipe.Teq })
        {
            string destination = Path.Combine(_dir, $"{family}-{recipe}.llmc");
            var refused = Assert.Throws<QuantizationArgumentException>(() => Int4ModelConverter.Convert(source, destination, new Int4Format(32, false, recipe), options));
            Assert.Equal(QuantizationProblem.RecipeNotImplemented, refused.Problem);
            Assert.Contains(reason, refused.Message);
            Assert.False(File.Exists(destination));
        }
    }

    [Fact]
    public void AutoKeepsTheFewestBitsWithinTheBoundAndRecordsEveryCandidate()
    {
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, "auto.llmc"), new Int4Format(128, false, Int4Recipe.Auto),
            new Int4ConversionOptions { EvaluationText = HeldOut, Calibration = Calibration, MaxAccuracyLoss = 0.05, AutoGroupSizes = [128, 32], AutoAsymmetric = false, AutoMixes = false });
        foreach (var c in result.Candidates)
            output.WriteLine($"{c.Recipe} g{c.GroupSize}, output {c.OutputProjection}: {c.BitsPerWeight:F3} bits, {c.WeightBytes:N0} bytes, {c.PerplexityIncrease:P2}, KL {c.KlDivergence:F5}{(c.Chosen ? " chosen" : "")}");
        // Every g128 candidate is within 5% on this model, so g32 is never tried; of the four, at equal bits per weight,
        // the lowest KL divergence is written, every one with the 8-bit output projection Auto keeps unless told otherwise.
        Assert.Equal(AutoRecipeSearch.Recipes.Count, result.Candidates.Count);
        Assert.All(result.Candidates, c => Assert.True(c.WithinBound));
        Assert.All(result.Candidates, c => Assert.Equal(nameof(OutputPrecision.Int8), c.OutputProjection));
        var chosen = Assert.Single(result.Candidates, c => c.Chosen);
        Assert.Same(result.Candidates.MinBy(c => c.KlDivergence), chosen);
        Assert.Equal(chosen.Recipe, result.Recipe);
        Assert.Equal("Q8_0", result.OutputFormat);
        using var file = ModelLoader.Load(Path.Combine(_dir, "auto.llmc"));
        Assert.IsNotType<Int4Matrix>(file.Weights.Output);
        Assert.Equal(result.Candidates.Count, file.Quantization!.Candidates!.Count);
        Assert.Equal(nameof(OutputPrecision.Int8), file.Quantization.Candidates.Single(c => c.Chosen).OutputProjection);
        Assert.Equal(chosen.QuantizedPerplexity, file.Quantization.Accuracy!.QuantizedPerplexity);
    }

    [Fact]
    public void AutoKeepsTheOutputProjectionItIsGiven()
    {
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, "auto.llmc"), new Int4Format(128, false, Int4Recipe.Auto),
            new Int4ConversionOptions
            {
                EvaluationText = HeldOut, Calibration = Calibration, MaxAccuracyLoss = 0.05, AutoGroupSizes = [128], AutoAsymmetric = false, AutoMixes = false,
                OutputProjection = OutputPrecision.Float16,
            });
        Assert.All(result.Candidates, c => Assert.Equal("Float16", c.OutputProjection));
        Assert.Equal(AutoRecipeSearch.Recipes.Count, result.Candidates.Count);
        Assert.Equal("F16", result.OutputFormat);
    }

    [Fact]
    public void AutoWithAnUnreachableBoundKeepsTheMostAccurateAndWarns()
    {
        var log = new RecordingLog();
        var result = Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, "auto.llmc"), new Int4Format(128, false, Int4Recipe.Auto),
            new Int4ConversionOptions
            {
                EvaluationText = HeldOut, Calibration = Calibration, MaxAccuracyLoss = 0, AutoGroupSizes = [128], AutoAsymmetric = false, AutoMixes = false, Log = log,
            });
        // A bound of 0 can still be met by a lucky candidate whose perplexity drops; the test needs one that is not.
        if (result.Candidates.Any(c => c.WithinBound)) return;
        Assert.Contains(log.Warnings, w => w.Contains("No candidate kept perplexity within"));
        Assert.All(result.Candidates, c => Assert.Equal(nameof(OutputPrecision.Int8), c.OutputProjection));
        Assert.Equal(result.Candidates.Min(c => c.KlDivergence), result.Candidates.Single(c => c.Chosen).KlDivergence);
    }

    [Fact]
    public void TooShortCalibrationTextIsRefusedBeforeAnythingIsWritten()
    {
        var e = Assert.Throws<QuantizationArgumentException>(() => Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, "x.llmc"),
            new Int4Format(128, false, Int4Recipe.Gptq), new Int4ConversionOptions { Calibration = new("tiny.txt", "Mr. Darcy.") }));
        Assert.Equal(QuantizationProblem.CalibrationTextTooShort, e.Problem);
        Assert.Contains($"{CalibrationText.MinimumTokens}", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "x.llmc")));
    }

    [Fact]
    public void BadRequestsAreRefusedWithTheirProblem()
    {
        string dest = Path.Combine(_dir, "x.llmc");
        var auto = Assert.Throws<QuantizationArgumentException>(() =>
            Int4ModelConverter.Convert(RepoPaths.FixtureModel, dest, new Int4Format(128, false, Int4Recipe.Auto), new Int4ConversionOptions()));
        Assert.Equal(QuantizationProblem.EvaluationTextRequired, auto.Problem);
        var same = Assert.Throws<QuantizationArgumentException>(() => Int4ModelConverter.Convert(RepoPaths.FixtureModel, dest,
            new Int4Format(128, false, Int4Recipe.Gptq), new Int4ConversionOptions { EvaluationText = HeldOut, Calibration = new("p.txt", HeldOut + "\n") }));
        Assert.Equal(QuantizationProblem.CalibrationIsEvaluationText, same.Problem);
        var load = Assert.Throws<QuantizationArgumentException>(() => ModelLoader.Load(RepoPaths.FixtureModel,
            new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(32, false, Int4Recipe.Awq) }));
        Assert.Equal(QuantizationProblem.RecipeNeedsCalibration, load.Problem);
        Assert.Contains("ConvertTo-Int4Model", load.Message);
        Assert.False(File.Exists(dest));
    }

    [Fact]
    public void AnInt4SourceIsQuantizedAgainWithAWarning()
    {
        using var int4 = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(32, false) });
        var log = new RecordingLog();
        var result = Int4ModelConverter.Convert(int4, Path.Combine(_dir, "again.llmc"), new Int4Format(128, false, Int4Recipe.Gptq),
            new Int4ConversionOptions { Calibration = Calibration, Log = log });
        Assert.Equal("Gptq", result.Recipe);
        Assert.Contains(log.Warnings, w => w.Contains("Q4 g32 sym") && w.Contains("quantized again"));
    }

    /// <summary>Cancels the conversion when the recipe reaches the given layer.</summary>
    private sealed class CancelAtLayer(CancellationTokenSource source, int layer) : IEngineLog
    {
        public void Verbose(string message) { }

        public void Warning(string message) { }

        public void Progress(string activity, string status, int percentComplete)
        {
            if (status == $"layer {layer} of 8") source.Cancel();
        }
    }

    [Theory]
    [InlineData(Int4Recipe.Gptq)]
    [InlineData(Int4Recipe.Awq)]
    public void CancellingMidConversionLeavesThePreviousFileIntactAndNoOtherFile(Int4Recipe recipe)
    {
        string dest = Path.Combine(_dir, "kept.llmc");
        File.WriteAllText(dest, "the previous file");
        using var source = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Int4ModelConverter.Convert(RepoPaths.FixtureModel, dest, new Int4Format(128, false, recipe),
            new Int4ConversionOptions { Calibration = Calibration, Overwrite = true, Log = new CancelAtLayer(source, 3), Cancellation = source.Token }));
        Assert.Equal("the previous file", File.ReadAllText(dest));
        Assert.Equal(["kept.llmc"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }
}
