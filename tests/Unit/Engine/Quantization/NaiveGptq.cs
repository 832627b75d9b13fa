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
    /// <param name="activationOrder">Columns by decreasing H[i,i], each group's scale chosen up front from the original weights.</param>
    public static float[] Quantize(float[] weights, int rows, int columns, double[] hessian, int groupSize, bool asymmetric, Int4Recipe scaleRule,
        double dampening = 0.01, bool activationOrder = false)
    {
        if (activationOrder) return InActivationOrder(weights, rows, columns, hessian, groupSize, asymmetric, scaleRule, dampening);
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

    private static float[] InActivationOrder(float[] weights, int rows, int columns, double[] hessian, int groupSize, bool asymmetric,
        Int4Recipe scaleRule, double dampening)
    {
        int groups = (columns + groupSize - 1) / groupSize;
        var scale = new float[rows * groups];
        var zero = new byte[rows * groups];
        var codes = new byte[groupSize];
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++)
            {
                int length = Math.Min(groupSize, columns - g * groupSize);
                (scale[r * groups + g], zero[r * groups + g]) = Int4Quantizer.Quantize(weights.AsSpan(r * columns + g * groupSize, length), codes, asymmetric, scaleRule);
            }
        var order = Enumerable.Range(0, columns).OrderByDescending(i => hessian[i * columns + i]).ToArray();
        var h = new double[columns * columns];
        for (int i = 0; i < columns; i++)
            for (int j = 0; j < columns; j++) h[i * columns + j] = hessian[order[i] * columns + order[j]];
        double mean = 0;
        for (int i = 0; i < columns; i++) mean += h[i * columns + i];
        mean /= columns;
        for (int i = 0; i < columns; i++) h[i * columns + i] += dampening * mean;
        var hinv = LinearAlgebraReference.Inverse(h, columns);
        var w = new double[weights.Length];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < columns; i++) w[r * columns + i] = weights[r * columns + order[i]];
        var result = new float[weights.Length];
        for (int i = 0; i < columns; i++)
        {
            double d = hinv[i * columns + i];
            int g = order[i] / groupSize;
            for (int r = 0; r < rows; r++)
            {
                float s = scale[r * groups + g];
                byte z = zero[r * groups + g];
                double value = w[r * columns + i];
                int q = s == 0 ? z : Math.Clamp((int)Math.Round(value / s, MidpointRounding.ToEven) + z, 0, 15);
                double dequantized = (q - z) * (double)s;
                result[r * columns + order[i]] = (float)dequantized;
                double error = (value - dequantized) / d;
                for (int j = i + 1; j < columns; j++) w[r * columns + j] -= error * hinv[i * columns + j];
            }
            for (int a = i + 1; a < columns; a++)
            {
                double f = hinv[a * columns + i] / d;
                for (int b = i + 1; b < columns; b++) hinv[a * columns + b] -= f * hinv[i * columns + b];
            }
        }
        return result;
    }
}
