using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// TEQ on a whole decoder block: the log of every folded scale (<see cref="AwqFolding"/>) trained at once on the
/// mean squared difference between the block run with the quantized weights and the float block
/// (<see cref="BlockTrainingSet"/>, <see cref="DecoderBlockGradient"/>), by the signed steps of
/// <see cref="SignedDescentOptions"/>, keeping the scales with the lowest loss on the evaluation windows (the first,
/// all 1, are round-to-nearest's).
/// <para>The scales are those the folding stores: s_qkv (dim) on Q/K/V's columns, s_o (one per V row) on the attention
/// output's columns and dividing the V rows, s_gu (dim) on gate/up's columns, s_d (ffn) on the down projection's columns
/// and dividing the up rows. A matrix is stored as Q(R⁻¹ W S), S its column scales and R its divided rows' (1 for the
/// rest); in the block's own coordinates it acts as Ŵ = R Q(R⁻¹ W S) S⁻¹, which is what the training runs. So the
/// scales are trained through exactly the rounding the folded layer gets, the V and up rows' division included.</para>
/// </summary>
internal static class TeqBlockTraining
{
    /// <summary>Trained scales, one array per fold of <see cref="AwqFolding"/> (attention output: one per channel, equal where one V row feeds them).</summary>
    public sealed record Scales(float[] QueryKeyValue, float[] AttentionOutput, float[] GateUp, float[] Down, double RoundToNearest, double Trained);

    /// <param name="weights">The four matrices (<see cref="LinearInput"/> order), row-major FP32, unscaled.</param>
    public static Scales Train(float[][] weights, LayerFormat format, ModelConfig config, BlockTrainingSet set, WorkerPool pool, SignedDescentOptions options,
        CancellationToken cancellation)
    {
        var point = new Point(weights, format, config, pool);
        var (first, kept) = set.Descend(point, options, cancellation);
        var best = point.Best;
        float[] Exp(float[] p) => p.Select(MathF.Exp).ToArray();
        return new Scales(Exp(best[0]), point.Sources.Select(v => MathF.Exp(best[1][v])).ToArray(), Exp(best[2]), Exp(best[3]), first, kept);
    }

    /// <summary>The log-scales as the descent moves them, and the four matrices they scale.</summary>
    private sealed class Point : IBlockTrainingPoint
    {
        private readonly int _dim, _kvDim, _ffn;
        private readonly WorkerPool _pool;
        // log s of each parameter vector: Q/K/V columns, V rows (attention output), gate/up columns, down columns (= up rows).
        private readonly float[][] _parameters;
        private readonly double[][] _gradients;
        private readonly ScaledRounding[] _matrices;

        public Point(float[][] weights, LayerFormat format, ModelConfig config, WorkerPool pool)
        {
            (_dim, _kvDim, _ffn, _pool) = (config.EmbeddingLength, config.KvDim, config.FeedForwardLength, pool);
            Sources = AwqFolding.AttentionOutputSources(config);
            _parameters = [new float[_dim], new float[_kvDim], new float[_dim], new float[_ffn]];
            _matrices =
            [
                new ScaledRounding(weights[0], _dim + 2 * _kvDim, _dim, format[LinearInput.QueryKeyValue]),
                new ScaledRounding(weights[1], _dim, _dim, format[LinearInput.AttentionOutput]),
                new ScaledRounding(weights[2], 2 * _ffn, _dim, format[LinearInput.GateUp]),
                new ScaledRounding(weights[3], _dim, _ffn, format[LinearInput.Down]),
            ];
            Best = _parameters.Select(p => (float[])p.Clone()).ToArray();
            _gradients = _parameters.Select(p => new double[p.Length]).ToArray();
        }

        /// <summary>The V row that feeds each attention-output column (<see cref="AwqFolding.AttentionOutputSources"/>).</summary>
        public int[] Sources { get; }

        /// <summary>The log-scales kept.</summary>
        public float[][] Best { get; }

        public void SetWeights(DecoderBlockGradient block)
        {
            // The scales each matrix's columns and rows get from the parameters.
            var (pQkv, pOut, pGateUp, pDown) = (_parameters[0], _parameters[1], _parameters[2], _parameters[3]);
            for (int j = 0; j < _dim; j++)
            {
                _matrices[0].ColumnScale[j] = MathF.Exp(pQkv[j]);
                _matrices[1].ColumnScale[j] = MathF.Exp(pOut[Sources[j]]);
                _matrices[2].ColumnScale[j] = MathF.Exp(pGateUp[j]);
            }
            for (int v = 0; v < _kvDim; v++) _matrices[0].RowScale[_dim + _kvDim + v] = MathF.Exp(pOut[v]);
            for (int i = 0; i < _ffn; i++) _matrices[3].ColumnScale[i] = _matrices[2].RowScale[_ffn + i] = MathF.Exp(pDown[i]);
            foreach (var m in _matrices) m.Run(forward: true, _pool);
            block.SetWeights(_matrices[0].Effective, _matrices[1].Effective, _matrices[2].Effective, _matrices[3].Effective);
        }

        public void Keep()
        {
            for (int p = 0; p < _parameters.Length; p++) _parameters[p].CopyTo(Best[p], 0);
        }

