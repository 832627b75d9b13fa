using System.Text;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// Streaming decoding token by token gives exactly the text of decoding prompt and answer in one go (minus the
/// prompt's text), for SentencePiece and byte-level BPE vocabularies, on random token sequences full of byte-fallback
/// pieces, cut characters, invalid bytes and special tokens; and it never decodes the history again.
/// </summary>
public sealed class StreamingDecoderTests
{
    public static TheoryData<string> Vocabularies() => ["austen (SentencePiece 4096)", "llama-spm (SentencePiece 32000)", "qwen2 (BPE)", "gpt-2 (BPE)"];

    private static TextTokenizer Load(string name) => name switch
    {
        "austen (SentencePiece 4096)" => SentencePieceTextTokenizer.Load(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model")),
        "llama-spm (SentencePiece 32000)" => LlamaSpm.Value,
        "qwen2 (BPE)" => BpeVocabData.Get("qwen2").Tokenizer,
        "gpt-2 (BPE)" => BpeVocabData.Get("gpt-2").Tokenizer,
        _ => throw new ArgumentException(name),
    };

    private static readonly Lazy<TextTokenizer> LlamaSpm = new(() =>
    {
        using var file = GgufFile.Open(Path.Combine(RepoPaths.TestData, "llama-vocab", "ggml-vocab-llama-spm.gguf"));
        return GgufTokenizerFactory.Create(file);
    });

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void RandomSequencesDecodeAsInOneGo(string vocabulary)
    {
        var tokenizer = Load(vocabulary);
        var table = tokenizer.TokenTable;
        var random = new Random(vocabulary.Length);
        int[] highBytes = Enumerable.Range(0, table.Count).Where(id => table.Bytes(id) is [>= 0x80]).ToArray();
        int[] specials = Enumerable.Range(0, table.Count).Where(table.IsSpecial).Append(table.Count + 5).ToArray();
        Assert.NotEmpty(highBytes);
        int[][] prompts = [[], tokenizer.BosTokenId >= 0 ? [tokenizer.BosTokenId] : [], tokenizer.Encode("It was", true), tokenizer.Encode(" caf\u00e9 \U0001F600", false)];

        for (int trial = 0; trial < 400; trial++)
        {
            int[] prompt = prompts[trial % prompts.Length];
            var answer = new int[random.Next(1, 60)];
            for (int i = 0; i < answer.Length; i++)
            {
                double kind = random.NextDouble();
                answer[i] = kind < 0.35 ? highBytes[random.Next(highBytes.Length)]
                    : kind < 0.45 ? specials[random.Next(specials.Length)]
                    : random.Next(table.Count);
            }
            AssertStreamsLikeOneShot(tokenizer, prompt, answer, $"{vocabulary}, trial {trial}");
        }
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void CharactersCutBetweenTokensAreReleasedWhole(string vocabulary)
    {
        // Text of characters outside the vocabularies' pieces: the tokenizer spells them with byte pieces, so tokens
        // end inside characters. Every piece streamed must be whole characters: no U+FFFD, no lone surrogate.
        var tokenizer = Load(vocabulary);
        var random = new Random(7);
        string[] alphabet = ["\u00e9", "\u4e2d", "\u6587", "\U0001F999", "\U0001F600", "\u0416", " ", "a", "\u20ac", "\U00010348"];
        for (int trial = 0; trial < 100; trial++)
        {
            string text = string.Concat(Enumerable.Range(0, random.Next(1, 25)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            int[] prompt = tokenizer.Encode("Q:", addBos: tokenizer.BosTokenId >= 0);
            int[] answer = tokenizer.Encode(text, addBos: false);
            var pieces = AssertStreamsLikeOneShot(tokenizer, prompt, answer, $"{vocabulary}: {text}");
            foreach (string piece in pieces)
            {
                Assert.DoesNotContain('\uFFFD', piece);
                if (piece.Length > 0) Assert.False(char.IsHighSurrogate(piece[^1]), $"a piece ends in half a character: {text}");
            }
        }
    }

    [Fact]
    public void AppendingNeverDecodesTheHistoryAgain()
    {
        // Decoding the whole history per token made a long answer quadratic; now nothing is decoded but the new token.
        var counting = new CountingTokenizer(Load("austen (SentencePiece 4096)"));
        var random = new Random(3);
        int[] prompt = counting.Encode("It is a truth universally acknowledged", true);
        var decoder = new StreamingDecoder(counting, prompt, 2000);
        var answer = Enumerable.Range(0, 2000).Select(_ => random.Next(counting.VocabularySize)).ToArray();
        var streamed = new StringBuilder();
        foreach (int id in answer) streamed.Append(decoder.Append(id));
        Assert.Equal(0, counting.DecodeCalls);
        Assert.Equal(Expected(counting, prompt, answer), decoder.Text);
    }

    /// <summary>Streams <paramref name="answer"/> and checks pieces plus the final flush, and <c>Text</c>, against one-shot decoding.</summary>
    private static List<string> AssertStreamsLikeOneShot(TextTokenizer tokenizer, int[] prompt, int[] answer, string what)
    {
        string expected = Expected(tokenizer, prompt, answer);
        var decoder = new StreamingDecoder(tokenizer, prompt, answer.Length);
        var pieces = answer.Select(decoder.Append).ToList();
        string streamed = string.Concat(pieces);
        Assert.True(expected.StartsWith(streamed, StringComparison.Ordinal), $"{what}: streamed [{Escape(streamed)}] is not a prefix of [{Escape(expected)}]; ids {string.Join(",", prompt)} | {string.Join(",", answer)}");
        Assert.True(expected == decoder.Text, $"{what}: expected [{Escape(expected)}], got [{Escape(decoder.Text)}]");
        // What is still held back is at most one unfinished character, which one-shot decoding shows as U+FFFD.
        Assert.True(expected.Length - streamed.Length <= 1, $"{what}: held back [{Escape(expected[streamed.Length..])}]");
        return pieces;
    }

    private static string Expected(TextTokenizer tokenizer, int[] prompt, int[] answer)
    {
        string full = tokenizer.Decode(prompt.Concat(answer));
        string promptText = tokenizer.Decode(prompt);
        Assert.StartsWith(promptText, full, StringComparison.Ordinal);
        return full[promptText.Length..];
    }

    private static string Escape(string s) => string.Concat(s.Select(c => c is < ' ' or > '~' ? $"\\u{(int)c:x4}" : c.ToString()));

    private sealed class CountingTokenizer(TextTokenizer inner) : TextTokenizer
    {
        public int DecodeCalls { get; private set; }

        public override string Kind => inner.Kind;

        public override int BosTokenId => inner.BosTokenId;

        public override int VocabularySize => inner.VocabularySize;

        public override int[] Encode(string text, bool addBos) => inner.Encode(text, addBos);

        public override int[] EncodeLiteral(string text, bool startsStretch) => inner.EncodeLiteral(text, startsStretch);

        public override int FindSpecialToken(string text) => inner.FindSpecialToken(text);

        public override string Decode(IEnumerable<int> ids)
        {
            DecodeCalls++;
            return inner.Decode(ids);
        }

        protected override TokenTextTable CreateTokenTable() => inner.TokenTable;
    }
}
