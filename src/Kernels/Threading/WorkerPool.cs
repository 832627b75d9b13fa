using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace LlmCpu.Kernels.Threading;

/// <summary>
/// Persistent worker threads that run one <see cref="IRangeJob"/> at a time. A job's items are cut into a few
/// contiguous chunks per thread (each a multiple of the grain); the calling thread and the workers claim chunks
/// in order from one atomic ticket until none remain. The caller works too, so a pool of N threads starts N-1
/// workers, and a worker that the OS has not scheduled yet costs nothing: the others take its chunks, where a fixed
/// split would make everyone wait for it (on a busy machine that wait is a scheduler quantum per matmul).
/// Workers spin briefly after each job (the next matmul usually follows within microseconds) and then sleep, so an
/// idle pool costs nothing. One dispatch per matmul; no allocation per dispatch.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    // About 50-100 microseconds of spinning before a worker sleeps: longer than the gap between two
    // matmuls of a forward pass, far shorter than the gap between two user requests.
    private const int SpinIterations = 4000;

    // Chunks per thread: enough to rebalance around a late or slow thread, few enough to keep ranges long.
    private const int ChunksPerThread = 4;

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();
    private readonly object _dispatchLock = new();

    // The job in flight; written before the ticket that publishes it.
    private IRangeJob? _job;
    private int _itemCount;
    private int _grain;
    private int _chunks;
    private int _units;

    // High 32 bits: the job's generation; low 32 bits: the next chunk to claim.
    private long _ticket;
    private long _generation;
    private int _remaining;
    private int _sleepers;
    private volatile bool _disposed;
    private ExceptionDispatchInfo? _failure;

    public WorkerPool(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        ThreadCount = threadCount;
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop)
            {
                IsBackground = true,
                Name = $"LlmCpu worker {i + 1}",
            };
            _workers[i].Start();
        }
    }

    /// <summary>The number of threads that run a job, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>One pool per process for callers that do not manage their own: one thread per core.</summary>
    public static WorkerPool Shared => SharedHolder.Value;

    private static class SharedHolder
    {
        internal static readonly WorkerPool Value = new(Environment.ProcessorCount);
    }

    /// <summary>
    /// Runs <paramref name="job"/> over <paramref name="itemCount"/> items in contiguous ranges, each a multiple of
    /// <paramref name="grain"/> items (the last takes the remainder). Returns when every range is done.
    /// </summary>
    public void Run(IRangeJob job, int itemCount, int grain = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (itemCount <= 0) return;
        // Sessions that share a pool take turns: a pool runs one job at a time.
        lock (_dispatchLock) RunLocked(job, itemCount, grain);
    }

    private void RunLocked(IRangeJob job, int itemCount, int grain)
    {
        grain = Math.Max(1, grain);
        int units = (itemCount + grain - 1) / grain;
        int chunks = Math.Min(units, ThreadCount == 1 ? 1 : ThreadCount * ChunksPerThread);
        if (chunks <= 1 || ThreadCount == 1)
        {
            job.Execute(0, itemCount);
            return;
        }

        long generation = _generation + 1;
        // Close the last job's ticket before its fields change: a worker still in RunChunks for that job may have read
        // the ticket of its last, already claimed chunk; were the new chunk count written first, that stale ticket
        // would pass the range check, its claim would succeed, and it would run a chunk of this job and count it down
        // once too often (the wait below would then end early or never).
        Interlocked.Exchange(ref _ticket, generation << 32 | int.MaxValue);
        _job = job;
        _itemCount = itemCount;
        _grain = grain;
        _units = units;
        _chunks = chunks;
        _failure = null;
        Volatile.Write(ref _remaining, chunks);
        Interlocked.Exchange(ref _ticket, generation << 32);
        Interlocked.Exchange(ref _generation, generation);
        if (Volatile.Read(ref _sleepers) > 0)
        {
            lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        }

        RunChunks(generation);
        var spinner = new SpinWait();
        while (Volatile.Read(ref _remaining) != 0) spinner.SpinOnce(-1);
        _job = null;
        _failure?.Throw();
    }

    /// <summary>Claims and runs chunks of job <paramref name="generation"/> until none is left.</summary>
    private void RunChunks(long generation)
    {
        while (true)
        {
            long ticket = Volatile.Read(ref _ticket);
            if (ticket >> 32 != generation) return;
            int index = (int)ticket;
            if (index >= _chunks) return;
            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket) continue;
            try
            {
                int beginUnit = (int)((long)_units * index / _chunks);
                int endUnit = (int)((long)_units * (index + 1) / _chunks);
                int begin = beginUnit * _grain;
                int end = Math.Min(_itemCount, endUnit * _grain);
                if (begin < end) _job!.Execute(begin, end);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(ex), null);
            }
            finally
            {
                Interlocked.Decrement(ref _remaining);
            }
        }
    }

    private void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen && !_disposed)
            {
                if (spins++ < SpinIterations)
                {
                    Thread.SpinWait(8);
                    continue;
                }
                lock (_sleepLock)
                {
                    Interlocked.Increment(ref _sleepers);
                    while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_sleepLock);
                    Interlocked.Decrement(ref _sleepers);
                }
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            RunChunks(seen);
        }
    }

    /// <summary>Measures the cost of one dispatch of an empty job, in seconds (median of <paramref name="rounds"/>).</summary>
    public double MeasureHandOffSeconds(int rounds = 2000)
    {
        var job = new EmptyJob();
        var samples = new double[rounds];
        for (int i = 0; i < rounds; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Run(job, ThreadCount * ChunksPerThread);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(samples);
        return samples[rounds / 2];
    }

    private sealed class EmptyJob : IRangeJob
    {
        public void Execute(int begin, int end) { }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        foreach (var worker in _workers) worker.Join();
    }
}
