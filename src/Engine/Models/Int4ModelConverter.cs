using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Models;

/// <summary>What a conversion produced.</summary>
public sealed record Int4ConversionResult(string Source, string Destination, string Format, long FileSizeBytes, long SourceFileSizeBytes,
    TimeSpan Duration, AccuracyReport? Accuracy)
{
    /// <summary>The recipe written (for the automatic recipe, the one it chose).</summary>
    public string? Recipe { get; init; }

    /// <summary>Bits per layer weight, scales and zero points counted.</summary>
    public double BitsPerWeight { get; init; }

    /// <summary>Each kind of layer matrix's group size as written (the same for all unless a mix was asked for or chosen).</summary>
    public MatrixGroupSizes? MatrixGroupSizes { get; init; }

    /// <summary>The calibration text's name, for calibrated recipes.</summary>
    public string? CalibrationText { get; init; }

    /// <summary>Tokens of calibration text the recipe ran, for calibrated recipes.</summary>
    public int? CalibrationTokens { get; init; }

    /// <summary>The evaluation text's name, when accuracy was measured.</summary>
    public string? EvaluationText { get; init; }

    /// <summary>The output projection's format as written ("INT4 g32 asym", "Q8_0", "F16", or the source's own).</summary>
    public string? OutputFormat { get; init; }

    /// <summary>Every candidate the automatic recipe tried, the chosen one marked; empty for a single recipe.</summary>
    public IReadOnlyList<QuantizationCandidate> Candidates { get; init; } = [];
}

/// <summary>How <see cref="Int4ModelConverter"/> converts, beyond the layers' format.</summary>
public sealed record Int4ConversionOptions
{
    public ActivationMode Activations { get; init; } = ActivationMode.Int8;

    /// <summary>Replace an existing destination.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Text to measure the result on against the unquantized model; required by <see cref="Int4Recipe.Auto"/>.</summary>
    public string? EvaluationText { get; init; }

    /// <summary>
    /// The output projection's precision; null: <see cref="Int4ModelConverter.DefaultOutputProjection"/>, or for
    /// <see cref="Int4Recipe.Auto"/>, <see cref="AutoConverter.DefaultOutput"/>.
    /// </summary>
    public OutputPrecision? OutputProjection { get; init; }

    /// <summary>Text calibrated recipes tune on; null takes <see cref="CalibrationText.BuiltIn"/>.</summary>
    public CalibrationText? Calibration { get; init; }

    /// <summary>
    /// Tokens of calibration text to use at most, from <see cref="CalibrationText.MinimumTokens"/> to
    /// <see cref="CalibrationText.MaximumTokens"/>; null: the calibration text's own limit
    /// (<see cref="CalibrationText.DefaultTokens"/> unless it says otherwise).
    /// </summary>
    public int? CalibrationTokens { get; init; }

    /// <summary>
    /// Each kind of layer matrix's group size, overriding the format's; null: the format's for every matrix. Not with
    /// <see cref="Int4Recipe.Auto"/>, which chooses them.
    /// </summary>
    public MatrixGroupSizes? MatrixGroupSizes { get; init; }

    /// <summary>
    /// For <see cref="Int4Recipe.Auto"/>: after choosing a recipe and a group size, try the other formats within that
    /// group size's budget of bits with it (<see cref="AutoMixSearch"/>).
    /// </summary>
    public bool AutoMixes { get; init; } = true;

    /// <summary>For <see cref="Int4Recipe.Gptq"/>: quantize columns by decreasing input size, with static groups.</summary>
    public bool GptqActivationOrder { get; init; }

    /// <summary>For <see cref="Int4Recipe.Auto"/>: largest relative perplexity increase accepted (0.01: 1%).</summary>
    public double MaxAccuracyLoss { get; init; } = 0.01;

    /// <summary>For <see cref="Int4Recipe.Auto"/>: group sizes to try (default 128, 64, 32).</summary>
    public IReadOnlyList<int>? AutoGroupSizes { get; init; }

    /// <summary>For <see cref="Int4Recipe.Auto"/>: only symmetric (false) or only with zero points (true); null tries both.</summary>
    public bool? AutoAsymmetric { get; init; }

    public IEngineLog Log { get; init; } = NullEngineLog.Instance;

    public CancellationToken Cancellation { get; init; }

    public WorkerPool? Pool { get; init; }
}

