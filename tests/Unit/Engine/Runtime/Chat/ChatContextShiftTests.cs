using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>
/// A chat session with context shift keeps its opening (BOS and the system prompt) and drops the older half of the
/// rest when a message no longer fits or a reply fills the context, where one without it reports the context full.
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

    [Fact]
    public void AReplyThatFillsTheContextShiftsItAndTheNextTurnReusesTheCache()
    {
        // The context is the fixture's 256 positions: a reply of 300 tokens cannot fit.
        var longReply = Greedy with { MaxTokens = 300 };
        using var plain = new ChatSession(fixture.Model, ChatTemplateKind.ChatML, System);
        Assert.Equal(StopReason.ContextFull, plain.Send(Message, longReply).StopReason);

        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.ChatML, System) { ContextShift = true };
        var reply = chat.Send(Message, longReply);
        Assert.Equal(StopReason.MaxTokens, reply.StopReason);
        Assert.Equal(300, reply.GeneratedTokens);
        Assert.True(reply.ContextShifts > 0);
        Assert.Equal(reply.ContextShifts, chat.Shifts);
        // The tokens beside the cache dropped what the cache dropped: they fit, and the next turn runs only what is new.
        Assert.True(chat.TokenCount <= chat.Capacity);
        int held = chat.TokenCount;
        var next = chat.Send("Mr. Darcy", Greedy);
        Assert.Equal(held - 1, next.CachedTokens);
        // The opening with the system prompt is still where it was.
        int systemTokens = fixture.Model.Tokenizer.Encode(System, addBos: false).Length;
        Assert.Equal(plain.TokenIds.Take(systemTokens), chat.TokenIds.Take(systemTokens));
        // The reply's last tokens are the conversation's last before the new turn: nothing else was dropped after them.
        var tokens = chat.TokenIds;
        int replyEnd = tokens.Count - next.PromptTokens - next.GeneratedTokens + 1;
        Assert.Equal(reply.TokenIds.TakeLast(10), tokens.Take(replyEnd).TakeLast(10));
    }

    [Fact]
    public void AReplyCancelledAfterItShiftedLeavesTheConversationAsItWasAndTheNextTurnRunsItAgain()
    {
        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.ChatML, System) { ContextShift = true };
        chat.Send("Mr. Darcy", Greedy);
        var before = chat.TokenIds;
        using var cancel = new CancellationTokenSource();
        // Cancelled at its 250th token, past the 256 positions of the context: the reply has shifted the cache.
        var cancelled = chat.Send(Message, Greedy with { MaxTokens = 300 }, cancel.Token, piece => { if (piece.Index >= 250) cancel.Cancel(); });
        Assert.Equal(StopReason.Cancelled, cancelled.StopReason);
        Assert.Equal(before, chat.TokenIds);
        Assert.Equal(0, chat.Shifts);
        var next = chat.Send("Mr. Darcy", Greedy);
        Assert.Equal(0, next.CachedTokens);
        Assert.True(next.GeneratedTokens > 0);
    }
}
