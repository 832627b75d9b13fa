namespace LlmCpu.Engine.Models;

/// <summary>The hyperparameters of a Llama-family decoder, independent of the file they came from.</summary>
public sealed record ModelConfig
{
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
    /// RMSNorm epsilon. Required, with no default here: each file format has its own convention for a missing value
    /// (Hugging Face Llama: 1e-6; GGUF: the key is mandatory), and its reader states it.
    /// </summary>
    public required float NormEpsilon { get; init; }

    public float RopeTheta { get; init; } = 10000f;

    public int HeadDim => EmbeddingLength / HeadCount;

    public int KvDim => HeadDim * KvHeadCount;

    public bool TiedEmbeddings { get; init; }

    public int BosTokenId { get; init; } = 1;

    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];

    /// <summary>Parameters of the decoder, counted as the reference implementation counts them (embeddings included).</summary>
    public long ParameterCount
    {
        get
        {
            long d = EmbeddingLength, f = FeedForwardLength, v = VocabularySize, kv = KvDim;
            long perLayer = d * d * 2 + d * kv * 2 + 3 * d * f + 2 * d;
            return v * d * (TiedEmbeddings ? 1 : 2) + LayerCount * perLayer + d;
        }
    }

    /// <summary>Most decoder layers a model may declare.</summary>
    public const int MaxLayers = 4096;

    /// <summary>Checks that the numbers describe a model this engine can run; names the field at fault.</summary>
    public void Validate(string path)
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
        if (HeadDim % 2 != 0) throw new ModelFormatException(path, "hidden_size", $"head dimension {HeadDim} is odd; rotary embedding needs it even");
        if (!(NormEpsilon > 0 && NormEpsilon < 1)) throw new ModelFormatException(path, "rms_norm_eps", $"{NormEpsilon} is outside (0, 1)");
        if (!(RopeTheta > 1)) throw new ModelFormatException(path, "rope_theta", $"{RopeTheta} must be greater than 1");
        // Guards against absurd values from a damaged file before anything is allocated from them.
        if ((long)EmbeddingLength * VocabularySize > 1L << 36) throw new ModelFormatException(path, "vocab_size", "embedding table is implausibly large");
        if (ContextLength > 1 << 20) throw new ModelFormatException(path, "max_position_embeddings", $"{ContextLength} exceeds 1048576");
        // The deepest published decoders have about 130 layers; a count in the millions is damage, and would otherwise
        // size an array of layers before any tensor is found missing.
        if (LayerCount > MaxLayers) throw new ModelFormatException(path, "num_hidden_layers", $"{LayerCount} exceeds {MaxLayers}");
    }
}
