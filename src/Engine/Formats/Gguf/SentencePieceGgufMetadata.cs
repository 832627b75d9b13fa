using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// The <c>tokenizer.ggml.*</c> keys of a SentencePiece vocabulary, as llama.cpp's "llama" tokenizer reads them:
/// one entry per id for tokens, scores and types; ids past the pieces (a model whose embedding is wider than its
/// vocabulary) are padded with unused "[PAD{id}]" tokens, as llama.cpp's converter does.
/// </summary>
public static class SentencePieceGgufMetadata
{
    public static void Add(GgufWriter writer, SentencePieceVocabulary vocabulary, ModelConfig config)
    {
        if (vocabulary.Pieces.Count > config.VocabularySize)
            throw new ArgumentException($"The tokenizer has {vocabulary.Pieces.Count} pieces, more than the model's {config.VocabularySize} ids.", nameof(vocabulary));
        var tokens = new string[config.VocabularySize];
        var scores = new float[config.VocabularySize];
        var types = new int[config.VocabularySize];
        for (int id = 0; id < tokens.Length; id++)
        {
            var piece = id < vocabulary.Pieces.Count
                ? vocabulary.Pieces[id]
                : new SentencePieceEntry($"[PAD{id}]", 0, SentencePieceType.Unused);
            tokens[id] = piece.Piece;
            scores[id] = piece.Score;
            types[id] = (int)piece.Type;
        }

        writer.AddMetadata("tokenizer.ggml.model", GgufValue.String("llama"));
        writer.AddMetadata("tokenizer.ggml.tokens", GgufValue.Array(tokens));
        writer.AddMetadata("tokenizer.ggml.scores", GgufValue.Array(scores));
        writer.AddMetadata("tokenizer.ggml.token_type", GgufValue.Array(types));
        // The model's own special ids (config.json / generation_config.json) are the ones the engine generates with.
        writer.AddMetadata("tokenizer.ggml.bos_token_id", GgufValue.UInt32((uint)config.BosTokenId));
        writer.AddMetadata("tokenizer.ggml.eos_token_id", GgufValue.UInt32((uint)(config.EosTokenIds.Count > 0 ? config.EosTokenIds[0] : vocabulary.EosId)));
        writer.AddMetadata("tokenizer.ggml.unknown_token_id", GgufValue.UInt32((uint)vocabulary.UnknownId));
        if (vocabulary.PadId >= 0) writer.AddMetadata("tokenizer.ggml.padding_token_id", GgufValue.UInt32((uint)vocabulary.PadId));
        writer.AddMetadata("tokenizer.ggml.add_bos_token", GgufValue.Bool(true));
        writer.AddMetadata("tokenizer.ggml.add_eos_token", GgufValue.Bool(false));
        writer.AddMetadata("tokenizer.ggml.add_space_prefix", GgufValue.Bool(vocabulary.AddDummyPrefix));
    }
}
