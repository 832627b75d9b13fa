using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class InferenceSessionTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Fact]
    public void PrefillInChunksEqualsOneTokenAtATime()
    {
        // 150 tokens cross two chunk boundaries (chunks of 64), so the cache written by one chunk is read by the next.
        var ids = fixture.Model.Tokenizer.Encode(string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged, that a single man", 12)), addBos: true)[..150];
        using var batched = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var expected = batched.Prefill(ids).ToArray();

        using var stepwise = new InferenceSession(fixture.Model, new WorkerPool(1));
        float[] actual = [];
        foreach (int id in ids) actual = stepwise.Decode(id).ToArray();

        float maxError = expected.Zip(actual, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(maxError < 1e-3f, $"max difference {maxError}");
        Assert.Equal(ids.Length, stepwise.Position);
    }

    [Fact]
    public void ResetStartsOverWithTheSameResult()
    {
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var ids = fixture.Model.Tokenizer.Encode("She was not", addBos: true);
        var first = session.Prefill(ids).ToArray();
        session.Reset();
        Assert.Equal(first, session.Prefill(ids).ToArray());
    }

    [Fact]
    public void PromptLongerThanContextIsRefused()
    {
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared, contextLength: 8);
        Assert.True(session.Capacity >= 8);
        var ex = Assert.Throws<GenerationArgumentException>(() => session.Prefill(new int[session.Capacity + 1]));
        Assert.Contains("context", ex.Message);
    }

    [Fact]
    public void TokenOutsideVocabularyIsRefused()
    {
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        Assert.Throws<GenerationArgumentException>(() => session.Decode(fixture.Model.VocabularySize));
    }
}
