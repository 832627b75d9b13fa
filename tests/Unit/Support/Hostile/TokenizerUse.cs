using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// What hostile-input tests do with a tokenizer that loaded: encode text with every kind of character (and special
/// tokens written as text), decode what came out, and decode every id of the vocabulary.
/// </summary>
public static class TokenizerUse
{
    private const string Text = "Hello world, it is a truth <s></s><unk><|end|> ñ 漢字 \U0001F600 \t\n 12345";

    public static void EncodeAndDecode(object loaded)
    {
        var tokenizer = (TextTokenizer)loaded;
        var ids = tokenizer.Encode(Text, addBos: true);
        _ = tokenizer.Decode(ids);
        _ = tokenizer.Decode(Enumerable.Range(0, tokenizer.VocabularySize));
        _ = tokenizer.Decode([-1, int.MaxValue, tokenizer.VocabularySize]);
    }
}
