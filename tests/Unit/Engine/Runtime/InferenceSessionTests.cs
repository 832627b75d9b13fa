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
    public void RewindingForgetsLaterTokensAndGoesOnAsIfTheyHadNeverRun()
    {
        // Chunk-aligned, as a chat session or the prompt prefix cache rewinds: the kept positions are the ones a fresh run computes.
        var ids = fixture.Model.Tokenizer.Encode(string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged, that a single man", 12)), addBos: true)[..130];
        using var fresh = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var expected = fresh.Prefill(ids).ToArray();

        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        session.Prefill(ids[..64]);
        session.Prefill([5, 6, 7, 8, 9]);                      // a turn that is then taken back
        Assert.True(session.TryRewind(64));
        Assert.Equal(64, session.Position);
        Assert.Equal(expected, session.Prefill(ids[64..]).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => session.TryRewind(session.Position + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.TryRewind(-1));
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

    [Fact]
    public void PrefillWithLogitsGivesEveryPositionsPredictionAsDecodeDoes()
    {
        // 150 tokens, logits from position 40: the rows start inside the first chunk of 64 and run through two more.
        var ids = fixture.Model.Tokenizer.Encode(string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged, that a single man", 12)), addBos: true)[..150];
        const int first = 40;
        int vocab = fixture.Model.VocabularySize;
        var logits = new float[(ids.Length - first) * vocab];
        using var batched = new InferenceSession(fixture.Model, WorkerPool.Shared);
        batched.Prefill(ids, first, logits);
        Assert.Equal(ids.Length, batched.Position);

        using var stepwise = new InferenceSession(fixture.Model, new WorkerPool(1));
        float maxError = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            var expected = stepwise.Decode(ids[i]);
            if (i < first) continue;
            var row = logits.AsSpan((i - first) * vocab, vocab);
            for (int v = 0; v < vocab; v++) maxError = MathF.Max(maxError, MathF.Abs(expected[v] - row[v]));
        }
        Assert.True(maxError < 1e-3f, $"max difference {maxError}");
    }

    [Fact]
    public void PrefillWithLogitsChecksItsArguments()
    {
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        int[] ids = [1, 100, 200, 300];
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Prefill(ids, 4, new float[fixture.Model.VocabularySize]));
        Assert.Throws<ArgumentException>(() => session.Prefill(ids, 2, new float[fixture.Model.VocabularySize]));
        Assert.Equal(0, session.Position);
    }
}
