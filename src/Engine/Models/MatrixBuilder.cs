using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Builds kernel matrices from file tensors in the precision asked for, stacking several tensors' rows into one
/// matrix where asked. With <see cref="ModelPrecision.Int4"/> the layer matrices are quantized with round-to-nearest
/// as they are read, one row at a time (no FP32 copy of a whole matrix is held); the token embedding and the output
/// projection stay FP16, as the accuracy of the next-token distribution depends most on them. Data a file already stores
/// as symmetric INT4 in groups of 32 (ggml's Q4_0) is copied into <see cref="Int4Matrix"/> exactly, never requantized,
/// when the precision asked for is as stored or that same format.
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
    public WeightMatrix Build(params TensorData[] parts) => Build(Precision, Wrap(parts));

    /// <summary>A layer matrix whose rows are the rows of <paramref name="parts"/> in order.</summary>
    public WeightMatrix Build(params IMatrixSource[] parts) => Build(Precision, parts);

    /// <summary>The token embedding or output projection: FP16 when quantizing, else as for layers.</summary>
    public WeightMatrix BuildEdge(TensorData tensor) => BuildEdge(new TensorDataSource(tensor));

    /// <summary>
    /// The token embedding or output projection: FP16 when quantizing (their accuracy matters most), except that data
    /// already stored as INT4 is kept as it is, since FP16 would not make it more accurate; else as for layers.
    /// </summary>
    public WeightMatrix BuildEdge(IMatrixSource source)
    {
        var precision = Precision;
        if (precision == ModelPrecision.Int4) precision = source.StoredPrecision == ModelPrecision.Int4 ? ModelPrecision.AsStored : ModelPrecision.Float16;
        return Build(precision, [source]);
    }

    /// <summary>
    /// Whether <see cref="Build(IMatrixSource[])"/> copies these parts' INT4 blocks as they are rather than converting
    /// them: they all store symmetric INT4 in groups of 32, and the precision asked for is as stored or that very format.
    /// </summary>
    public bool CopiesInt4Exactly(params IMatrixSource[] parts) => CopiesInt4Exactly(Precision, parts);

    private bool CopiesInt4Exactly(ModelPrecision precision, IMatrixSource[] parts) =>
        CopyFormat(precision, parts) != null;

    /// <summary>
    /// The format the parts' INT4 data is copied into exactly, or null when it cannot be: as stored, or the format
    /// asked for when it has the parts' group size and keeps zero points where the parts need them (a symmetric group
    /// is an asymmetric one with zero point 8, so it copies into either).
    /// </summary>
    private Int4Format? CopyFormat(ModelPrecision precision, IMatrixSource[] parts)
    {
        if (!parts.All(p => p.StoredPrecision == ModelPrecision.Int4) || StoredFormat(parts) is not { } stored) return null;
        if (precision == ModelPrecision.AsStored) return stored;
        if (precision == ModelPrecision.Int4 && Int4Format.GroupSize == stored.GroupSize && (Int4Format.Asymmetric || !stored.Asymmetric)) return Int4Format;
        return null;
    }

    /// <summary>The one INT4 format of parts stored as INT4: Q4_0's, or the packed groups' (asymmetric if any part is); null if they differ.</summary>
    private static Int4Format? StoredFormat(IMatrixSource[] parts)
    {
        if (parts.All(p => p is not IInt4GroupSource)) return StoredInt4Format;
        if (!parts.All(p => p is IInt4GroupSource)) return null;
        var formats = parts.Select(p => ((IInt4GroupSource)p).Format).ToArray();
        if (formats.Any(f => f.GroupSize != formats[0].GroupSize)) return null;
        return new Int4Format(formats[0].GroupSize, formats.Any(f => f.Asymmetric));
    }

    /// <summary>The INT4 format of data stored as INT4 (ggml's Q4_0): symmetric, groups of 32.</summary>
    public static Int4Format StoredInt4Format { get; } = new(32, false);

    private WeightMatrix Build(ModelPrecision precision, IMatrixSource[] parts)
    {
        int columns = parts[0].Columns;
        if (parts.Any(p => p.Columns != columns)) throw new ArgumentException("Stacked parts must have the same number of columns.", nameof(parts));
        int rows = checked(parts.Sum(p => p.Rows));
        if (CopyFormat(precision, parts) is { } copied) return parts[0] is IInt4GroupSource ? CopyGroups(parts, rows, columns, copied) : CopyInt4(parts, rows, columns);
        if (precision == ModelPrecision.AsStored)
        {
            if (parts[0].BlockType is { } type && OwnBytesMatrix(type) is { } create && parts.All(p => p.BlockType == type))
                return CopyBlocks(create(rows, columns), parts);
            // Parts stored in different compact formats (Q4_K queries and keys with Q6_K values, say) are each kept as
            // stored and stacked, when they read the same prepared activations; otherwise the stack is held in FP32,
            // which holds every part exactly.
            if (parts.Length > 1 && parts.All(p => p.BlockType is { } type && KeepsItsOwnBytes(type)))
            {
                var stacked = parts.Select(p => Build(ModelPrecision.AsStored, [p])).ToArray();
                if (stacked.Select(m => m.ActivationLayout).Distinct().Count() == 1) return new StackedMatrix(stacked);
                foreach (var matrix in stacked) matrix.Dispose();
            }
            precision = parts.All(p => p.StoredPrecision == ModelPrecision.Float16) ? ModelPrecision.Float16 : ModelPrecision.Float32;
        }
        switch (precision)
        {
            case ModelPrecision.Float16:
            {
                var matrix = new Float16Matrix(rows, columns);
                var buffer = new float[columns];
                ForEachRow(parts, buffer, (row, values) => TensorPrimitives.ConvertToHalf(values, matrix.RowSpan(row)));
                return matrix;
            }
            case ModelPrecision.Int4:
            {
                var matrix = new Int4Matrix(rows, columns, Int4Format, Activations);
                ForEachRow(parts, new float[columns], (row, values) => matrix.QuantizeRow(row, values));
                return matrix;
            }
            default:
            {
                var matrix = new Float32Matrix(rows, columns);
                ForEachRow(parts, new float[columns], (row, values) => values.CopyTo(matrix.RowSpan(row)));
                return matrix;
            }
        }
    }

    /// <summary>ggml block types with a kernel of their own: held in their own bytes (repacked exactly), never converted.</summary>
    public static bool KeepsItsOwnBytes(GgmlType type) => type == GgmlType.Q4_0 || OwnBytesMatrix(type) != null;

    /// <summary>
    /// Makes an empty (rows, columns) matrix that stores rows of ggml blocks of <paramref name="type"/> exactly, in a kernel
    /// layout of its own; null for types without one (Q4_0 is copied into an <see cref="Int4Matrix"/> instead).
    /// </summary>
    private static Func<int, int, WeightMatrix>? OwnBytesMatrix(GgmlType type) => type switch
    {
        GgmlType.Q4_1 => (rows, columns) => new Q4_1Matrix(rows, columns),
        GgmlType.Q5_0 => (rows, columns) => new Q5Matrix(rows, columns, withOffsets: false),
        GgmlType.Q5_1 => (rows, columns) => new Q5Matrix(rows, columns, withOffsets: true),
        GgmlType.Q4_K => (rows, columns) => new Q4KMatrix(rows, columns),
        GgmlType.Q5_K => (rows, columns) => new Q5KMatrix(rows, columns),
        GgmlType.Q6_K => (rows, columns) => new Q6KMatrix(rows, columns),
        GgmlType.Q8_0 => (rows, columns) => new Q8Matrix(rows, columns),
        _ => null,
    };

    /// <summary>Rows of ggml blocks copied exactly, part after part, into a matrix that keeps them in its own layout.</summary>
    [MethodImpl(LoadLoops.Compile)]
    private static WeightMatrix CopyBlocks(WeightMatrix matrix, IMatrixSource[] parts)
    {
        try
        {
            var rows = (IGgmlBlockRows)matrix;
            int row = 0;
            foreach (var part in parts)
            {
                for (int r = 0; r < part.Rows; r++, row++) rows.SetRow(row, part.ReadBlockRow(r));
            }
            return matrix;
        }
        catch
        {
            matrix.Dispose();
            throw;
        }
    }

    [MethodImpl(LoadLoops.Compile)]
    private Int4Matrix CopyInt4(IMatrixSource[] parts, int rows, int columns)
    {
        var matrix = new Int4Matrix(rows, columns, StoredInt4Format, Activations);
        try
        {
            int row = 0;
            foreach (var part in parts)
            {
                // Q4_0's codes are already this layout's nibbles: a copy of bytes, not an unpack and repack.
                for (int r = 0; r < part.Rows; r++, row++) matrix.SetQ4_0Row(row, part.ReadBlockRow(r));
            }
            return matrix;
        }
        catch
        {
            matrix.Dispose();
            throw;
        }
    }

    /// <summary>Packed 4-bit groups (a GPTQ or AWQ layer) copied group by group: codes, scale and zero point as stored.</summary>
    [MethodImpl(LoadLoops.Compile)]
    private Int4Matrix CopyGroups(IMatrixSource[] parts, int rows, int columns, Int4Format format)
    {
        var matrix = new Int4Matrix(rows, columns, format, Activations);
        try
        {
            var codes = new byte[matrix.GroupSize];
            int row = 0;
            foreach (IInt4GroupSource part in parts)
            {
                for (int r = 0; r < part.Rows; r++, row++)
                {
                    for (int g = 0; g < matrix.Groups; g++)
                    {
                        var (scale, zero) = part.ReadGroup(r, g, codes);
                        matrix.SetGroup(row, g, scale, codes, zero);
                    }
                }
            }
            return matrix;
        }
        catch
        {
            matrix.Dispose();
            throw;
        }
    }

    private delegate void RowAction(int row, ReadOnlySpan<float> values);

    [MethodImpl(LoadLoops.Compile)]
    private static void ForEachRow(IMatrixSource[] parts, float[] buffer, RowAction action)
    {
        int row = 0;
        foreach (var part in parts)
        {
            for (int r = 0; r < part.Rows; r++, row++)
            {
                part.ReadRow(r, buffer);
                action(row, buffer);
            }
        }
    }

    private static IMatrixSource[] Wrap(TensorData[] parts) => Array.ConvertAll(parts, p => (IMatrixSource)new TensorDataSource(p));

    public static float[] Vector(TensorData tensor)
    {
        var result = new float[tensor.ElementCount];
        tensor.ReadAsFloat32(0, result);
        return result;
    }
}