/// <summary>
/// Quantizes a model to INT4 and writes an LlmCpu INT4 model file with the quantization report embedded; optionally
/// measures accuracy against the unquantized model first. Layer matrices already in the requested INT4 layout are
/// kept exactly by weight-only recipes; float ones are quantized; INT4 ones in another layout (or any INT4 ones, for a
/// calibrated recipe) are dequantized and quantized again, with a warning (error added to error). The output
/// projection is quantized to the output format unless that is null; the token embedding (looked up a row at a time,
/// never multiplied) stays FP16, or as stored when INT4. <see cref="Int4Recipe.Auto"/> tries recipes and formats and
/// writes the one <see cref="AutoRecipeSearch"/> chooses.
/// </summary>
/// <remarks>
/// Why the output projection is INT4 by default: decoding reads it whole for every token, and in FP16 it is a fifth
/// of a 1.1B model's bytes. Measured on the bundled model's held-out novel (30 windows of 256 tokens, layers g128,
/// against F16): output F16 perplexity +0.11%, KL 0.0082; output INT4 g32 asymmetric +0.21%, KL 0.0132; g32
/// symmetric +0.47%; g128 +0.89%. Groups of 32 with a zero point cost the least and keep the model well inside
/// the 1% bar, while decode reads 17% fewer bytes than with FP16 (fewer than a pure Q4_0 GGUF of the same model).
/// An 8-bit (Q8_0) output projection recovers nearly all that FP16 does (KL 0.0083 against 0.0082) at a third of its
/// extra bytes, but measured on a 1.1B-shaped model its one-token GEMV took 2.3 to 3.7 times the INT4 one's time
/// for 1.8 times the bytes (docs/quantization.md, "Decode speed, and why Int4 stays the default"), so a single
/// recipe writes it only when asked (<see cref="OutputPrecision.Int8"/>); <see cref="Int4Recipe.Auto"/>, whose bound
/// is accuracy, writes it unless told otherwise (<see cref="AutoConverter.DefaultOutput"/>).
/// </remarks>
public static class Int4ModelConverter
{
    /// <summary>The output projection's format when it is INT4: see the remarks on <see cref="Int4ModelConverter"/>.</summary>
    public static Int4Format DefaultOutputFormat { get; } = new(32, true);

    /// <summary>The output projection's precision when none is asked for (and the recipe is not Auto): see the remarks.</summary>
    public static OutputPrecision DefaultOutputProjection => OutputPrecision.Int4;

    /// <summary>Converts the model at <paramref name="source"/> (any path <see cref="ModelLoader"/> reads).</summary>
    public static Int4ConversionResult Convert(string source, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default,
        OutputPrecision outputProjection = OutputPrecision.Float16) =>
        Convert(source, destination, format, new Int4ConversionOptions
        {
            Activations = activations, Overwrite = overwrite, EvaluationText = evaluationText, Log = log ?? NullEngineLog.Instance,
            Cancellation = cancellation, OutputProjection = outputProjection,
        });

    /// <summary>Converts a loaded model; <paramref name="model"/> itself is the reference for <paramref name="evaluationText"/>.</summary>
    /// <param name="outputProjection">The output projection's precision; Float16 keeps a quantized one as it is.</param>
    public static Int4ConversionResult Convert(LanguageModel model, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default,
        OutputPrecision outputProjection = OutputPrecision.Float16) =>
        Convert(model, destination, format, new Int4ConversionOptions
        {
            Activations = activations, Overwrite = overwrite, EvaluationText = evaluationText, Log = log ?? NullEngineLog.Instance,
            Cancellation = cancellation, OutputProjection = outputProjection,
        });

    /// <summary>Converts the model at <paramref name="source"/> (any path <see cref="ModelLoader"/> reads).</summary>
    public static Int4ConversionResult Convert(string source, string destination, Int4Format format, Int4ConversionOptions options)
    {
        var clock = Stopwatch.StartNew();
        Check(format, options);
        var log = options.Log;
        format = Layers(format, options).Format;
        Func<LanguageModel> loadFloat = () => ModelLoader.Load(source, new LoadOptions { Log = log, Cancellation = options.Cancellation });
        if (format.Recipe == Int4Recipe.Auto)
        {
            // Auto measures every candidate against the float model, so the model loads as stored (memory-mapped where the
            // file allows) and serves as both the source of each candidate and the reference; it is held whole.
            using var original = loadFloat();
            return Convert(original, null, destination, format, options) with { Duration = clock.Elapsed };
        }
        if (!format.Recipe.IsWeightOnly() || options.MatrixGroupSizes is { IsUniform: false })
        {
            // Calibrated recipes (and a mix of group sizes, which loading cannot give) go layer by layer: the float
            // matrices stay in the mapped source file until their layer's turn, so only one layer's float weights are
            // held at a time, and the float model is loaded as the reference only if there is text to measure on.
            using var skeleton = ModelLoader.Load(source, new LoadOptions { DeferFloatMatrices = true, Log = log, Cancellation = options.Cancellation });
            return Convert(skeleton, string.IsNullOrEmpty(options.EvaluationText) ? null : loadFloat, destination, format, options) with { Duration = clock.Elapsed };
        }
        // Quantized while loading, a row at a time, so a float model is never held whole (a mix of group sizes loads as
        // stored instead, since loading gives every matrix one format); files that already store
        // INT4 load as stored and are handled like any loaded model below.
        using var loaded = ModelLoader.Load(source, new LoadOptions
        {
            Precision = ModelPrecision.Int4, Int4Format = format, Activations = options.Activations, Log = log, Cancellation = options.Cancellation,
        });
        return Convert(loaded, string.IsNullOrEmpty(options.EvaluationText) ? null : loadFloat, destination, format, options) with { Duration = clock.Elapsed };
    }

