namespace LlmCpu.Engine.Models;

/// <summary>
/// The dimensions and family of a real model, for making random-weight models of its size: a Llama, or one of the
/// other families the engine runs (GPT-NeoX, Falcon, GPT-J) with its norms, biases, rotary layout and residual wiring.
/// </summary>
public sealed record SyntheticShape(string Name, int EmbeddingLength, int LayerCount, int HeadCount, int KvHeadCount,
    int FeedForwardLength, int VocabularySize, int ContextLength, string Architecture = "llama")
{
    /// <summary>TinyLlama-1.1B: 2048 wide, 22 layers, 32 heads sharing 4 key/value heads, FFN 5632, vocabulary 32000.</summary>
    public static SyntheticShape TinyLlama1B { get; } = new("TinyLlama-1.1B", 2048, 22, 32, 4, 5632, 32000, 2048);

    /// <summary>Llama-2-7B: 4096 wide, 32 layers, 32 heads, FFN 11008, vocabulary 32000.</summary>
    public static SyntheticShape Llama2_7B { get; } = new("Llama-2-7B", 4096, 32, 32, 32, 11008, 32000, 4096);

    /// <summary>
    /// Pythia-1.4B (GPT-NeoX): 2048 wide, 24 layers, 16 heads of 128 with a quarter of each rotated, FFN 8192 (exact
    /// GELU), vocabulary 50304; attention and FFN in parallel off two LayerNorms; biases on every projection.
    /// </summary>
    public static SyntheticShape Pythia1_4B { get; } = new("Pythia-1.4B", 2048, 24, 16, 16, 8192, 50304, 2048, "gptneox");

    /// <summary>
    /// Falcon-7B: 4544 wide, 32 layers, 71 query heads of 64 sharing one key/value head, FFN 18176 (exact GELU),
    /// vocabulary 65024; attention and FFN in parallel off one LayerNorm; no biases; the output projection is the
    /// embedding's transpose (no output tensor), as in its checkpoint.
    /// </summary>
    public static SyntheticShape Falcon7B { get; } = new("Falcon-7B", 4544, 32, 71, 1, 18176, 65024, 2048, "falcon");

    /// <summary>
    /// GPT-J-6B: 4096 wide, 28 layers, 16 heads of 256 with 64 dimensions of each rotated in interleaved pairs, FFN
    /// 16384 (GELU's tanh form), vocabulary 50400; attention and FFN in parallel off one LayerNorm; biases on the FFN
    /// and the output projection.
    /// </summary>
    public static SyntheticShape GptJ6B { get; } = new("GPT-J-6B", 4096, 28, 16, 16, 16384, 50400, 2048, "gptj");

    public static IReadOnlyList<SyntheticShape> Presets { get; } = [TinyLlama1B, Llama2_7B, Pythia1_4B, Falcon7B, GptJ6B];

    public static SyntheticShape Find(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown shape '{name}'; known: {string.Join(", ", Presets.Select(p => p.Name))}.", nameof(name));

    /// <summary>
    /// Whether the shape can be written as an .llmc file: the synthetic .llmc writer lays out a Llama's tensors only;
    /// another family is written as a GGUF, which ConvertTo-Int4Model turns into an .llmc file with its norms and biases.
    /// </summary>
    public bool WritesAsLlmc => Architecture == "llama";

    /// <summary>
    /// The shape as a model description: the family's traits (<see cref="FamilyTraits"/>), and what its best-known
    /// checkpoint has where the family varies: Pythia's biases and quarter-rotated heads, Falcon-7B's tied output,
    /// GPT-J's 64 rotated dimensions and its FFN and output biases.
    /// </summary>
    public ModelConfig ToConfig()
    {
        if (Architecture is not ("llama" or "gptneox" or "falcon" or "gptj"))
            throw new ArgumentException($"Synthetic models are of the llama, gptneox, falcon or gptj families, not '{Architecture}'.", nameof(Architecture));
        var config = FamilyTraits.Find(Architecture)!.ApplyTo(new ModelConfig
        {
            Architecture = Architecture, EmbeddingLength = EmbeddingLength, LayerCount = LayerCount, HeadCount = HeadCount, KvHeadCount = KvHeadCount,
            FeedForwardLength = FeedForwardLength, VocabularySize = VocabularySize, ContextLength = ContextLength,
            NormEpsilon = 1e-5f, RopeTheta = 10000f, BosTokenId = 1, EosTokenIds = [2],
        });
        return Architecture switch
        {
            "gptneox" => config with { RotaryDimensionCount = config.HeadDim / 4, AttentionBias = true, AttentionOutputBias = true, FeedForwardBias = true },
            "falcon" => config with { TiedEmbeddings = true },
            "gptj" => config with { RotaryDimensionCount = 64, FeedForwardBias = true, OutputBias = true },
            _ => config,
        };
    }
}
