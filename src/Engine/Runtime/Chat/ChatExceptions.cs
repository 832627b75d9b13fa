namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>A chat turn does not fit in the session's context; names the tokens the conversation holds, the turn's and the capacity.</summary>
public sealed class ChatContextFullException(int tokensUsed, int turnTokens, int capacity)
    : InvalidOperationException($"The chat session's context is full: it holds {tokensUsed} tokens and this message needs {turnTokens} more, " +
                                $"but its capacity is {capacity}. Start a new session (a larger -ContextLength, up to the model's context, holds more).")
{
    public int TokensUsed { get; } = tokensUsed;

    public int TurnTokens { get; } = turnTokens;

    public int Capacity { get; } = capacity;
}

/// <summary>
/// No chat format was given and the model's own template (if it has one) is none LlmCpu recognises; a model without a
/// default template but with named ones (<paramref name="namedTemplates"/>) is told to name one.
/// </summary>
public sealed class ChatTemplateUnknownException(string modelName, bool hasTemplate, IReadOnlyCollection<string>? namedTemplates = null)
    : ArgumentException(hasTemplate
        ? $"The chat template of {modelName} is not one LlmCpu recognises ({string.Join(", ", Enum.GetNames<ChatTemplateKind>())}); name the format to use."
        : namedTemplates is { Count: > 0 }
            ? $"{modelName} carries no default chat template; name one of its templates ({string.Join(", ", namedTemplates.Select(n => $"'{n}'"))}) or the format to use ({string.Join(", ", Enum.GetNames<ChatTemplateKind>())})."
            : $"{modelName} carries no chat template; name the format to use ({string.Join(", ", Enum.GetNames<ChatTemplateKind>())}).", "template");

/// <summary>The chat session was disposed (Remove-ChatSession, Dispose()) and its cache released.</summary>
public sealed class ChatSessionDisposedException()
    : ObjectDisposedException(nameof(ChatSession), "The chat session was removed and its cache released; start a new one.");

/// <summary>A chat template was named that the model does not carry; names the ones it does.</summary>
public sealed class ChatTemplateNotFoundException(string modelName, string templateName, IEnumerable<string> available)
    : ArgumentException(available.Any()
        ? $"{modelName} carries no chat template named '{templateName}'; its templates are {string.Join(", ", available.Select(n => $"'{n}'"))}."
        : $"{modelName} carries no chat template named '{templateName}'; it has none.", "templateName")
{
    public string TemplateName { get; } = templateName;
}
