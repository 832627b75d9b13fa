using System.Diagnostics;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Decode attention of one layer read through a sequence's block table, FP32, FP16 and INT8 storage, at several context
/// lengths: a Llama-2 7B layer's shape (32 heads of 128, grouped 32 or 8 key/value heads). Prints one JSON line per
/// case: microseconds per call (median of the rounds) and the cache bytes of the layer read.
/// </summary>
internal static unsafe class KvAttentionBench
{
    public static void Run(int threads, int rounds)
    {
        using var pool = new WorkerPool(threads);
        const int heads = 32, headDim = 128, layers = 1;
        foreach (int kvHeads in new[] { 32, 8 })
        foreach (var type in new[] { KvCacheType.Float32, KvCacheType.Float16, KvCacheType.Int8 })
        foreach (int context in new[] { 512, 2048, 4096 })
        {
            int kvDim = kvHeads * headDim, dim = heads * headDim, stride = dim + 2 * kvDim;
            using var kvPool = new KvCachePool("bench", layers, kvDim, KvCachePool.BlocksFor(context), context, type, headDim);
            using var cache = new KvCache(kvPool, context);
            cache.Reserve(0, context);
            var random = new Random(1);
            var key = new float[kvDim];
            var value = new float[kvDim];
            for (int p = 0; p < context; p++)
            {
                for (int j = 0; j < kvDim; j++) { key[j] = (float)(random.NextDouble() - 0.5); value[j] = (float)(random.NextDouble() - 0.5); }
                cache.Write(0, p, key, value);
            }
            var qkv = Enumerable.Range(0, stride).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var output = new float[dim];
            var job = new AttentionJob(heads, kvHeads, headDim);
            var times = new List<double>();
            fixed (float* q = qkv)
            fixed (float* o = output)
            {
                for (int i = 0; i < 20; i++) job.Run(pool, q, stride, cache, 0, o, 1, context - 1); // warm up
                for (int r = 0; r < rounds; r++)
                {
                    long start = Stopwatch.GetTimestamp();
                    for (int i = 0; i < 50; i++) job.Run(pool, q, stride, cache, 0, o, 1, context - 1);
                    times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds / 50);
                }
            }
            times.Sort();
            Console.WriteLine($$"""{"bench":"kv-attention","kvHeads":{{kvHeads}},"type":"{{type}}","context":{{context}},"threads":{{threads}},"microseconds":{{times[times.Count / 2]:F1}},"layerCacheBytes":{{cache.ByteSize}}}""");
        }
    }
}
