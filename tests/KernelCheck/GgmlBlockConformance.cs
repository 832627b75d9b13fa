using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.KernelCheck;

/// <summary>
/// Every kernel path of every matrix that keeps ggml blocks in their own bytes (Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q8_0)
/// against its scalar reference, bit for bit (INT8 activations): random blocks as a GGUF file would hold them (random
/// codes, sub-scales and high bits; FP16 scales from tiny to large, offsets of both signs), blocks with every code,
/// sub-scale and high bit at its largest against activations of +-127, shapes that leave a partial last tile, and
/// token counts that use every token-group size of every path.
/// </summary>
public static unsafe class GgmlBlockConformance
{
    /// <summary>
    /// A ggml block format: its name, values and bytes per block, where its FP16 fields lie, its matrix, the byte
    /// that, written everywhere but the FP16 fields, gives the largest products, and where signed 8-bit sub-scales lie
    /// (written as -128, the largest magnitude, in the extreme blocks: Q6_K's kernels weigh 16-bit sums by them).
    /// </summary>
    public sealed record Format(string Name, int BlockValues, int BlockBytes, int[] ScaleOffsets, int[] SignedOffsets, Func<int, int, WeightMatrix> Create,
        byte Extreme = 0xFF, Range SignedSubScales = default)
    {
        public override string ToString() => Name;
    }

    public static readonly Format[] Formats =
    [
        new("Q4_1", 32, Q4_1Matrix.BlockBytes, [0], [2], (r, c) => new Q4_1Matrix(r, c)),
        new("Q5_0", 32, 22, [0], [], (r, c) => new Q5Matrix(r, c, withOffsets: false)),
        new("Q5_1", 32, 24, [0], [2], (r, c) => new Q5Matrix(r, c, withOffsets: true)),
        new("Q4_K", Q4KMatrix.SuperBlock, Q4KMatrix.BlockBytes, [0, 2], [], (r, c) => new Q4KMatrix(r, c)),
        new("Q5_K", Q5KMatrix.SuperBlock, Q5KMatrix.BlockBytes, [0, 2], [], (r, c) => new Q5KMatrix(r, c)),
        new("Q6_K", Q6KMatrix.SuperBlock, Q6KMatrix.BlockBytes, [208], [], (r, c) => new Q6KMatrix(r, c), SignedSubScales: 192..208),
        new("Q8_0", 32, Q8Matrix.BlockBytes, [0], [], (r, c) => new Q8Matrix(r, c), Extreme: 0x80),
    ];

    public static Format Named(string name) => Formats.Single(f => f.Name == name);

    public static readonly (int Rows, int Columns)[] Shapes = [(8, 256), (13, 512), (3, 256), (24, 768)];

    public static IEnumerable<ConformanceResult> Run(IEnumerable<KernelPath> paths)
    {
        var pathList = paths.Where(p => p != KernelPath.Scalar).ToArray();
        foreach (var format in Formats)
        foreach (var (rows, columns) in Shapes)
        foreach (float dScale in new[] { 1e-5f, 0.01f, 30f })
        foreach (int tokens in new[] { 1, 3, 13, 31 }) // every token-group size of every path (31 = 16 + 8 + 4 + 2 + 1)
        foreach (bool extreme in new[] { false, true })
        {
            var random = new Random(format.BlockBytes * 104729 + rows * 7919 + columns + (int)(dScale * 100000));
            using var matrix = extreme ? ExtremeMatrix(format, rows, columns, dScale) : RandomMatrix(format, rows, columns, dScale, random);
            var x = new float[tokens * columns];
            for (int i = 0; i < x.Length; i++)
                x[i] = extreme ? (i / columns % 2 == 0 ? 1f : -1f) : (float)(random.NextDouble() * 2 - 1) * (i % 11 == 0 ? 20 : 1);
            var reference = Multiply(matrix, x, tokens, KernelPath.Scalar);
            string name = $"{format.Name} {rows}x{columns} d~{dScale} tokens={tokens}{(extreme ? " extreme" : "")}";
            foreach (var path in pathList)
            {
                var actual = Multiply(matrix, x, tokens, path);
                double maxError = 0;
                bool passed = true;
                for (int i = 0; i < actual.Length; i++)
                {
                    double error = Math.Abs((double)actual[i] - reference[i]);
                    if (float.IsNaN(actual[i]) || error > 0) passed = false;
                    maxError = Math.Max(maxError, error);
                }
                yield return new ConformanceResult($"{format.Name}xInt8", path, name, passed, maxError, 0);
            }
        }
    }

    /// <summary>One row of random blocks of <paramref name="format"/>, as a GGUF file would hold them.</summary>
    public static byte[] RandomRow(Format format, int columns, float dScale, Random random)
    {
        var row = new byte[columns / format.BlockValues * format.BlockBytes];
        random.NextBytes(row);
        for (int b = 0; b < row.Length; b += format.BlockBytes)
        {
            foreach (int at in format.ScaleOffsets) BitConverter.TryWriteBytes(row.AsSpan(b + at), (Half)(dScale * (0.2 + random.NextDouble())));
            foreach (int at in format.SignedOffsets) BitConverter.TryWriteBytes(row.AsSpan(b + at), (Half)(dScale * 8 * (random.NextDouble() * 2 - 1)));
        }
        return row;
    }

    /// <summary>A matrix of random blocks of <paramref name="format"/>.</summary>
    public static WeightMatrix RandomMatrix(Format format, int rows, int columns, float dScale, Random random)
    {
        var matrix = format.Create(rows, columns);
        for (int r = 0; r < rows; r++) ((IGgmlBlockRows)matrix).SetRow(r, RandomRow(format, columns, dScale, random));
        return matrix;
    }

    /// <summary>
    /// A matrix whose block bytes are all the format's extreme byte but for the FP16 scales: the largest codes, sub-scales and high bits,
    /// the most a kernel's 16-bit partial sums must hold without saturating (signed sub-scales at -128).
    /// </summary>
    public static WeightMatrix ExtremeMatrix(Format format, int rows, int columns, float dScale)
    {
        var matrix = format.Create(rows, columns);
        var row = new byte[columns / format.BlockValues * format.BlockBytes];
        row.AsSpan().Fill(format.Extreme);
        for (int b = 0; b < row.Length; b += format.BlockBytes)
            row.AsSpan(b, format.BlockBytes)[format.SignedSubScales].Fill(0x80);
        for (int b = 0; b < row.Length; b += format.BlockBytes)
            foreach (int at in format.ScaleOffsets.Concat(format.SignedOffsets)) BitConverter.TryWriteBytes(row.AsSpan(b + at), (Half)dScale);
        for (int r = 0; r < rows; r++) ((IGgmlBlockRows)matrix).SetRow(r, row);
        return matrix;
    }

    /// <summary>The matrix times (tokens, Columns) activations on <paramref name="path"/>.</summary>
    public static float[] Multiply(WeightMatrix matrix, float[] activations, int tokens, KernelPath path)
    {
        var tiled = (ITileKernels)matrix;
        var output = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* x = activations)
        fixed (float* y = output)
        {
            matrix.Prepare(x, tokens, scratch);
            tiled.MultiplyTiles(path, scratch, y, matrix.Rows, tokens, 0, tiled.Tiles);
        }
        return output;
    }
}
