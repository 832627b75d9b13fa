using System.Diagnostics;

namespace LlmCpu.Kernels.Threading;

/// <summary>
/// Persistent worker threads that run one <see cref="IRangeJob"/> at a time, split into contiguous ranges.
/// The calling thread takes the first range itself, so a pool of N threads starts N-1 workers.
/// Workers spin briefly after each job (the next matmul usually follows within microseconds) and then sleep,
/// so an idle pool costs nothing. One dispatch per matmul; no allocation per dispatch.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    // About 50-100 microseconds of spinning before a worker sleeps: longer than the gap between two
    // matmuls of a forward pass, far shorter than the gap between two user requests.
    private const int SpinIterations = 4000;

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();
    private readonly object _dispatchLock = new();
    private IRangeJob? _job;
    private int _itemCount;
    private int _grain;
    private long _generation;
    private int _pending;
    private int _sleepers;
    private volatile bool _disposed;
    private ExceptionDispatchInfoHolder? _failure;

    public WorkerPool(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        ThreadCount = threadCount;
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index))
            {
                IsBackground = true,
                Name = $"LlmCpu worker {index}",
                Priority = ThreadPriority.AboveNormal,
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
    /// Runs <paramref name="job"/> over <paramref name="itemCount"/> items, split into one contiguous range per thread,
    /// each range a multiple of <paramref name="grain"/> items (the last takes the remainder). Returns when all ranges are done.
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
        int threads = Math.Min(ThreadCount, (itemCount + grain - 1) / grain);
        if (threads <= 1)
        {
            job.Execute(0, itemCount);
            return;
        }

        _job = job;
        _itemCount = itemCount;
        _grain = grain;
        _failure = null;
        Volatile.Write(ref _pending, _workers.Length);
        Interlocked.Increment(ref _generation);
        if (Volatile.Read(ref _sleepers) > 0)
        {
            lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        }

        try
        {
            RunRange(0);
        }
        finally
        {
            var spinner = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spinner.SpinOnce(-1);
            _job = null;
        }
        _failure?.Rethrow();
    }

    private void RunRange(int index)
    {
        int threads = Math.Min(ThreadCount, (_itemCount + _grain - 1) / _grain);
        if (index >= threads) return;
        int units = (_itemCount + _grain - 1) / _grain;
        int beginUnit = (int)((long)units * index / threads);
        int endUnit = (int)((long)units * (index + 1) / threads);
        int begin = beginUnit * _grain;
        int end = Math.Min(_itemCount, endUnit * _grain);
        if (begin < end) _job!.Execute(begin, end);
    }

    private void WorkerLoop(int index)
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
            try
            {
                RunRange(index);
            }
            catch (Exception ex)
            {
                _failure ??= new ExceptionDispatchInfoHolder(ex);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
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
            Run(job, ThreadCount);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(samples);
        return samples[rounds / 2];
    }

    private sealed class EmptyJob : IRangeJob
    {
        public void Execute(int begin, int end) { }
    }

    private sealed class ExceptionDispatchInfoHolder(Exception exception)
    {
        private readonly System.Runtime.ExceptionServices.ExceptionDispatchInfo _info =
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(exception);

        public void Rethrow() => _info.Throw();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        foreach (var worker in _workers) worker.Join();
    }
}
