using System.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Prompt in, text out: tokenizes, runs the prompt, then samples one token at a time until an
/// end-of-sequence token, the token limit, the context limit or cancellation. Cancellation is checked
/// between layers, so a stop request takes effect within one layer's time, during the prompt too.
/// </summary>
public sealed class TextGenerator(LanguageModel model, WorkerPool? pool = null)
{
    private readonly WorkerPool _pool = pool ?? WorkerPool.Shared;

    public LanguageModel Model { get; } = model;

    /// <summary>
    /// Generates a continuation of <paramref name="prompt"/>. Cancellation is not an error: generation stops within one
    /// layer's time and the result holds what was generated so far, with <see cref="StopReason.Cancelled"/>.
    /// </summary>
    /// <exception cref="GenerationArgumentException">The prompt is empty or longer than the context, or an option is out of range.</exception>
    /// <exception cref="ModelNumericException">The model produced values that are not finite.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public GenerationResult Generate(string prompt, GenerationOptions options, CancellationToken cancellation = default,
        Action<GeneratedToken>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (options.MaxTokens < 0) throw new GenerationArgumentException(nameof(options.MaxTokens), "MaxTokens must be 0 or more.");
        int[] promptIds = Model.Tokenizer.Encode(prompt, options.AddBos ?? Model.Tokenizer.AddBosByDefault);
        if (promptIds.Length == 0) throw new GenerationArgumentException(nameof(prompt), "The prompt is empty and no BOS token is added; there is nothing to continue.");
        int context = Math.Min(options.ContextLength ?? Model.ContextLength, Model.ContextLength);
        if (promptIds.Length > context)
            throw new GenerationArgumentException(nameof(prompt), $"The prompt is {promptIds.Length} tokens; the context holds {context}.");

        var sampler = new Sampler(options.Sampling, Model.VocabularySize);
        var decoder = new StreamingDecoder(Model.Tokenizer, promptIds, options.MaxTokens);
        var generated = new List<int>(options.MaxTokens);
        // The cache holds what this request can use (prompt plus answer), not the model's whole context: a 10-token
        // answer on a 7B model needs megabytes of cache, not gigabytes.
        int needed = (int)Math.Min((long)promptIds.Length + options.MaxTokens, context);
        using var session = new InferenceSession(Model, _pool, needed);
        int capacity = Math.Min(session.Capacity, context);

        var clock = Stopwatch.StartNew();
        StopReason reason = StopReason.MaxTokens;
        TimeSpan promptTime = TimeSpan.Zero;
        bool prefilled = false;
        try
        {
            var logits = session.Prefill(promptIds, cancellation);
            promptTime = clock.Elapsed;
            prefilled = true;
            clock.Restart();
            while (generated.Count < options.MaxTokens)
            {
                if (cancellation.IsCancellationRequested) { reason = StopReason.Cancelled; break; }
                int next = sampler.Sample(logits);
                if (options.StopAtEos && Model.Config.EosTokenIds.Contains(next)) { reason = StopReason.EndOfSequence; break; }
                generated.Add(next);
                // Text is decoded per token only for a listener; otherwise once at the end, keeping the loop allocation-free.
                if (onToken != null) onToken(new GeneratedToken(next, decoder.Append(next), generated.Count - 1));
                if (generated.Count == options.MaxTokens) break;
                if (session.Position >= capacity) { reason = StopReason.ContextFull; break; }
                logits = session.Decode(next, cancellation);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Stopped inside the prompt (the time so far is prompt time) or inside a decode step (generation time).
            if (!prefilled) promptTime = clock.Elapsed;
            reason = StopReason.Cancelled;
        }

        if (onToken == null) decoder.AppendRange(generated);
        return new GenerationResult
        {
            Prompt = prompt,
            Text = decoder.Text,
            PromptTokens = promptIds.Length,
            GeneratedTokens = generated.Count,
            StopReason = reason,
            PromptTime = promptTime,
            GenerationTime = prefilled ? clock.Elapsed : TimeSpan.Zero,
            Seed = options.Sampling.Seed,
            Model = Model.Name,
            TokenIds = generated,
        };
    }
}
