namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>The chat formats LlmCpu writes, each as its model family's published Jinja template renders it.</summary>
public enum ChatTemplateKind
{
    /// <summary>Meta's Llama-2-chat: <c>&lt;s&gt;[INST] &lt;&lt;SYS&gt;&gt;…&lt;&lt;/SYS&gt;&gt; user [/INST] reply &lt;/s&gt;</c>.</summary>
    Llama2,

    /// <summary>Meta's Llama-3-Instruct: <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;</c> headers, turns ended by <c>&lt;|eot_id|&gt;</c>.</summary>
    Llama3,

    /// <summary>Mistral-7B-Instruct (mistralai's "v1" template, with a system prompt): <c>&lt;s&gt; [INST] user [/INST] reply&lt;/s&gt;</c>.</summary>
    Mistral,

    /// <summary>ChatML, as Qwen2 and OpenHermes use it: <c>&lt;|im_start|&gt;role\n…&lt;|im_end|&gt;\n</c>.</summary>
    ChatML,

    /// <summary>HuggingFaceH4's Zephyr: <c>&lt;|user|&gt;\n…&lt;/s&gt;\n</c>.</summary>
    Zephyr,
}
