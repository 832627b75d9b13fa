using System.Text;

namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// A chat format, written as its family's published Jinja template renders a conversation, but cut into the parts a
/// conversation grows by: the opening, a user message, the generation prompt, a reply's own text and what closes a
/// reply. A session prefills each part once; <see cref="Render"/> joins them into the whole conversation, which the
/// tests compare with the Jinja template's output.
/// </summary>
public abstract class ChatTemplate
{
    public abstract ChatTemplateKind Kind { get; }

    /// <summary>What starts the conversation, before the first user message (BOS, a system block).</summary>
    public abstract IEnumerable<TemplatePiece> Opening(string? systemPrompt);

    /// <summary>A user message; <paramref name="first"/> for the conversation's first, which some formats give the system prompt.</summary>
    public abstract IEnumerable<TemplatePiece> UserMessage(string content, bool first, string? systemPrompt);

    /// <summary>What asks the model for a reply (the template's <c>add_generation_prompt</c> part).</summary>
    public abstract IEnumerable<TemplatePiece> GenerationPrompt();

    /// <summary>A reply's text as the template writes a stored assistant message (some trim it or put a space before it).</summary>
    public abstract string ReplyText(string content);

    /// <summary>What follows a reply's text and closes it.</summary>
    public abstract IEnumerable<TemplatePiece> ReplyEnd();

    /// <summary>
    /// A generated reply as the conversation's assistant message: where the template writes a space before a reply,
    /// the model generates that space with the reply's first word, and the message is kept without it.
    /// </summary>
    public virtual string ReplyMessage(string generated) => generated;

    /// <summary>The template of <paramref name="kind"/>.</summary>
    public static ChatTemplate For(ChatTemplateKind kind) => kind switch
    {
        ChatTemplateKind.Llama2 => Llama2ChatTemplate.Instance,
        ChatTemplateKind.Llama3 => Llama3ChatTemplate.Instance,
        ChatTemplateKind.Mistral => MistralChatTemplate.Instance,
        ChatTemplateKind.ChatML => ChatMLTemplate.Instance,
        ChatTemplateKind.Zephyr => ZephyrChatTemplate.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"{kind} is not one of {string.Join(", ", Enum.GetNames<ChatTemplateKind>())}."),
    };

    /// <summary>
    /// The pieces of a whole conversation: an optional leading system message, then user and assistant messages in
    /// turn, and with <paramref name="addGenerationPrompt"/> the prompt for the next reply.
    /// </summary>
    /// <exception cref="ArgumentException">The messages do not alternate user, assistant, user, ... after the system message.</exception>
    public IReadOnlyList<TemplatePiece> Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string? system = messages.Count > 0 && messages[0].Role == ChatRole.System ? messages[0].Content : null;
        var pieces = new List<TemplatePiece>(Opening(system));
        int start = system != null ? 1 : 0;
        for (int i = start; i < messages.Count; i++)
        {
            var expected = (i - start) % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
            if (messages[i].Role != expected)
                throw new ArgumentException($"Message {i} is from {messages[i].Role}; after an optional system message the roles must alternate user, assistant, user, ...", nameof(messages));
            if (expected == ChatRole.User)
            {
                pieces.AddRange(UserMessage(messages[i].Content, i == start, system));
            }
            else
            {
                pieces.AddRange(GenerationPrompt());
                pieces.Add(TemplatePiece.Content(ReplyText(messages[i].Content)));
                pieces.AddRange(ReplyEnd());
            }
        }
        if (addGenerationPrompt) pieces.AddRange(GenerationPrompt());
        return pieces;
    }

    /// <summary>The pieces as one string, with <paramref name="bosText"/> and <paramref name="eosText"/> for the model's BOS and EOS.</summary>
    public static string ToText(IEnumerable<TemplatePiece> pieces, string bosText, string eosText)
    {
        var text = new StringBuilder();
        foreach (var piece in pieces)
        {
            text.Append(piece.Kind switch
            {
                TemplatePieceKind.Bos => bosText,
                TemplatePieceKind.Eos => eosText,
                _ => piece.Text,
            });
        }
        return text.ToString();
    }
}
