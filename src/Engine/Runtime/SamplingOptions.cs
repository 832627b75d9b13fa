namespace LlmCpu.Engine.Runtime;

/// <summary>How the next token is chosen. Defaults follow llama.cpp's: temperature 0.8, top-k 40, top-p 0.95.</summary>
public sealed record SamplingOptions
{
    /// <summary>0 picks the most likely token (greedy); higher values flatten the distribution.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set of tokens whose probabilities sum to at least p; 1 keeps all, 0 only the most likely.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Seed of the random draw; the same seed, prompt and options give the same text.</summary>
    public int Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };
}
