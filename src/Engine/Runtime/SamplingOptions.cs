namespace LlmCpu.Engine.Runtime;

/// <summary>
/// How the next token is chosen: llama.cpp's sampler settings with its names and defaults (common/common.h,
/// <c>common_params_sampling</c>). The stages run in llama.cpp's order: logit bias, penalties, top-k, typical-p,
/// top-p, min-p, temperature, then the seeded draw (see <see cref="Sampler"/>).
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>0 picks the most likely token (greedy); higher values flatten the distribution.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set of tokens whose probabilities sum to at least p; 1 keeps all, 0 only the most likely.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Keep only tokens at least p times as likely as the most likely one; 0 keeps all.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Locally typical sampling: keep the tokens whose surprise is nearest the entropy, up to probability p; 1 keeps all.</summary>
    public float TypicalP { get; init; } = 1.0f;

    /// <summary>Divides positive (multiplies negative) logits of tokens seen in the last <see cref="RepeatLastN"/> tokens; 1 is off.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many of the last tokens (prompt included) the penalties look at; 0 switches them off, -1 means all.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>Subtracted once from the logit of every token seen in the window; 0 is off.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>Subtracted from a token's logit once per time it occurs in the window; 0 is off.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Added to the logit of the token with that id before any other stage; negative infinity bans the token.</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>Seed of the random draw; the same seed, prompt and options give the same text.</summary>
    public int Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };
}