        public void Step(IReadOnlyList<float[]> gradients, float rate)
        {
            for (int m = 0; m < _matrices.Length; m++)
            {
                _matrices[m].Gradient = gradients[m];
                _matrices[m].Run(forward: false, _pool);
            }
            foreach (var g in _gradients) Array.Clear(g);
            var (qkvColumns, qkvRowsGradient) = (_matrices[0].Sums(), _matrices[0].RowGradient);
            var outColumns = _matrices[1].Sums();
            var (gateUpColumns, gateUpRows) = (_matrices[2].Sums(), _matrices[2].RowGradient);
            var downColumns = _matrices[3].Sums();
            for (int j = 0; j < _dim; j++)
            {
                _gradients[0][j] = qkvColumns[j];
                _gradients[1][Sources[j]] += outColumns[j];
                _gradients[2][j] = gateUpColumns[j];
            }
            for (int v = 0; v < _kvDim; v++) _gradients[1][v] += qkvRowsGradient[_dim + _kvDim + v];
            for (int i = 0; i < _ffn; i++) _gradients[3][i] = downColumns[i] + gateUpRows[_ffn + i];
            for (int p = 0; p < _parameters.Length; p++)
                for (int j = 0; j < _parameters[p].Length; j++) _parameters[p][j] -= rate * Math.Sign(_gradients[p][j]);
        }
    }

    /// <summary>
    /// One matrix's Ŵ = R Q(R⁻¹ W S) S⁻¹ (forward) and the loss's gradient with respect to log S and log R from its
    /// gradient G with respect to Ŵ (backward): with x = R⁻¹ W S and z = (dL/dx) ∘ x - G ∘ Ŵ, d/d log s_j = Σ_i z_ij and
    /// d/d log r_i = -Σ_j z_ij. A tile of rows per item, the column sums kept per tile and added up by <see cref="Sums"/>.
    /// </summary>
    private sealed class ScaledRounding : IRangeJob
    {
        private const int Tile = 16;
        private readonly float[] _w, _scaled, _partials;
        private readonly byte[] _codes;
        private readonly StraightThroughRounding.Group[] _states;
        private readonly int _rows, _columns, _group, _groups;
        private readonly bool _asymmetric;
        private bool _forward;

        public ScaledRounding(float[] weights, int rows, int columns, Int4Format format)
        {
            (_w, _rows, _columns, _asymmetric) = (weights, rows, columns, format.Asymmetric);
            _group = format.GroupSize == Int4Format.PerChannel ? columns : format.GroupSize;
            _groups = (columns + _group - 1) / _group;
            _scaled = new float[weights.Length];
            _codes = new byte[weights.Length];
            _states = new StraightThroughRounding.Group[rows * _groups];
            _partials = new float[(rows + Tile - 1) / Tile * columns];
            Effective = new float[weights.Length];
            ColumnScale = Enumerable.Repeat(1f, columns).ToArray();
            RowScale = Enumerable.Repeat(1f, rows).ToArray();
            RowGradient = new double[rows];
        }

        public float[] ColumnScale { get; }

        public float[] RowScale { get; }

        public float[] Effective { get; }

        public float[] Gradient { get; set; } = [];

        public double[] RowGradient { get; }

        public void Run(bool forward, WorkerPool pool)
        {
            _forward = forward;
            pool.Run(this, (_rows + Tile - 1) / Tile);
        }

        /// <summary>The column sums of z over all rows.</summary>
        public double[] Sums()
        {
            var sums = new double[_columns];
            for (int t = 0; t < _partials.Length / _columns; t++)
                for (int j = 0; j < _columns; j++) sums[j] += _partials[t * _columns + j];
            return sums;
        }

        public void Execute(int begin, int end)
        {
            var gradFq = new float[_columns];
            var gradX = new float[_columns];
            for (int t = begin; t < end; t++)
            {
                var partial = _partials.AsSpan(t * _columns, _columns);
                if (!_forward) partial.Clear();
                for (int r = t * Tile; r < Math.Min(_rows, (t + 1) * Tile); r++)
                {
                    int at = r * _columns;
                    float rowScale = RowScale[r];
                    if (_forward)
                    {
                        // In the order the folding computes it: columns scaled, then the row divided.
                        for (int j = 0; j < _columns; j++) _scaled[at + j] = _w[at + j] * ColumnScale[j] / rowScale;
                        for (int g = 0; g < _groups; g++)
                        {
                            var (g0, length) = SignRoundQuantizer.Range(g, _group, _columns);
                            _states[r * _groups + g] = StraightThroughRounding.Forward(_scaled.AsSpan(at + g0, length), default, 1f, 1f, _asymmetric,
                                _codes.AsSpan(at + g0, length), Effective.AsSpan(at + g0, length));
                        }
                        for (int j = 0; j < _columns; j++) Effective[at + j] = Effective[at + j] * rowScale / ColumnScale[j];
                        continue;
                    }
                    for (int j = 0; j < _columns; j++) gradFq[j] = Gradient[at + j] * rowScale / ColumnScale[j];
                    for (int g = 0; g < _groups; g++)
                    {
                        var (g0, length) = SignRoundQuantizer.Range(g, _group, _columns);
                        StraightThroughRounding.Backward(_states[r * _groups + g], _scaled.AsSpan(at + g0, length), default, 1f, 1f, _asymmetric,
                            _codes.AsSpan(at + g0, length), gradFq.AsSpan(g0, length), default, gradX.AsSpan(g0, length));
                    }
                    double rowSum = 0;
                    for (int j = 0; j < _columns; j++)
                    {
                        float z = gradX[j] * _scaled[at + j] - Gradient[at + j] * Effective[at + j];
                        partial[j] += z;
                        rowSum += z;
                    }
                    RowGradient[r] = -rowSum;
                }
            }
        }
    }
}
