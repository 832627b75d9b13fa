namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// mistralai/Mistral-7B-Instruct-v0.2's "v1" template (the one with a system prompt): <c>bos_token</c>, then each user
/// message as <c>' [INST] ' + content + ' [/INST]'</c> (the first prefixed with <c>system + '\n\n'</c>) and each reply
/// as <c>' ' + content + eos_token</c>. Nothing is trimmed.
/// </summary>
public sealed class MistralChatTemplate : ChatTemplate
{
    public static readonly MistralChatTemplate Instance = new();

    public override ChatTemplateKind Kind => ChatTemplateKind.Mistral;

    /// <summary>The space the template writes before a reply is the model's to generate; the message is what follows it.</summary>
    public override string ReplyMessage(string generated) => generated.StartsWith(' ') ? generated[1..] : generated;

    public override IEnumerable<TemplatePiece> Opening(string? systemPrompt) => [TemplatePiece.Bos];

    public override IEnumerable<TemplatePiece> UserMessage(string content, bool first, string? systemPrompt) =>
        [TemplatePiece.Marker(" [INST] "), TemplatePiece.Content(first && systemPrompt != null ? systemPrompt + "\n\n" + content : content), TemplatePiece.Marker(" [/INST]")];

    public override IEnumerable<TemplatePiece> GenerationPrompt() => [];

    public override string ReplyText(string content) => " " + content;

    public override IEnumerable<TemplatePiece> ReplyEnd() => [TemplatePiece.Eos];
}
