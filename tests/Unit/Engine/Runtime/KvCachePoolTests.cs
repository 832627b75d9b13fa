using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>A cache is never handed to two sessions at once: a session disposed twice once returned its cache twice.</summary>
public sealed class KvCachePoolTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Fact]
    public void ReturningACacheTwiceIsRefused()
    {
        using var pool = new KvCachePool();
        var cache = pool.Rent(2, 16, 8);
        pool.Return(cache);
        Assert.Throws<InvalidOperationException>(() => pool.Return(cache));
        var first = pool.Rent(2, 16, 8);
        var second = pool.Rent(2, 16, 8);
        Assert.NotSame(first, second);
        pool.Return(first);
        pool.Return(second);
    }

    [Fact]
    public void ASessionDisposedTwiceReturnsItsCacheOnceAndLaterSessionsDoNotShareOne()
    {
        using var pool = new KvCachePool();
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

        var first = new InferenceSession(model, WorkerPool.Shared, cachePool: pool);
        first.Dispose();
        first.Dispose();
        Assert.Throws<ObjectDisposedException>(() => first.Decode(1));

        using var one = new InferenceSession(model, WorkerPool.Shared, cachePool: pool);
        using var two = new InferenceSession(model, WorkerPool.Shared, cachePool: pool);
        one.Prefill(a);
        two.Prefill(b); // with a shared cache this overwrites one's keys and values
        Assert.Equal(expected, one.Decode(42).ToArray());
    }

    [Fact]
    public void TheCacheIsSizedToTheRequestNotTheWholeContext()
    {
        using var small = new InferenceSession(fixture.Model, WorkerPool.Shared, contextLength: 10);
        using var whole = new InferenceSession(fixture.Model, WorkerPool.Shared);
        Assert.Equal(InferenceSession.CapacityGrain, small.Capacity);
        var c = fixture.Model.Config;
        Assert.Equal(2L * c.LayerCount * InferenceSession.CapacityGrain * c.KvDim * sizeof(float), small.CacheBytes);
        Assert.Equal(c.ContextLength, whole.Capacity);
    }
}
