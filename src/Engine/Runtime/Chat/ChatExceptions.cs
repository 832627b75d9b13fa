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

/// <summary>No chat format was given and the model's own template (if it has one) is none LlmCpu recognises.</summary>
public sealed class ChatTemplateUnknownException(string modelName, bool hasTemplate)
    : ArgumentException(hasTemplate
        ? $"The chat template of {modelName} is not one LlmCpu recognises ({string.Join(", ", Enum.GetNames<ChatTemplateKind>())}); name the format to use."
        : $"{modelName} carries no chat template; name the format to use ({string.Join(", ", Enum.GetNames<ChatTemplateKind>())}).", "template");

/// <summary>The chat session was disposed (Remove-ChatSession, Dispose()) and its cache released.</summary>
public sealed class ChatSessionDisposedException()
    : ObjectDisposedException(nameof(ChatSession), "The chat session was removed and its cache released; start a new one.");
