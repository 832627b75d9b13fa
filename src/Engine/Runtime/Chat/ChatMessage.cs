namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>One message of a conversation: who wrote it and its text. Plain data, so it serializes (jobs, remoting).</summary>
public sealed record ChatMessage(ChatRole Role, string Content)
{
    public override string ToString() => $"{Role}: {Content}";
}
