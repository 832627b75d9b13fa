using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>
/// A chat session with context shift keeps its opening (BOS and the system prompt) and drops the older half of the
/// rest when a message no longer fits, where one without it reports the context full.
/// </summary>
public sealed class ChatContextShiftTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static readonly GenerationOptions Greedy = new() { MaxTokens = 12, StopAtEos = false, Sampling = SamplingOptions.Greedy };
    private const string System = "You are a character in a novel by Jane Austen.";
    private static readonly string Message = string.Join(" ", Enumerable.Repeat("It is a truth universally acknowledged", 3));

    [Fact]
    public void AConversationLongerThanTheContextGoesOnAndKeepsItsOpening()
    {
        using var plain = new ChatSession(fixture.Model, ChatTemplateKind.ChatML, System);
        Assert.Throws<ChatContextFullException>(() => { for (int i = 0; i < 20; i++) plain.Send(Message, Greedy); });

        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.ChatML, System) { ContextShift = true };
        chat.Send(Message, Greedy);
        var opening = chat.TokenIds;
        for (int i = 0; i < 19; i++) Assert.True(chat.Send(Message, Greedy).GeneratedTokens > 0);
        Assert.True(chat.Shifts > 0);
        Assert.True(chat.TokenCount < chat.Capacity);
        Assert.Equal(20, chat.Turns);
        // The system prompt's tokens are still where they were.
        int systemTokens = fixture.Model.Tokenizer.Encode(System, addBos: false).Length;
        Assert.Equal(opening.Take(systemTokens), chat.TokenIds.Take(systemTokens));
    }
}
