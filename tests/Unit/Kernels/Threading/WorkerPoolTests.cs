using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Kernels.Threading;

public sealed class WorkerPoolTests
{
    private sealed class CountingJob(int items) : IRangeJob
    {
        public readonly int[] Hits = new int[items];
        public readonly List<(int Begin, int End)> Ranges = [];

        public void Execute(int begin, int end)
        {
            lock (Ranges) Ranges.Add((begin, end));
            for (int i = begin; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 7, 1)]
    [InlineData(3, 100, 8)]
    [InlineData(4, 3, 1)]
    [InlineData(2, 1000, 64)]
    public void EveryItemRunsExactlyOnceInGrainAlignedRanges(int threads, int items, int grain)
    {
        using var pool = new WorkerPool(threads);
        for (int round = 0; round < 50; round++)
        {
            var job = new CountingJob(items);
            pool.Run(job, items, grain);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
            Assert.All(job.Ranges, r => Assert.Equal(0, r.Begin % grain));
        }
    }

    private sealed class ThrowingJob : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            if (end == 10) throw new InvalidOperationException("boom");
        }
    }

    [Fact]
    public void RangesAreContiguousAndInOrderOfClaim()
    {
        using var pool = new WorkerPool(2);
        var job = new CountingJob(64);
        pool.Run(job, 64, 8);
        var ranges = job.Ranges.OrderBy(r => r.Begin).ToList();
        for (int i = 1; i < ranges.Count; i++) Assert.Equal(ranges[i - 1].End, ranges[i].Begin);
        Assert.Equal(0, ranges[0].Begin);
        Assert.Equal(64, ranges[^1].End);
    }

    [Fact]
    public void ConcurrentCallersTakeTurns()
    {
        using var pool = new WorkerPool(2);
        var jobs = Enumerable.Range(0, 4).Select(_ => new CountingJob(500)).ToArray();
        Parallel.ForEach(jobs, job => { for (int i = 0; i < 50; i++) pool.Run(job, 500, 4); });
        Assert.All(jobs, job => Assert.All(job.Hits, h => Assert.Equal(50, h)));
    }

    [Fact]
    public void AWorkerExceptionReachesTheCaller()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<InvalidOperationException>(() => pool.Run(new ThrowingJob(), 10));
        // The pool still works afterwards.
        var job = new CountingJob(10);
        pool.Run(job, 10);
        Assert.All(job.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void WorkersWakeAfterSleeping()
    {
        using var pool = new WorkerPool(2);
        Thread.Sleep(200); // long past the spin phase: the worker is asleep
        var job = new CountingJob(100);
        pool.Run(job, 100);
        Assert.All(job.Hits, h => Assert.Equal(1, h));
    }

    /// <summary>
    /// Jobs back to back whose chunk count grows from one job to the next, on more threads than cores, so workers are
    /// often preempted inside a job that has already ended. A worker holding the last job's spent ticket once claimed a
    /// chunk of the next job with it and counted that job down twice: the caller then returned before a chunk was done
    /// or waited forever (seen as a hang in the damaged-file tests). Every item must run exactly once, and the whole run
    /// must end.
    /// </summary>
    [Fact]
    public void BackToBackJobsOfGrowingSizeNeverLoseOrRepeatAChunk()
    {
        string? failure = null;
        var runner = new Thread(() =>
        {
            using var pool = new WorkerPool(Math.Max(4, 2 * Environment.ProcessorCount));
            var small = new int[2];
            var large = new int[64];
            var smallJob = new HitJob(small);
            var largeJob = new HitJob(large);
            for (int round = 0; round < 100_000 && failure == null; round++)
            {
                Array.Clear(small);
                Array.Clear(large);
                pool.Run(smallJob, small.Length);
                pool.Run(largeJob, large.Length);
                if (small.Any(h => h != 1) || large.Any(h => h != 1))
                    failure = $"round {round}: items ran {string.Join(",", small)} | {string.Join(",", large)} times";
            }
        }) { IsBackground = true };
        runner.Start();
        Assert.True(runner.Join(TimeSpan.FromSeconds(120)), "the pool stopped returning from Run: a job was counted down too often");
        Assert.Null(failure);
    }

    private sealed class HitJob(int[] hits) : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            for (int i = begin; i < end; i++) Interlocked.Increment(ref hits[i]);
        }
    }
}
