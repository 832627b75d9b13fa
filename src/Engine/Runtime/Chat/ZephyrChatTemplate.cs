namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// HuggingFaceH4/zephyr-7b-beta's template (rendered with the trim_blocks Hugging Face uses): every message is
/// <c>'&lt;|' + role + '|&gt;\n' + content + eos_token</c> and a newline, the generation prompt <c>'&lt;|assistant|&gt;'</c>
/// and a newline. llama.cpp's built-in Zephyr writes "&lt;|endoftext|&gt;" where this writes the model's EOS.
/// </summary>
public sealed class ZephyrChatTemplate : ChatTemplate
{
    public static readonly ZephyrChatTemplate Instance = new();

    public override ChatTemplateKind Kind => ChatTemplateKind.Zephyr;

    public override IEnumerable<TemplatePiece> Opening(string? systemPrompt) => systemPrompt == null ? [] : Message("system", systemPrompt);

    public override IEnumerable<TemplatePiece> UserMessage(string content, bool first, string? systemPrompt) => Message("user", content);

    public override IEnumerable<TemplatePiece> GenerationPrompt() => [TemplatePiece.Marker("<|assistant|>"), TemplatePiece.Marker("\n")];

    public override string ReplyText(string content) => content;

    public override IEnumerable<TemplatePiece> ReplyEnd() => [TemplatePiece.Eos, TemplatePiece.Marker("\n")];

    private static IEnumerable<TemplatePiece> Message(string role, string content) =>
        [TemplatePiece.Marker("<|" + role + "|>"), TemplatePiece.Marker("\n"), TemplatePiece.Content(content), TemplatePiece.Eos, TemplatePiece.Marker("\n")];
}
