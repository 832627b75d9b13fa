namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// meta-llama/Llama-2-7b-chat-hf's template: every user turn is <c>bos + '[INST] ' + content.strip() + ' [/INST]'</c>,
/// the first one's content prefixed with <c>'&lt;&lt;SYS&gt;&gt;\n' + system + '\n&lt;&lt;/SYS&gt;&gt;\n\n'</c>; a reply is
/// <c>' ' + content.strip() + ' ' + eos</c>. "[INST]" is ordinary text in Llama 2's vocabulary.
/// </summary>
public sealed class Llama2ChatTemplate : ChatTemplate
{
    public static readonly Llama2ChatTemplate Instance = new();

    public override ChatTemplateKind Kind => ChatTemplateKind.Llama2;

    /// <summary>The template strips a reply, so the message is the reply stripped.</summary>
    public override string ReplyMessage(string generated) => generated.Trim();

    public override IEnumerable<TemplatePiece> Opening(string? systemPrompt) => [];

    public override IEnumerable<TemplatePiece> UserMessage(string content, bool first, string? systemPrompt)
    {
        string text = first && systemPrompt != null ? "<<SYS>>\n" + systemPrompt + "\n<</SYS>>\n\n" + content : content;
        return [TemplatePiece.Bos, TemplatePiece.Marker("[INST] "), TemplatePiece.Content(text.Trim()), TemplatePiece.Marker(" [/INST]")];
    }

    public override IEnumerable<TemplatePiece> GenerationPrompt() => [];

    public override string ReplyText(string content) => " " + content.Trim();

    public override IEnumerable<TemplatePiece> ReplyEnd() => [TemplatePiece.Content(" "), TemplatePiece.Eos];
}
