using LlmCpu.Kernels;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.KernelCheck;

/// <summary>
/// Rotary embeddings (half-split pairs, forward and inverse) against a double-precision reference, for head sizes whose
/// pairs are whole vectors, partly vectors, or too few for one, and a partial rotation. Run in each child process, this
/// covers the vector loop at the width the process has (256 bits with AVX2, 128 where it is switched off, as on ARM64)
/// and the scalar loop (the pairs past the last whole vector, and every pair without vectors).
/// </summary>
public static class RotaryConformance
{
    public static IEnumerable<ConformanceResult> Run()
    {
        foreach (var (headDim, rotated, position) in new[] { (64, 64, 37), (128, 128, 4095), (40, 40, 3), (6, 6, 100), (64, 16, 500), (80, 20, 9) })
        {
            const int heads = 3;
            const float theta = 10000f;
            var random = new Random(headDim * 7 + position);
            var x = Enumerable.Range(0, heads * headDim).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
            var frequencies = RotaryEmbedding.DefaultInverseFrequencies(rotated, theta);
            var rope = new RotaryEmbedding(headDim, position + 1, frequencies, interleaved: false);
            foreach (bool inverse in new[] { false, true })
            {
                var actual = (float[])x.Clone();
                if (inverse) rope.ApplyInverse(actual, position);
                else rope.Apply(actual, position);
                double maxError = 0, worstTolerance = 0;
                bool passed = true;
                int half = rotated / 2;
                for (int h = 0; h < heads; h++)
                {
                    for (int i = 0; i < headDim; i++)
                    {
                        int pair = i % half, other = i < half ? i + half : i - half;
                        double expected = x[h * headDim + i];
                        if (i < rotated)
                        {
                            // The angle in float32, as the table holds it.
                            double angle = (inverse ? -1 : 1) * (double)(position * frequencies[pair]);
                            double x1 = x[h * headDim + Math.Min(i, other)], x2 = x[h * headDim + Math.Max(i, other)];
                            expected = i < half ? x1 * Math.Cos(angle) - x2 * Math.Sin(angle) : x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
                        }
                        double error = Math.Abs(actual[h * headDim + i] - expected), tolerance = 1e-5;
                        if (!(error <= tolerance)) passed = false;
                        if (error >= maxError) { maxError = error; worstTolerance = tolerance; }
                    }
                }
                yield return new ConformanceResult(inverse ? "rotary inverse" : "rotary", KernelDispatch.Best, $"head {headDim}, {rotated} rotated, position {position}", passed, maxError, worstTolerance);
            }
        }
    }
}
