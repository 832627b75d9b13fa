using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// The element-wise stages' dispatch: every token row runs once, on the calling thread when the stage is small (a
/// decode step of a few sequences), shared among the workers when it is large (a prefill chunk).
/// </summary>
public sealed class TokenRowsJobTests
{
    private static (int[] Visits, HashSet<int> Threads) Run(int tokens, int valuesPerToken)
    {
        var visits = new int[tokens];
        var threads = new HashSet<int>();
        var job = new TokenRowsJob((stage, begin, end) =>
        {
            Assert.Equal(TokenRowsJob.Stage.Activation, stage);
            lock (threads) threads.Add(Environment.CurrentManagedThreadId);
            // Long enough per row (about a millisecond) that a worker claims a share of a large stage even on a busy machine.
            for (int t = begin; t < end; t++)
            {
                Interlocked.Increment(ref visits[t]);
                Thread.SpinWait(200_000);
            }
        });
        using var pool = new WorkerPool(2);
        job.Run(pool, TokenRowsJob.Stage.Activation, tokens, valuesPerToken);
        return (visits, threads);
    }

    [Fact]
    public void ASmallStageRunsOnTheCallingThread()
    {
        // Eight sequences of TinyLlama's activation (2 x 5632 values a token).
        var (visits, threads) = Run(8, 2 * 5632);
        Assert.All(visits, v => Assert.Equal(1, v));
        Assert.Equal([Environment.CurrentManagedThreadId], threads);
    }

    [Fact]
    public void ALargeStageIsSharedAndEveryRowRunsOnce()
    {
        // A prefill chunk of 64 tokens of the same stage.
        var (visits, threads) = Run(64, 2 * 5632);
        Assert.All(visits, v => Assert.Equal(1, v));
        Assert.Equal(2, threads.Count);
    }
}
