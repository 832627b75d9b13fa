using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// The element-wise stages of a forward pass (norms, biases, rotary embedding and the cache write, the activation),
/// token rows split across the workers for a prefill chunk; a single token runs on the calling thread, where a
/// hand-off would cost more than the work. One instance per session, reused: a dispatch allocates nothing.
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

    /// <summary>Tokens from which the rows are shared among the workers.</summary>
    private const int ParallelTokens = 4;

    private Stage _stage;

    public void Run(WorkerPool pool, Stage stage, int tokens)
    {
        if (tokens < ParallelTokens || pool.ThreadCount == 1)
        {
            run(stage, 0, tokens);
            return;
        }
        _stage = stage;
        pool.Run(this, tokens);
    }

    public void Execute(int begin, int end) => run(_stage, begin, end);
}
