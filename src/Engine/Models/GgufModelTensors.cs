using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Engine.Models;

/// <summary>
/// The tensors of a GGUF file, each checked for presence and shape (ggml lists dimensions innermost first, so a matrix
/// of N rows by K columns is [K, N]; trailing dimensions of 1 change nothing).
/// </summary>
internal sealed class GgufModelTensors(GgufFile file) : IModelTensors
{
    public string Path => file.Path;

    public bool Contains(string name) => file.Tensors.ContainsKey(name);

    public IMatrixSource Matrix(string name, int rows, int columns) => new GgufMatrixSource(Tensor(name, columns, rows));

    public float[] Vector(string name, int length)
    {
        var tensor = Tensor(name, length);
        if (!tensor.Type.CanDequantize())
            throw new ModelNotSupportedException(Path, $"tensor '{name}' type", $"ggml type {tensor.Type} ({(uint)tensor.Type}) is not supported for a vector");
        var result = new float[length];
        GgmlDequantizer.Dequantize(tensor.Type, tensor.Row(0), result);
        return result;
    }

    public void Release(string name) => file.ReleaseTensorPages(name);

    private GgufTensorInfo Tensor(string name, params long[] shape)
    {
        if (!file.Tensors.TryGetValue(name, out var tensor)) throw new ModelFormatException(Path, $"tensor '{name}'", "is missing");
        var dims = tensor.Dimensions.Reverse().SkipWhile(d => d == 1).Reverse().ToArray();
        var expected = shape.Reverse().SkipWhile(d => d == 1).Reverse().ToArray();
        if (!dims.SequenceEqual(expected))
            throw new ModelFormatException(Path, $"tensor '{name}' dimensions", $"are [{string.Join(", ", tensor.Dimensions)}], expected [{string.Join(", ", shape)}] (ne[0], the row length, first)");
        return tensor;
    }
}
