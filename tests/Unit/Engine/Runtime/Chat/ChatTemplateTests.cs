using LlmCpu.Engine.Runtime.Chat;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>
/// Every format against what its family's published Jinja template renders for the same conversation. The
/// conversation is llama.cpp's (tests/test-chat-template.cpp: a system message, "Hello", "Hi there", "Who are you",
/// a reply padded with spaces, "Another question"), so trimming and spacing are exercised; the expected strings are
/// the templates' outputs with add_generation_prompt, and where llama.cpp's test lists the same template's Jinja
/// output it is quoted as is.
/// </summary>
public sealed class ChatTemplateTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You are a helpful assistant"),
        new(ChatRole.User, "Hello"),
        new(ChatRole.Assistant, "Hi there"),
        new(ChatRole.User, "Who are you"),
        new(ChatRole.Assistant, "   I am an assistant   "),
        new(ChatRole.User, "Another question"),
    ];

    public static TheoryData<ChatTemplateKind, string, string, string> Renderings => new()
    {
        // teknium/OpenHermes-2.5-Mistral-7B (ChatML, as Qwen2-Instruct writes it when given a system message); llama.cpp's expected_output.
        { ChatTemplateKind.ChatML, "", "",
          "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n" +
          "<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n" },
        // mistralai/Mistral-7B-Instruct-v0.2, mistralai's "v1" template with a system prompt; llama.cpp's expected_output_jinja (bos_token "").
        { ChatTemplateKind.Mistral, "", "</s>",
          " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]" },
        // meta-llama/Meta-Llama-3-8B-Instruct; llama.cpp's expected_output for "Llama-3" (bos_token "").
        { ChatTemplateKind.Llama3, "", "",
          "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>" +
          "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>" +
          "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>" +
          "<|start_header_id|>assistant<|end_header_id|>\n\n" },
        // meta-llama/Llama-2-7b-chat-hf: bos + '[INST] ' + content.strip() + ' [/INST]' per user turn, the system block in
        // the first; ' ' + content.strip() + ' ' + eos per reply (the same shape as llama.cpp's Jinja output for vigogne-2, plus BOS per turn).
        { ChatTemplateKind.Llama2, "<s>", "</s>",
          "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] I am an assistant </s>" +
          "<s>[INST] Another question [/INST]" },
        // HuggingFaceH4/zephyr-7b-beta, rendered with trim_blocks as transformers does: '<|role|>\n' + content + eos_token, then "\n".
        { ChatTemplateKind.Zephyr, "<s>", "</s>",
          "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n" +
          "<|assistant|>\n   I am an assistant   </s>\n<|user|>\nAnother question</s>\n<|assistant|>\n" },
    };

    [Theory]
    [MemberData(nameof(Renderings))]
    public void RendersTheConversationAsThePublishedTemplate(ChatTemplateKind kind, string bos, string eos, string expected)
    {
        var pieces = ChatTemplate.For(kind).Render(Conversation, addGenerationPrompt: true);
        Assert.Equal(expected, ChatTemplate.ToText(pieces, bos, eos));
    }

    [Theory]
    [InlineData(ChatTemplateKind.ChatML, "<|im_start|>user\nHi<|im_end|>\n")]
    [InlineData(ChatTemplateKind.Llama2, "<s>[INST] Hi [/INST]")]
    [InlineData(ChatTemplateKind.Mistral, "<s> [INST] Hi [/INST]")]
    [InlineData(ChatTemplateKind.Llama3, "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")]
    [InlineData(ChatTemplateKind.Zephyr, "<|user|>\nHi</s>\n")]
    public void WithoutASystemMessageOrGenerationPromptWritesTheUserTurnAlone(ChatTemplateKind kind, string expected)
    {
        var pieces = ChatTemplate.For(kind).Render([new ChatMessage(ChatRole.User, "Hi")], addGenerationPrompt: false);
        Assert.Equal(expected, ChatTemplate.ToText(pieces, "<s>", "</s>"));
    }

    [Fact]
    public void RefusesRolesOutOfTurn()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            ChatTemplate.For(ChatTemplateKind.ChatML).Render([new ChatMessage(ChatRole.User, "a"), new ChatMessage(ChatRole.User, "b")], true));
        Assert.Contains("alternate", ex.Message);
    }

    [Fact]
    public void EveryKindHasATemplateOfThatKind()
    {
        foreach (var kind in Enum.GetValues<ChatTemplateKind>()) Assert.Equal(kind, ChatTemplate.For(kind).Kind);
        Assert.Throws<ArgumentOutOfRangeException>(() => ChatTemplate.For((ChatTemplateKind)99));
    }
}
