using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// Q8Matrix quantizing FP32 rows (an output projection made 8-bit) and a matrix over arrays it does not own (a mapped
/// .llmc file). The oracle is a naive encoder written here from ggml's quantize_row_q8_0_ref, whose blocks the
/// matrix takes as ggml's bytes through <see cref="Q8Matrix.SetRow"/>, and the engine's ggml dequantizer.
/// </summary>
public sealed unsafe class Q8MatrixQuantizeTests
{
    /// <summary>ggml's quantize_row_q8_0_ref, block by block: d = amax / 127 in FP32, stored as FP16; codes roundf(x / d).</summary>
    private static byte[] ReferenceBlocks(ReadOnlySpan<float> row)
    {
        var bytes = new byte[row.Length / 32 * Q8Matrix.BlockBytes];
        for (int b = 0; b < row.Length / 32; b++)
        {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(row[32 * b + j]));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            BitConverter.TryWriteBytes(bytes.AsSpan(b * Q8Matrix.BlockBytes), (Half)d);
            for (int j = 0; j < 32; j++) bytes[b * Q8Matrix.BlockBytes + 2 + j] = (byte)(sbyte)MathF.Round(row[32 * b + j] * id, MidpointRounding.AwayFromZero);
        }
        return bytes;
    }

    private static float[] RandomRow(int columns, Random random, float spread) =>
        Enumerable.Range(0, columns).Select(_ => (float)((random.NextDouble() * 2 - 1) * spread)).ToArray();

    [Theory]
    [InlineData(9, 64, 0.05f)]
    [InlineData(16, 256, 30f)]
    [InlineData(1, 32, 1e-4f)]
    public void QuantizedRowsAreGgmlsQ8_0Blocks(int rows, int columns, float spread)
    {
        var random = new Random(rows * columns);
        using var quantized = new Q8Matrix(rows, columns);
        var expected = new float[columns];
        var actual = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            var row = RandomRow(columns, random, spread);
            if (r == 0) row.AsSpan(0, 32).Clear(); // an all-zero block: scale 0, codes 0
            quantized.QuantizeRow(r, row);
            var blocks = ReferenceBlocks(row);
            GgmlDequantizer.Dequantize(GgmlType.Q8_0, blocks, expected);
            quantized.DequantizeRow(r, actual);
            Assert.Equal(expected, actual);
            // And the values are the row's to within half a step, plus what storing the step in FP16 moves the largest
            // code by (127 times the step's rounding).
            for (int k = 0; k < columns; k++)
            {
                int b = k / 32;
                float d32 = 0;
                for (int j = 0; j < 32; j++) d32 = Math.Max(d32, Math.Abs(row[32 * b + j]) / 127f);
                float d16 = (float)BitConverter.ToHalf(blocks, b * Q8Matrix.BlockBytes);
                Assert.True(Math.Abs(actual[k] - row[k]) <= 0.5f * d32 + 127 * Math.Abs(d16 - d32) + 1e-6f * d32, $"row {r} column {k}: {actual[k]} for {row[k]}");
            }
        }
    }

    [Fact]
    public void ANonFiniteValueIsRefused()
    {
        using var matrix = new Q8Matrix(8, 64);
        var row = new float[64];
        row[40] = float.NaN;
        Assert.Throws<ArgumentException>(() => matrix.QuantizeRow(0, row));
        row[40] = float.PositiveInfinity;
        Assert.Throws<ArgumentException>(() => matrix.QuantizeRow(0, row));
    }

    [Fact]
    public void AMatrixOverAnothersArraysMultipliesAsItDoes()
    {
        const int rows = 13, columns = 96, tokens = 3;
        var random = new Random(5);
        using var owner = new Q8Matrix(rows, columns);
        for (int r = 0; r < rows; r++) owner.QuantizeRow(r, RandomRow(columns, random, 0.1f));
        var (codes, scales) = owner.RawArrays;
        // Padding rows included: two tiles of eight rows.
        Assert.Equal(16L * columns, owner.CodeBytes);
        Assert.Equal(16L * (columns / 32) * 2, owner.ScaleBytes);
        Assert.Equal(owner.ByteSize, owner.OwnedBytes);
        var copy = new byte[owner.CodeBytes + owner.ScaleBytes];
        new ReadOnlySpan<byte>((byte*)codes, (int)owner.CodeBytes).CopyTo(copy);
        new ReadOnlySpan<byte>((byte*)scales, (int)owner.ScaleBytes).CopyTo(copy.AsSpan((int)owner.CodeBytes));
        var x = RandomRow(tokens * columns, random, 1f);
        fixed (byte* p = copy)
        {
            using var mapped = Q8Matrix.FromMemory(rows, columns, (sbyte*)p, (ushort*)(p + owner.CodeBytes));
            Assert.Equal(0, mapped.OwnedBytes);
            Assert.Equal(owner.ByteSize, mapped.ByteSize);
            Assert.Equal(GgmlBlockConformance.Multiply(owner, x, tokens, KernelDispatch.Best), GgmlBlockConformance.Multiply(mapped, x, tokens, KernelDispatch.Best));
            var a = new float[columns];
            var b = new float[columns];
            for (int r = 0; r < rows; r++)
            {
                owner.DequantizeRow(r, a);
                mapped.DequantizeRow(r, b);
                Assert.Equal(a, b);
            }
        }
    }
}
