using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// SignRound (Cheng et al., 2023, "Optimize weight rounding via signed gradient descent"): each weight gets a rounding
/// offset v in [-0.5, 0.5] added before rounding, and each group clipping factors in [<see cref="ClipFloor"/>, 1]
/// for its range (symmetric: α on the largest magnitude; asymmetric: α on the minimum, β on the maximum), trained by
/// signed gradient descent through the rounding (<see cref="StraightThroughRounding"/>, <see cref="SignedDescentOptions"/>).
/// <para>The loss is the matrix's own output error on the calibration inputs, Σ_rows e H eᵀ with H = 2XᵀX/N
/// (<see cref="QuadraticError.WithGradient"/>), where the reference reconstructs a whole decoder layer's output from
/// sampled calibration rows. The per-matrix loss is what GPTQ and AWQ minimize here too, is exact over every
/// calibration token rather than a sample, and needs only the accumulated H, never the activations; it does not see
/// how errors in one matrix pass through attention or the gated activation into the next. With this loss the rows of
/// a matrix are independent (e of one row never meets another's), so each row is trained on its own, by the worker
/// threads a tile of rows at a time, and keeps its own best point.</para>
/// </summary>
internal static class SignRoundQuantizer
{
    /// <summary>The smallest clipping factor: at most half the range is clipped (the reference's bound).</summary>
    public const float ClipFloor = 0.5f;

    /// <param name="weights">(rows, columns) row-major.</param>
    /// <param name="h">(columns, columns) the inputs' Hessian in float.</param>
    public static Int4Matrix Quantize(float[] weights, int rows, int columns, float[] h, Int4Format format, ActivationMode activations, WorkerPool pool,
        SignedDescentOptions options, CancellationToken cancellation)
    {
        var target = new Int4Matrix(rows, columns, format with { Recipe = Int4Recipe.SignRound }, activations);
        try
        {
            pool.Run(new Job(weights, columns, h, target, options, cancellation), rows, Int4Matrix.TileRows);
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    private sealed class Job(float[] weights, int columns, float[] h, Int4Matrix target, SignedDescentOptions options, CancellationToken cancellation) : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            int group = target.GroupSize, groups = target.Groups;
            bool asymmetric = target.Int4Format.Asymmetric;
            var offsets = new float[columns];
            var alpha = new float[groups];
            var beta = new float[groups];
            var state = new StraightThroughRounding.Group[groups];
            var codes = new byte[columns];
            var fq = new float[columns];
            var error = new float[columns];
            var gradient = new float[columns];
            var gradOffsets = new float[columns];
            var gradAlpha = new double[groups];
            var gradBeta = new double[groups];
            var bestCodes = new byte[columns];
            var bestScale = new float[groups];
            var bestZero = new byte[groups];
            var padded = new byte[group];
            for (int r = begin; r < end; r++)
            {
                var w = weights.AsSpan(r * columns, columns);
                Array.Clear(offsets);
                Array.Fill(alpha, 1f);
                Array.Fill(beta, 1f);
                double best = double.MaxValue;
                for (int step = 0; ; step++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    for (int g = 0; g < groups; g++)
                    {
                        var (g0, length) = Range(g, group, columns);
                        state[g] = StraightThroughRounding.Forward(w.Slice(g0, length), offsets.AsSpan(g0, length), alpha[g], beta[g], asymmetric,
                            codes.AsSpan(g0, length), fq.AsSpan(g0, length));
                    }
                    double loss = QuadraticError.WithGradient(w, fq, h, error, gradient);
                    if (loss < best)
                    {
                        best = loss;
                        codes.CopyTo(bestCodes, 0);
                        for (int g = 0; g < groups; g++) (bestScale[g], bestZero[g]) = (state[g].Scale, state[g].Zero);
                    }
                    if (step == options.Steps) break;
                    for (int g = 0; g < groups; g++)
                    {
                        var (g0, length) = Range(g, group, columns);
                        (gradAlpha[g], gradBeta[g]) = StraightThroughRounding.Backward(state[g], w.Slice(g0, length), offsets.AsSpan(g0, length), alpha[g], beta[g],
                            asymmetric, codes.AsSpan(g0, length), gradient.AsSpan(g0, length), gradOffsets.AsSpan(g0, length), default);
                    }
                    float rate = options.RateAt(step);
                    for (int j = 0; j < columns; j++) offsets[j] = Math.Clamp(offsets[j] - rate * MathF.Sign(gradOffsets[j]), -0.5f, 0.5f);
                    for (int g = 0; g < groups; g++)
                    {
                        alpha[g] = Math.Clamp(alpha[g] - rate * Math.Sign(gradAlpha[g]), ClipFloor, 1f);
                        if (asymmetric) beta[g] = Math.Clamp(beta[g] - rate * Math.Sign(gradBeta[g]), ClipFloor, 1f);
                    }
                }
                for (int g = 0; g < groups; g++)
                {
                    var (g0, length) = Range(g, group, columns);
                    bestCodes.AsSpan(g0, length).CopyTo(padded);
                    padded.AsSpan(length).Fill(bestZero[g]);
                    target.SetGroup(r, g, (Half)bestScale[g], padded, asymmetric ? bestZero[g] : (byte)8);
                }
            }
        }
    }

    /// <summary>Where group <paramref name="g"/> starts and how many of the row's columns it holds (a per-channel group may be padded past them).</summary>
    internal static (int Start, int Length) Range(int g, int group, int columns)
    {
        int g0 = Math.Min(g * group, columns);
        return (g0, Math.Clamp(columns - g0, 0, group));
    }
}
