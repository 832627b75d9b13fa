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
/// warning (error added to error). The token embedding and output projection stay FP16 (or as stored when INT4).
/// </summary>
public static class Int4ModelConverter
{
    /// <summary>Converts the model at <paramref name="source"/> (any path <see cref="ModelLoader"/> reads).</summary>
    public static Int4ConversionResult Convert(string source, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default)
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
        var result = Convert(loaded, reference, destination, format, activations, overwrite, evaluationText, log, cancellation);
        return result with { Duration = clock.Elapsed };
    }

    /// <summary>Converts a loaded model; <paramref name="model"/> itself is the reference for <paramref name="evaluationText"/>.</summary>
    public static Int4ConversionResult Convert(LanguageModel model, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default) =>
        Convert(model, null, destination, format, activations, overwrite, evaluationText, log ?? NullEngineLog.Instance, cancellation);

    private static Int4ConversionResult Convert(LanguageModel model, Func<LanguageModel>? loadReference, string destination, Int4Format format,
        ActivationMode activations, bool overwrite, string? evaluationText, IEngineLog log, CancellationToken cancellation)
    {
        format.Validate();
        var clock = Stopwatch.StartNew();
        return model.Use(weights =>
        {
            using var quantized = Quantize(model, weights, format, activations, log, cancellation);
            AccuracyReport? accuracy = null;
            if (!string.IsNullOrEmpty(evaluationText))
            {
                using var loaded = loadReference?.Invoke();
                log.Progress("Measuring accuracy", "comparing with the unquantized model", -1);
                accuracy = AccuracyEvaluator.Compare(loaded ?? model, quantized, evaluationText, cancellation: cancellation);
                log.Verbose($"Accuracy over {accuracy.Tokens} tokens: perplexity {accuracy.FloatPerplexity:F3} -> {accuracy.QuantizedPerplexity:F3} " +
                            $"({accuracy.PerplexityIncrease:P2}), mean KL {accuracy.MeanKlDivergence:F5}, top-token agreement {accuracy.TopTokenAgreement:P1}.");
                log.Progress("Measuring accuracy", "done", 100);
            }
            var report = new QuantizationReport
            {
                Recipe = format.Recipe == Int4Recipe.MinimizeError ? "minimize-error scale search" : "round-to-nearest",
                Format = format.ToString(),
                GroupSize = format.GroupSize,
                Asymmetric = format.Asymmetric,
                Activations = activations.ToString(),
                EdgePrecision = weights.TokenEmbedding.Format,
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
        IEngineLog log, CancellationToken cancellation)
    {
        var borrowed = new HashSet<WeightMatrix>();
        var made = new List<WeightMatrix>();
        var requantized = new HashSet<string>();
        WeightMatrix Layer(WeightMatrix matrix)
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
                layers[i] = new LayerWeights(l.AttentionNorm, Layer(l.QueryKeyValue), Layer(l.AttentionOutput), l.FeedForwardNorm,
                    Layer(l.GateUp), Layer(l.Down));
            }
            var output = ReferenceEquals(weights.Output, weights.TokenEmbedding) ? embedding : Edge(weights.Output);
            log.Progress("Quantizing", "done", 100);
            if (requantized.Count > 0)
                log.Warning($"'{model.Name}' holds {string.Join(", ", requantized)} weights; they are dequantized and quantized again to {format}, " +
                            "which adds error to error. Convert from the unquantized model where you have it.");
            var quantizedWeights = new ModelWeights(embedding, layers, weights.OutputNorm, output) { Borrowed = borrowed };
            return new LanguageModel(model.Name, model.Path, model.Config, quantizedWeights, model.Tokenizer, model.StoredPrecision,
                format.ToString(), model.FileSizeBytes, TimeSpan.Zero, storage: null);
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
