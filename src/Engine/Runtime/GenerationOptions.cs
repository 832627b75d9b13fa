namespace LlmCpu.Engine.Runtime;

public sealed record GenerationOptions
{
    /// <summary>
    /// Reuse the KV cache of an earlier prompt on the same model that began with the same whole blocks of tokens
    /// (<see cref="PromptPrefixCache"/>); the tokens are the same either way, only the time differs.
    /// </summary>
    public bool ReusePromptPrefix { get; init; } = true;

    /// <summary>
    /// When the context fills during generation, keep the first <see cref="KeepTokens"/> tokens, drop the older half of
    /// the rest and go on (<see cref="InferenceSession.ShiftContext"/>), instead of stopping with
    /// <see cref="StopReason.ContextFull"/>.
    /// </summary>
    public bool ContextShift { get; init; }

    /// <summary>Tokens a context shift keeps at the start; null keeps the BOS token when the sequence starts with one, else none.</summary>
    public int? KeepTokens { get; init; }

    /// <summary>Most tokens to generate after the prompt.</summary>
    public int MaxTokens { get; init; } = 128;

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Positions to reserve for prompt and answer; defaults to the model's context length.</summary>
    public int? ContextLength { get; init; }

    /// <summary>Prepend the beginning-of-sequence token to the prompt; null follows the tokenizer's convention.</summary>
    public bool? AddBos { get; init; }

    /// <summary>Stop when an end-of-sequence token is sampled (it is not part of the text).</summary>
    public bool StopAtEos { get; init; } = true;

    /// <summary>Stop as soon as the text contains one of these strings, even across tokens; the text ends before it.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>What the text must be; <see cref="GenerationFormat.Json"/> allows only tokens that keep it valid JSON.</summary>
    public GenerationFormat Format { get; init; } = GenerationFormat.Text;

    /// <summary>Report each generated token with its probability in <see cref="GenerationResult.Tokens"/>.</summary>
    public bool IncludeTokens { get; init; }

    /// <summary>With <see cref="IncludeTokens"/>, how many of the most likely tokens to report at each position (llama.cpp's n_probs).</summary>
    public int TopProbabilities { get; init; }
}

/// <summary>A grammar the generated text follows.</summary>
public enum GenerationFormat
{
    /// <summary>Any text.</summary>
    Text,

    /// <summary>One JSON object or array; generation ends when it closes.</summary>
    Json,
}
