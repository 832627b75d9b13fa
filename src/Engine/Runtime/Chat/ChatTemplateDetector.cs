using System.Text.RegularExpressions;

namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// Recognises a model's own chat template (GGUF <c>tokenizer.chat_template</c>, a Hugging Face
/// <c>tokenizer_config.json</c>'s <c>chat_template</c>) as one of the formats LlmCpu writes, by the markers only that
/// format uses, as llama.cpp's <c>llm_chat_detect_template</c> does; no Jinja is run. A template that matches none
/// (Phi-3's "&lt;|end|&gt;" turns, Gemma's, anything unknown) is not guessed at.
/// </summary>
public static class ChatTemplateDetector
{
    /// <summary>The format <paramref name="jinja"/> writes, or null when it is none of them (or there is no template).</summary>
    public static ChatTemplateKind? Detect(string? jinja)
    {
        if (string.IsNullOrWhiteSpace(jinja)) return null;
        bool Has(string marker) => jinja.Contains(marker, StringComparison.Ordinal);
        if (Has("<|im_start|>") && !Has("<|im_sep|>")) return ChatTemplateKind.ChatML; // phi-4 writes <|im_sep|> after the role
        if (Has("<|start_header_id|>") && Has("<|eot_id|>")) return ChatTemplateKind.Llama3;
        if (Has("<|user|>") && Has("<|assistant|>") && !Has("<|end|>") && Has("eos_token")) return ChatTemplateKind.Zephyr;
        if (Has("[INST]") && Has("<<SYS>>")) return ChatTemplateKind.Llama2;
        // Mistral's tekken / v3 templates write "[INST]" with no space after it and know tools; their spacing differs.
        if (Has("[INST]") && !Has("[AVAILABLE_TOOLS]") && !Has("[SYSTEM_PROMPT]")) return ChatTemplateKind.Mistral;
        return null;
    }

    /// <summary>
    /// The system message a ChatML template writes when a conversation has none (Qwen2's "You are a helpful
    /// assistant."), as a literal of the template; null when it writes none. A session recognised from such a template
    /// starts with that message, as the model was tuned to see.
    /// </summary>
    public static string? DefaultSystemPrompt(string? jinja)
    {
        if (string.IsNullOrEmpty(jinja) || Detect(jinja) != ChatTemplateKind.ChatML) return null;
        // '<|im_start|>system\nTEXT<|im_end|>' with TEXT a plain literal (no quote, brace or tag: not an expression).
        var match = Regex.Match(jinja, @"<\|im_start\|>system(?:\\n|\n)(?<text>[^<'""{}\\]+)<\|im_end\|>", RegexOptions.None, TimeSpan.FromSeconds(1));
        return match.Success ? match.Groups["text"].Value : null;
    }
}
