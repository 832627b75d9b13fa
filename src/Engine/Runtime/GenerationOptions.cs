namespace LlmCpu.Engine.Runtime;

public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate after the prompt.</summary>
    public int MaxTokens { get; init; } = 128;

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Positions to reserve for prompt and answer; defaults to the model's context length.</summary>
    public int? ContextLength { get; init; }

    /// <summary>Prepend the beginning-of-sequence token to the prompt; null follows the tokenizer's convention.</summary>
    public bool? AddBos { get; init; }

    /// <summary>Stop when an end-of-sequence token is sampled (it is not part of the text).</summary>
    public bool StopAtEos { get; init; } = true;
}

public enum StopReason
{
    EndOfSequence,
    MaxTokens,
    ContextFull,
    Cancelled,
}

/// <summary>One generated token as it is produced, with the text it adds (empty while a multi-byte character is incomplete).</summary>
public readonly record struct GeneratedToken(int Id, string Text, int Index);

public sealed record GenerationResult
{
    public required string Prompt { get; init; }

    public required string Text { get; init; }

    public required int PromptTokens { get; init; }

    public required int GeneratedTokens { get; init; }

    public required StopReason StopReason { get; init; }

    /// <summary>Time to run the prompt (prefill), which is also the time to the first token's logits.</summary>
    public required TimeSpan PromptTime { get; init; }

    /// <summary>Time spent generating tokens after the prompt.</summary>
    public required TimeSpan GenerationTime { get; init; }

    public double PromptTokensPerSecond => PromptTime.TotalSeconds > 0 ? PromptTokens / PromptTime.TotalSeconds : 0;

    public double TokensPerSecond => GenerationTime.TotalSeconds > 0 ? GeneratedTokens / GenerationTime.TotalSeconds : 0;

    public required int Seed { get; init; }

    public required string Model { get; init; }

    public required IReadOnlyList<int> TokenIds { get; init; }
}
