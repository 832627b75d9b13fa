using LlmCpu.Engine.Formats;

namespace LlmCpu.Engine.Models;

/// <summary>The tensors of a Hugging Face folder's safetensors files; shapes are (rows, columns) as PyTorch stores them.</summary>
internal sealed class SafeTensorsModelTensors(TensorCollection tensors, string folder) : IModelTensors
{
    public string Path => folder;

    public bool Contains(string name) => tensors.Tensors.ContainsKey(name);

    public IMatrixSource Matrix(string name, int rows, int columns) => new TensorDataSource(tensors.Require(name, rows, columns));

    public float[] Vector(string name, int length) => MatrixBuilder.Vector(tensors.Require(name, length));

    public void Release(string name)
    {
    }
}
