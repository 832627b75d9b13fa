using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Engine.Models;

/// <summary>
/// A GGUF weight tensor (ne = [columns, rows]) read as a matrix: float types and ggml quantized blocks are converted
/// to FP32 exactly by <see cref="GgmlDequantizer"/>; Q4_0 rows can also be handed over as INT4 quants and scales.
/// </summary>
internal sealed class GgufMatrixSource : IMatrixSource
{
    private readonly GgufTensorInfo _tensor;

    public GgufMatrixSource(GgufTensorInfo tensor)
    {
        _tensor = tensor;
        Columns = checked((int)tensor.Columns);
        Rows = checked((int)tensor.Rows);
    }

    public string Name => _tensor.Name;

    public GgmlType Type => _tensor.Type;

    public int Rows { get; }

    public int Columns { get; }

    public ModelPrecision StoredPrecision => _tensor.Type switch
    {
        GgmlType.F16 => ModelPrecision.Float16,
        GgmlType.Q4_0 => ModelPrecision.Int4,
        _ => ModelPrecision.Float32,
    };

    public void ReadRow(int row, Span<float> destination) => GgmlDequantizer.Dequantize(_tensor.Type, _tensor.Row(row), destination.Slice(0, Columns));

    public GgmlType? BlockType => _tensor.Type;

    public ReadOnlySpan<byte> ReadBlockRow(int row) => _tensor.Row(row);
}
