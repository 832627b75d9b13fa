using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>Byte-level BPE from GGUF metadata against llama.cpp's reference tokenizations (tests/Unit/TestData/bpe-vocab).</summary>
public sealed class ByteLevelBpeTextTokenizerTests
{
    public static TheoryData<string, int> ReferenceCases()
    {
        var data = new TheoryData<string, int>();
        foreach (string name in BpeVocabData.Names)
            for (int i = 0; i < BpeVocabData.Get(name).Cases.Length; i++) data.Add(name, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void Encode_GivesLlamaCppIds(string vocab, int caseIndex)
    {
        var data = BpeVocabData.Get(vocab);
        var reference = data.Cases[caseIndex];

        // llama.cpp's reference run: no BOS, control tokens in the text not parsed.
        int[] ids = data.Tokenizer.Encode(reference.Text, addBos: false, parseSpecial: false);

        Assert.Equal(reference.Ids, ids);
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void Decode_GivesBackTheText(string vocab, int caseIndex)
    {
        var data = BpeVocabData.Get(vocab);
        var reference = data.Cases[caseIndex];

        Assert.Equal(reference.Text, data.Tokenizer.Decode(reference.Ids));
    }

    [Fact]
    public void Encode_MatchesControlTokensWrittenInTheText()
    {
        var tokenizer = BpeVocabData.Get("llama-bpe").Tokenizer;
        const string header = "<|start_header_id|>user<|end_header_id|>";

        int[] parsed = tokenizer.Encode(header + "\n\nHi", addBos: true);
        int[] literal = tokenizer.Encode(header, addBos: false, parseSpecial: false);

        int[] expected = [128000, 128006, .. tokenizer.Encode("user", addBos: false), 128007, .. tokenizer.Encode("\n\nHi", addBos: false)];
        Assert.Equal(expected, parsed);
        Assert.DoesNotContain(128006, literal);
        Assert.Equal(header, tokenizer.Decode(literal));
    }

    [Fact]
    public void Encode_AlwaysMatchesUserDefinedTokens()
    {
        // MPT's vocabulary stores runs of spaces as user-defined tokens; llama.cpp matches them even when control tokens are not parsed.
        var data = BpeVocabData.Get("mpt");
        int run = Array.FindIndex(data.TokenTypes, t => t == 4);
        string text = "a" + data.Tokens[run] + "b";

        Assert.Contains(run, data.Tokenizer.Encode(text, addBos: false, parseSpecial: false));
        Assert.Equal(text, data.Tokenizer.Decode(data.Tokenizer.Encode(text, addBos: false, parseSpecial: false)));
    }

    [Fact]
    public void Decode_DropsControlTokens()
    {
        var tokenizer = BpeVocabData.Get("llama-bpe").Tokenizer;
        int[] ids = tokenizer.Encode("<|begin_of_text|>Hello<|eot_id|>", addBos: false);

        Assert.Equal(128000, ids[0]);
        Assert.Equal("Hello", tokenizer.Decode(ids));
    }

    [Fact]
    public void Decode_OfACharacterCutBetweenTokens_EndsInReplacementCharacter()
    {
        // The streaming decoder holds text back while it ends in U+FFFD, waiting for the rest of the character.
        var tokenizer = BpeVocabData.Get("gpt-2").Tokenizer;
        int[] ids = tokenizer.Encode("\U0001F999", addBos: false);

        Assert.True(ids.Length > 1);
        Assert.EndsWith("\uFFFD", tokenizer.Decode(ids[..^1]));
        Assert.Equal("\U0001F999", tokenizer.Decode(ids));
    }

    [Fact]
    public void Decode_SkipsIdsOutsideTheVocabulary()
    {
        var tokenizer = BpeVocabData.Get("gpt-2").Tokenizer;

        Assert.Equal("Hello", tokenizer.Decode([-1, .. tokenizer.Encode("Hello", addBos: false), 1_000_000]));
    }

    [Fact]
    public void StreamingDecoder_PutsTheAnswerBackTogether()
    {
        var tokenizer = BpeVocabData.Get("qwen2").Tokenizer;
        int[] prompt = tokenizer.Encode("Q:", addBos: false);
        int[] answer = tokenizer.Encode(" \u00e9t\u00e9 \U0001F999 done", addBos: false);
        var decoder = new StreamingDecoder(tokenizer, prompt, answer.Length);

        string streamed = string.Concat(answer.Select(decoder.Append));

        Assert.Equal(" \u00e9t\u00e9 \U0001F999 done", streamed);
    }

    [Fact]
    public void Properties_DescribeTheVocabulary()
    {
        var data = BpeVocabData.Get("qwen2");

        Assert.Equal(151936, data.Tokenizer.VocabularySize);
        Assert.Equal(151643, data.Tokenizer.BosTokenId);
        Assert.Equal("qwen2", data.Tokenizer.PreTokenizer);
        Assert.Equal("<|im_start|>", data.Tokenizer.TokenText(151644));
    }
}
