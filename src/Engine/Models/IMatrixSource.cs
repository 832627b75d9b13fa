namespace LlmCpu.Engine.Models;

/// <summary>
/// A weight matrix in a model file, read one row at a time whatever format the file keeps it in, so that
/// <see cref="MatrixBuilder"/> builds kernel matrices the same way from safetensors and GGUF tensors.
/// </summary>
public interface IMatrixSource
{
    /// <summary>The tensor's name in the file, for messages.</summary>
    string Name { get; }

    int Rows { get; }

    int Columns { get; }

    /// <summary>
    /// What <see cref="ModelPrecision.AsStored"/> keeps: <see cref="ModelPrecision.Float32"/>,
    /// <see cref="ModelPrecision.Float16"/>, or <see cref="ModelPrecision.Int4"/> for data that already is symmetric
    /// INT4 with an FP16 scale per 32 values and is copied exactly (see <see cref="ReadInt4Row"/>).
    /// </summary>
    ModelPrecision StoredPrecision { get; }

    /// <summary>Row <paramref name="row"/> as FP32 (<see cref="Columns"/> values).</summary>
    void ReadRow(int row, Span<float> destination);

    /// <summary>
    /// Only where <see cref="StoredPrecision"/> is <see cref="ModelPrecision.Int4"/>: row <paramref name="row"/>'s
    /// 4-bit values (0..15, one per byte, <see cref="Columns"/> of them; value = (q - 8) * scale) and its FP16 scales,
    /// one per 32 values.
    /// </summary>
    void ReadInt4Row(int row, Span<byte> quants, Span<Half> scales);
}
