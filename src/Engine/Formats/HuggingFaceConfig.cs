using System.Text.Json;
using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats;

/// <summary>What a Hugging Face folder's config.json says: the model, and how its checkpoint lays out fused tensors.</summary>
/// <param name="FalconPerHeadQkv">Falcon without multi-query or the new decoder fuses Q, K and V per head.</param>
public sealed record HuggingFaceCheckpoint(ModelConfig Model, bool FalconPerHeadQkv = false)
{
    /// <summary>How the linear layers were quantized by a published tool (GPTQ, AWQ); null for unquantized weights.</summary>
    public QuantizedCheckpoint? Quantization { get; init; }
}

/// <summary>
/// Reads <c>config.json</c> (and <c>generation_config.json</c> for end-of-sequence ids) of a Hugging Face checkpoint
/// of a supported family: Llama (and Llama 3), Mistral, Qwen2, GPT-NeoX, Falcon, GPT-J. Fields that change the
/// computation and that the engine does not implement are refused by name, never ignored.
/// </summary>
public static class HuggingFaceConfig
{
    /// <summary>transformers' LlamaConfig default for <c>rms_norm_eps</c>, used when config.json leaves it out.</summary>
    public const float DefaultRmsNormEpsilon = 1e-6f;

    public static ModelConfig Read(string folder) => ReadCheckpoint(folder).Model;

    public static HuggingFaceCheckpoint ReadCheckpoint(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"No config.json in '{folder}'.", path);
        using var document = TensorCollection.ParseJson(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "config", "is not a JSON object");
        var json = new ConfigJson(root, path);

        string architecture = root.TryGetProperty("architectures", out var archs) && archs.ValueKind == JsonValueKind.Array && archs.GetArrayLength() > 0
            ? JsonText.RequireString(archs[0], path, "architectures[0]")
            : json.OptionalString("model_type") ?? "";
        var checkpoint = architecture switch
        {
            "LlamaForCausalLM" or "llama" => new HuggingFaceCheckpoint(HuggingFaceFamilies.Llama(json, "llama")),
            "MistralForCausalLM" or "mistral" => new HuggingFaceCheckpoint(HuggingFaceFamilies.Llama(json, "mistral")),
            "Qwen2ForCausalLM" or "qwen2" => new HuggingFaceCheckpoint(HuggingFaceFamilies.Llama(json, "qwen2")),
            "GPTNeoXForCausalLM" or "gpt_neox" => new HuggingFaceCheckpoint(HuggingFaceFamilies.GptNeoX(json)),
            "FalconForCausalLM" or "RWForCausalLM" or "falcon" => HuggingFaceFamilies.Falcon(json),
            "GPTJForCausalLM" or "gptj" => new HuggingFaceCheckpoint(HuggingFaceFamilies.GptJ(json)),
            _ => throw new ModelNotSupportedException(path, "architectures",
                $"'{architecture}' is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPTNeoXForCausalLM, FalconForCausalLM, GPTJForCausalLM are)"),
        };
        var config = checkpoint.Model with
        {
            BosTokenId = json.OptionalInt("bos_token_id") ?? checkpoint.Model.BosTokenId,
            EosTokenIds = ReadEos(root, path) ?? checkpoint.Model.EosTokenIds,
        };
        string generationPath = Path.Combine(folder, "generation_config.json");
        if (File.Exists(generationPath))
        {
            using var generation = TensorCollection.ParseJson(generationPath);
            if (ReadEos(generation.RootElement, generationPath) is { } eos) config = config with { EosTokenIds = eos };
        }
        config.Validate(path);
        return checkpoint with { Model = config, Quantization = QuantizedCheckpoint.Read(folder, json) };
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
}