    /// <summary>Converts a loaded model; the model itself is the reference for the evaluation text.</summary>
    public static Int4ConversionResult Convert(LanguageModel model, string destination, Int4Format format, Int4ConversionOptions options)
    {
        Check(format, options);
        return Convert(model, null, destination, format, options);
    }

    private static void Check(Int4Format format, Int4ConversionOptions options)
    {
        format.Validate();
        if (options.CalibrationTokens is { } tokens) CalibrationText.CheckTokenLimit(tokens);
        if (options.MatrixGroupSizes is { } sizes)
        {
            sizes.Validate();
            if (format.Recipe == Int4Recipe.Auto)
                throw new QuantizationArgumentException(QuantizationProblem.InvalidMatrixGroupSize, "MatrixGroupSize",
                    "The Auto recipe chooses each kind of matrix's group size itself; give -MatrixGroupSize with a single recipe.");
        }
        if (options.OutputProjection is { } output && !Enum.IsDefined(output))
            throw new ArgumentOutOfRangeException(nameof(options), output, "The output projection is Int4, Int8 or Float16.");
        if (format.Recipe == Int4Recipe.Auto && string.IsNullOrEmpty(options.EvaluationText))
            throw new QuantizationArgumentException(QuantizationProblem.EvaluationTextRequired, "EvaluationText",
                "The Auto recipe measures every candidate against the unquantized model, so it needs evaluation text (-EvaluationText).");
        if (!format.Recipe.IsWeightOnly() && options.Calibration is { } calibration && options.EvaluationText is { } evaluation
            && calibration.Text.Trim() == evaluation.Trim())
            throw new QuantizationArgumentException(QuantizationProblem.CalibrationIsEvaluationText, "CalibrationPath",
                "The calibration text is the evaluation text; a recipe tuned on the text it is measured on looks better than it is. Give different texts.");
    }

