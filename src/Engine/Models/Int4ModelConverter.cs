using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>What a conversion produced.</summary>
public sealed record Int4ConversionResult(string Source, string Destination, string Format, long FileSizeBytes, long SourceFileSizeBytes,
    TimeSpan Duration, AccuracyReport? Accuracy);

/// <summary>
/// Quantizes a float model to INT4 (round-to-nearest, the recipe of the load-time path) and writes an LlmCpu INT4
/// model file with the quantization report embedded; optionally measures accuracy against the float model first.
/// </summary>
public static class Int4ModelConverter
{
    public static Int4ConversionResult Convert(string source, string destination, Int4Format format, ActivationMode activations,
        bool overwrite, string? evaluationText, IEngineLog? log = null, CancellationToken cancellation = default)
    {
        log ??= NullEngineLog.Instance;
        var clock = Stopwatch.StartNew();
        using var quantized = ModelLoader.Load(source, new LoadOptions
        {
            Precision = ModelPrecision.Int4, Int4Format = format, Activations = activations, Log = log, Cancellation = cancellation,
        });
        AccuracyReport? accuracy = null;
        if (!string.IsNullOrEmpty(evaluationText))
        {
            using var reference = ModelLoader.Load(source, new LoadOptions { Log = log, Cancellation = cancellation });
            log.Progress("Measuring accuracy", "comparing with the float model", -1);
            accuracy = AccuracyEvaluator.Compare(reference, quantized, evaluationText, cancellation: cancellation);
            log.Verbose($"Accuracy over {accuracy.Tokens} tokens: perplexity {accuracy.FloatPerplexity:F3} -> {accuracy.QuantizedPerplexity:F3} " +
                        $"({accuracy.PerplexityIncrease:P2}), mean KL {accuracy.MeanKlDivergence:F5}, top-token agreement {accuracy.TopTokenAgreement:P1}.");
        }
        var report = new QuantizationReport
        {
            Recipe = format.Recipe == Int4Recipe.MinimizeError ? "minimize-error scale search" : "round-to-nearest",
            Format = format.ToString(),
            GroupSize = format.GroupSize,
            Asymmetric = format.Asymmetric,
            Activations = activations.ToString(),
            EdgePrecision = "F16",
            SourcePrecision = quantized.StoredPrecision,
            Source = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(source))),
            CreatedBy = "LlmCpu " + typeof(Int4ModelConverter).Assembly.GetName().Version?.ToString(3),
            Created = DateTimeOffset.UtcNow,
            Accuracy = accuracy,
        };
        LlmcModelWriter.Write(quantized, destination, report, overwrite, log, cancellation);
        return new Int4ConversionResult(quantized.Path, Path.GetFullPath(destination), report.Format, new FileInfo(destination).Length,
            quantized.FileSizeBytes, clock.Elapsed, accuracy);
    }
}
