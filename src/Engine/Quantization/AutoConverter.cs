using System.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Runs <see cref="AutoRecipeSearch"/> on a model (and, when no output precision is asked for,
/// <see cref="AutoOutputSearch"/> on its choice): quantizes each candidate, measures it against the float model on the
/// evaluation text, and keeps only the best so far in memory (so at most two quantized models exist at once).
/// </summary>
internal static class AutoConverter
{
    public static (LanguageModel Model, Int4Format Format, OutputPrecision Output, AccuracyReport Accuracy, IReadOnlyList<QuantizationCandidate> Candidates) Run(
        LanguageModel model, ModelWeights weights, LanguageModel reference, Int4ConversionOptions options, CalibrationText calibration, WorkerPool pool)
    {
        var log = options.Log;
        var formats = AutoRecipeSearch.Candidates(options.AutoGroupSizes, options.AutoAsymmetric);
        LanguageModel? best = null;
        QuantizationCandidate? bestCandidate = null;
        (Int4Format Format, OutputPrecision Output, AccuracyReport Accuracy)? kept = null;
        Func<QuantizationCandidate, QuantizationCandidate, bool> isBetter = AutoRecipeSearch.IsBetter;
        QuantizationCandidate Measure(Int4Format format, OutputPrecision output)
        {
            var clock = Stopwatch.StartNew();
            var quantized = ModelQuantizer.Quantize(model, weights, Int4ModelConverter.Request(format, options, output, calibration), pool, log, options.Cancellation);
            var elapsed = clock.Elapsed;
            try
            {
                var accuracy = AccuracyEvaluator.Compare(reference, quantized, options.EvaluationText!, pool, options.Cancellation, log);
                var w = quantized.Weights;
                var candidate = new QuantizationCandidate
                {
                    Recipe = format.Recipe.ToString(), GroupSize = format.GroupSize, Asymmetric = format.Asymmetric,
                    BitsPerWeight = Int4ModelConverter.BitsPerWeight(w), FloatPerplexity = accuracy.FloatPerplexity,
                    QuantizedPerplexity = accuracy.QuantizedPerplexity, KlDivergence = accuracy.MeanKlDivergence,
                    SameTopTokenRate = accuracy.TopTokenAgreement, QuantizationTime = elapsed, OutputProjection = output.ToString(),
                    WeightBytes = w.Layers.SelectMany(l => l.Matrices).Sum(m => m.ByteSize) + (ReferenceEquals(w.Output, w.TokenEmbedding) ? 0 : w.Output.ByteSize),
                };
                candidate = candidate with { WithinBound = AutoRecipeSearch.IsWithinBound(candidate, options.MaxAccuracyLoss) };
                log.Verbose($"Auto: {format}, output {w.Output.Format}: {candidate.BitsPerWeight:F3} bits per weight, perplexity {candidate.FloatPerplexity:F3} -> " +
                            $"{candidate.QuantizedPerplexity:F3} ({candidate.PerplexityIncrease:P2}), KL {candidate.KlDivergence:F5}, same top " +
                            $"{candidate.SameTopTokenRate:P1}, quantized in {elapsed.TotalSeconds:F1} s.");
                if (bestCandidate is null || isBetter(candidate, bestCandidate))
                {
                    best?.Dispose();
                    (best, bestCandidate, kept) = (quantized, candidate, (format, output, accuracy));
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
        }

        try
        {
            var layerOutput = options.OutputProjection ?? AutoOutputSearch.LayerSearchOutput;
            var search = AutoRecipeSearch.Run(formats, format => Measure(format, layerOutput), options.MaxAccuracyLoss);
            if (options.OutputProjection is null)
            {
                var layersChosen = kept!.Value.Format;
                isBetter = AutoOutputSearch.IsBetter;
                search = AutoOutputSearch.Run(search, output => Measure(layersChosen, output), options.MaxAccuracyLoss);
            }
            var (format, outputChosen, accuracy) = kept!.Value;
            if (!search.WithinBound)
                log.Warning($"No candidate kept perplexity within {options.MaxAccuracyLoss:P1} of the unquantized model's on the evaluation text; " +
                            $"writing the most accurate, {format} with output {outputChosen} (perplexity {search.Chosen.PerplexityIncrease:+0.00%;-0.00%}, KL {search.Chosen.KlDivergence:F5}).");
            else
                log.Verbose($"Auto chose {format} with output {outputChosen}: {search.Chosen.BitsPerWeight:F3} bits per weight, perplexity {search.Chosen.PerplexityIncrease:+0.00%;-0.00%}.");
            return (best!, format, outputChosen, accuracy, search.Candidates);
        }
        catch
        {
            best?.Dispose();
            throw;
        }
    }
}
