using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// AWQ's clipping search, then the quantization itself: for each row's group, the range is shrunk by each of
/// <see cref="Shrinks"/> (clipping the outliers), quantized round-to-nearest, and the shrink whose error changes the
/// group's share of the output least on the calibration inputs (e H_gg eᵀ, the group's diagonal block of the Hessian)
/// is kept. Rows below <c>clipFrom</c> are quantized without clipping: the reference leaves the query and key
/// projections unclipped, since the softmax after them magnifies their error in a way the output error does not show.
/// </summary>
internal static class AwqClipQuantizer
{
    /// <summary>1 down to 0.775 in steps of 0.025: the reference's grid of 20 over [0.5, 1], its first half.</summary>
    internal static readonly float[] Shrinks = [1f, 0.975f, 0.95f, 0.925f, 0.9f, 0.875f, 0.85f, 0.825f, 0.8f, 0.775f];

    /// <param name="weights">(rows, columns) row-major, already multiplied by the AWQ scales.</param>
    /// <param name="h">(columns, columns) Hessian of the scaled inputs, in float.</param>
    public static Int4Matrix Quantize(float[] weights, int rows, int columns, float[] h, int clipFrom, Int4Format format, ActivationMode activations,
        WorkerPool pool)
    {
        var target = new Int4Matrix(rows, columns, format with { Recipe = Int4Recipe.Awq }, activations);
        try
        {
            pool.Run(new Job(weights, columns, h, clipFrom, target), rows, Int4Matrix.TileRows);
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    private sealed class Job(float[] weights, int columns, float[] h, int clipFrom, Int4Matrix target) : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            int group = target.GroupSize;
            bool asymmetric = target.Int4Format.Asymmetric;
            var clipped = new float[group];
            var error = new float[group];
            var codes = new byte[group];
            var bestCodes = new byte[group];
            for (int r = begin; r < end; r++)
            {
                for (int g = 0; g < target.Groups; g++)
                {
                    int g0 = g * group, length = Math.Clamp(columns - g0, 0, group);
                    var w = weights.AsSpan(r * columns + Math.Min(g0, columns), length);
                    float min = 0, max = 0;
                    foreach (float v in w) { min = MathF.Min(min, v); max = MathF.Max(max, v); }
                    if (!asymmetric) { max = MathF.Max(-min, max); min = -max; }
                    double best = double.MaxValue;
                    (float Scale, byte Zero) chosen = (0, 8);
                    foreach (float shrink in r < clipFrom ? Shrinks.AsSpan(0, 1) : Shrinks)
                    {
                        for (int k = 0; k < length; k++) clipped[k] = Math.Clamp(w[k], min * shrink, max * shrink);
                        var (scale, zero) = Int4Quantizer.Quantize(clipped.AsSpan(0, length), codes, asymmetric, Int4Recipe.RoundToNearest);
                        for (int k = 0; k < length; k++) error[k] = w[k] - (codes[k] - zero) * scale;
                        double loss = r < clipFrom ? 0 : QuadraticError.Of(error.AsSpan(0, length), h, g0 * columns + g0, columns);
                        if (loss < best)
                        {
                            best = loss;
                            chosen = (scale, zero);
                            codes.AsSpan(0, length).CopyTo(bestCodes);
                        }
                    }
                    bestCodes.AsSpan(length).Fill(chosen.Zero);
                    target.SetGroup(r, g, (Half)chosen.Scale, bestCodes, asymmetric ? chosen.Zero : (byte)8);
                }
            }
        }
    }
}
