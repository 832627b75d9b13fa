using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>
/// Three turns, token by token: the ids a chat session runs (each turn's pieces encoded as it encodes them, after the
/// replies before it) equal the ids llama.cpp gives the published template's rendering of the whole conversation. The
/// renderings are those of <see cref="ChatTemplateTests"/> (llama.cpp's test-chat-template conversation: a system
/// message, "Hello", "Hi there", "Who are you", a reply padded with spaces, "Another question"), with the model's BOS and
/// EOS texts; llama.cpp tokenizes them with special tokens parsed: the text is cut at control-token texts, each
/// stretch of text after the start or a control token gets the dummy-prefix space, the others none. The vocabulary is
/// Llama 2's (ggml-vocab-llama-spm), where "[INST]" is text; Mistral-7B-Instruct v0.1/v0.2 use a SentencePiece
/// vocabulary of the same kind (32,000 pieces, "&lt;s&gt;" and "&lt;/s&gt;" as control tokens, "[INST]" as text).
/// A reply is taken to be what the tokenizer makes of the reply's text where the template writes it: the tokens a
/// model that agrees with its tokenizer generates.
/// </summary>
public sealed class ChatTokenAlignmentTests
{
    private const int Bos = 1, Eos = 2;

    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You are a helpful assistant"),
        new(ChatRole.User, "Hello"),
        new(ChatRole.Assistant, "Hi there"),
        new(ChatRole.User, "Who are you"),
        new(ChatRole.Assistant, "   I am an assistant   "),
        new(ChatRole.User, "Another question"),
    ];

    private static TextTokenizer LlamaSpm()
    {
        using var file = GgufFile.Open(Path.Combine(RepoPaths.TestData, "llama-vocab", "ggml-vocab-llama-spm.gguf"));
        return GgufTokenizerFactory.Create(file);
    }

    public static TheoryData<ChatTemplateKind, string> Renderings => new()
    {
        // meta-llama/Llama-2-7b-chat-hf's template with bos_token "<s>" and eos_token "</s>".
        { ChatTemplateKind.Llama2,
          "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] I am an assistant </s>" +
          "<s>[INST] Another question [/INST]" },
        // mistralai's "v1" template (Mistral-7B-Instruct-v0.2 with a system prompt) with bos_token "<s>" and eos_token "</s>".
        { ChatTemplateKind.Mistral,
          "<s> [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]" },
    };

    [Theory]
    [MemberData(nameof(Renderings))]
    public void ThreeTurnsAreTheTokensOfThePublishedRendering(ChatTemplateKind kind, string rendering)
    {
        var tokenizer = LlamaSpm();
        var template = ChatTemplate.For(kind);
        Assert.Equal(rendering, ChatTemplate.ToText(template.Render(Conversation, addGenerationPrompt: true), "<s>", "</s>"));

        var expected = LlamaCppTokens(tokenizer, rendering);
        var session = SessionTokens(tokenizer, template, out var turnStarts);
        Assert.Equal(3, turnStarts.Count);
        Assert.True(expected.SequenceEqual(session),
            $"expected [{string.Join(' ', expected)}]\n     got [{string.Join(' ', session)}]\n(turns start at {string.Join(", ", turnStarts)})");
        // Each turn's start is a boundary of the reference too: the session's turn adds whole tokens after the last reply.
        Assert.All(turnStarts, start => Assert.Equal(expected.Take(start), session.Take(start)));
    }

    /// <summary>
    /// The conversation as a chat session builds it, turn by turn: the last reply's closing pieces, on the first turn
    /// the opening, the user message and the generation prompt, then the reply's tokens, as ChatSession.Send orders them.
    /// </summary>
    private static List<int> SessionTokens(TextTokenizer tokenizer, ChatTemplate template, out List<int> turnStarts)
    {
        var encoder = new ChatPromptEncoder(tokenizer, Eos);
        string system = Conversation[0].Content;
        var ids = new List<int>();
        turnStarts = [];
        bool after = true;
        for (int turn = 0; turn < 3; turn++)
        {
            turnStarts.Add(ids.Count);
            if (turn > 0) after = encoder.Encode(template.ReplyEnd(), ids, after);
            if (turn == 0) after = encoder.Encode(template.Opening(system), ids, after);
            after = encoder.Encode(template.UserMessage(Conversation[1 + 2 * turn].Content, turn == 0, system), ids, after);
            after = encoder.Encode(template.GenerationPrompt(), ids, after);
            if (turn == 2) break;
            // The reply as the template writes it, generated after the prompt (no dummy prefix after text).
            int[] reply = tokenizer.EncodeLiteral(template.ReplyText(Conversation[2 + 2 * turn].Content), after);
            ids.AddRange(reply);
            after = false;
        }
        return ids;
    }

    /// <summary>llama.cpp's tokenization of a rendered chat with special tokens parsed: "&lt;s&gt;" and "&lt;/s&gt;" are BOS and EOS.</summary>
    private static List<int> LlamaCppTokens(TextTokenizer tokenizer, string rendering)
    {
        var ids = new List<int>();
        bool afterSpecial = true;
        int position = 0;
        while (position < rendering.Length)
        {
            int bos = rendering.IndexOf("<s>", position, StringComparison.Ordinal), eos = rendering.IndexOf("</s>", position, StringComparison.Ordinal);
            int next = bos < 0 ? eos : eos < 0 ? bos : Math.Min(bos, eos);
            int end = next < 0 ? rendering.Length : next;
            if (end > position)
            {
                ids.AddRange(tokenizer.EncodeLiteral(rendering[position..end], afterSpecial));
                afterSpecial = false;
            }
            if (next < 0) break;
            bool isBos = next == bos;
            ids.Add(isBos ? Bos : Eos);
            afterSpecial = true;
            position = next + (isBos ? 3 : 4);
        }
        return ids;
    }
}
