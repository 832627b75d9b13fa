using LlmCpu.Engine.Formats;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>Builds kernel matrices from file tensors, stacking several tensors' rows into one matrix where asked.</summary>
public sealed class MatrixBuilder(ModelPrecision precision)
{
    public ModelPrecision Precision { get; } = precision;

    /// <summary>The matrices' storage format name, as the model reports it.</summary>
    public string FormatName => "F32";

    /// <summary>One matrix whose rows are the rows of <paramref name="parts"/> in order; all parts share their column count.</summary>
    public WeightMatrix Build(params TensorData[] parts)
    {
        int columns = (int)parts[0].Shape[^1];
        int rows = checked((int)parts.Sum(p => p.ElementCount / columns));
        var matrix = new Float32Matrix(rows, columns);
        int row = 0;
        foreach (var part in parts)
        {
            int partRows = (int)(part.ElementCount / columns);
            for (int r = 0; r < partRows; r++, row++) part.ReadAsFloat32((long)r * columns, matrix.RowSpan(row));
        }
        return matrix;
    }

    public static float[] Vector(TensorData tensor)
    {
        var result = new float[tensor.ElementCount];
        tensor.ReadAsFloat32(0, result);
        return result;
    }
}
