using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Rewinding a sliding-window cache, which is a ring of fewer slots than the context: on the Mistral fixture
/// (fixtures/arch/mistral: a window of 8 positions, 2 layers, so 128 slots) a rewind is exact and taken while the
/// positions written since have not reached the window before the rewind point, and refused once they have. A chat turn
/// stopped early then costs the next turn only its own tokens; one stopped late costs the kept conversation again.
/// </summary>
public sealed class SlidingWindowRewindTests : IDisposable
{
    private static readonly GenerationOptions Greedy = new() { MaxTokens = 6, StopAtEos = false, Sampling = new SamplingOptions { Temperature = 0 } };

    private readonly LanguageModel _model = ModelLoader.Load(RepoPaths.ArchitectureFixture("mistral"));

    public void Dispose() => _model.Dispose();

    private int[] Tokens(int count) =>
        _model.Tokenizer.Encode(string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged, that a single man", 40)), addBos: true)[..count];

    [Fact]
    public void ARewindIsExactWhileTheWindowBeforeItIsHeldAndRefusedOnceItsBlockIsGivenBack()
    {
        Assert.Equal(8, _model.Config.SlidingWindow);
        Assert.Equal(64, KvCache.KeyBlock);
        var ids = Tokens(200);
        using var fresh = new InferenceSession(_model, WorkerPool.Shared, 512);
        var expected = fresh.Prefill(ids).ToArray();

        using var session = new InferenceSession(_model, WorkerPool.Shared, 512);
        session.Prefill(ids[..100]);
        // Token 100 attends to 93 .. 100, all in block 1 (64 .. 127). A chunk at 100 .. 163 gives back only the blocks
        // wholly before its first token's window (block 0), so block 1 is still held and the rewind is exact.
        session.Prefill(new int[64].Select((_, i) => 5 + i % 50).ToArray());
        Assert.False(session.Cache.Holds(0));
        Assert.True(session.Cache.Holds(1));
        Assert.True(session.TryRewind(100));
        Assert.Equal(expected, session.Prefill(ids[100..]).ToArray());

        // One token more, at 164, sees 157 .. 164 only: block 1 goes back to the pool, and a rewind to 100 is refused
        // with the session unchanged.
        session.Reset();
        session.Prefill(ids[..100]);
        session.Prefill(new int[64].Select((_, i) => 5 + i % 50).ToArray());
        session.Decode(7);
        int before = session.Position;
        Assert.False(session.Cache.Holds(1));
        Assert.False(session.TryRewind(100));
        Assert.Equal(before, session.Position);
        Assert.True(session.TryRewind(before - 1));          // the window before a later position is still there
    }

    [Fact]
    public void AChatTurnStoppedEarlyIsRewoundAndOneStoppedLateIsRunAgain()
    {
        using var chat = new ChatSession(_model, ChatTemplateKind.Mistral, contextLength: 1024);
        chat.Send("It is a truth universally acknowledged", Greedy);
        int kept = chat.TokenCount;

        // Stopped after three tokens: the ring still holds the window before the turn, so the cache is rewound.
        using (var cancel = new CancellationTokenSource())
        {
            var stopped = chat.Send("Mr. Darcy", Greedy with { MaxTokens = 50 }, cancel.Token, piece => { if (piece.Index == 3) cancel.Cancel(); });
            Assert.Equal(StopReason.Cancelled, stopped.StopReason);
        }
        var early = chat.Send("Mr. Darcy", Greedy);
        Assert.Equal(kept - 1, early.CachedTokens);          // all but the first reply's last token, which was never run
        Assert.Equal(Fresh(chat), early.TokenIds);

        // Stopped after 150 tokens, more than the ring's slots beyond the window: the conversation is run again.
        int keptBefore = chat.TokenCount;
        using (var cancel = new CancellationTokenSource())
        {
            var stopped = chat.Send("She was not", Greedy with { MaxTokens = 400 }, cancel.Token, piece => { if (piece.Index == 150) cancel.Cancel(); });
            Assert.Equal(StopReason.Cancelled, stopped.StopReason);
        }
        var late = chat.Send("She was not", Greedy);
        Assert.Equal(0, late.CachedTokens);
        Assert.True(late.PromptTokens > keptBefore);
        Assert.Equal(Fresh(chat), late.TokenIds);
    }

    /// <summary>The last reply of <paramref name="chat"/> as a fresh session generates it from the conversation before it.</summary>
    private IReadOnlyList<int> Fresh(ChatSession chat)
    {
        var all = chat.TokenIds;
        var sequence = all.Take(all.Count - Greedy.MaxTokens).ToArray();
        using var session = new InferenceSession(_model, WorkerPool.Shared, sequence.Length + Greedy.MaxTokens);
        return new TextGenerator(_model).Continue(session, sequence, "", Greedy).TokenIds;
    }
}
