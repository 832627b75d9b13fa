using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// A model's KV cache pool: sized once at load, blocks taken as positions are reached and given back on rewind and
/// disposal, never shared by two sequences, reclaimed from idle prompt caches, and a clear error when exhausted.
/// </summary>
public sealed class KvCachePoolTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static LanguageModel Load(KvCacheOptions options) => ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { KvCache = options });

    private static int[] Tokens(int count) => Enumerable.Range(0, count).Select(i => 3 + i * 13 % 500).ToArray();

    [Fact]
    public void TheDefaultPoolHoldsFourFullContextsAndAllocatesOnlyWhatIsUsed()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var c = model.Config;
        long blockBytes = 2L * c.LayerCount * c.KvDim * KvCachePool.BlockPositions * sizeof(float);
        Assert.Equal(KvCacheOptions.DefaultMaxSessions * KvCachePool.BlocksFor(c.ContextLength), model.KvCacheBlocks);
        Assert.Equal(model.KvCacheBlocks * blockBytes, model.KvCacheMaxBytes);
        Assert.Equal(0, model.KvCacheBytes);
        Assert.Equal(c.ContextLength, model.ContextLength);

        using var session = new InferenceSession(model, WorkerPool.Shared);
        session.Prefill(Tokens(100));
        Assert.Equal(2, model.KvCacheBlocksInUse);
        Assert.Equal(2 * blockBytes, model.KvCacheBytes);
        Assert.Equal(2 * blockBytes, session.CacheBytes);

        Assert.True(session.TryRewind(10));
        Assert.Equal(1, model.KvCacheBlocksInUse);
        Assert.Equal(2 * blockBytes, model.KvCacheBytes); // kept for the next sequence
        session.Dispose();
        Assert.Equal(0, model.KvCacheBlocksInUse);
    }

    [Fact]
    public void SizesFollowContextSessionsMemoryAndType()
    {
        using var small = Load(new KvCacheOptions { ContextLength = 128, MaxSessions = 3 });
        Assert.Equal(128, small.ContextLength);
        Assert.Equal(6, small.KvCacheBlocks);
        long blockBytes = small.KvCacheMaxBytes / 6;

        using var half = Load(new KvCacheOptions { ContextLength = 128, MaxSessions = 3, Type = KvCacheType.Float16 });
        Assert.Equal(KvCacheType.Float16, half.KvCacheType);
        Assert.Equal(small.KvCacheMaxBytes / 2, half.KvCacheMaxBytes);

        // INT8: a byte a value, and an FP32 scale per position and key/value head for keys and for values.
        using var int8 = Load(new KvCacheOptions { ContextLength = 128, MaxSessions = 3, Type = KvCacheType.Int8 });
        var c = int8.Config;
        Assert.Equal(KvCacheType.Int8, int8.KvCacheType);
        Assert.Equal(6, int8.KvCacheBlocks);
        Assert.Equal(6L * c.LayerCount * KvCachePool.BlockPositions * (2 * c.KvDim + 2 * c.KvHeadCount * sizeof(float)), int8.KvCacheMaxBytes);
        using (var session = new InferenceSession(int8, WorkerPool.Shared))
        {
            session.Prefill(Tokens(70));
            Assert.Equal(2 * int8.KvCacheMaxBytes / 6, int8.KvCacheBytes);
            Assert.Equal(int8.KvCacheBytes, session.CacheBytes);
        }
        using var int8ByMemory = Load(new KvCacheOptions { MemoryBytes = 5 * (int8.KvCacheMaxBytes / 6), Type = KvCacheType.Int8 });
        Assert.Equal(5, int8ByMemory.KvCacheBlocks);

        using var byMemory = Load(new KvCacheOptions { MemoryBytes = 5 * blockBytes + blockBytes / 2 });
        Assert.Equal(5, byMemory.KvCacheBlocks);

        // A context longer than the model's is capped at the model's.
        using var capped = Load(new KvCacheOptions { ContextLength = 1 << 20 });
        Assert.Equal(capped.Config.ContextLength, capped.ContextLength);

        Assert.Contains("hold no block", Assert.Throws<KvCacheArgumentException>(() => Load(new KvCacheOptions { MemoryBytes = blockBytes - 1 })).Message);
        Assert.Throws<KvCacheArgumentException>(() => Load(new KvCacheOptions { MaxSessions = 0 }));
    }

    [Fact]
    public void AnExhaustedPoolNamesBlocksNeededAndFreeAndKeepsTheSessionWhereItWas()
    {
        using var model = Load(new KvCacheOptions { ContextLength = 128, MaxSessions = 1 });
        using var first = new InferenceSession(model, WorkerPool.Shared);
        using var second = new InferenceSession(model, WorkerPool.Shared);
        first.Prefill(Tokens(70)); // 2 blocks: the whole pool
        var error = Assert.Throws<KvCacheExhaustedException>(() => second.Prefill(Tokens(5)));
        Assert.Equal(1, error.BlocksNeeded);
        Assert.Equal(0, error.BlocksFree);
        Assert.Contains("1 block(s)", error.Message);
        Assert.Contains("0 of 2 are free", error.Message);
        Assert.Equal(0, second.Position);

        // The first session's blocks go back when it ends; the second then runs.
        first.Dispose();
        second.Prefill(Tokens(5));
        Assert.Equal(5, second.Position);
    }

    [Fact]
    public void IdlePromptCachesGiveTheirBlocksBackWhenASessionNeedsThem()
    {
        using var model = Load(new KvCacheOptions { ContextLength = 128, MaxSessions = 2 });
        var generator = new TextGenerator(model);
        string prompt = string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged", 12));
        generator.Generate(prompt, new GenerationOptions { MaxTokens = 4, StopAtEos = false });
        Assert.Equal(1, model.PromptCache.IdleCount);
        Assert.True(model.PromptCacheBytes > 0);
        Assert.Equal(model.PromptCacheBytes, model.KvCacheBlocksInUse * (model.KvCacheMaxBytes / model.KvCacheBlocks));

        using var a = new InferenceSession(model, WorkerPool.Shared);
        using var b = new InferenceSession(model, WorkerPool.Shared);
        a.Prefill(Tokens(128));
        b.Prefill(Tokens(128)); // needs the idle cache's block
        Assert.Equal(0, model.PromptCache.IdleCount);
        Assert.Equal(0, model.PromptCacheBytes);
    }

    [Fact]
    public void APromptCacheSizeOfZeroKeepsNothing()
    {
        using var model = Load(new KvCacheOptions { PromptCacheSize = 0 });
        var generator = new TextGenerator(model);
        string prompt = string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged", 12));
        generator.Generate(prompt, new GenerationOptions { MaxTokens = 2, StopAtEos = false });
        Assert.Equal(0, model.PromptCache.IdleCount);
        Assert.Equal(0, model.KvCacheBlocksInUse);
    }

    [Fact]
    public void ASessionDisposedTwiceReturnsItsBlocksOnceAndLaterSessionsDoNotShareOne()
    {
        var model = fixture.Model;
        var a = model.Tokenizer.Encode("It is a truth universally acknowledged", addBos: true);
        var b = model.Tokenizer.Encode("The evening passed in the usual way", addBos: true);
        float[] Alone()
        {
            using var session = new InferenceSession(model, WorkerPool.Shared);
            session.Prefill(a);
            return session.Decode(42).ToArray();
        }
        var expected = Alone();

        int inUse = model.KvCacheBlocksInUse;
        var first = new InferenceSession(model, WorkerPool.Shared);
        first.Prefill(a);
        first.Dispose();
        first.Dispose();
        Assert.Equal(inUse, model.KvCacheBlocksInUse);
        Assert.Throws<ObjectDisposedException>(() => first.Decode(1));

        using var one = new InferenceSession(model, WorkerPool.Shared);
        using var two = new InferenceSession(model, WorkerPool.Shared);
        one.Prefill(a);
        two.Prefill(b); // with a shared block this overwrites one's keys and values
        Assert.Equal(expected, one.Decode(42).ToArray());
    }

    [Fact]
    public void TheCapacityFollowsTheRequestAndMemoryFollowsThePositions()
    {
        using var small = new InferenceSession(fixture.Model, WorkerPool.Shared, contextLength: 10);
        using var whole = new InferenceSession(fixture.Model, WorkerPool.Shared);
        Assert.Equal(InferenceSession.CapacityGrain, small.Capacity);
        Assert.Equal(fixture.Model.ContextLength, whole.Capacity);
        Assert.Equal(0, small.CacheBytes);
        small.Prefill(Tokens(3));
        Assert.Equal(fixture.Model.KvCachePool.BlockBytes, small.CacheBytes);
    }

    [Theory]
    [InlineData(KvCacheType.Float32, 1e-5f)]
    [InlineData(KvCacheType.Float16, 2e-3f)]
    [InlineData(KvCacheType.Int8, 1.5e-2f)]
    public void LogitsAgreeWithTheNaiveForwardAcrossBlocks(KvCacheType type, float tolerance)
    {
        // 200 positions span four blocks; FP16 storage differs from the naive FP32 forward by the rounding of the
        // cached keys and values only. INT8 rounds each cached number by up to half a step of its head's scale, 1/254 of
        // the head's largest magnitude at that position (FP16: 1/2048 of the number itself), through all 8 layers; it
        // measured 6.6e-3 of the range here, and the bound leaves twice that.
        using var model = Load(new KvCacheOptions { Type = type });
        var tokens = Tokens(200);
        using var session = new InferenceSession(model, WorkerPool.Shared);
        session.Prefill(tokens.AsSpan(0, 150));
        for (int t = 150; t < tokens.Length - 1; t++) session.Decode(tokens[t]);
        var fast = session.Decode(tokens[^1]).ToArray();
        var naive = ReferenceForward.Logits(model, tokens);
        float range = naive.Max() - naive.Min();
        float error = fast.Zip(naive, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(error <= tolerance * range, $"{type}: max |fast - naive| = {error}, {error / range:E2} of the range {range}");
    }

    [Theory]
    [InlineData(KvCacheType.Float32)]
    [InlineData(KvCacheType.Float16)]
    [InlineData(KvCacheType.Int8)]
    public void DecodingSixtyFourTokensAcrossBlocksAllocatesNothing(KvCacheType type)
    {
        using var model = Load(new KvCacheOptions { Type = type });
        using var pool = new WorkerPool(2);
        using var session = new InferenceSession(model, pool);
        session.Prefill(Tokens(60));
        int token = 5;
        for (int i = 0; i < 8; i++) // warm up, into block 1
        {
            session.Decode(token);
            token = (token * 31 + 7) % 500 + 3;
        }

        // One window is 64 decode steps from position 68: it crosses into block 2, which is rented from the pool.
        var (allocated, windows) = SteadyAllocation.Measure(() =>
        {
            if (session.Position + 1 >= session.Capacity) session.TryRewind(68);
            session.Decode(token);
            token = (token * 31 + 7) % 500 + 3;
            return 1;
        }, 64);
        Assert.True(session.CacheBytes >= 3 * model.KvCachePool.BlockBytes);
        Assert.True(allocated == 0, $"{type}: bytes allocated in each window of 64 tokens: {windows}");
    }
}
