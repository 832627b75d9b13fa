using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// AWQ's search for per-input-channel scales (Lin et al., 2023): s = mean|x|^α over a grid of α in [0, 1), normalized
/// so that max(s) min(s) = 1, keeping the α whose round-to-nearest quantization of W·diag(s), scaled back, changes the
/// matrix's output least on the calibration inputs. α = 0 is plain round-to-nearest, so the choice never does worse
/// than it on that measure. The output change is e H eᵀ summed over rows, from the inputs' Hessian.
/// </summary>
internal static class AwqScaleSearch
{
    /// <summary>Grid points; α = k / GridPoints for k = 0 .. GridPoints - 1 (the reference's n_grid).</summary>
    public const int GridPoints = 20;

    /// <param name="weights">(rows, columns) row-major.</param>
    /// <param name="h">(columns, columns) the inputs' Hessian in float.</param>
    /// <param name="meanAbsolute">(columns) mean |x| of each input channel.</param>
    /// <param name="ties">Channels that must share a scale: tie id per channel (their mean |x| is averaged), or null.</param>
    /// <returns>The scales (columns) and the chosen α.</returns>
    public static (float[] Scales, double Alpha) Search(float[] weights, int rows, int columns, float[] h, float[] meanAbsolute, int[]? ties,
        Int4Format format, WorkerPool pool)
    {
        var mean = ties is null ? meanAbsolute : Tied(meanAbsolute, ties);
        var job = new LossJob(weights, rows, columns, h, format);
        double best = double.MaxValue, bestAlpha = 0;
        float[] bestScales = Scales(mean, 0);
        for (int k = 0; k < GridPoints; k++)
        {
            double alpha = (double)k / GridPoints;
            job.Scales = Scales(mean, alpha);
            pool.Run(job, rows, Int4Matrix.TileRows);
            double loss = job.Losses.Sum();
            if (loss < best)
            {
                best = loss;
                bestAlpha = alpha;
                bestScales = job.Scales;
            }
        }
        return (bestScales, bestAlpha);
    }

    private static float[] Tied(float[] mean, int[] ties)
    {
        int count = ties.Max() + 1;
        var sum = new double[count];
        var members = new int[count];
        for (int j = 0; j < mean.Length; j++)
        {
            sum[ties[j]] += mean[j];
            members[ties[j]]++;
        }
        var result = new float[mean.Length];
        for (int j = 0; j < mean.Length; j++) result[j] = (float)(sum[ties[j]] / members[ties[j]]);
        return result;
    }

    /// <summary>mean^α, at least 1e-4, divided by sqrt(max * min) (the reference's normalization).</summary>
    internal static float[] Scales(float[] mean, double alpha)
    {
        var s = new float[mean.Length];
        for (int j = 0; j < s.Length; j++) s[j] = Math.Max(1e-4f, (float)Math.Pow(Math.Max(mean[j], 0), alpha));
        double norm = Math.Sqrt((double)s.Max() * s.Min());
        for (int j = 0; j < s.Length; j++) s[j] = (float)(s[j] / norm);
        return s;
    }

    private sealed class LossJob(float[] weights, int rows, int columns, float[] h, Int4Format format) : IRangeJob
    {
        public float[] Scales = [];
        public readonly double[] Losses = new double[rows];

        public void Execute(int begin, int end)
        {
            int group = format.GroupSize == Int4Format.PerChannel ? columns : format.GroupSize;
            var scaled = new float[columns];
            var error = new float[columns];
            var codes = new byte[group];
            for (int r = begin; r < end; r++)
            {
                var w = weights.AsSpan(r * columns, columns);
                for (int j = 0; j < columns; j++) scaled[j] = w[j] * Scales[j];
                for (int g0 = 0; g0 < columns; g0 += group)
                {
                    int length = Math.Min(group, columns - g0);
                    var (scale, zero) = Int4Quantizer.Quantize(scaled.AsSpan(g0, length), codes, format.Asymmetric, Int4Recipe.RoundToNearest);
                    for (int k = 0; k < length; k++) error[g0 + k] = w[g0 + k] - (codes[k] - zero) * scale / Scales[g0 + k];
                }
                Losses[r] = QuadraticError.Of(error, h);
            }
        }
    }
}
