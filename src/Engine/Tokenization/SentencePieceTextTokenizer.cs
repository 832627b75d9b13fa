using Microsoft.ML.Tokenizers;

namespace LlmCpu.Engine.Tokenization;

/// <summary>A SentencePiece model (tokenizer.model) read through Microsoft.ML.Tokenizers.</summary>
public sealed class SentencePieceTextTokenizer : TextTokenizer
{
    private readonly SentencePieceTokenizer _tokenizer;

    private SentencePieceTextTokenizer(SentencePieceTokenizer tokenizer) => _tokenizer = tokenizer;

    public static SentencePieceTextTokenizer Load(string path)
    {
        using var stream = File.OpenRead(path);
        return Load(stream, path, "tokenizer model");
    }

    /// <summary>
    /// Reads a serialized SentencePiece ModelProto from <paramref name="stream"/>; failures name
    /// <paramref name="path"/> and <paramref name="field"/> as the source (the model may be built in memory from
    /// another file's metadata).
    /// </summary>
    internal static SentencePieceTextTokenizer Load(Stream stream, string path, string field)
    {
        try
        {
            // BOS is added by Encode on request, not by the library, so that callers control it.
            return new SentencePieceTextTokenizer(LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException or FormatException
                                   or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new ModelFormatException(path, field, ex.Message, ex);
        }
    }

    public override string Kind => "SentencePiece";

    public override int BosTokenId => _tokenizer.BeginningOfSentenceId;

    public override int VocabularySize => _tokenizer.Vocabulary.Count;

    public override int[] Encode(string text, bool addBos)
    {
        var ids = _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        if (!addBos) return [.. ids];
        var result = new int[ids.Count + 1];
        result[0] = BosTokenId;
        for (int i = 0; i < ids.Count; i++) result[i + 1] = ids[i];
        return result;
    }

    public override string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);
}
