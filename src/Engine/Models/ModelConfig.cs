using System.Text.Json.Serialization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// A decoder, independent of the file it came from: its dimensions, and the handful of choices that tell the families
/// apart (norm, residual layout, rotary embedding, attention and feed-forward biases, window, gating, activation). The
/// forward pass reads these choices; nothing else in it depends on the family. The defaults describe Llama.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The family's name as GGUF spells it (llama, qwen2, gptneox, falcon, gptj); Mistral is "llama" with a window.</summary>
    public required string Architecture { get; init; }

    /// <summary>Width of the residual stream (hidden_size).</summary>
    public required int EmbeddingLength { get; init; }

    public required int LayerCount { get; init; }

    public required int HeadCount { get; init; }

    /// <summary>Key/value heads; fewer than <see cref="HeadCount"/> for grouped-query attention.</summary>
    public required int KvHeadCount { get; init; }

    public required int FeedForwardLength { get; init; }

    public required int VocabularySize { get; init; }

    public required int ContextLength { get; init; }

    /// <summary>
    /// The norm's epsilon. Required, with no default here: each file format has its own convention for a missing value
    /// (Hugging Face Llama: 1e-6; GGUF: the key is mandatory), and its reader states it.
    /// </summary>
    public required float NormEpsilon { get; init; }

    public NormKind Norm { get; init; } = NormKind.Rms;

    /// <summary>Whether every norm adds a bias (LayerNorm families).</summary>
    public bool NormBias { get; init; }

    public ResidualLayout Residual { get; init; } = ResidualLayout.Sequential;

    public float RopeTheta { get; init; } = 10000f;

    /// <summary>Leading dimensions of each head that rotary embedding rotates; null rotates all of them.</summary>
    public int? RotaryDimensionCount { get; init; }

    public RotaryPairing RotaryPairing { get; init; } = RotaryPairing.HalfSplit;

    public RopeScaling RopeScaling { get; init; } = RopeScaling.None;

    /// <summary>Whether the query, key and value projections add biases (Qwen2, GPT-NeoX, some Falcons).</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Whether the attention output projection adds a bias (GPT-NeoX, some Falcons).</summary>
    public bool AttentionOutputBias { get; init; }

    /// <summary>Positions a token attends to, itself included (Mistral); null for the whole context.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Whether the feed-forward network is gated: act(gate(x)) * up(x) (Llama family) rather than act(up(x)).</summary>
    public bool FeedForwardGated { get; init; } = true;

    public FeedForwardActivation Activation { get; init; } = FeedForwardActivation.Silu;

    /// <summary>Whether the feed-forward projections add biases (GPT-NeoX, GPT-J, some Falcons).</summary>
    public bool FeedForwardBias { get; init; }

    /// <summary>Whether the output projection adds a bias (GPT-J).</summary>
    public bool OutputBias { get; init; }

    [JsonIgnore]
    public int HeadDim => EmbeddingLength / HeadCount;

    /// <summary>Dimensions of each head rotary embedding rotates.</summary>
    [JsonIgnore]
    public int RotaryDimensions => RotaryDimensionCount ?? HeadDim;

    [JsonIgnore]
    public int KvDim => HeadDim * KvHeadCount;

    public bool TiedEmbeddings { get; init; }

    public int BosTokenId { get; init; } = 1;

    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];

    /// <summary>Parameters of the decoder, counted as the reference implementation counts them (embeddings included).</summary>
    [JsonIgnore]
    public long ParameterCount
    {
        get
        {
            long d = EmbeddingLength, f = FeedForwardLength, v = VocabularySize, kv = KvDim;
            long norms = NormBias ? 2 * d : d;
            long attention = d * d * 2 + d * kv * 2 + (AttentionBias ? d + 2 * kv : 0) + (AttentionOutputBias ? d : 0);
            long feedForward = (FeedForwardGated ? 3 : 2) * d * f + (FeedForwardBias ? (FeedForwardGated ? 2 : 1) * f + d : 0);
            long layerNorms = Residual == ResidualLayout.ParallelSharedNorm ? norms : 2 * norms;
            return v * d * (TiedEmbeddings ? 1 : 2) + (OutputBias ? v : 0) + LayerCount * (attention + feedForward + layerNorms) + norms;
        }
    }

    /// <summary>Most decoder layers a model may declare.</summary>
    public const int MaxLayers = 4096;

    /// <summary>Checks that the numbers describe a model this engine can run; names the field at fault.</summary>
    public void Validate(string path)
    {
        ValidateDimensions(path);
        if (HeadDim % 2 != 0) throw new ModelFormatException(path, "hidden_size", $"head dimension {HeadDim} is odd; rotary embedding needs it even");
        if (!(NormEpsilon > 0 && NormEpsilon < 1)) throw new ModelFormatException(path, "rms_norm_eps", $"{NormEpsilon} is outside (0, 1)");
        if (!(RopeTheta > 1)) throw new ModelFormatException(path, "rope_theta", $"{RopeTheta} must be greater than 1");
        if (RotaryDimensions <= 0 || RotaryDimensions > HeadDim || RotaryDimensions % 2 != 0)
            throw new ModelFormatException(path, "rotary dimensions", $"{RotaryDimensions} must be even and between 2 and the head dimension {HeadDim}");
        if (SlidingWindow is <= 0) throw new ModelFormatException(path, "sliding_window", $"is {SlidingWindow}; it must be positive");
        if (!(RopeScaling.Factor > 0)) throw new ModelFormatException(path, "rope_scaling.factor", $"{RopeScaling.Factor} must be positive");
        if (RopeScaling.FrequencyFactors is { } factors && (factors.Length != RotaryDimensions / 2 || factors.Any(f => !(f > 0))))
            throw new ModelFormatException(path, "rope frequency factors", $"there must be {RotaryDimensions / 2}, all positive");
        // Guards against absurd values from a damaged file before anything is allocated from them.
        if ((long)EmbeddingLength * VocabularySize > 1L << 36) throw new ModelFormatException(path, "vocab_size", "embedding table is implausibly large");
        if (ContextLength > 1 << 20) throw new ModelFormatException(path, "max_position_embeddings", $"{ContextLength} exceeds 1048576");
        // The deepest published decoders have about 130 layers; a count in the millions is damage, and would otherwise
        // size an array of layers before any tensor is found missing.
        if (LayerCount > MaxLayers) throw new ModelFormatException(path, "num_hidden_layers", $"{LayerCount} exceeds {MaxLayers}");
    }

    /// <summary>
    /// The counts are positive and the heads divide the width: checked before anything is derived from them (the head
    /// dimension divides by the head count), so a damaged file is named as such instead of dividing by zero.
    /// </summary>
    public void ValidateDimensions(string path)
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new ModelFormatException(path, field, $"is {value}; it must be positive");
        }
        Positive(EmbeddingLength, "hidden_size");
        Positive(LayerCount, "num_hidden_layers");
        Positive(HeadCount, "num_attention_heads");
        Positive(KvHeadCount, "num_key_value_heads");
        Positive(FeedForwardLength, "intermediate_size");
        Positive(VocabularySize, "vocab_size");
        Positive(ContextLength, "max_position_embeddings");
        if (EmbeddingLength % HeadCount != 0) throw new ModelFormatException(path, "num_attention_heads", $"{HeadCount} does not divide hidden_size {EmbeddingLength}");
        if (HeadCount % KvHeadCount != 0) throw new ModelFormatException(path, "num_key_value_heads", $"{KvHeadCount} does not divide num_attention_heads {HeadCount}");
    }
}
