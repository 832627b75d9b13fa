using System.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Runs <see cref="AutoRecipeSearch"/> on a model, then <see cref="AutoMixSearch"/> on its choice (the other formats
/// within its group size's budget of bits): quantizes each candidate, measures it against the float model on the
/// evaluation text, and keeps only the best so far in memory (so at most two quantized models exist at once).
/// </summary>
internal static class AutoConverter
{
    /// <summary>
    /// The output projection of every candidate when none is asked for. Bits per weight, the search's measure of size,
    /// count the layer matrices (as llama.cpp's Q4_K_M keeps its output projection in Q6_K beside 4-bit layers), so
    /// the output's precision is a matter of accuracy, not of the size rule: on the bundled model its INT4 rounding
    /// costs more KL divergence than all eight layers' (docs/quantization.md, "The output projection"), and 8 bits
    /// keep 99% of what FP16 recovers for a third of FP16's extra bytes. <c>-OutputProjection Int4</c> gives the
    /// smallest file.
    /// </summary>
    public const OutputPrecision DefaultOutput = OutputPrecision.Int8;

    public static (LanguageModel Model, LayerFormat Format, OutputPrecision Output, AccuracyReport Accuracy, IReadOnlyList<QuantizationCandidate> Candidates) Run(
        LanguageModel model, ModelWeights weights, LanguageModel reference, Int4ConversionOptions options, CalibrationText calibration, WorkerPool pool)
    {
        var log = options.Log;
        var formats = AutoRecipeSearch.Candidates(options.AutoGroupSizes, options.AutoAsymmetric);
        LanguageModel? best = null;
        QuantizationCandidate? bestCandidate = null;
        (LayerFormat Format, OutputPrecision Output, AccuracyReport Accuracy)? kept = null;
        Func<QuantizationCandidate, QuantizationCandidate, bool> isBetter = AutoRecipeSearch.IsBetter;
        var output = options.OutputProjection ?? DefaultOutput;
        QuantizationCandidate Measure(LayerFormat layerFormat)
        {
            var clock = Stopwatch.StartNew();
            var request = Int4ModelConverter.Request(layerFormat, options, output, calibration);
            var format = layerFormat.Format;
            var quantized = ModelQuantizer.Quantize(model, weights, request, pool, log, options.Cancellation);
            var elapsed = clock.Elapsed;
            try
            {
                var accuracy = AccuracyEvaluator.Compare(reference, quantized, options.EvaluationText!, pool, options.Cancellation, log);
                var w = quantized.Weights;
                var candidate = new QuantizationCandidate
                {
                    Recipe = format.Recipe.ToString(), GroupSize = format.GroupSize, Asymmetric = format.Asymmetric,
                    MatrixGroupSizes = layerFormat.GroupSizes ?? MatrixGroupSizes.Uniform(format.GroupSize),
                    BitsPerWeight = Int4ModelConverter.BitsPerWeight(w), FloatPerplexity = accuracy.FloatPerplexity,
                    QuantizedPerplexity = accuracy.QuantizedPerplexity, KlDivergence = accuracy.MeanKlDivergence,
                    SameTopTokenRate = accuracy.TopTokenAgreement, QuantizationTime = elapsed, OutputProjection = output.ToString(),
                    WeightBytes = w.Layers.SelectMany(l => l.Matrices).Sum(m => m.ByteSize) + (ReferenceEquals(w.Output, w.TokenEmbedding) ? 0 : w.Output.ByteSize),
                };
                candidate = candidate with { WithinBound = AutoRecipeSearch.IsWithinBound(candidate, options.MaxAccuracyLoss) };
                log.Verbose($"Auto: {request.FormatName}, output {w.Output.Format}: {candidate.BitsPerWeight:F3} bits per weight, perplexity {candidate.FloatPerplexity:F3} -> " +
                            $"{candidate.QuantizedPerplexity:F3} ({candidate.PerplexityIncrease:P2}), KL {candidate.KlDivergence:F5}, same top " +
                            $"{candidate.SameTopTokenRate:P1}, quantized in {elapsed.TotalSeconds:F1} s.");
                if (bestCandidate is null || isBetter(candidate, bestCandidate))
                {
                    best?.Dispose();
                    (best, bestCandidate, kept) = (quantized, candidate, (layerFormat, output, accuracy));
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
            var search = AutoRecipeSearch.Run(formats, format => Measure(format), options.MaxAccuracyLoss);
            if (options.AutoMixes)
            {
                var recipe = kept!.Value.Format.Format;
                var alternatives = AutoMixSearch.Alternatives(model.Config, search.Chosen, options.AutoAsymmetric);
                if (alternatives.Count > 0)
                    log.Verbose($"Auto: trying {recipe.Recipe} in {alternatives.Count} more formats within {AutoMixSearch.Budget(recipe.GroupSize):F3} bits per weight.");
                isBetter = AutoMixSearch.IsBetter;
                search = AutoMixSearch.Run(search, alternatives,
                    mix => Measure(new LayerFormat(recipe with { Asymmetric = mix.Asymmetric }, mix.GroupSizes.IsUniform ? null : mix.GroupSizes)),
                    options.MaxAccuracyLoss);
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
