using LlmCpu.Engine.Formats;

namespace LlmCpu.Engine.Models;

/// <summary>A safetensors tensor of shape (rows, columns) read as a matrix.</summary>
internal sealed class TensorDataSource : IMatrixSource
{
    private readonly TensorData _tensor;

    public TensorDataSource(TensorData tensor)
    {
        _tensor = tensor;
        Columns = checked((int)tensor.Shape[^1]);
        Rows = checked((int)(tensor.ElementCount / Columns));
    }

    public string Name => _tensor.Name;

    public int Rows { get; }

    public int Columns { get; }

    public ModelPrecision StoredPrecision => _tensor.Type == TensorType.F16 ? ModelPrecision.Float16 : ModelPrecision.Float32;

    public void ReadRow(int row, Span<float> destination) => _tensor.ReadAsFloat32((long)row * Columns, destination.Slice(0, Columns));

    public Formats.Gguf.GgmlType? BlockType => null;

    public ReadOnlySpan<byte> ReadBlockRow(int row) => throw new NotSupportedException($"Tensor '{Name}' holds {_tensor.Type} values, not ggml blocks.");
}
