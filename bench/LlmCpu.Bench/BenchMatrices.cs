using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Bench;

/// <summary>Random matrices and activations with real model shapes, made row by row (no FP32 copy of the whole matrix).</summary>
public static class BenchMatrices
{
    /// <summary>Llama-2-7B's feed-forward up projection: 4096 inputs, 11008 outputs.</summary>
    public const int Inputs = 4096, Outputs = 11008;

    public static Int4Matrix RandomInt4(int rows, int columns, Int4Format format, int seed = 1)
    {
        var matrix = new Int4Matrix(rows, columns, format);
        var random = new Random(seed);
        var row = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < columns; k++) row[k] = (float)(random.NextDouble() - 0.5) * 0.04f;
            matrix.QuantizeRow(r, row);
        }
        return matrix;
    }

    public static float[] RandomActivations(int tokens, int columns, int seed = 2)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }
}
