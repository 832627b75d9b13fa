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
    /// INT4 with an FP16 scale per 32 values and is copied exactly (see <see cref="ReadBlockRow"/>).
    /// </summary>
    ModelPrecision StoredPrecision { get; }

    /// <summary>Row <paramref name="row"/> as FP32 (<see cref="Columns"/> values).</summary>
    void ReadRow(int row, Span<float> destination);

    /// <summary>The ggml block type the file stores the tensor in; null for tensors that are not ggml blocks (safetensors).</summary>
    Formats.Gguf.GgmlType? BlockType { get; }

    /// <summary>
    /// Row <paramref name="row"/> as the ggml blocks the file stores (for Q4_0, per 32 values: the FP16 scale, then 16
    /// bytes, byte j holding value j in its low nibble and value j + 16 in its high nibble), valid while the source is
    /// open. Only where <see cref="BlockType"/> is not null.
    /// </summary>
    ReadOnlySpan<byte> ReadBlockRow(int row);
}
