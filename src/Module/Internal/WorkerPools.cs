using LlmCpu.Kernels.Threading;

namespace LlmCpu.Module.Internal;

/// <summary>
/// Worker pools for the thread counts cmdlets ask for. One thread per logical processor is the process's shared pool.
/// Other counts get a pool that lives while in use; the last one released is kept idle (its threads sleep) so a
/// script that passes the same -Threads in a loop does not start threads on every call, and the one before it is
/// ended, so pools never pile up one per count asked for.
/// </summary>
internal static class WorkerPools
{
    private static readonly object Gate = new();
    private static readonly Dictionary<int, (WorkerPool Pool, int Users)> InUse = [];
    private static WorkerPool? _idle;

    /// <summary>The most threads worth asking for: more than logical processors only adds contention.</summary>
    public static int MaxThreads => Environment.ProcessorCount;

    /// <summary>
    /// A pool of <paramref name="threads"/> threads (0: one per logical processor), capped at <see cref="MaxThreads"/>;
    /// <paramref name="warn"/> hears about a cap. Dispose the lease when the work is done.
    /// </summary>
    public static Lease Rent(int threads, Action<string> warn)
    {
        if (threads > MaxThreads)
        {
            warn($"-Threads {threads} exceeds the {MaxThreads} logical processors of this machine; using {MaxThreads}.");
            threads = MaxThreads;
        }
        if (threads <= 0 || threads == MaxThreads) return new Lease(WorkerPool.Shared, owned: false);
        lock (Gate)
        {
            if (InUse.TryGetValue(threads, out var entry))
            {
                InUse[threads] = (entry.Pool, entry.Users + 1);
                return new Lease(entry.Pool, owned: true);
            }
            WorkerPool pool;
            if (_idle?.ThreadCount == threads)
            {
                pool = _idle;
                _idle = null;
            }
            else
            {
                pool = new WorkerPool(threads);
            }
            InUse[threads] = (pool, 1);
            return new Lease(pool, owned: true);
        }
    }

    private static void Release(WorkerPool pool)
    {
        WorkerPool? retired = null;
        lock (Gate)
        {
            var entry = InUse[pool.ThreadCount];
            if (entry.Users > 1)
            {
                InUse[pool.ThreadCount] = (pool, entry.Users - 1);
                return;
            }
            InUse.Remove(pool.ThreadCount);
            retired = _idle;
            _idle = pool;
        }
        retired?.Dispose();
    }

    /// <summary>Pools alive now, the shared one not counted (for tests).</summary>
    internal static int LivePools
    {
        get
        {
            lock (Gate) return InUse.Count + (_idle is null ? 0 : 1);
        }
    }

    public sealed class Lease : IDisposable
    {
        private readonly bool _owned;
        private bool _released;

        internal Lease(WorkerPool pool, bool owned)
        {
            Pool = pool;
            _owned = owned;
        }

        public WorkerPool Pool { get; }

        public void Dispose()
        {
            if (_released || !_owned) return;
            _released = true;
            Release(Pool);
        }
    }
}
