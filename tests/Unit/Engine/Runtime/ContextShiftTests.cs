using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Context shift: the kept tokens' keys are rotated to their new positions. Checked against running the kept tokens
/// afresh at those positions: exactly comparable where a key depends only on its token and position (the first layer;
/// every layer of a one-layer model), and end to end through generation that runs past the context.
/// </summary>
public sealed class ContextShiftTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static int[] Tokens(int count) => [1, .. Enumerable.Range(0, count - 1).Select(i => 3 + i * 13 % 500)];

    /// <summary>The sequence a shift of (keep, discard) leaves: the kept start, then what followed the dropped tokens.</summary>
    private static int[] Kept(int[] tokens, int keep, int discard) => [.. tokens[..keep], .. tokens[(keep + discard)..]];

    [Fact]
    public void AOneLayerModelShiftedPredictsAsTheKeptTokensRunAfresh()
    {
        // With one layer, a cached key and value depend on their token and position only, so after the shift the
        // cache must hold what a fresh prefill of the kept tokens writes, and the next token's logits must agree.
        using var model = OneLayer(fixture.Model);
        var tokens = Tokens(200);
        const int keep = 1, discard = 99;
        using var shifted = new InferenceSession(model, WorkerPool.Shared);
        shifted.Prefill(tokens);
        shifted.ShiftContext(keep, discard);
        Assert.Equal(tokens.Length - discard, shifted.Position);
        var actual = shifted.Decode(42).ToArray();

        using var fresh = new InferenceSession(model, WorkerPool.Shared);
        fresh.Prefill(Kept(tokens, keep, discard));
        var expected = fresh.Decode(42).ToArray();

        float range = expected.Max() - expected.Min();
        float error = actual.Zip(expected, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(error <= 1e-4f * range, $"max |shifted - fresh| = {error}, {error / range:E2} of the range {range}");
    }

    [Fact]
    public void TheFirstLayersKeysAreRotatedToTheirNewPositions()
    {
        var model = fixture.Model;
        var tokens = Tokens(180);
        const int keep = 5, discard = 70;
        using var shifted = new InferenceSession(model, WorkerPool.Shared);
        shifted.Prefill(tokens);
        shifted.ShiftContext(keep, discard);
        using var fresh = new InferenceSession(model, WorkerPool.Shared);
        fresh.Prefill(Kept(tokens, keep, discard));
        Assert.Equal(fresh.Position, shifted.Position);
        Assert.Equal(fresh.CacheBytes, shifted.CacheBytes); // the blocks past the new end went back

        int kvDim = model.Config.KvDim;
        float[] k1 = new float[kvDim], v1 = new float[kvDim], k2 = new float[kvDim], v2 = new float[kvDim];
        double worst = 0;
        for (int p = 0; p < fresh.Position; p++)
        {
            shifted.Cache.Read(0, p, k1, v1);
            fresh.Cache.Read(0, p, k2, v2);
            for (int j = 0; j < kvDim; j++) worst = Math.Max(worst, Math.Max(Math.Abs(k1[j] - k2[j]), Math.Abs(v1[j] - v2[j])));
        }
        Assert.True(worst <= 1e-4, $"max |shifted - fresh| over layer 0's keys and values: {worst}");
    }

    [Fact]
    public void WithoutTheRotationTheKeysWouldBeWrong()
    {
        // The check above is not satisfied by moving keys unrotated: the same comparison without ShiftContext's
        // rotation (keys copied as they are) is far off.
        var model = fixture.Model;
        var tokens = Tokens(180);
        const int keep = 5, discard = 70;
        using var moved = new InferenceSession(model, WorkerPool.Shared);
        moved.Prefill(tokens);
        using var fresh = new InferenceSession(model, WorkerPool.Shared);
        fresh.Prefill(Kept(tokens, keep, discard));
        int kvDim = model.Config.KvDim;
        float[] k1 = new float[kvDim], v1 = new float[kvDim], k2 = new float[kvDim], v2 = new float[kvDim];
        double worst = 0;
        for (int p = keep; p < fresh.Position; p++)
        {
            moved.Cache.Read(0, p + discard, k1, v1);
            fresh.Cache.Read(0, p, k2, v2);
            for (int j = 0; j < kvDim; j++) worst = Math.Max(worst, Math.Abs(k1[j] - k2[j]));
        }
        Assert.True(worst > 1e-2, $"unrotated keys differ by only {worst}");
    }

    [Fact]
    public void GenerationWithContextShiftRunsPastTheContext()
    {
        var model = fixture.Model;
        var generator = new TextGenerator(model);
        var options = new GenerationOptions { MaxTokens = model.ContextLength + 100, StopAtEos = false, ReusePromptPrefix = false, Sampling = SamplingOptions.Greedy };
        var stopped = generator.Generate("She was not", options);
        Assert.Equal(StopReason.ContextFull, stopped.StopReason);
        Assert.True(stopped.GeneratedTokens < model.ContextLength);

        var shifted = generator.Generate("She was not", options with { ContextShift = true });
        Assert.Equal(StopReason.MaxTokens, shifted.StopReason);
        Assert.Equal(options.MaxTokens, shifted.GeneratedTokens);
        Assert.Equal(0, stopped.ContextShifts);
        Assert.True(shifted.ContextShifts >= 1);
        // Up to the first shift the two runs are the same greedy sequence.
        Assert.Equal(stopped.TokenIds, shifted.TokenIds.Take(stopped.GeneratedTokens));
    }

    [Fact]
    public void AShiftedSessionIsNotKeptForLaterPrompts()
    {
        // Its cache no longer holds the prompt at the prompt's positions, so a later prompt must not reuse it.
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var generator = new TextGenerator(model);
        string prompt = string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged", 12));
        var options = new GenerationOptions { MaxTokens = model.ContextLength, StopAtEos = false, Sampling = SamplingOptions.Greedy, ContextShift = true };
        Assert.True(generator.Generate(prompt, options).ContextShifts > 0);
        Assert.Equal(0, model.PromptCache.IdleCount);
        Assert.Equal(0, model.KvCacheBlocksInUse);
        Assert.Equal(0, generator.Generate(prompt, options with { MaxTokens = 2 }).CachedTokens);
    }

    [Fact]
    public void BadShiftsAreRefused()
    {
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        session.Prefill(Tokens(20));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.ShiftContext(5, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.ShiftContext(5, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.ShiftContext(-1, 3));
        Assert.Equal(20, session.Position);
    }

    /// <summary>The fixture's first layer alone, sharing its matrices.</summary>
    private static LanguageModel OneLayer(LanguageModel source)
    {
        var w = source.Weights;
        var layer = w.Layers[0];
        var borrowed = new HashSet<WeightMatrix> { w.TokenEmbedding, w.Output, layer.QueryKeyValue, layer.AttentionOutput, layer.GateUp, layer.Down };
        return new LanguageModel(source.Name, source.Path, source.Config with { LayerCount = 1 }, new ModelWeights(w.TokenEmbedding, [layer], w.OutputNorm, w.Output) { Borrowed = borrowed },
            source.Tokenizer, source.StoredPrecision, source.Precision, source.FileSizeBytes, TimeSpan.Zero, storage: null);
    }
}
