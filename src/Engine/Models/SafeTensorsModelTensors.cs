using LlmCpu.Engine.Formats;

namespace LlmCpu.Engine.Models;

/// <summary>
/// The tensors of a Hugging Face folder's safetensors files; shapes are (rows, columns) as PyTorch stores them. In a
/// GPTQ or AWQ checkpoint (<paramref name="quantization"/>), a linear layer `X.weight` is stored as `X.qweight`,
/// `X.qzeros` and `X.scales` (and GPTQ's `X.g_idx`) and is read from those, exactly.
/// </summary>
internal sealed class SafeTensorsModelTensors(TensorCollection tensors, string folder, QuantizedCheckpoint? quantization = null) : IModelTensors
{
    private const string WeightSuffix = ".weight";

    public string Path => folder;

    public bool Contains(string name) => tensors.Tensors.ContainsKey(name) || PackedPrefix(name) != null;

    public IMatrixSource Matrix(string name, int rows, int columns) =>
        PackedPrefix(name) is { } prefix
            ? new PackedInt4Source(tensors, prefix, rows, columns, quantization!)
            : new TensorDataSource(tensors.Require(name, rows, columns));

    public float[] Vector(string name, int length) => MatrixBuilder.Vector(tensors.Require(name, length));

    public void Release(string name) => tensors.ReleaseTensorPages(name);

    /// <summary>`X` when <paramref name="name"/> is `X.weight`, stored packed as `X.qweight` in a quantized checkpoint.</summary>
    private string? PackedPrefix(string name)
    {
        if (quantization == null || !name.EndsWith(WeightSuffix, StringComparison.Ordinal) || tensors.Tensors.ContainsKey(name)) return null;
        string prefix = name[..^WeightSuffix.Length];
        return tensors.Tensors.ContainsKey(prefix + ".qweight") ? prefix : null;
    }
}
