namespace LlmCpu.Engine.Models;

/// <summary>The tensors of one model file by name, each checked for presence and shape when asked for.</summary>
internal interface IModelTensors
{
    /// <summary>The file, for messages.</summary>
    string Path { get; }

    bool Contains(string name);

    /// <exception cref="ModelFormatException">Missing, or not (rows, columns).</exception>
    IMatrixSource Matrix(string name, int rows, int columns);

    /// <summary>A one-dimensional tensor (a norm's weights, a bias) as FP32.</summary>
    /// <exception cref="ModelFormatException">Missing, or not <paramref name="length"/> values.</exception>
    float[] Vector(string name, int length);

    /// <summary>Says the tensor's data has been copied and its pages can go (mapped GGUF and safetensors files drop them from the resident set).</summary>
    void Release(string name);
}
