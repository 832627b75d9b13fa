using LlmCpu.Kernels.Threading;

namespace LlmCpu.Module.Internal;

/// <summary>One persistent pool per thread count asked for, kept for the life of the process.</summary>
internal static class WorkerPools
{
    private static readonly Dictionary<int, WorkerPool> Pools = [];

    public static WorkerPool Get(int threads)
    {
        if (threads <= 0) return WorkerPool.Shared;
        lock (Pools)
        {
            if (!Pools.TryGetValue(threads, out var pool)) Pools[threads] = pool = new WorkerPool(threads);
            return pool;
        }
    }
}
