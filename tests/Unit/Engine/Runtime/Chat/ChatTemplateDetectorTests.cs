using LlmCpu.Engine.Runtime.Chat;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>The published templates (as their models' tokenizer_config.json and GGUF files carry them) are recognised; others are not guessed at.</summary>
public sealed class ChatTemplateDetectorTests
{
    public static TheoryData<string, ChatTemplateKind?> Templates => new()
    {
        // Qwen/Qwen2-7B-Instruct
        { "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}", ChatTemplateKind.ChatML },
        // meta-llama/Meta-Llama-3-8B-Instruct
        { "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}", ChatTemplateKind.Llama3 },
        // meta-llama/Llama-2-7b-chat-hf
        { "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}", ChatTemplateKind.Llama2 },
        // mistralai/Mistral-7B-Instruct-v0.2 (the original, without a system prompt)
        { "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}", ChatTemplateKind.Mistral },
        // HuggingFaceH4/zephyr-7b-beta
        { "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}", ChatTemplateKind.Zephyr },
        // microsoft/Phi-3-mini-4k-instruct: <|user|> and <|assistant|> too, but turns end with <|end|>; not Zephyr.
        { "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}", null },
        // google/gemma-7b-it
        { "{% for message in messages %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}", null },
        { "", null },
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void RecognisesPublishedTemplates(string jinja, ChatTemplateKind? expected) => Assert.Equal(expected, ChatTemplateDetector.Detect(jinja));

    [Fact]
    public void NoTemplateIsNoMatch() => Assert.Null(ChatTemplateDetector.Detect(null));

    [Fact]
    public void QwensTemplateWritesItsDefaultSystemMessageAndTheOthersNone()
    {
        var templates = Templates.Select(row => (string)row[0]).ToArray();
        Assert.Equal("You are a helpful assistant.", ChatTemplateDetector.DefaultSystemPrompt(templates[0]));
        Assert.All(templates.Skip(1), t => Assert.Null(ChatTemplateDetector.DefaultSystemPrompt(t)));
        // OpenHermes' ChatML template writes no default system message.
        Assert.Null(ChatTemplateDetector.DefaultSystemPrompt(
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"));
    }
}
