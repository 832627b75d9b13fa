using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>How <see cref="PerplexityEvaluator"/> measures.</summary>
public sealed record PerplexityOptions
{
    /// <summary>Tokens per window; null takes the model's context (the smaller of the two models' with a reference).</summary>
    public int? ContextLength { get; init; }

    /// <summary>A model to compare with on the same tokens (llama-perplexity's KL-divergence mode), usually the unquantized original.</summary>
    public LanguageModel? Reference { get; init; }

    /// <summary>Where the text came from, carried into the result.</summary>
    public string? Source { get; init; }
}

/// <summary>
/// Perplexity of a model on a text, by llama.cpp's llama-perplexity convention so that figures from both line up:
/// the whole text is tokenized once (BOS first where the tokenizer adds one), cut into non-overlapping windows of the
/// context length (a remainder shorter than a window is left out), and each window runs from an empty cache with its
/// first token replaced by BOS. Of each window of n tokens, the predictions at positions n/2 .. n-2 are scored
/// against the token that follows, so every scored token has at least half a window of context. Windows run as
/// prefill, with the logits of the scored positions taken from the same pass.
/// With a reference model both run the same windows (the reference's tokenization, as llama-perplexity's KL mode
/// reads the tokens its reference run stored) and each position also gives KL(reference || model), the change in the
/// next token's probability and whether both rank the same token first.
/// </summary>
public static class PerplexityEvaluator
{
    private const string Activity = "Measuring perplexity";

    /// <summary>The shortest window: one scored position needs positions 0 and 1 of context and a token after it.</summary>
    public const int MinimumContextLength = 3;

    /// <exception cref="GenerationArgumentException">
    /// The text is shorter than one window, or the context length is out of range.
    /// </exception>
    /// <exception cref="VocabularyMismatchException">The reference's vocabulary differs from the model's.</exception>
    /// <exception cref="OperationCanceledException">Cancelled, between windows or within one.</exception>
    /// <exception cref="ObjectDisposedException">A model has been disposed.</exception>
    public static PerplexityResult Measure(LanguageModel model, string text, PerplexityOptions options, WorkerPool pool,
        IEngineLog? log = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        log ??= NullEngineLog.Instance;
        var clock = Stopwatch.StartNew();
        var reference = options.Reference;
        int context = WindowLength(model, reference, options.ContextLength);
        int[] tokens = Tokenize(model, reference, text);
        if (tokens.Length < context)
            throw new GenerationArgumentException(nameof(text),
                $"The text is {tokens.Length} tokens; perplexity needs at least one window of the context length, {context} tokens. " +
                "Give a longer text or a smaller -ContextLength.");

        int windows = tokens.Length / context;
        int first = context / 2, rows = context - 1 - first;
        int vocabulary = model.VocabularySize;
        var tokenizer = (reference ?? model).Tokenizer;
        log.Verbose($"{model.Name}{(reference is null ? "" : $" against {reference.Name}")}: {tokens.Length} tokens, {windows} windows of {context}, " +
                    $"{rows} positions scored in each, on {pool.ThreadCount} threads.");

        var window = new int[context];
        var logits = new float[rows * vocabulary];                    // (rows, vocab) this window's scored positions
        var referenceLogits = reference is null ? null : new float[rows * vocabulary];
        var scorer = new TokenScorer(vocabulary);
        var statistics = new PerplexityStatistics(windows * rows, reference is not null);
        using var session = new InferenceSession(model, pool, context);
        using var referenceSession = reference is null ? null : new InferenceSession(reference, pool, context);

        for (int w = 0; w < windows; w++)
        {
            cancellation.ThrowIfCancellationRequested();
            tokens.AsSpan(w * context, context).CopyTo(window);
            if (tokenizer.AddBosByDefault) window[0] = tokenizer.BosTokenId;
            // The last token is only ever a target, so the pass stops before it.
            var input = window.AsSpan(0, context - 1);
            session.Reset();
            session.Prefill(input, first, logits, cancellation);
            referenceSession?.Reset();
            referenceSession?.Prefill(input, first, referenceLogits, cancellation);

            for (int i = 0; i < rows; i++)
            {
                int next = window[first + 1 + i];
                var row = logits.AsSpan(i * vocabulary, vocabulary);
                statistics.Add(referenceLogits is null
                    ? scorer.Score(row, next)
                    : scorer.Score(row, referenceLogits.AsSpan(i * vocabulary, vocabulary), next));
            }
            log.Progress(Activity, $"window {w + 1} of {windows}: perplexity {statistics.Perplexity:F4}", 100 * (w + 1) / windows);
        }

        var result = new PerplexityResult
        {
            Model = model.Name, Source = options.Source, ContextLength = context, Windows = windows, Tokens = statistics.Count,
            TextTokens = tokens.Length, Perplexity = statistics.Perplexity, StandardError = statistics.StandardError,
            Duration = clock.Elapsed,
        };
        if (reference is null) return result;
        var (median, p99, maximum) = statistics.KlDivergenceQuantiles();
        return result with
        {
            Reference = reference.Name,
            ReferencePerplexity = statistics.ReferencePerplexity,
            PerplexityRatio = statistics.PerplexityRatio,
            KLDivergence = statistics.KlDivergence,
            KLDivergenceStandardError = statistics.KlDivergenceStandardError,
            KLDivergenceMedian = median,
            KLDivergenceP99 = p99,
            KLDivergenceMaximum = maximum,
            SameTopTokenRate = statistics.SameTopTokenRate,
            RmsProbabilityDelta = statistics.RmsProbabilityDelta,
            MeanProbabilityDelta = statistics.MeanProbabilityDelta,
        };
    }

    /// <summary>The window length asked for, or the context of the model (and reference); never past either's context.</summary>
    private static int WindowLength(LanguageModel model, LanguageModel? reference, int? requested)
    {
        int limit = Math.Min(model.ContextLength, reference?.ContextLength ?? int.MaxValue);
        int context = requested ?? limit;
        if (context < MinimumContextLength)
            throw new GenerationArgumentException(nameof(PerplexityOptions.ContextLength),
                $"A window of {context} tokens scores nothing; at least {MinimumContextLength} are needed.");
        if (context > limit)
            throw new GenerationArgumentException(nameof(PerplexityOptions.ContextLength),
                $"A window of {context} tokens exceeds the context of {(reference is not null && reference.ContextLength == limit ? reference.Name : model.Name)}, {limit} tokens.");
        return context;
    }

    /// <summary>
    /// The text's tokens, BOS first where the tokenizer adds one; with a reference, the reference's tokens, which the
    /// model's tokenizer must give too, or positions would be compared across different tokens.
    /// </summary>
    private static int[] Tokenize(LanguageModel model, LanguageModel? reference, string text)
    {
        if (reference is null) return model.Tokenizer.Encode(text, model.Tokenizer.AddBosByDefault);
        if (reference.VocabularySize != model.VocabularySize)
            throw new VocabularyMismatchException(nameof(PerplexityOptions.Reference),
                $"{model.Name} has a vocabulary of {model.VocabularySize} tokens and the reference {reference.Name} one of {reference.VocabularySize}; " +
                "KL divergence compares distributions over the same tokens.");
        int[] tokens = reference.Tokenizer.Encode(text, reference.Tokenizer.AddBosByDefault);
        if (!tokens.AsSpan().SequenceEqual(model.Tokenizer.Encode(text, reference.Tokenizer.AddBosByDefault)))
            throw new VocabularyMismatchException(nameof(PerplexityOptions.Reference),
                $"{model.Name} and the reference {reference.Name} tokenize the text differently; they do not share a vocabulary.");
        return tokens;
    }
}
