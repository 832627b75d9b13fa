using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// SignRound (Cheng et al., 2023, "Optimize weight rounding via signed gradient descent"): each weight gets a rounding
/// offset v in [-0.5, 0.5] added before rounding, and each group clipping factors in [<see cref="ClipFloor"/>, 1]
/// for its range (symmetric: α on the largest magnitude; asymmetric: α on the minimum, β on the maximum), trained by
/// signed gradient descent through the rounding (<see cref="StraightThroughRounding"/>, <see cref="SignedDescentOptions"/>).
/// <para>This is the per-matrix form, for the families whose block <see cref="DecoderBlockGradient"/> does not run
/// (<see cref="SignRoundLayerRecipe"/> trains Llama-layout layers on the whole block's output error instead,
/// <see cref="SignRoundBlockTraining"/>): the loss is the matrix's own output error on the calibration inputs,
/// Σ_rows e H eᵀ with H = 2XᵀX/N (<see cref="QuadraticError.WithGradient"/>), the per-matrix loss GPTQ and AWQ
/// minimize too. It needs only the accumulated H, never the activations; it does not see how errors in one matrix pass
/// through attention or the gated activation into the next. With this loss the rows of a matrix are independent (e of
/// one row never meets another's), so each row is trained on its own, by the worker threads a tile of rows at a time
/// (the tile's rows stepping together), and keeps its own best point.</para>
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
            const int tile = Int4Matrix.TileRows;
            int group = target.GroupSize, groups = target.Groups;
            bool asymmetric = target.Int4Format.Asymmetric;
            var offsets = new float[tile * columns];
            var alpha = new float[tile * groups];
            var beta = new float[tile * groups];
            var state = new StraightThroughRounding.Group[tile * groups];
            var codes = new byte[tile * columns];
            var fq = new float[tile * columns];
            var error = new float[tile * columns];
            var gradient = new float[tile * columns];
            var gradOffsets = new float[tile * columns];
            var gradAlpha = new double[tile * groups];
            var gradBeta = new double[tile * groups];
            var losses = new double[tile];
            var best = new double[tile];
            var bestCodes = new byte[tile * columns];
            var bestScale = new float[tile * groups];
            var bestZero = new byte[tile * groups];
            var padded = new byte[group];
            // The rows of a tile step together, so that each step's pass over H serves all of them (QuadraticError.WithGradient).
            for (int r0 = begin; r0 < end; r0 += tile)
            {
                int count = Math.Min(tile, end - r0);
                var w = weights.AsSpan(r0 * columns, count * columns);
                Array.Clear(offsets);
                Array.Fill(alpha, 1f);
                Array.Fill(beta, 1f);
                Array.Fill(best, double.MaxValue);
                for (int step = 0; ; step++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    for (int i = 0; i < count * groups; i++)
                    {
                        var (g0, length) = Range(i % groups, group, columns);
                        int at = i / groups * columns + g0;
                        state[i] = StraightThroughRounding.Forward(w.Slice(at, length), offsets.AsSpan(at, length), alpha[i], beta[i], asymmetric,
                            codes.AsSpan(at, length), fq.AsSpan(at, length));
                    }
                    Array.Clear(losses);
                    QuadraticError.WithGradient(w, fq, count, h, error, gradient, losses);
                    for (int r = 0; r < count; r++)
                    {
                        if (losses[r] >= best[r]) continue;
                        best[r] = losses[r];
                        codes.AsSpan(r * columns, columns).CopyTo(bestCodes.AsSpan(r * columns));
                        for (int g = r * groups; g < (r + 1) * groups; g++) (bestScale[g], bestZero[g]) = (state[g].Scale, state[g].Zero);
                    }
                    if (step == options.Steps) break;
                    for (int i = 0; i < count * groups; i++)
                    {
                        var (g0, length) = Range(i % groups, group, columns);
                        int at = i / groups * columns + g0;
                        (gradAlpha[i], gradBeta[i]) = StraightThroughRounding.Backward(state[i], w.Slice(at, length), offsets.AsSpan(at, length), alpha[i], beta[i],
                            asymmetric, codes.AsSpan(at, length), gradient.AsSpan(at, length), gradOffsets.AsSpan(at, length), default);
                    }
                    float rate = options.RateAt(step);
                    for (int j = 0; j < count * columns; j++) offsets[j] = Math.Clamp(offsets[j] - rate * MathF.Sign(gradOffsets[j]), -0.5f, 0.5f);
                    for (int i = 0; i < count * groups; i++)
                    {
                        alpha[i] = Math.Clamp(alpha[i] - rate * Math.Sign(gradAlpha[i]), ClipFloor, 1f);
                        if (asymmetric) beta[i] = Math.Clamp(beta[i] - rate * Math.Sign(gradBeta[i]), ClipFloor, 1f);
                    }
                }
                for (int r = 0; r < count; r++)
                    for (int g = 0; g < groups; g++)
                    {
                        var (g0, length) = Range(g, group, columns);
                        int i = r * groups + g;
                        bestCodes.AsSpan(r * columns + g0, length).CopyTo(padded);
                        padded.AsSpan(length).Fill(bestZero[i]);
                        target.SetGroup(r0 + r, g, (Half)bestScale[i], padded, asymmetric ? bestZero[i] : (byte)8);
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
