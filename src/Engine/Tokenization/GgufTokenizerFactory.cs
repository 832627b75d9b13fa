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
                // Byte-level BPE with merges (GPT-2, Llama 3, Qwen): the place for ByteLevelBpeTextTokenizer, not built yet.
                throw new ModelNotSupportedException(file.Path, GgufMetadata.Field(ModelKey), "byte-level BPE tokenizers ('gpt2') are not supported yet");
            default:
                throw new ModelNotSupportedException(file.Path, GgufMetadata.Field(ModelKey), $"tokenizer '{model}' is not supported (llama is)");
        }
    }
}
