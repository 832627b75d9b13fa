using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// The element-wise stages of a forward pass (norms, biases, rotary embedding and the cache write, the activation),
/// token rows split across the workers for a prefill chunk; a few tokens (one token's decode, a batch's decode step of a
/// few sequences) run on the calling thread, where a hand-off would cost more than the work: a stage of a few tokens is
/// tens of microseconds, and while a hand-off to spinning workers costs well under one, a worker that the system has
/// preempted mid-chunk (a machine busy with other work) holds the step for the rest of its time slice.
/// One instance per session, reused: a dispatch allocates nothing.
/// </summary>
internal sealed class TokenRowsJob(Action<TokenRowsJob.Stage, int, int> run) : IRangeJob
{
    public enum Stage
    {
        AttentionNorm,
        RotaryAndCache,
        FeedForwardNorm,
        Activation,
    }

    /// <summary>
    /// Values (tokens times values per token) from which the rows are shared among the workers: about 100 microseconds
    /// of element-wise work on one core. TinyLlama's norms (2048 values a token) share from 64 tokens, its activation
    /// (2 x 5632) from 12, so a batched decode step of 8 sequences runs them on the calling thread; a prefill chunk of
    /// 64 tokens shares them all.
    /// </summary>
    private const int ParallelValues = 128 * 1024;

    private Stage _stage;

    /// <param name="valuesPerToken">Values the stage reads per token, for the choice to share the rows.</param>
    public void Run(WorkerPool pool, Stage stage, int tokens, int valuesPerToken)
    {
        if (tokens < 2 || (long)tokens * valuesPerToken < ParallelValues || pool.ThreadCount == 1)
        {
            run(stage, 0, tokens);
            return;
        }
        _stage = stage;
        pool.Run(this, tokens);
    }

    public void Execute(int begin, int end) => run(_stage, begin, end);
}
