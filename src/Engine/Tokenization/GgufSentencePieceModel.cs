using Google.Protobuf;
using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// Turns the "llama" tokenizer of a GGUF file (a SentencePiece vocabulary stored as metadata arrays) back into a
/// serialized SentencePiece <c>ModelProto</c>, so that the same library that reads <c>tokenizer.model</c> files
/// tokenizes GGUF models too. Field numbers are those of sentencepiece_model.proto:
/// <code>
/// ModelProto      1 pieces (repeated SentencePiece)  2 trainer_spec  3 normalizer_spec
/// SentencePiece   1 piece  2 score (float)  3 type (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6)
/// TrainerSpec     3 model_type (BPE 2)  4 vocab_size  35 byte_fallback  40 unk_id  41 bos_id  42 eos_id  43 pad_id
///                 45 unk_piece  46 bos_piece  47 eos_piece
/// NormalizerSpec  1 name  3 add_dummy_prefix  4 remove_extra_whitespaces  5 escape_whitespaces
/// </code>
/// GGUF's token types use the same numbers as SentencePiece's piece types.
/// </summary>
internal static class GgufSentencePieceModel
{
    private const string TokensKey = "tokenizer.ggml.tokens";
    private const string ScoresKey = "tokenizer.ggml.scores";
    private const string TypesKey = "tokenizer.ggml.token_type";

    private const int NormalPiece = 1;
    private const int BytePiece = 6;
    private const int BpeModel = 2;

    public static SentencePieceTextTokenizer CreateTokenizer(GgufMetadata metadata)
    {
        return SentencePieceTextTokenizer.Load(Build(metadata), metadata.Path, "tokenizer metadata");
    }

    public static byte[] Build(GgufMetadata metadata)
    {
        string[] tokens = metadata.RequireStringArray(TokensKey);
        if (tokens.Length == 0) throw new ModelFormatException(metadata.Path, GgufMetadata.Field(TokensKey), "is empty");
        // As in llama.cpp, scores and types are optional: missing scores are 0, missing types are normal.
        float[] scores = metadata.GetSingleArray(ScoresKey) ?? new float[tokens.Length];
        int[] types = metadata.GetInt32Array(TypesKey) ?? Enumerable.Repeat(NormalPiece, tokens.Length).ToArray();
        if (scores.Length != tokens.Length)
            throw new ModelFormatException(metadata.Path, GgufMetadata.Field(ScoresKey), $"has {scores.Length} entries for {tokens.Length} tokens");
        if (types.Length != tokens.Length)
            throw new ModelFormatException(metadata.Path, GgufMetadata.Field(TypesKey), $"has {types.Length} entries for {tokens.Length} tokens");

        int unk = TokenId(metadata, "tokenizer.ggml.unknown_token_id", 0, tokens.Length);
        int bos = TokenId(metadata, "tokenizer.ggml.bos_token_id", 1, tokens.Length);
        int eos = TokenId(metadata, "tokenizer.ggml.eos_token_id", 2, tokens.Length);
        int pad = metadata.Contains("tokenizer.ggml.padding_token_id") ? TokenId(metadata, "tokenizer.ggml.padding_token_id", -1, tokens.Length) : -1;
        bool addSpacePrefix = metadata.GetBool("tokenizer.ggml.add_space_prefix") ?? true;

        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, leaveOpen: true))
        {
            for (int i = 0; i < tokens.Length; i++)
            {
                int type = types[i] switch
                {
                    0 => NormalPiece, // "undefined" in GGUF: an ordinary piece
                    >= 1 and <= 6 => types[i],
                    _ => throw new ModelFormatException(metadata.Path, GgufMetadata.Field(TypesKey), $"token {i} has type {types[i]}, not 0-6"),
                };
                WritePiece(output, tokens[i], scores[i], type);
            }
            WriteMessage(output, 2, trainer =>
            {
                trainer.WriteTag(3, WireFormat.WireType.Varint);
                trainer.WriteEnum(BpeModel);
                trainer.WriteTag(4, WireFormat.WireType.Varint);
                trainer.WriteInt32(tokens.Length);
                trainer.WriteTag(35, WireFormat.WireType.Varint);
                trainer.WriteBool(types.Contains(BytePiece));
                WriteInt32(trainer, 40, unk);
                WriteInt32(trainer, 41, bos);
                WriteInt32(trainer, 42, eos);
                WriteInt32(trainer, 43, pad);
                WriteString(trainer, 45, tokens[unk]);
                WriteString(trainer, 46, tokens[bos]);
                WriteString(trainer, 47, tokens[eos]);
            });
            // Llama's SentencePiece model normalizes nothing: it keeps the text as it is, adds a leading space and
            // writes spaces as U+2581.
            WriteMessage(output, 3, normalizer =>
            {
                WriteString(normalizer, 1, "identity");
                normalizer.WriteTag(3, WireFormat.WireType.Varint);
                normalizer.WriteBool(addSpacePrefix);
                normalizer.WriteTag(4, WireFormat.WireType.Varint);
                normalizer.WriteBool(false);
                normalizer.WriteTag(5, WireFormat.WireType.Varint);
                normalizer.WriteBool(true);
            });
        }
        return buffer.ToArray();
    }

    private static int TokenId(GgufMetadata metadata, string key, int fallback, int count)
    {
        int id = metadata.GetInt32(key) ?? fallback;
        if (id >= count || id < (fallback < 0 ? -1 : 0))
            throw new ModelFormatException(metadata.Path, GgufMetadata.Field(key), $"{id} is outside the {count} tokens");
        return id;
    }

    private static void WritePiece(CodedOutputStream output, string piece, float score, int type)
    {
        int size = CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeStringSize(piece)
                   + CodedOutputStream.ComputeTagSize(2) + CodedOutputStream.ComputeFloatSize(score)
                   + CodedOutputStream.ComputeTagSize(3) + CodedOutputStream.ComputeEnumSize(type);
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteLength(size);
        WriteString(output, 1, piece);
        output.WriteTag(2, WireFormat.WireType.Fixed32);
        output.WriteFloat(score);
        output.WriteTag(3, WireFormat.WireType.Varint);
        output.WriteEnum(type);
    }

    // Small one-off messages are written to a buffer first, as their length precedes them.
    private static void WriteMessage(CodedOutputStream output, int field, Action<CodedOutputStream> write)
    {
        using var body = new MemoryStream();
        using (var inner = new CodedOutputStream(body, leaveOpen: true)) write(inner);
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(body.ToArray()));
    }

    private static void WriteInt32(CodedOutputStream output, int field, int value)
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteInt32(value);
    }

    private static void WriteString(CodedOutputStream output, int field, string value)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteString(value);
    }
}
