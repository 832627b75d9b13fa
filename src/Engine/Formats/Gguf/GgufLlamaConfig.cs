using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>Reads the hyperparameters of a Llama-architecture GGUF file (<c>general.architecture</c> = "llama").</summary>
public static class GgufLlamaConfig
{
    public const string ArchitectureKey = "general.architecture";
    private const string Prefix = "llama.";

    // The limit ModelConfig.Validate applies, checked here first so that the message names the GGUF key.
    private const int MaxContextLength = 1 << 20;

    public static ModelConfig Read(GgufFile file)
    {
        var metadata = file.Metadata;
        string path = file.Path;
        string architecture = metadata.RequireString(ArchitectureKey);
        if (architecture != "llama")
            throw new ModelNotSupportedException(path, GgufMetadata.Field(ArchitectureKey), $"'{architecture}' is not supported (llama is)");

        int embedding = Positive(metadata, Prefix + "embedding_length");
        int heads = Positive(metadata, Prefix + "attention.head_count");
        int kvHeads = ReadKvHeads(metadata, heads);
        if (embedding % heads != 0)
            throw new ModelFormatException(path, GgufMetadata.Field(Prefix + "attention.head_count"), $"{heads} does not divide embedding_length {embedding}");
        if (heads % kvHeads != 0)
            throw new ModelFormatException(path, GgufMetadata.Field(Prefix + "attention.head_count_kv"), $"{kvHeads} does not divide head_count {heads}");
        int headDim = embedding / heads;
        if (headDim % 2 != 0)
            throw new ModelFormatException(path, GgufMetadata.Field(Prefix + "attention.head_count"), $"head dimension {headDim} is odd; rotary embedding needs it even");
        if (metadata.GetInt32(Prefix + "rope.dimension_count") is { } ropeDims && ropeDims != headDim)
            throw new ModelNotSupportedException(path, GgufMetadata.Field(Prefix + "rope.dimension_count"), $"{ropeDims} differs from the head dimension {headDim}; partial rotary embedding is not supported");
        if (metadata.GetString(Prefix + "rope.scaling.type") is { } scaling && scaling != "none")
            throw new ModelNotSupportedException(path, GgufMetadata.Field(Prefix + "rope.scaling.type"), $"RoPE scaling '{scaling}' is not supported yet");
        if (file.Tensors.ContainsKey("rope_freqs.weight"))
            throw new ModelNotSupportedException(path, "tensor 'rope_freqs.weight'", "per-dimension RoPE frequency factors (Llama 3.1 scaling) are not supported yet");

        int context = Positive(metadata, Prefix + "context_length");
        if (context > MaxContextLength)
            throw new ModelNotSupportedException(path, GgufMetadata.Field(Prefix + "context_length"), $"{context} exceeds the {MaxContextLength} positions the engine tabulates");
        double epsilon = metadata.RequireDouble(Prefix + "attention.layer_norm_rms_epsilon");
        double theta = metadata.GetDouble(Prefix + "rope.freq_base") ?? 10000.0;
        var config = new ModelConfig
        {
            Architecture = "llama",
            EmbeddingLength = embedding,
            LayerCount = Positive(metadata, Prefix + "block_count"),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            FeedForwardLength = Positive(metadata, Prefix + "feed_forward_length"),
            VocabularySize = ReadVocabularySize(metadata),
            ContextLength = context,
            NormEpsilon = (float)epsilon,
            RopeTheta = (float)theta,
            TiedEmbeddings = !file.Tensors.ContainsKey("output.weight"),
            BosTokenId = metadata.GetInt32("tokenizer.ggml.bos_token_id") ?? 1,
            EosTokenIds = [metadata.GetInt32("tokenizer.ggml.eos_token_id") ?? 2],
        };
        if (!(config.NormEpsilon > 0 && config.NormEpsilon < 1))
            throw new ModelFormatException(path, GgufMetadata.Field(Prefix + "attention.layer_norm_rms_epsilon"), $"{epsilon} is outside (0, 1)");
        if (!(config.RopeTheta > 1))
            throw new ModelFormatException(path, GgufMetadata.Field(Prefix + "rope.freq_base"), $"{theta} must be greater than 1");
        if (config.BosTokenId < 0 || config.BosTokenId >= config.VocabularySize)
            throw new ModelFormatException(path, GgufMetadata.Field("tokenizer.ggml.bos_token_id"), $"{config.BosTokenId} is outside the vocabulary of {config.VocabularySize}");
        if (config.EosTokenIds[0] < 0 || config.EosTokenIds[0] >= config.VocabularySize)
            throw new ModelFormatException(path, GgufMetadata.Field("tokenizer.ggml.eos_token_id"), $"{config.EosTokenIds[0]} is outside the vocabulary of {config.VocabularySize}");
        config.Validate(path);
        return config;
    }

    // The token list is what the embedding rows are numbered by; llama.vocab_size is its stand-in when absent.
    private static int ReadVocabularySize(GgufMetadata metadata)
    {
        int? declared = metadata.GetInt32(Prefix + "vocab_size");
        var tokens = metadata.Get("tokenizer.ggml.tokens");
        if (tokens == null) return declared is > 0 ? declared.Value : throw new ModelFormatException(metadata.Path, GgufMetadata.Field(Prefix + "vocab_size"), "is missing, and so is tokenizer.ggml.tokens");
        int count = metadata.RequireStringArray("tokenizer.ggml.tokens").Length;
        if (count == 0) throw new ModelFormatException(metadata.Path, GgufMetadata.Field("tokenizer.ggml.tokens"), "is empty");
        if (declared is { } size && size != count)
            throw new ModelFormatException(metadata.Path, GgufMetadata.Field(Prefix + "vocab_size"), $"{size} differs from the {count} tokens of tokenizer.ggml.tokens");
        return count;
    }

    // head_count_kv may be one number or, in some files, one per layer; the engine runs the same count in every layer.
    private static int ReadKvHeads(GgufMetadata metadata, int heads)
    {
        string key = Prefix + "attention.head_count_kv";
        var value = metadata.Get(key);
        if (value == null) return heads;
        if (value.IsArray)
        {
            var perLayer = metadata.GetInt32Array(key)!;
            if (perLayer.Length == 0 || perLayer.Any(v => v != perLayer[0]))
                throw new ModelNotSupportedException(metadata.Path, GgufMetadata.Field(key), "differs between layers; the engine runs one key/value head count in every layer");
            return perLayer[0] > 0 ? perLayer[0] : throw new ModelFormatException(metadata.Path, GgufMetadata.Field(key), $"is {perLayer[0]}; it must be positive");
        }
        return Positive(metadata, key);
    }

    private static int Positive(GgufMetadata metadata, string key)
    {
        int value = metadata.RequireInt32(key);
        return value > 0 ? value : throw new ModelFormatException(metadata.Path, GgufMetadata.Field(key), $"is {value}; it must be positive");
    }
}
