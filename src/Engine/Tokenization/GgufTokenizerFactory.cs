using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Engine.Tokenization;

/// <summary>Builds the tokenizer a GGUF file describes in its <c>tokenizer.ggml.*</c> metadata.</summary>
public static class GgufTokenizerFactory
{
    public const string ModelKey = "tokenizer.ggml.model";

    public static TextTokenizer Create(GgufFile file)
    {
        string model = file.Metadata.RequireString(ModelKey);
        switch (model)
        {
            case "llama":
                // SentencePiece (Llama 1/2, Mistral, TinyLlama): scored pieces with byte fallback.
                return GgufSentencePieceModel.CreateTokenizer(file.Metadata);
            case "gpt2":
            {
                // Byte-level BPE with merges (GPT-2, Llama 3, Qwen2).
                var m = file.Metadata;
                string? pre = m.GetString("tokenizer.ggml.pre");
                return ByteLevelBpeTextTokenizer.FromGgufMetadata(
                    m.RequireStringArray("tokenizer.ggml.tokens"),
                    m.GetInt32Array("tokenizer.ggml.token_type") ?? throw new ModelFormatException(file.Path, GgufMetadata.Field("tokenizer.ggml.token_type"), "is missing"),
                    m.RequireStringArray("tokenizer.ggml.merges"),
                    pre,
                    m.GetInt32("tokenizer.ggml.bos_token_id") ?? -1,
                    m.GetInt32("tokenizer.ggml.eos_token_id") ?? -1,
                    m.GetBool("tokenizer.ggml.add_bos_token") ?? ByteLevelBpeTextTokenizer.AddsBosByDefault(pre),
                    file.Path);
            }
            default:
                throw new ModelNotSupportedException(file.Path, GgufMetadata.Field(ModelKey), $"tokenizer '{model}' is not supported (llama and gpt2 are)");
        }
    }
}
