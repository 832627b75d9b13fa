namespace LlmCpu.Engine.Runtime;

public sealed record GenerationResult
{
    public required string Prompt { get; init; }

    public required string Text { get; init; }

    public required int PromptTokens { get; init; }

    public required int GeneratedTokens { get; init; }

    /// <summary>
    /// Tokens before the prompt that were already in the KV cache (a chat session's earlier turns) and so were not run
    /// again; <see cref="PromptTokens"/> counts only the tokens that were run.
    /// </summary>
    public int CachedTokens { get; init; }

    public required StopReason StopReason { get; init; }

    /// <summary>Context shifts during generation (<see cref="GenerationOptions.ContextShift"/>); each dropped the older half of the tokens after the kept ones.</summary>
    public int ContextShifts { get; init; }

    /// <summary>The stop string that ended generation, when <see cref="StopReason"/> is <see cref="StopReason.StopSequence"/>.</summary>
    public string? StopSequence { get; init; }

    /// <summary>Time to run the prompt (prefill), which is also the time to the first token's logits.</summary>
    public required TimeSpan PromptTime { get; init; }

    /// <summary>Time spent generating tokens after the prompt.</summary>
    public required TimeSpan GenerationTime { get; init; }

    public double PromptTokensPerSecond => PromptTime.TotalSeconds > 0 ? PromptTokens / PromptTime.TotalSeconds : 0;

    public double TokensPerSecond => GenerationTime.TotalSeconds > 0 ? GeneratedTokens / GenerationTime.TotalSeconds : 0;

    public required int Seed { get; init; }

    public required string Model { get; init; }

    public required IReadOnlyList<int> TokenIds { get; init; }

    /// <summary>Each generated token with its probability (and the top alternatives), when asked for; otherwise null.</summary>
    public IReadOnlyList<SampledToken>? Tokens { get; init; }
}
