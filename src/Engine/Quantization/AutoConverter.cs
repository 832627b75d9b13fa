using System.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Runs <see cref="AutoRecipeSearch"/> on a model: quantizes each candidate, measures it against the float model on
/// the evaluation text, and keeps only the best so far in memory (so at most two quantized models exist at once).
/// </summary>
internal static class AutoConverter
{
    public static (LanguageModel Model, Int4Format Format, AccuracyReport Accuracy, IReadOnlyList<QuantizationCandidate> Candidates) Run(
        LanguageModel model, ModelWeights weights, LanguageModel reference, Int4ConversionOptions options, CalibrationText calibration, WorkerPool pool)
    {
        var log = options.Log;
        var formats = AutoRecipeSearch.Candidates(options.AutoGroupSizes, options.AutoAsymmetric);
        LanguageModel? best = null;
        QuantizationCandidate? bestCandidate = null;
        (Int4Format Format, AccuracyReport Accuracy)? kept = null;
        try
        {
            var search = AutoRecipeSearch.Run(formats, format =>
            {
                var clock = Stopwatch.StartNew();
                var quantized = ModelQuantizer.Quantize(model, weights, Int4ModelConverter.Request(format, options, calibration), pool, log, options.Cancellation);
                var elapsed = clock.Elapsed;
                try
                {
                    var accuracy = AccuracyEvaluator.Compare(reference, quantized, options.EvaluationText!, pool, options.Cancellation, log);
                    var candidate = new QuantizationCandidate
                    {
                        Recipe = format.Recipe.ToString(), GroupSize = format.GroupSize, Asymmetric = format.Asymmetric,
                        BitsPerWeight = Int4ModelConverter.BitsPerWeight(quantized.Weights), FloatPerplexity = accuracy.FloatPerplexity,
                        QuantizedPerplexity = accuracy.QuantizedPerplexity, KlDivergence = accuracy.MeanKlDivergence,
                        SameTopTokenRate = accuracy.TopTokenAgreement, QuantizationTime = elapsed,
                    };
                    candidate = candidate with { WithinBound = AutoRecipeSearch.IsWithinBound(candidate, options.MaxAccuracyLoss) };
                    log.Verbose($"Auto: {format}: {candidate.BitsPerWeight:F3} bits per weight, perplexity {candidate.FloatPerplexity:F3} -> " +
                                $"{candidate.QuantizedPerplexity:F3} ({candidate.PerplexityIncrease:P2}), KL {candidate.KlDivergence:F5}, same top " +
                                $"{candidate.SameTopTokenRate:P1}, quantized in {elapsed.TotalSeconds:F1} s.");
                    if (bestCandidate is null || AutoRecipeSearch.IsBetter(candidate, bestCandidate))
                    {
                        best?.Dispose();
                        (best, bestCandidate, kept) = (quantized, candidate, (format, accuracy));
                    }
                    else
                    {
                        quantized.Dispose();
                    }
                    return candidate;
                }
                catch
                {
                    if (!ReferenceEquals(quantized, best)) quantized.Dispose();
                    throw;
                }
            }, options.MaxAccuracyLoss);
            if (!search.WithinBound)
                log.Warning($"No candidate kept perplexity within {options.MaxAccuracyLoss:P1} of the unquantized model's on the evaluation text; " +
                            $"writing the most accurate, {kept!.Value.Format} (perplexity {search.Chosen.PerplexityIncrease:+0.00%;-0.00%}, KL {search.Chosen.KlDivergence:F5}).");
            else
                log.Verbose($"Auto chose {kept!.Value.Format}: {search.Chosen.BitsPerWeight:F3} bits per weight, perplexity {search.Chosen.PerplexityIncrease:+0.00%;-0.00%}.");
            return (best!, kept.Value.Format, kept.Value.Accuracy, search.Candidates);
        }
        catch
        {
            best?.Dispose();
            throw;
        }
    }
}
