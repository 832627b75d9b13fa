using LlmCpu.Kernels.Memory;
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

    /// <summary>
    /// Copies of <paramref name="matrix"/> in separate memory, enough that together they exceed
    /// <paramref name="totalBytes"/>: a benchmark that cycles through them reads memory, not a last-level cache that
    /// still holds the previous call's weights. The copies own their buffers through <paramref name="buffers"/>.
    /// </summary>
    public static unsafe List<Int4Matrix> CopiesBeyond(Int4Matrix matrix, long totalBytes, List<NativeBuffer> buffers)
    {
        var copies = new List<Int4Matrix> { matrix };
        var (quants, scales, zeros) = matrix.RawArrays;
        while ((long)copies.Count * matrix.ByteSize < totalBytes)
        {
            var q = Copy((byte*)quants, matrix.QuantBytes, buffers);
            var s = Copy((byte*)scales, matrix.ScaleBytes, buffers);
            var z = zeros == 0 ? null : Copy((byte*)zeros, matrix.ZeroBytes, buffers);
            copies.Add(Int4Matrix.FromMemory(matrix.Rows, matrix.Columns, matrix.Int4Format, matrix.Activations, q, (ushort*)s, z));
        }
        return copies;
    }

    private static unsafe byte* Copy(byte* source, long bytes, List<NativeBuffer> buffers)
    {
        var buffer = new NativeBuffer(bytes, zero: false);
        buffers.Add(buffer);
        Buffer.MemoryCopy(source, buffer.Pointer, bytes, bytes);
        return (byte*)buffer.Pointer;
    }
}
