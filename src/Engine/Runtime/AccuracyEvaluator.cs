using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Compares a quantized model with its float original on an evaluation text, for the report a conversion embeds:
/// <see cref="PerplexityEvaluator"/> with the float model as reference, so the report's figures are Measure-Perplexity's.
/// A text shorter than the context is measured as one window of its own length, so that a paragraph still gives a figure.
/// </summary>
public static class AccuracyEvaluator
{
    /// <exception cref="GenerationArgumentException">The text is shorter than <see cref="PerplexityEvaluator.MinimumContextLength"/> tokens.</exception>
    /// <exception cref="VocabularyMismatchException">The two models do not share a vocabulary.</exception>
    public static AccuracyReport Compare(LanguageModel reference, LanguageModel candidate, string text, WorkerPool? pool = null,
        CancellationToken cancellation = default, IEngineLog? log = null)
    {
        int tokens = reference.Tokenizer.Encode(text, reference.Tokenizer.AddBosByDefault).Length;
        if (tokens < PerplexityEvaluator.MinimumContextLength)
            throw new GenerationArgumentException(nameof(text),
                $"The evaluation text is {tokens} tokens; at least {PerplexityEvaluator.MinimumContextLength} are needed to score one.");
        int context = Math.Min(tokens, Math.Min(reference.ContextLength, candidate.ContextLength));
        var result = PerplexityEvaluator.Measure(candidate, text, new PerplexityOptions { ContextLength = context, Reference = reference },
            pool ?? WorkerPool.Shared, log, cancellation);
        return new AccuracyReport
        {
            Tokens = result.Tokens,
            FloatPerplexity = result.ReferencePerplexity!.Value,
            QuantizedPerplexity = result.Perplexity,
            MeanKlDivergence = result.KLDivergence!.Value,
            TopTokenAgreement = result.SameTopTokenRate!.Value,
            ContextLength = result.ContextLength,
            Windows = result.Windows,
            KlDivergenceP99 = result.KLDivergenceP99,
            RmsProbabilityDelta = result.RmsProbabilityDelta,
        };
    }
}
