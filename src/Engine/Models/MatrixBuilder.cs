using LlmCpu.Engine.Formats;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Builds kernel matrices from file tensors in the precision asked for, stacking several tensors' rows into one
/// matrix where asked. With <see cref="ModelPrecision.Int4"/> the layer matrices are quantized with round-to-nearest
/// as they are read, one row at a time (no FP32 copy of a whole matrix is held); the token embedding and the output
/// projection stay FP16, as the accuracy of the next-token distribution depends most on them.
/// </summary>
public sealed class MatrixBuilder(ModelPrecision precision, Int4Format int4Format, ActivationMode activations = ActivationMode.Int8)
{
    public ModelPrecision Precision { get; } = precision;

    public Int4Format Int4Format { get; } = int4Format;

    public ActivationMode Activations { get; } = activations;

    /// <summary>The layer matrices' format name for a file storing <paramref name="stored"/>, as the model reports it.</summary>
    public string FormatName(TensorType stored) => Precision switch
    {
        ModelPrecision.Int4 => Int4Format.ToString(),
        ModelPrecision.Float32 => "F32",
        ModelPrecision.Float16 => "F16",
        _ => stored == TensorType.F16 ? "F16" : "F32",
    };

    /// <summary>A layer matrix whose rows are the rows of <paramref name="parts"/> in order.</summary>
    public WeightMatrix Build(params TensorData[] parts) => Build(Precision, parts);

    /// <summary>The token embedding or output projection: FP16 when quantizing, else as for layers.</summary>
    public WeightMatrix BuildEdge(TensorData tensor) =>
        Build(Precision == ModelPrecision.Int4 ? ModelPrecision.Float16 : Precision, [tensor]);

    private WeightMatrix Build(ModelPrecision precision, TensorData[] parts)
    {
        int columns = (int)parts[0].Shape[^1];
        int rows = checked((int)parts.Sum(p => p.ElementCount / columns));
        if (precision == ModelPrecision.AsStored) precision = parts[0].Type == TensorType.F16 ? ModelPrecision.Float16 : ModelPrecision.Float32;
        switch (precision)
        {
            case ModelPrecision.Float16:
            {
                var matrix = new Float16Matrix(rows, columns);
                var buffer = new float[columns];
                ForEachRow(parts, columns, buffer, (row, values) =>
                {
                    var target = matrix.RowSpan(row);
                    for (int i = 0; i < columns; i++) target[i] = (Half)values[i];
                });
                return matrix;
            }
            case ModelPrecision.Int4:
            {
                var matrix = new Int4Matrix(rows, columns, Int4Format, Activations);
                ForEachRow(parts, columns, new float[columns], (row, values) => matrix.QuantizeRow(row, values));
                return matrix;
            }
            default:
            {
                var matrix = new Float32Matrix(rows, columns);
                ForEachRow(parts, columns, new float[columns], (row, values) => values.CopyTo(matrix.RowSpan(row)));
                return matrix;
            }
        }
    }

    private delegate void RowAction(int row, ReadOnlySpan<float> values);

    private static void ForEachRow(TensorData[] parts, int columns, float[] buffer, RowAction action)
    {
        int row = 0;
        foreach (var part in parts)
        {
            long partRows = part.ElementCount / columns;
            for (long r = 0; r < partRows; r++, row++)
            {
                part.ReadAsFloat32(r * columns, buffer);
                action(row, buffer);
            }
        }
    }

    public static float[] Vector(TensorData tensor)
    {
        var result = new float[tensor.ElementCount];
        tensor.ReadAsFloat32(0, result);
        return result;
    }
}
