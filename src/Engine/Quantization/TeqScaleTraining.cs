using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// TEQ (Cheng et al., 2023, "TEQ: Trainable Equivalent Transformation for Quantization of LLMs"): per-input-channel
/// scales s, the matrix quantized as W·diag(s) and the inverse folded into what produces its inputs, as AWQ's scales
/// are (<see cref="AwqFolding"/>), but trained rather than searched. The effective weight is Q(W·diag(s))·diag(1/s),
/// its loss the matrix's output error on the calibration inputs, Σ_rows e H eᵀ (<see cref="QuadraticError.WithGradient"/>:
/// the same per-matrix loss as SignRound's, for the same reasons), differentiated through the rounding with the
/// straight-through estimator (<see cref="StraightThroughRounding"/>) and descended by signed gradient steps on log s
/// (<see cref="SignedDescentOptions"/>; log s keeps s positive and makes a step a relative change). The scales with the
/// lowest loss seen are kept; the first are all 1, plain round-to-nearest.
/// <para>This is the per-matrix form, used where the layer's inputs are not at hand or the block is not one
/// <see cref="DecoderBlockGradient"/> runs; <see cref="TeqLayerRecipe"/> otherwise trains all four matrices' scales
/// on the whole block's output error (<see cref="TeqBlockTraining"/>).</para>
/// <para>Every row shares s, so each step is one pass of the worker threads over tiles of rows, each tile summing its
/// rows' gradient, and the sums are added up before the step.</para>
/// </summary>
internal static class TeqScaleTraining
{
    /// <param name="weights">(rows, columns) row-major.</param>
    /// <param name="h">(columns, columns) the inputs' Hessian in float.</param>
    /// <param name="ties">Channels that must share a scale: tie id per channel (their gradients are summed), or null.</param>
    /// <returns>The scales (columns) and the loss they give.</returns>
    public static (float[] Scales, double Loss) Train(float[] weights, int rows, int columns, float[] h, int[]? ties, Int4Format format, WorkerPool pool,
        SignedDescentOptions options, CancellationToken cancellation)
    {
        var job = new StepJob(weights, rows, columns, h, format);
        var logScale = new float[columns];
        var scales = Enumerable.Repeat(1f, columns).ToArray();
        var best = (Scales: (float[])scales.Clone(), Loss: double.MaxValue);
        var gradient = new double[columns];
        int tieCount = ties is null ? 0 : ties.Max() + 1;
        var tied = new double[tieCount];
        for (int step = 0; ; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            job.Scales = scales;
            pool.Run(job, job.Tiles);
            double loss = job.Losses.Sum();
            if (loss < best.Loss) best = ((float[])scales.Clone(), loss);
            if (step == options.Steps) break;
            Array.Clear(gradient);
            for (int t = 0; t < job.Tiles; t++)
                for (int j = 0; j < columns; j++) gradient[j] += job.Gradients[t * columns + j];
            if (ties is not null)
            {
                Array.Clear(tied);
                for (int j = 0; j < columns; j++) tied[ties[j]] += gradient[j];
                for (int j = 0; j < columns; j++) gradient[j] = tied[ties[j]];
            }
            float rate = options.RateAt(step);
            for (int j = 0; j < columns; j++)
            {
                logScale[j] -= rate * Math.Sign(gradient[j]);
                scales[j] = MathF.Exp(logScale[j]);
            }
        }
        return best;
    }

    /// <summary>One step's loss and gradient with respect to log s, a tile of rows per item.</summary>
    private sealed class StepJob(float[] weights, int rows, int columns, float[] h, Int4Format format) : IRangeJob
    {
        public readonly int Tiles = (rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows;
        public float[] Scales = [];
        public readonly double[] Losses = new double[(rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows];
        public readonly float[] Gradients = new float[(rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows * columns];

        public void Execute(int begin, int end)
        {
            const int tile = Int4Matrix.TileRows;
            int group = format.GroupSize == Int4Format.PerChannel ? columns : format.GroupSize;
            int groups = (columns + group - 1) / group;
            var scaled = new float[tile * columns];
            var codes = new byte[tile * columns];
            var fq = new float[tile * columns];
            var approximation = new float[tile * columns];
            var error = new float[tile * columns];
            var gradient = new float[tile * columns];
            var gradFq = new float[columns];
            var gradX = new float[columns];
            var states = new StraightThroughRounding.Group[tile * groups];
            var losses = new double[tile];
            for (int t = begin; t < end; t++)
            {
                int r0 = t * tile, count = Math.Min(tile, rows - r0);
                var w = weights.AsSpan(r0 * columns, count * columns);
                for (int i = 0; i < count * columns; i++) scaled[i] = w[i] * Scales[i % columns];
                for (int i = 0; i < count * groups; i++)
                {
                    int at = i / groups * columns + i % groups * group, length = Math.Min(group, columns - i % groups * group);
                    states[i] = StraightThroughRounding.Forward(scaled.AsSpan(at, length), default, 1f, 1f, format.Asymmetric, codes.AsSpan(at, length), fq.AsSpan(at, length));
                }
                for (int i = 0; i < count * columns; i++) approximation[i] = fq[i] / Scales[i % columns];
                Array.Clear(losses);
                QuadraticError.WithGradient(w, approximation, count, h, error, gradient, losses);
                Losses[t] = 0;
                for (int r = 0; r < count; r++) Losses[t] += losses[r];
                var sum = Gradients.AsSpan(t * columns, columns);
                sum.Clear();
                for (int r = 0; r < count; r++)
                {
                    // ŵ = fq(x) / s with x = w s: d/ds_j reaches fq through x_j, and ŵ_j through 1 / s_j.
                    var g = gradient.AsSpan(r * columns, columns);
                    for (int j = 0; j < columns; j++) gradFq[j] = g[j] / Scales[j];
                    for (int k = 0; k < groups; k++)
                    {
                        int g0 = k * group, length = Math.Min(group, columns - g0), at = r * columns + g0;
                        StraightThroughRounding.Backward(states[r * groups + k], scaled.AsSpan(at, length), default, 1f, 1f, format.Asymmetric, codes.AsSpan(at, length),
                            gradFq.AsSpan(g0, length), default, gradX.AsSpan(g0, length));
                    }
                    // d loss / d log s_j = s_j · d loss / d s_j = gradX_j · x_j - gradient_j · ŵ_j.
                    for (int j = 0; j < columns; j++) sum[j] += gradX[j] * scaled[r * columns + j] - g[j] * approximation[r * columns + j];
                }
            }
        }
    }
}
