using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// GPTQ written straight from the paper's description (Frantar et al., 2022, section 3 with the OBQ update it starts
/// from), in double, without Cholesky, blocks or threads: H⁻¹ by Gauss-Jordan; for each column in order, its group's
/// scale from the weights as they stand at the group's first column, the column rounded, the error (w - q) / H⁻¹[i,i]
/// times row i of H⁻¹ subtracted from the columns after it, and column i eliminated from H⁻¹.
/// </summary>
internal static class NaiveGptq
{
    /// <returns>The dequantized weights, (rows, columns).</returns>
    public static float[] Quantize(float[] weights, int rows, int columns, double[] hessian, int groupSize, bool asymmetric, Int4Recipe scaleRule,
        double dampening = 0.01)
    {
        var h = (double[])hessian.Clone();
        double mean = 0;
        for (int i = 0; i < columns; i++) mean += h[i * columns + i];
        mean /= columns;
        for (int i = 0; i < columns; i++) h[i * columns + i] += dampening * mean;
        var hinv = LinearAlgebraReference.Inverse(h, columns);
        var w = new double[weights.Length];
        for (int i = 0; i < w.Length; i++) w[i] = weights[i];
        var result = new float[weights.Length];
        var scale = new float[rows];
        var zero = new byte[rows];
        var group = new float[groupSize];
        var codes = new byte[groupSize];
        for (int i = 0; i < columns; i++)
        {
            if (i % groupSize == 0)
            {
                int length = Math.Min(groupSize, columns - i);
                for (int r = 0; r < rows; r++)
                {
                    for (int k = 0; k < length; k++) group[k] = (float)w[r * columns + i + k];
                    (scale[r], zero[r]) = Int4Quantizer.Quantize(group.AsSpan(0, length), codes, asymmetric, scaleRule);
                }
            }
            double d = hinv[i * columns + i];
            for (int r = 0; r < rows; r++)
            {
                double value = w[r * columns + i];
                int q = scale[r] == 0 ? zero[r] : Math.Clamp((int)Math.Round(value / scale[r], MidpointRounding.ToEven) + zero[r], 0, 15);
                double dequantized = (q - zero[r]) * (double)scale[r];
                result[r * columns + i] = (float)dequantized;
                double error = (value - dequantized) / d;
                for (int j = i + 1; j < columns; j++) w[r * columns + j] -= error * hinv[i * columns + j];
            }
            // Eliminate column i: H⁻¹ of the columns still to quantize.
            for (int a = i + 1; a < columns; a++)
            {
                double f = hinv[a * columns + i] / d;
                for (int b = i + 1; b < columns; b++) hinv[a * columns + b] -= f * hinv[i * columns + b];
            }
        }
        return result;
    }
}
