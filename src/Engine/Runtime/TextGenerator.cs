using System.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Prompt in, text out: tokenizes, runs the prompt, then samples one token at a time until an end-of-sequence token
/// (or, with a format, the end of the formatted value), a stop string, the token limit, the context limit or
/// cancellation. Cancellation is checked between layers, so a stop request takes effect within one layer's time,
/// during the prompt too.
/// </summary>
public sealed class TextGenerator(LanguageModel model, WorkerPool? pool = null)
{
    private readonly WorkerPool _pool = pool ?? WorkerPool.Shared;

    public LanguageModel Model { get; } = model;

    /// <summary>
    /// Generates a continuation of <paramref name="prompt"/>. Cancellation is not an error: generation stops within one
    /// layer's time and the result holds what was generated so far, with <see cref="StopReason.Cancelled"/>.
    /// </summary>
    /// <param name="onPiece">Called on the calling thread for every generated token with the text it releases (often
    /// empty: part of a character, or held back as the possible start of a stop string), and once more at the end if
    /// held-back text remains; the pieces' texts concatenate to the result's text.</param>
    /// <exception cref="GenerationArgumentException">The prompt is empty or longer than the context, or an option is out of range.</exception>
    /// <exception cref="ModelNumericException">The model produced values that are not finite.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public GenerationResult Generate(string prompt, GenerationOptions options, CancellationToken cancellation = default,
        Action<GenerationPiece>? onPiece = null)
    {
        var (promptIds, context) = Prepare(prompt, options);

        // The cache holds what this request can use (prompt plus answer), not the model's whole context: a 10-token
        // answer on a 7B model needs megabytes of cache, not gigabytes.
        int needed = (int)Math.Min((long)promptIds.Length + options.MaxTokens, context);
        // A context shift makes room only once the session's own capacity is full: give it the whole context then.
        if (options.ContextShift) needed = context;
        if (!options.ReusePromptPrefix)
        {
            using var fresh = new InferenceSession(Model, _pool, needed);
            return Continue(fresh, promptIds, prompt, options, cancellation, onPiece, context);
        }
        // A cache that holds this prompt's start (from an earlier prompt) is positioned after it; the rest is run.
        var session = Model.PromptCache.Rent(Model, _pool, promptIds, needed);
        GenerationResult result;
        try
        {
            result = Continue(session, promptIds, prompt, options, cancellation, onPiece, context);
        }
        catch
        {
            session.Dispose();
            throw;
        }
        // After a context shift the cache no longer holds the prompt at its positions: nothing of it can be reused.
        if (result.ContextShifts > 0) session.Dispose();
        else Model.PromptCache.Return(session, promptIds);
        return result;
    }

    /// <summary>
    /// Generates on <paramref name="session"/>, whose cache already holds the first <see cref="InferenceSession.Position"/>
    /// tokens of <paramref name="sequence"/>: only the rest is run (prefilled) before sampling. The sampler's penalties
    /// and the decoder's text see the whole sequence. A chat session calls this turn after turn on one session.
    /// </summary>
    /// <param name="contextLimit">Positions the sequence may fill, at most the session's capacity.</param>
    /// <param name="onShift">
    /// With <see cref="GenerationOptions.ContextShift"/>: told (kept, dropped) after each shift, whose dropped positions
    /// are those of the sequence followed by the tokens generated so far, so a caller keeping the tokens beside the cache
    /// can drop the same ones.
    /// </param>
    /// <returns>The result; <see cref="GenerationResult.CachedTokens"/> counts the tokens that were not run again.</returns>
    public GenerationResult Continue(InferenceSession session, IReadOnlyList<int> sequence, string prompt, GenerationOptions options,
        CancellationToken cancellation = default, Action<GenerationPiece>? onPiece = null, int? contextLimit = null,
        Action<int, int>? onShift = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(sequence);
        Validate(options);
        int cached = session.Position;
        if (cached > sequence.Count) throw new ArgumentException($"The session holds {cached} tokens, more than the sequence's {sequence.Count}.", nameof(sequence));
        if (cached == sequence.Count) throw new GenerationArgumentException(nameof(prompt), "There are no new tokens to run: the session already holds the whole sequence.");
        int[] promptIds = sequence as int[] ?? [.. sequence];
        var run = new SequenceGeneration(Model, promptIds, cached, prompt, options, onPiece, Math.Min(session.Capacity, contextLimit ?? session.Capacity))
        {
            MakeRoom = options.ContextShift ? () => TryShift(session, promptIds, options, onShift) : null,
        };

        var clock = Stopwatch.StartNew();
        TimeSpan promptTime = TimeSpan.Zero;
        bool prefilled = false;
        try
        {
            var logits = session.Prefill(run.PromptToRun, cancellation);
            promptTime = clock.Elapsed;
            prefilled = true;
            clock.Restart();
            while (run.WantsToken)
            {
                if (cancellation.IsCancellationRequested) { run.Cancel(); break; }
                if (!run.Step(logits, session.Position)) break;
                logits = session.Decode(run.NextToken, cancellation);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Stopped inside the prompt (the time so far is prompt time) or inside a decode step (generation time).
            if (!prefilled) promptTime = clock.Elapsed;
            run.Cancel();
        }
        return run.Finish(promptTime, clock.Elapsed, prefilled);
    }

    /// <summary>The request's prompt tokens and the positions it may fill, checked as <see cref="Generate"/> checks them.</summary>
    /// <exception cref="GenerationArgumentException">The prompt is empty or longer than the context, or an option is out of range.</exception>
    internal (int[] PromptIds, int Context) Prepare(string prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        int[] promptIds = Model.Tokenizer.Encode(prompt, options.AddBos ?? Model.Tokenizer.AddBosByDefault);
        if (promptIds.Length == 0) throw new GenerationArgumentException(nameof(prompt), "The prompt is empty and no BOS token is added; there is nothing to continue.");
        int context = Math.Min(options.ContextLength ?? Model.ContextLength, Model.ContextLength);
        if (promptIds.Length > context)
            throw new GenerationArgumentException(nameof(prompt), $"The prompt is {promptIds.Length} tokens; the context holds {context}.");
        return (promptIds, context);
    }

    /// <summary>
    /// With <see cref="GenerationOptions.ContextShift"/>, drops the older half of the tokens after the kept ones from a
    /// full session; false when nothing could be dropped or the model's sliding window rules a shift out.
    /// </summary>
    private bool TryShift(InferenceSession session, int[] sequence, GenerationOptions options, Action<int, int>? onShift = null)
    {
        if (Model.Config.SlidingWindow != null) return false;
        int keep = options.KeepTokens ?? (sequence.Length > 0 && sequence[0] == Model.Tokenizer.BosTokenId ? 1 : 0);
        int discard = (session.Position - keep) / 2;
        if (discard < 1) return false;
        session.ShiftContext(keep, discard);
        onShift?.Invoke(keep, discard);
        return true;
    }

    private static void Validate(GenerationOptions options)
    {
        if (options.KeepTokens < 0) throw new GenerationArgumentException(nameof(options.KeepTokens), "KeepTokens must be 0 or more.");
        if (options.MaxTokens < 0) throw new GenerationArgumentException(nameof(options.MaxTokens), "MaxTokens must be 0 or more.");
        if (options.TopProbabilities < 0) throw new GenerationArgumentException(nameof(options.TopProbabilities), "TopProbabilities must be 0 or more.");
        if (options.StopSequences.Any(string.IsNullOrEmpty))
            throw new GenerationArgumentException("Stop", "A stop string is empty; every stop string needs at least one character.");
        if (!Enum.IsDefined(options.Format)) throw new GenerationArgumentException(nameof(options.Format), $"Format {options.Format} is not one of {string.Join(", ", Enum.GetNames<GenerationFormat>())}.");
    }
}
