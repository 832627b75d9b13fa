using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Bench;

/// <summary>
/// Each ggml block type's kernel on a matrix small enough to stay in L2 (128 x 4096), one thread, for 1 token (decode)
/// and 64 tokens (a prefill chunk): the arithmetic throughput of the kernel with memory out of the way, in GB of
/// weights a second. A type whose one-token figure is near the machine's read bandwidth cannot decode at that
/// bandwidth: its kernel, not memory, bounds the token rate. F16 (unquantized GGUF weights) runs beside them.
/// </summary>
public static class GgmlBlockBench
{
    private sealed record BlockType(string Name, int BlockValues, int BlockBytes, int[] HalfOffsets, Func<int, int, WeightMatrix> Create);

    private static readonly BlockType[] Types =
    [
        new("Q4_1", 32, Q4_1Matrix.BlockBytes, [0, 2], (r, c) => new Q4_1Matrix(r, c)),
        new("Q5_0", 32, 22, [0], (r, c) => new Q5Matrix(r, c, withOffsets: false)),
        new("Q5_1", 32, 24, [0, 2], (r, c) => new Q5Matrix(r, c, withOffsets: true)),
        new("Q8_0", 32, Q8Matrix.BlockBytes, [0], (r, c) => new Q8Matrix(r, c)),
        new("Q4_K", 256, Q4KMatrix.BlockBytes, [0, 2], (r, c) => new Q4KMatrix(r, c)),
        new("Q5_K", 256, Q5KMatrix.BlockBytes, [0, 2], (r, c) => new Q5KMatrix(r, c)),
        new("Q6_K", 256, Q6KMatrix.BlockBytes, [208], (r, c) => new Q6KMatrix(r, c)),
    ];

    public static void Run(int rounds)
    {
        const int rows = 128, columns = BenchMatrices.Inputs;
        using (var q4 = BenchMatrices.RandomInt4(rows, columns, new Int4Format(32, false)))
            Print("Q4_0 (int4 g32)", q4, rounds);
        using (var f16 = RandomFloat16(rows, columns))
            Print("F16", f16, rounds);
        foreach (var type in Types)
        {
            using var matrix = type.Create(rows, columns);
            var random = new Random(1);
            var row = new byte[columns / type.BlockValues * type.BlockBytes];
            for (int r = 0; r < rows; r++)
            {
                random.NextBytes(row);
                // Random bytes everywhere but the FP16 scales, which get small finite values (no NaN, no subnormals).
                for (int b = 0; b < row.Length; b += type.BlockBytes)
                {
                    foreach (int offset in type.HalfOffsets)
                        BitConverter.TryWriteBytes(row.AsSpan(b + offset, 2), (Half)(0.001f + 0.01f * random.NextSingle()));
                }
                ((IGgmlBlockRows)matrix).SetRow(r, row);
            }
            Print(type.Name, matrix, rounds);
        }
    }

    /// <summary>Weights uniform in [-0.02, 0.02), as FP16.</summary>
    private static Float16Matrix RandomFloat16(int rows, int columns)
    {
        var matrix = new Float16Matrix(rows, columns);
        var random = new Random(1);
        for (int r = 0; r < rows; r++)
        {
            var row = matrix.RowSpan(r);
            for (int k = 0; k < columns; k++) row[k] = (Half)((random.NextSingle() - 0.5f) * 0.04f);
        }
        return matrix;
    }

    private static void Print(string name, WeightMatrix matrix, int rounds)
    {
        foreach (int tokens in new[] { 1, 64 })
        {
            var x = BenchMatrices.RandomActivations(tokens, matrix.Columns);
            double seconds = FigureCommands.TimeMultiply(matrix, x, tokens, threads: 1, tokens == 1 ? rounds * 100 : rounds * 4);
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                kernel = "ggml-block-l2",
                type = name,
                tokens,
                threads = 1,
                bytes = matrix.ByteSize,
                seconds,
                isa = KernelDispatch.Best.ToString(),
                gbPerSecond = Math.Round(matrix.ByteSize / (seconds / tokens) / 1e9, 2), // weight bytes per second per token
                gopsPerSecond = Math.Round(2.0 * matrix.Rows * matrix.Columns * tokens / seconds / 1e9, 1),
            }));
        }
    }
}
