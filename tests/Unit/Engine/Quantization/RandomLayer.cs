using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>Random weights and calibration inputs for the calibrated recipes' matrix-level tests.</summary>
internal static class RandomLayer
{
    public static float[] RandomWeights(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var w = new float[rows * columns];
        for (int i = 0; i < w.Length; i++) w[i] = (float)((random.NextDouble() * 2 - 1) * (random.Next(50) == 0 ? 4 : 1));
        return w;
    }

    /// <summary>Calibration inputs whose channels are strongly correlated and of unequal size, as a layer's really are.</summary>
    public static float[] CorrelatedInputs(int tokens, int columns, int seed)
    {
        var random = new Random(seed);
        int factors = columns / 8;
        var mix = new double[factors * columns];
        for (int i = 0; i < mix.Length; i++) mix[i] = random.NextDouble() * 2 - 1;
        var x = new float[tokens * columns];
        var z = new double[factors];
        for (int t = 0; t < tokens; t++)
        {
            for (int f = 0; f < factors; f++) z[f] = random.NextDouble() * 2 - 1;
            for (int c = 0; c < columns; c++)
            {
                double sum = 0.05 * (random.NextDouble() * 2 - 1);
                for (int f = 0; f < factors; f++) sum += z[f] * mix[f * columns + c];
                x[t * columns + c] = (float)(sum * (1 + 3 * (c % 5 == 0 ? 1 : 0)));
            }
        }
        return x;
    }

    public static double[] HessianOf(float[] x, int tokens, int columns)
    {
        var accumulator = new HessianAccumulator(columns);
        accumulator.Add(x, tokens, WorkerPool.Shared);
        return accumulator.Hessian();
    }

    public static float[] Dequantized(Int4Matrix matrix)
    {
        var values = new float[matrix.Rows * matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++) matrix.DequantizeRow(r, values.AsSpan(r * matrix.Columns, matrix.Columns));
        return values;
    }
}
