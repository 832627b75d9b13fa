using LlmCpu.Kernels.Threading;

namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// Runs a <see cref="WeightMatrix"/> multiplication across a <see cref="WorkerPool"/>, split by output rows.
/// One runner per inference session: it holds the arguments of the multiplication in flight, so a dispatch
/// allocates nothing and sessions never share mutable state.
/// </summary>
public sealed unsafe class MatMulRunner(WorkerPool pool) : IRangeJob, IDisposable
{
    private readonly ActivationScratch _scratch = new();
    private WeightMatrix? _matrix;
    private float* _input;
    private float* _output;
    private int _tokens;

    public WorkerPool Pool { get; } = pool;

    /// <summary>output (tokens, matrix.Rows) = input (tokens, matrix.Columns) x matrix^T.</summary>
    public void Multiply(WeightMatrix matrix, float* input, float* output, int tokens)
    {
        _matrix = matrix;
        _input = input;
        _output = output;
        _tokens = tokens;
        try
        {
            matrix.Prepare(input, tokens, _scratch);
            Pool.Run(this, matrix.Rows, matrix.RowGrain);
        }
        finally
        {
            _matrix = null;
        }
    }

    void IRangeJob.Execute(int begin, int end) => _matrix!.MultiplyRows(_input, _output, _tokens, begin, end, _scratch);

    public void Dispose() => _scratch.Dispose();
}
