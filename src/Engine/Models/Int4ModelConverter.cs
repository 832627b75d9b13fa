using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>What a conversion produced.</summary>
public sealed record Int4ConversionResult(string Source, string Destination, string Format, long FileSizeBytes, long SourceFileSizeBytes,
    TimeSpan Duration, AccuracyReport? Accuracy);

/// <summary>
/// Quantizes a model to INT4 and writes an LlmCpu INT4 model file with the quantization report embedded; optionally
/// measures accuracy against the unquantized model first. Layer matrices already in the requested INT4 layout are
/// kept exactly; float ones are quantized; INT4 ones in another layout are dequantized and quantized again, with a
/// warning (error added to error). The output projection is quantized to <paramref name="outputFormat"/> unless that
/// is null; the token embedding (looked up a row at a time, never multiplied) stays FP16, or as stored when INT4.
/// </summary>
/// <remarks>
/// Why the output projection is INT4 by default: decoding reads it whole for every token, and in FP16 it is a fifth
/// of a 1.1B model's bytes. Measured on the bundled model's held-out novel (30 windows of 256 tokens, layers g128,
/// against F16): output F16 perplexity +0.11%, KL 0.0082; output INT4 g32 asymmetric +0.21%, KL 0.0132; g32
/// symmetric +0.47%; g128 +0.89%. Groups of 32 with a zero point cost the least and keep the model well inside
/// the 1% bar, while decode reads 17% fewer bytes than with FP16 (fewer than a pure Q4_0 GGUF of the same model).
/// </remarks>
public static class Int4ModelConverter
{
    /// <summary>The output projection's default format: see the remarks on <see cref="Int4ModelConverter"/>.</summary>
    public static Int4Format DefaultOutputFormat { get; } = new(32, true);

    /// <summary>Converts the model at <paramref name="source"/> (any path <see cref="ModelLoader"/> reads).</summary>
    public static Int4ConversionResult Convert(string source, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default, Int4Format? outputFormat = null)
    {
        log ??= NullEngineLog.Instance;
        var clock = Stopwatch.StartNew();
        // Quantized while loading, a row at a time, so a float model is never held whole; files that already store
        // INT4 load as stored and are handled like any loaded model below.
        using var loaded = ModelLoader.Load(source, new LoadOptions
        {
            Precision = ModelPrecision.Int4, Int4Format = format, Activations = activations, Log = log, Cancellation = cancellation,
        });
        Func<LanguageModel>? reference = string.IsNullOrEmpty(evaluationText)
            ? null
            : () => ModelLoader.Load(source, new LoadOptions { Log = log, Cancellation = cancellation });
        var result = Convert(loaded, reference, destination, format, activations, overwrite, evaluationText, log, cancellation, outputFormat);
        return result with { Duration = clock.Elapsed };
    }

    /// <summary>Converts a loaded model; <paramref name="model"/> itself is the reference for <paramref name="evaluationText"/>.</summary>
    /// <param name="outputFormat">The output projection's INT4 format; null keeps it as it is (FP16 when float).</param>
    public static Int4ConversionResult Convert(LanguageModel model, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default, Int4Format? outputFormat = null) =>
        Convert(model, null, destination, format, activations, overwrite, evaluationText, log ?? NullEngineLog.Instance, cancellation, outputFormat);

