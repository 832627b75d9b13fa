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
}
