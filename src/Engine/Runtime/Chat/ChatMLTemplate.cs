namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// ChatML, as Qwen2-Instruct and OpenHermes-2.5 write it: every message is
/// <c>'&lt;|im_start|&gt;' + role + '\n' + content + '&lt;|im_end|&gt;' + '\n'</c>, the generation prompt
/// <c>'&lt;|im_start|&gt;assistant\n'</c>. (Qwen2's own template adds the system message "You are a helpful assistant."
/// when none is given; here the system prompt is whatever the caller gives, or none.)
/// </summary>
public sealed class ChatMLTemplate : ChatTemplate
{
    public static readonly ChatMLTemplate Instance = new();

    public override ChatTemplateKind Kind => ChatTemplateKind.ChatML;

    public override IEnumerable<TemplatePiece> Opening(string? systemPrompt) => systemPrompt == null ? [] : Message("system", systemPrompt);

    public override IEnumerable<TemplatePiece> UserMessage(string content, bool first, string? systemPrompt) => Message("user", content);

    public override IEnumerable<TemplatePiece> GenerationPrompt() => [TemplatePiece.Marker("<|im_start|>"), TemplatePiece.Marker("assistant\n")];

    public override string ReplyText(string content) => content;

    public override IEnumerable<TemplatePiece> ReplyEnd() => [TemplatePiece.Marker("<|im_end|>"), TemplatePiece.Marker("\n")];

    private static IEnumerable<TemplatePiece> Message(string role, string content) =>
        [TemplatePiece.Marker("<|im_start|>"), TemplatePiece.Marker(role + "\n"), TemplatePiece.Content(content), TemplatePiece.Marker("<|im_end|>"), TemplatePiece.Marker("\n")];
}