    private static Int4ConversionResult Convert(LanguageModel model, Func<LanguageModel>? loadReference, string destination, Int4Format format,
        ActivationMode activations, bool overwrite, string? evaluationText, IEngineLog log, CancellationToken cancellation, Int4Format? outputFormat)
    {
        format.Validate();
        outputFormat?.Validate();
        var clock = Stopwatch.StartNew();
        return model.Use(weights =>
        {
            using var quantized = Quantize(model, weights, format, activations, outputFormat, log, cancellation);
            AccuracyReport? accuracy = null;
            if (!string.IsNullOrEmpty(evaluationText))
            {
                using var loaded = loadReference?.Invoke();
                accuracy = AccuracyEvaluator.Compare(loaded ?? model, quantized, evaluationText, cancellation: cancellation, log: log);
                log.Verbose($"Accuracy over {accuracy.Tokens} tokens ({accuracy.Windows} windows of {accuracy.ContextLength}): perplexity " +
                            $"{accuracy.FloatPerplexity:F3} -> {accuracy.QuantizedPerplexity:F3} ({accuracy.PerplexityIncrease:P2}), mean KL " +
                            $"{accuracy.MeanKlDivergence:F5}, top-token agreement {accuracy.TopTokenAgreement:P1}.");
            }
            var report = new QuantizationReport
            {
                Recipe = format.Recipe == Int4Recipe.MinimizeError ? "minimize-error scale search" : "round-to-nearest",
                Format = format.ToString(),
                GroupSize = format.GroupSize,
                Asymmetric = format.Asymmetric,
                Activations = activations.ToString(),
                EdgePrecision = $"embedding {quantized.Weights.TokenEmbedding.Format}, output {quantized.Weights.Output.Format}",
                SourcePrecision = model.StoredPrecision,
                Source = Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Path)),
                CreatedBy = "LlmCpu " + typeof(Int4ModelConverter).Assembly.GetName().Version?.ToString(3),
                Created = DateTimeOffset.UtcNow,
                Accuracy = accuracy,
            };
            LlmcModelWriter.Write(quantized, destination, report, overwrite, log, cancellation);
            return new Int4ConversionResult(model.Path, Path.GetFullPath(destination), report.Format, new FileInfo(destination).Length,
                model.FileSizeBytes, clock.Elapsed, accuracy);
        });
    }

    /// <summary>
    /// The model with every layer matrix in <paramref name="format"/>, sharing (not copying) the matrices that already
    /// are; dispose it before its source.
    /// </summary>
    private static LanguageModel Quantize(LanguageModel model, ModelWeights weights, Int4Format format, ActivationMode activations,
        Int4Format? outputFormat, IEngineLog log, CancellationToken cancellation)
    {
        var borrowed = new HashSet<WeightMatrix>();
        var made = new List<WeightMatrix>();
        var requantized = new HashSet<string>();
        WeightMatrix Layer(WeightMatrix matrix) => ToInt4(matrix, format);
        WeightMatrix ToInt4(WeightMatrix matrix, Int4Format format)
        {
            if (matrix is Int4Matrix q && SameLayout(q.Int4Format, format))
            {
                borrowed.Add(matrix);
                return matrix;
            }
            if (matrix is Int4Matrix other) requantized.Add(other.Int4Format.ToString());
            var result = new Int4Matrix(matrix.Rows, matrix.Columns, format, activations);
            made.Add(result);
            var row = new float[matrix.Columns];
            for (int r = 0; r < matrix.Rows; r++)
            {
                matrix.DequantizeRow(r, row);
                result.QuantizeRow(r, row);
            }
            return result;
        }
        WeightMatrix Edge(WeightMatrix matrix)
        {
            if (matrix is not Float32Matrix)
            {
                borrowed.Add(matrix);
                return matrix;
            }
            var result = new Float16Matrix(matrix.Rows, matrix.Columns);
            made.Add(result);
            var row = new float[matrix.Columns];
            for (int r = 0; r < matrix.Rows; r++)
            {
                matrix.DequantizeRow(r, row);
                var target = result.RowSpan(r);
                for (int i = 0; i < row.Length; i++) target[i] = (Half)row[i];
            }
            return result;
        }

        try
        {
            var embedding = Edge(weights.TokenEmbedding);
            var layers = new LayerWeights[weights.Layers.Count];
            for (int i = 0; i < layers.Length; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                log.Progress("Quantizing", $"layer {i + 1} of {layers.Length}", 100 * i / layers.Length);
                var l = weights.Layers[i];
                layers[i] = new LayerWeights
                {
                    AttentionNorm = l.AttentionNorm, AttentionNormBias = l.AttentionNormBias,
                    QueryKeyValue = Layer(l.QueryKeyValue), QueryKeyValueBias = l.QueryKeyValueBias,
                    AttentionOutput = Layer(l.AttentionOutput), AttentionOutputBias = l.AttentionOutputBias,
                    FeedForwardNorm = l.FeedForwardNorm, FeedForwardNormBias = l.FeedForwardNormBias,
                    GateUp = Layer(l.GateUp), GateUpBias = l.GateUpBias,
                    Down = Layer(l.Down), DownBias = l.DownBias,
                };
            }
            // A tied output is the embedding table itself, kept as the embedding is.
            // An output already in INT4 (a Q4_0 GGUF's, say) is kept: quantizing it again would only add error.
            var output = ReferenceEquals(weights.Output, weights.TokenEmbedding) ? embedding
                : outputFormat is { } outFormat && weights.Output is not Int4Matrix ? ToInt4(weights.Output, outFormat) : Edge(weights.Output);
            log.Progress("Quantizing", "done", 100);
            if (requantized.Count > 0)
                log.Warning($"'{model.Name}' holds {string.Join(", ", requantized)} weights; they are dequantized and quantized again to {format}, " +
                            "which adds error to error. Convert from the unquantized model where you have it.");
            var quantizedWeights = new ModelWeights(embedding, layers, weights.OutputNorm, output, weights.OutputNormBias, weights.OutputBias) { Borrowed = borrowed };
            return new LanguageModel(model.Name, model.Path, model.Config, quantizedWeights, model.Tokenizer, model.StoredPrecision,
                format.ToString(), model.FileSizeBytes, TimeSpan.Zero, storage: null) { ChatTemplateText = model.ChatTemplateText };
        }
        catch
        {
            foreach (var matrix in made) matrix.Dispose();
            throw;
        }
    }

    /// <summary>Same group size and symmetry: how the scales were searched does not change what a kernel reads.</summary>
    private static bool SameLayout(Int4Format a, Int4Format b) => a.GroupSize == b.GroupSize && a.Asymmetric == b.Asymmetric;
}
