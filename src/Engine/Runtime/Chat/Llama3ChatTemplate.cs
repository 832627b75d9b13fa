namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// meta-llama/Meta-Llama-3-8B-Instruct's template: <c>bos_token</c> first, then every message as
/// <c>'&lt;|start_header_id|&gt;' + role + '&lt;|end_header_id|&gt;\n\n' + content | trim + '&lt;|eot_id|&gt;'</c>, and the
/// generation prompt <c>'&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n'</c>.
/// </summary>
public sealed class Llama3ChatTemplate : ChatTemplate
{
    public static readonly Llama3ChatTemplate Instance = new();

    public override ChatTemplateKind Kind => ChatTemplateKind.Llama3;

    public override IEnumerable<TemplatePiece> Opening(string? systemPrompt) =>
        systemPrompt == null ? [TemplatePiece.Bos] : [TemplatePiece.Bos, .. Message("system", systemPrompt)];

    public override IEnumerable<TemplatePiece> UserMessage(string content, bool first, string? systemPrompt) => Message("user", content);

    public override IEnumerable<TemplatePiece> GenerationPrompt() => Header("assistant");

    public override string ReplyText(string content) => content.Trim();

    public override IEnumerable<TemplatePiece> ReplyEnd() => [TemplatePiece.Marker("<|eot_id|>")];

    private static IEnumerable<TemplatePiece> Message(string role, string content) =>
        [.. Header(role), TemplatePiece.Content(content.Trim()), TemplatePiece.Marker("<|eot_id|>")];

    private static IEnumerable<TemplatePiece> Header(string role) =>
        [TemplatePiece.Marker("<|start_header_id|>"), TemplatePiece.Marker(role), TemplatePiece.Marker("<|end_header_id|>"), TemplatePiece.Marker("\n\n")];
}
