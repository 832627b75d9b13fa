using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// A float matrix (F32, F16 or BF16 in the file) left in its memory-mapped model file instead of copied at load: how a
/// calibrated conversion holds one layer's float weights at a time rather than the whole float model. Its rows can be
/// read one at a time (<see cref="DequantizeRow"/>, straight from the file); <see cref="Read"/> builds it in memory as
/// a load "as stored" would, for a layer about to be calibrated; <see cref="Release"/> then lets the file's pages go.
/// It is never multiplied: a product asks for the matrix in memory.
/// </summary>
internal sealed class DeferredMatrix : WeightMatrix
{
    private readonly IMatrixSource[] _parts;
    private readonly int[] _firstRows; // (parts) the stacked row each part starts at
    private readonly IModelTensors _file;
    // Float parts as stored become FP32 or FP16 matrices; the INT4 format and activations play no part.
    private static readonly MatrixBuilder AsStored = new(ModelPrecision.AsStored, MatrixBuilder.StoredInt4Format);

    /// <param name="parts">The tensors stacked into the matrix, rows in the engine's order (see <see cref="MatrixBuilder.Build(IMatrixSource[])"/>).</param>
    /// <param name="file">The open file the parts read from; it must stay open while the matrix is used.</param>
    public DeferredMatrix(IMatrixSource[] parts, IModelTensors file)
        : base(checked(parts.Sum(p => p.Rows)), parts[0].Columns)
    {
        if (!CanDefer(parts)) throw new ArgumentException("Only float tensors are left in the file.", nameof(parts));
        if (parts.Any(p => p.Columns != Columns)) throw new ArgumentException("Stacked parts must have the same number of columns.", nameof(parts));
        _parts = parts;
        _file = file;
        _firstRows = new int[parts.Length];
        for (int p = 1; p < parts.Length; p++) _firstRows[p] = _firstRows[p - 1] + parts[p - 1].Rows;
        IsFloat16 = parts.All(p => p.StoredPrecision == ModelPrecision.Float16);
    }

    /// <summary>
    /// Whether <paramref name="parts"/> are float tensors, which a load as stored copies into an FP32 or FP16 matrix
    /// (quantized ones are kept in their own blocks, exactly, and are not left in the file).
    /// </summary>
    public static bool CanDefer(IReadOnlyList<IMatrixSource> parts) => parts.All(p => p.StoredPrecision != ModelPrecision.Int4 && p is not IInt4GroupSource
        && p.BlockType is null or GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);

    /// <summary>Whether every part is F16, so that <see cref="Read"/> gives an FP16 matrix (else FP32, as a load as stored does).</summary>
    public bool IsFloat16 { get; }

    /// <summary>The format <see cref="Read"/> gives.</summary>
    public override string Format => IsFloat16 ? "F16" : "F32";

    /// <summary>The bytes <see cref="Read"/> allocates.</summary>
    public override long ByteSize => (long)Rows * Columns * (IsFloat16 ? 2 : 4);

    /// <summary>Nothing: the weights are the file's pages until read.</summary>
    public override long OwnedBytes => 0;

    public override unsafe void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch) =>
        throw new InvalidOperationException($"A {Rows} x {Columns} matrix still in the model file ({_parts[0].Name}) is multiplied; it must be read into memory first.");

    /// <summary>Row <paramref name="row"/> as FP32, read from the file (what the matrix built by <see cref="Read"/> would give).</summary>
    public override void DequantizeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        int p = _parts.Length - 1;
        while (_firstRows[p] > row) p--;
        _parts[p].ReadRow(row - _firstRows[p], destination);
    }

    /// <summary>The matrix in memory, as a load as stored builds it (FP16 where every part is F16, else FP32); the caller owns it.</summary>
    public WeightMatrix Read() => AsStored.Build(_parts);

    /// <summary>Tells the file the parts' pages are no longer needed (they leave the resident set; reading them maps them back).</summary>
    public void Release()
    {
        foreach (var part in _parts) _file.Release(part.Name);
    }
}
