using System.Text.Json;
using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats;

/// <summary>Reads <c>config.json</c> (and <c>generation_config.json</c> for end-of-sequence ids) of a Hugging Face Llama checkpoint.</summary>
public static class HuggingFaceConfig
{
    /// <summary>transformers' LlamaConfig default for <c>rms_norm_eps</c>, used when config.json leaves it out.</summary>
    public const float DefaultRmsNormEpsilon = 1e-6f;

    private static readonly HashSet<string> SupportedArchitectures = new(StringComparer.Ordinal)
    {
        "LlamaForCausalLM", "MistralForCausalLM",
    };

    public static ModelConfig Read(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"No config.json in '{folder}'.", path);
        using var document = TensorCollection.ParseJson(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "config", "is not a JSON object");

        string architecture = root.TryGetProperty("architectures", out var archs) && archs.ValueKind == JsonValueKind.Array && archs.GetArrayLength() > 0
            ? JsonText.RequireString(archs[0], path, "architectures[0]")
            : root.TryGetProperty("model_type", out var type) && type.ValueKind != JsonValueKind.Null ? JsonText.RequireString(type, path, "model_type") : "";
        if (!SupportedArchitectures.Contains(architecture) && architecture != "llama")
            throw new ModelNotSupportedException(path, "architectures", $"'{architecture}' is not supported (Llama-family decoders are)");
        if (root.TryGetProperty("hidden_act", out var act) && act.ValueKind != JsonValueKind.Null
            && JsonText.RequireString(act, path, "hidden_act") is var activation && activation != "silu")
            throw new ModelNotSupportedException(path, "hidden_act", $"'{activation}' is not supported (silu is)");

        int hidden = RequiredInt(root, path, "hidden_size");
        int heads = RequiredInt(root, path, "num_attention_heads");
        var config = new ModelConfig
        {
            Architecture = "llama",
            EmbeddingLength = hidden,
            LayerCount = RequiredInt(root, path, "num_hidden_layers"),
            HeadCount = heads,
            KvHeadCount = OptionalInt(root, path, "num_key_value_heads") ?? heads,
            FeedForwardLength = RequiredInt(root, path, "intermediate_size"),
            VocabularySize = RequiredInt(root, path, "vocab_size"),
            ContextLength = OptionalInt(root, path, "max_position_embeddings") ?? 2048,
            NormEpsilon = (float)(OptionalDouble(root, path, "rms_norm_eps") ?? DefaultRmsNormEpsilon),
            RopeTheta = (float)(OptionalDouble(root, path, "rope_theta") ?? 10000.0),
            TiedEmbeddings = root.TryGetProperty("tie_word_embeddings", out var tied) && tied.ValueKind == JsonValueKind.True,
            BosTokenId = OptionalInt(root, path, "bos_token_id") ?? 1,
            EosTokenIds = ReadEos(root, path) ?? [2],
        };
        if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind == JsonValueKind.Object)
            throw new ModelNotSupportedException(path, "rope_scaling", "RoPE scaling is not supported yet");
        RefuseWhatChangesTheMath(root, path, config);

        string generationPath = Path.Combine(folder, "generation_config.json");
        if (File.Exists(generationPath))
        {
            using var generation = TensorCollection.ParseJson(generationPath);
            if (ReadEos(generation.RootElement, generationPath) is { } eos) config = config with { EosTokenIds = eos };
        }
        config.Validate(path);
        return config;
    }

    /// <summary>
    /// Fields that change the computation and that the engine does not implement are refused, never ignored: a model
    /// run without them would load and produce plausible but wrong text.
    /// </summary>
    private static void RefuseWhatChangesTheMath(JsonElement root, string path, ModelConfig config)
    {
        // Mistral's sliding window: past the window, attention must skip the oldest positions. A window at least as long
        // as the context never skips anything, so only a shorter one is refused.
        if (OptionalInt(root, path, "sliding_window") is { } window && window < config.ContextLength)
            throw new ModelNotSupportedException(path, "sliding_window",
                $"sliding-window attention ({window} of {config.ContextLength} positions) is not supported yet");
        foreach (string bias in (string[])["attention_bias", "mlp_bias"])
        {
            if (root.TryGetProperty(bias, out var value) && value.ValueKind == JsonValueKind.True)
                throw new ModelNotSupportedException(path, bias, "projection biases are not supported yet");
        }
        if (OptionalInt(root, path, "head_dim") is { } headDim && headDim != config.HeadDim)
            throw new ModelNotSupportedException(path, "head_dim",
                $"{headDim} differs from hidden_size / num_attention_heads = {config.HeadDim}; separate head dimensions are not supported");
        if (OptionalDouble(root, path, "partial_rotary_factor") is { } partial && partial != 1.0)
            throw new ModelNotSupportedException(path, "partial_rotary_factor", $"{partial}: partial rotary embedding is not supported yet");
    }

    private static int[]? ReadEos(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("eos_token_id", out var eos)) return null;
        return eos.ValueKind switch
        {
            JsonValueKind.Number when eos.TryGetInt32(out int id) => [id],
            JsonValueKind.Array => eos.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw new ModelFormatException(path, "eos_token_id", "holds a non-integer")).ToArray(),
            JsonValueKind.Null => null,
            _ => throw new ModelFormatException(path, "eos_token_id", "is neither an integer nor a list of integers"),
        };
    }

    private static int RequiredInt(JsonElement root, string path, string name) =>
        OptionalInt(root, path, name) ?? throw new ModelFormatException(path, name, "is missing");

    private static int? OptionalInt(JsonElement root, string path, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
            throw new ModelFormatException(path, name, $"'{value}' is not a 32-bit integer");
        return result;
    }

    private static double? OptionalDouble(JsonElement root, string path, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number) throw new ModelFormatException(path, name, $"'{value}' is not a number");
        if (!value.TryGetDouble(out double result) || !double.IsFinite(result)) throw new ModelFormatException(path, name, $"{value} is not a finite number");
        return result;
    }
}
