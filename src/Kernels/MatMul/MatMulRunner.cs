using LlmCpu.Kernels.Threading;

namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// Runs a <see cref="WeightMatrix"/> multiplication across a <see cref="WorkerPool"/>, split by output rows.
/// One runner per inference session: it holds the arguments of the multiplication in flight, so a dispatch
/// allocates nothing and sessions never share mutable state.
/// </summary>
public sealed unsafe class MatMulRunner : IRangeJob, IDisposable
{
    /// <summary>
    /// Tokens from which the activations are prepared (quantized to INT8) on every worker, by token: below it one
    /// thread does it faster than a second hand-off costs.
    /// </summary>
    private const int ParallelPrepareTokens = 8;

    private readonly ActivationScratch _scratch = new();
    private readonly PrepareJob _prepare;
    private WeightMatrix? _matrix;
    private float* _input;
    private float* _output;
    private int _tokens;

    public MatMulRunner(WorkerPool pool)
    {
        Pool = pool;
        _prepare = new PrepareJob(this);
    }

    public WorkerPool Pool { get; }

    /// <summary>output (tokens, matrix.Rows) = input (tokens, matrix.Columns) x matrix^T.</summary>
    public void Multiply(WeightMatrix matrix, float* input, float* output, int tokens)
    {
        _matrix = matrix;
        _input = input;
        _output = output;
        _tokens = tokens;
        try
        {
            if (tokens >= ParallelPrepareTokens && Pool.ThreadCount > 1)
            {
                matrix.PrepareLayout(tokens, _scratch);
                Pool.Run(_prepare, tokens);
            }
            else
            {
                matrix.Prepare(input, tokens, _scratch);
            }
            Pool.Run(this, matrix.Rows, matrix.RowGrain);
        }
        finally
        {
            _matrix = null;
        }
    }

    void IRangeJob.Execute(int begin, int end) => _matrix!.MultiplyRows(_input, _output, _matrix.Rows, _tokens, begin, end, _scratch);

    /// <summary>The activation preparation of the multiplication in flight, split by tokens.</summary>
    private sealed class PrepareJob(MatMulRunner runner) : IRangeJob
    {
        public void Execute(int begin, int end) => runner._matrix!.PrepareTokens(runner._input, begin, end, runner._scratch);
    }

    public void Dispose() => _scratch.Dispose();
}
