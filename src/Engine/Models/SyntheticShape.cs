namespace LlmCpu.Engine.Models;

/// <summary>The dimensions of a Llama-architecture model, for making random-weight models of real sizes.</summary>
public sealed record SyntheticShape(string Name, int EmbeddingLength, int LayerCount, int HeadCount, int KvHeadCount,
    int FeedForwardLength, int VocabularySize, int ContextLength)
{
    /// <summary>TinyLlama-1.1B: 2048 wide, 22 layers, 32 heads sharing 4 key/value heads, FFN 5632, vocabulary 32000.</summary>
    public static SyntheticShape TinyLlama1B { get; } = new("TinyLlama-1.1B", 2048, 22, 32, 4, 5632, 32000, 2048);

    /// <summary>Llama-2-7B: 4096 wide, 32 layers, 32 heads, FFN 11008, vocabulary 32000.</summary>
    public static SyntheticShape Llama2_7B { get; } = new("Llama-2-7B", 4096, 32, 32, 32, 11008, 32000, 4096);

    public static IReadOnlyList<SyntheticShape> Presets { get; } = [TinyLlama1B, Llama2_7B];

    public static SyntheticShape Find(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown shape '{name}'; known: {string.Join(", ", Presets.Select(p => p.Name))}.", nameof(name));

    public ModelConfig ToConfig() => new()
    {
        Architecture = "llama", EmbeddingLength = EmbeddingLength, LayerCount = LayerCount, HeadCount = HeadCount, KvHeadCount = KvHeadCount,
        FeedForwardLength = FeedForwardLength, VocabularySize = VocabularySize, ContextLength = ContextLength,
        NormEpsilon = 1e-5f, RopeTheta = 10000f, BosTokenId = 1, EosTokenIds = [2],
    };
}
