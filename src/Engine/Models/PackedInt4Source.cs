using LlmCpu.Engine.Formats;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// One linear layer of a GPTQ or AWQ checkpoint (<see cref="QuantizedCheckpointMethod"/> describes both layouts) read
/// as an (out, in) matrix: exactly, as groups of codes with their scale and zero point, or dequantized row by row as
/// scale * (code - zero). The tensors' shapes, the group indices and the zero points are checked when it is made, so
/// a layout the INT4 kernels cannot hold exactly is refused by tensor name before anything is built.
/// </summary>
internal sealed unsafe class PackedInt4Source : IInt4GroupSource
{
    /// <summary>AWQ's word order: nibble p of a word holds output row 8w + Order[p].</summary>
    private static ReadOnlySpan<byte> AwqNibbleOfRow => [0, 4, 1, 5, 2, 6, 3, 7];

    private readonly QuantizedCheckpoint _checkpoint;
    private readonly int* _codes;
    private readonly int* _zeros;
    private readonly Half* _scales;
    private readonly int _groupSize;

    /// <param name="prefix">The layer's name without the suffix (`model.layers.0.self_attn.q_proj`).</param>
    public PackedInt4Source(TensorCollection tensors, string prefix, int rows, int columns, QuantizedCheckpoint checkpoint)
    {
        _checkpoint = checkpoint;
        Name = prefix + ".qweight";
        Rows = rows;
        Columns = columns;
        string path = tensors.MessagePath;
        if (rows % 8 != 0 || columns % 8 != 0)
            throw new ModelNotSupportedException(path, $"tensor '{Name}'", $"a packed layer of {rows} x {columns} is not whole words of 8 codes");
        _groupSize = checkpoint.GroupSize == -1 ? columns : checkpoint.GroupSize;
        if (columns % _groupSize != 0)
            throw new ModelNotSupportedException(path, $"tensor '{Name}'", $"{columns} input columns are not whole groups of {_groupSize}");
        int groups = columns / _groupSize;
        bool gptq = checkpoint.Method == QuantizedCheckpointMethod.Gptq;
        _codes = (int*)tensors.RequireInt32(Name, gptq ? [columns / 8, rows] : [columns, rows / 8]).Data;
        _zeros = (int*)tensors.RequireInt32(prefix + ".qzeros", groups, rows / 8).Data;
        var scales = tensors.Require(prefix + ".scales", groups, rows);
        if (scales.Type != TensorType.F16)
            throw new ModelNotSupportedException(path, $"tensor '{prefix}.scales' dtype", $"is {scales.Type}; the INT4 kernels keep FP16 scales (F16 is read exactly)");
        _scales = (Half*)scales.Data;
        if (gptq && tensors.Tensors.ContainsKey(prefix + ".g_idx")) CheckGroupIndex((int*)tensors.RequireInt32(prefix + ".g_idx", columns).Data, path, prefix);
        bool symmetric = true;
        for (int g = 0; g < groups; g++)
        {
            for (int r = 0; r < rows; r++)
            {
                int zero = Zero(r, g);
                if (zero > 15)
                    throw new ModelNotSupportedException(path, $"tensor '{prefix}.qzeros'",
                        $"row {r}, group {g} has zero point {zero}; GPTQ's original format stores zero - 1, so a stored 15 means 16, which 4-bit zero points cannot hold");
                symmetric &= zero == 8;
            }
        }
        Format = new Int4Format(checkpoint.GroupSize, !symmetric);
    }

    public string Name { get; }

    public int Rows { get; }

    public int Columns { get; }

    public Int4Format Format { get; }

    public ModelPrecision StoredPrecision => ModelPrecision.Int4;

    public Formats.Gguf.GgmlType? BlockType => null;

    public ReadOnlySpan<byte> ReadBlockRow(int row) => throw new NotSupportedException($"Tensor '{Name}' holds packed 4-bit groups, not ggml blocks.");

    public (Half Scale, byte Zero) ReadGroup(int row, int group, Span<byte> codes)
    {
        int begin = group * _groupSize;
        for (int i = 0; i < _groupSize; i++) codes[i] = (byte)Code(row, begin + i);
        return (_scales[(long)group * Rows + row], (byte)Zero(row, group));
    }

    public void ReadRow(int row, Span<float> destination)
    {
        for (int k = 0; k < Columns; k++)
        {
            int group = k / _groupSize;
            destination[k] = (float)_scales[(long)group * Rows + row] * (Code(row, k) - Zero(row, group));
        }
    }

    private int Code(int row, int column) => _checkpoint.Method == QuantizedCheckpointMethod.Gptq
        ? (_codes[(long)(column / 8) * Rows + row] >>> 4 * (column % 8)) & 15
        : (_codes[(long)column * (Rows / 8) + row / 8] >>> 4 * AwqNibbleOfRow[row % 8]) & 15;

    private int Zero(int row, int group)
    {
        int word = _zeros[(long)group * (Rows / 8) + row / 8];
        int nibble = _checkpoint.Method == QuantizedCheckpointMethod.Gptq ? row % 8 : AwqNibbleOfRow[row % 8];
        return ((word >>> 4 * nibble) & 15) + _checkpoint.ZeroOffset;
    }

    /// <summary>
    /// GPTQ's g_idx names each input column's group. Columns in order of their groups (static groups, with or without
    /// activation order) read exactly; a permuted order (activation order without static groups) would need the
    /// columns reordered and is refused.
    /// </summary>
    private void CheckGroupIndex(int* groupIndex, string path, string prefix)
    {
        for (int k = 0; k < Columns; k++)
        {
            if (groupIndex[k] != k / _groupSize)
                throw new ModelNotSupportedException(path, $"tensor '{prefix}.g_idx'",
                    $"input column {k} is in group {groupIndex[k]}, not {k / _groupSize}: activation order without static groups (desc_act) permutes the groups, which the INT4 kernels cannot hold exactly; quantize with static_groups or without desc_act");
        }
    }
}
