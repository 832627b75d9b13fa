using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Causal grouped-query attention against a plain double-precision implementation: the 512-bit path (head sizes that are
/// multiples of 16, where the processor has AVX-512; reported as skipped where it has not), the 256-bit path, the
/// 128-bit one (ARM64's) and the scalar one (which odd head sizes run), scores far past exp's float range,
/// and chunks that start deep in the cache. Keys and values are read through a block table whose blocks are not
/// consecutive in the pool (another sequence holds every other one), from a layer past the first, stored as FP32,
/// FP16 (the reference then gets the FP16-rounded numbers, so both see the same inputs) or INT8 (the reference gets the
/// cache's dequantized numbers, read back position by position; Int8KvBlockTests checks those against the inputs).
/// </summary>
public sealed unsafe class AttentionJobTests
{
    public static IEnumerable<object[]> Cases() =>
        from vector in new[] { 512, 256, 128, 0 }
        from shape in new (int Heads, int KvHeads, int HeadDim)[] { (8, 2, 32), (4, 4, 64), (6, 1, 6), (2, 2, 10), (40, 1, 16) }
        from chunk in new (int Start, int Tokens)[] { (0, 1), (0, 64), (60, 10), (150, 1), (200, 37) }
        from spread in new[] { 1.0, 40.0 }
        from type in new[] { KvCacheType.Float32, KvCacheType.Float16, KvCacheType.Int8 }
        select new object[] { vector, shape.Heads, shape.KvHeads, shape.HeadDim, chunk.Start, chunk.Tokens, spread, type };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void MatchesTheDoubleReference(int vectorBits, int heads, int kvHeads, int headDim, int start, int tokens, double spread, KvCacheType type)
    {
        Skip.If(vectorBits == 512 && !(Vector512.IsHardwareAccelerated && Avx512F.IsSupported), "This processor has no 512-bit vectors.");
        int capacity = start + tokens;
        int dim = heads * headDim, kvDim = kvHeads * headDim, stride = dim + 2 * kvDim;
        var random = new Random(heads * 1000 + start * 7 + tokens);
        float Next() => (float)((random.NextDouble() * 2 - 1) * spread);
        // With spread 40, q.k / sqrt(d) reaches several hundred: exp overflows float without the max shift.
        var qkv = Enumerable.Range(0, tokens * stride).Select(_ => Next()).ToArray();
        float Stored(float x) => type == KvCacheType.Float16 ? (float)(Half)x : x;
        var keys = Enumerable.Range(0, capacity * kvDim).Select(_ => Stored(Next())).ToArray();
        var values = Enumerable.Range(0, capacity * kvDim).Select(_ => Stored((float)(random.NextDouble() * 2 - 1))).ToArray();
        var output = new float[tokens * dim];

        const int layer = 1;
        int blocks = KvCachePool.BlocksFor(capacity);
        using var kvPool = new KvCachePool("test", 2, kvDim, 2 * blocks, capacity, type, headDim);
        using var cache = new KvCache(kvPool, capacity);
        using var other = new KvCache(kvPool, capacity);
        for (int b = 0; b < blocks; b++)
        {
            cache.Reserve(b * KvCache.KeyBlock, b * KvCache.KeyBlock + 1);
            other.Reserve(b * KvCache.KeyBlock, b * KvCache.KeyBlock + 1);
        }
        for (int p = 0; p < capacity; p++)
        {
            cache.Write(layer, p, keys.AsSpan(p * kvDim, kvDim), values.AsSpan(p * kvDim, kvDim));
            other.Write(layer, p, new float[kvDim], new float[kvDim]); // neighbouring blocks hold other numbers
        }
        if (type == KvCacheType.Int8)
            for (int p = 0; p < capacity; p++) cache.Read(layer, p, keys.AsSpan(p * kvDim, kvDim), values.AsSpan(p * kvDim, kvDim));

        var job = new AttentionJob(heads, kvHeads, headDim, allowVector256: vectorBits >= 256, allowVector512: vectorBits >= 512, allowVector128: vectorBits >= 128);
        using var pool = new WorkerPool(2);
        fixed (float* q = qkv)
        fixed (float* o = output)
        {
            job.Run(pool, q, stride, cache, layer, o, tokens, start);
        }

        double scale = 1 / Math.Sqrt(headDim);
        int group = heads / kvHeads;
        for (int t = 0; t < tokens; t++)
        {
            int length = start + t + 1;
            for (int h = 0; h < heads; h++)
            {
                int kvOffset = h / group * headDim;
                var scores = new double[length];
                for (int s = 0; s < length; s++)
                {
                    double dot = 0;
                    for (int i = 0; i < headDim; i++) dot += (double)qkv[t * stride + h * headDim + i] * keys[s * kvDim + kvOffset + i];
                    scores[s] = dot * scale;
                }
                double max = scores.Max();
                var weights = scores.Select(x => Math.Exp(x - max)).ToArray();
                double sum = weights.Sum();
                for (int i = 0; i < headDim; i++)
                {
                    double expected = 0;
                    for (int s = 0; s < length; s++) expected += weights[s] / sum * values[s * kvDim + kvOffset + i];
                    float actual = output[t * dim + h * headDim + i];
                    // Scores of several hundred carry float rounding of about 1e-4 absolute, which exp turns into a
                    // relative error of the weights of the same size; values are within +-1.
                    double tolerance = spread > 1 ? 2e-3 : 1e-5;
                    Assert.True(float.IsFinite(actual) && Math.Abs(actual - expected) <= tolerance,
                        $"token {t} head {h} dim {i}: {actual} vs {expected}");
                }
            }
        }
    }

    /// <summary>
    /// Several sequences in one call, as a batched step runs them: each segment's rows (decode tokens and a prompt
    /// chunk, at their own starts, in caches of their own) come out bit for bit as that segment alone gives them.
    /// </summary>
    [SkippableTheory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(128)]
    [InlineData(0)]
    public void SegmentsInOneCallMatchEachAlone(int vectorBits)
    {
        Skip.If(vectorBits == 512 && !(Vector512.IsHardwareAccelerated && Avx512F.IsSupported), "This processor has no 512-bit vectors.");
        const int heads = 8, kvHeads = 2, headDim = 32, layer = 1, capacity = 256;
        int dim = heads * headDim, kvDim = kvHeads * headDim, stride = dim + 2 * kvDim;
        (int Start, int Tokens)[] shape = [(0, 1), (70, 1), (10, 37), (150, 1), (3, 5), (200, 1)];
        int rows = shape.Sum(s => s.Tokens);
        var random = new Random(7);
        var qkv = Enumerable.Range(0, rows * stride).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        using var kvPool = new KvCachePool("test", 2, kvDim, shape.Length * KvCachePool.BlocksFor(capacity), capacity, KvCacheType.Float32, headDim);
        var caches = new List<KvCache>();
        var segments = new ForwardSegment[shape.Length];
        var firstRows = new int[shape.Length];
        var key = new float[kvDim];
        var value = new float[kvDim];
        try
        {
            int row = 0;
            for (int i = 0; i < shape.Length; i++)
            {
                var cache = new KvCache(kvPool, capacity);
                caches.Add(cache);
                int positions = shape[i].Start + shape[i].Tokens;
                cache.Reserve(0, positions);
                for (int p = 0; p < positions; p++)
                {
                    for (int j = 0; j < kvDim; j++) { key[j] = (float)(random.NextDouble() * 2 - 1); value[j] = (float)(random.NextDouble() * 2 - 1); }
                    cache.Write(layer, p, key, value);
                }
                segments[i] = new ForwardSegment(cache, shape[i].Start, shape[i].Tokens);
                firstRows[i] = row;
                row += shape[i].Tokens;
            }
            var job = new AttentionJob(heads, kvHeads, headDim, allowVector256: vectorBits >= 256, allowVector512: vectorBits >= 512, allowVector128: vectorBits >= 128);
            using var pool = new WorkerPool(2);
            var together = new float[rows * dim];
            var alone = new float[rows * dim];
            fixed (float* q = qkv)
            fixed (float* o = together)
            fixed (float* a = alone)
            {
                job.Run(pool, q, stride, layer, o, segments, firstRows);
                for (int i = 0; i < shape.Length; i++)
                    job.Run(pool, q + (long)firstRows[i] * stride, stride, segments[i].Cache, layer, a + (long)firstRows[i] * dim, shape[i].Tokens, shape[i].Start);
            }
            Assert.All(alone, x => Assert.True(float.IsFinite(x)));
            for (int i = 0; i < rows * dim; i++)
                Assert.True(together[i] == alone[i], $"row {i / dim} column {i % dim}: {together[i]} in one call, {alone[i]} alone");
        }
        finally
        {
            foreach (var cache in caches) cache.Dispose();
        }
    }
}