    /// <param name="loadReference">
    /// Loads the float model for the evaluation; null when <paramref name="model"/> is it (never when model's float
    /// matrices are still in its file, <see cref="DeferredMatrix"/>, as a skeleton cannot be run).
    /// </param>
    private static Int4ConversionResult Convert(LanguageModel model, Func<LanguageModel>? loadReference, string destination, Int4Format format,
        Int4ConversionOptions options)
    {
        var clock = Stopwatch.StartNew();
        var log = options.Log;
        var pool = options.Pool ?? WorkerPool.Shared;
        var calibration = options.Calibration ?? CalibrationText.BuiltIn;
        if (options.CalibrationTokens is { } tokens) calibration = calibration with { RequestedTokens = tokens };
        string? evaluationName = string.IsNullOrEmpty(options.EvaluationText) ? null : EvaluationName(options.EvaluationText);
        return model.Use(weights =>
        {
            IReadOnlyList<QuantizationCandidate> candidates = [];
            LanguageModel quantized;
            LayerFormat written = Layers(format, options);
            OutputPrecision outputWritten = options.OutputProjection ?? DefaultOutputProjection;
            AccuracyReport? accuracy = null;
            if (format.Recipe == Int4Recipe.Auto)
            {
                using var loaded = loadReference?.Invoke();
                (quantized, written, outputWritten, accuracy, candidates) = AutoConverter.Run(model, weights, loaded ?? model, options, calibration, pool);
            }
            else
            {
                quantized = ModelQuantizer.Quantize(model, weights, Request(written, options, outputWritten, calibration), pool, log, options.Cancellation);
                if (options.EvaluationText is { Length: > 0 } text)
                {
                    try
                    {
                        // The float reference loads only once the layers are quantized, so it is not held during calibration.
                        using var loaded = loadReference?.Invoke();
                        accuracy = AccuracyEvaluator.Compare(loaded ?? model, quantized, text, pool, options.Cancellation, log);
                    }
                    catch
                    {
                        quantized.Dispose();
                        throw;
                    }
                    log.Verbose($"Accuracy over {accuracy.Tokens} tokens ({accuracy.Windows} windows of {accuracy.ContextLength}): perplexity " +
                                $"{accuracy.FloatPerplexity:F3} -> {accuracy.QuantizedPerplexity:F3} ({accuracy.PerplexityIncrease:P2}), mean KL " +
                                $"{accuracy.MeanKlDivergence:F5}, top-token agreement {accuracy.TopTokenAgreement:P1}.");
                }
            }
            using (quantized)
            {
                double bits = BitsPerWeight(quantized.Weights);
                var chosen = written.Format;
                string? calibrationName = chosen.Recipe.NeedsCalibration() ? calibration.Name : null;
                int? calibrationTokens = chosen.Recipe.NeedsCalibration() ? calibration.Windows(model).Sum(w => w.Length) : null;
                var groupSizes = written.GroupSizes ?? MatrixGroupSizes.Uniform(chosen.GroupSize);
                var report = new QuantizationReport
                {
                    Recipe = RecipeName(chosen.Recipe) + (chosen.Recipe == Int4Recipe.Gptq && options.GptqActivationOrder ? " (activation order)" : ""),
                    Format = written.ToString(),
                    GroupSize = chosen.GroupSize,
                    Asymmetric = chosen.Asymmetric,
                    MatrixGroupSizes = groupSizes,
                    Activations = options.Activations.ToString(),
                    EdgePrecision = $"embedding {quantized.Weights.TokenEmbedding.Format}, output {quantized.Weights.Output.Format}",
                    SourcePrecision = model.StoredPrecision,
                    Source = Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Path)),
                    CreatedBy = "LlmCpu " + typeof(Int4ModelConverter).Assembly.GetName().Version?.ToString(3),
                    Created = DateTimeOffset.UtcNow,
                    Accuracy = accuracy,
                    BitsPerWeight = Math.Round(bits, 4),
                    CalibrationText = calibrationName,
                    CalibrationTokens = calibrationTokens,
                    EvaluationText = evaluationName,
                    DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 2),
                    Candidates = candidates.Count > 0 ? candidates.ToList() : null,
                };
                LlmcModelWriter.Write(quantized, destination, report, options.Overwrite, log, options.Cancellation);
                return new Int4ConversionResult(model.Path, Path.GetFullPath(destination), report.Format, new FileInfo(destination).Length,
                    model.FileSizeBytes, clock.Elapsed, accuracy)
                {
                    Recipe = chosen.Recipe.ToString(), BitsPerWeight = bits, MatrixGroupSizes = groupSizes, CalibrationText = calibrationName,
                    CalibrationTokens = calibrationTokens, EvaluationText = evaluationName,
                    OutputFormat = quantized.Weights.Output.Format, Candidates = candidates,
                };
            }
        });
    }

    /// <summary>
    /// The layers' format: <paramref name="format"/>, or with <see cref="Int4ConversionOptions.MatrixGroupSizes"/>, its
    /// sizes (a uniform one is the plain format at that size; a mix is named by its largest group size).
    /// </summary>
    private static LayerFormat Layers(Int4Format format, Int4ConversionOptions options) => options.MatrixGroupSizes switch
    {
        null => new(format),
        { IsUniform: true } sizes => new(format with { GroupSize = sizes.QueryKeyValue }),
        var sizes => new(format with { GroupSize = sizes.Largest }, sizes),
    };

    internal static QuantizeRequest Request(LayerFormat format, Int4ConversionOptions options, OutputPrecision output, CalibrationText calibration) =>
        new(format.Format, options.Activations, output, calibration) { GptqActivationOrder = options.GptqActivationOrder, GroupSizes = format.GroupSizes };

    /// <summary>How the report names a recipe.</summary>
    internal static string RecipeName(Int4Recipe recipe) => recipe switch
    {
        Int4Recipe.RoundToNearest => "round-to-nearest",
        Int4Recipe.MinimizeError => "minimize-error scale search",
        Int4Recipe.Gptq => "GPTQ",
        Int4Recipe.Awq => "AWQ",
        Int4Recipe.Teq => "TEQ",
        _ => recipe.ToString(),
    };

    /// <summary>Bits per layer weight as stored: 4 per weight plus each group's FP16 scale and zero point, over the layers' real (unpadded) weights.</summary>
    internal static double BitsPerWeight(ModelWeights weights)
    {
        double bits = 0, count = 0;
        foreach (var matrix in weights.Layers.SelectMany(l => l.Matrices))
        {
            double n = (double)matrix.Rows * matrix.Columns;
            count += n;
            bits += n * (matrix is Int4Matrix q ? q.Int4Format.BitsPerWeight(matrix.Columns) : matrix.ByteSize * 8.0 / n);
        }
        return count > 0 ? bits / count : 0;
    }

    /// <summary>The evaluation text is given as text, not a file: named by its length and its first words.</summary>
    private static string EvaluationName(string text)
    {
        string start = string.Join(' ', text.Split((char[]?)null, 8, StringSplitOptions.RemoveEmptyEntries).Take(7));
        return $"{text.Length:N0} characters from \"{start}\"";
    }
}
